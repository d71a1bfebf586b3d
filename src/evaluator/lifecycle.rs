//! A stream's lifecycle as its evaluator sees it: the media it carries, the ingest's events
//! turned into state records, a medium's end, and what it holds.
use super::heads;
use super::stream::StreamEvaluator;
use crate::alert::Verdict;
use crate::model::sync::Onset;
use crate::score::record::Record;
use crate::score::record::StateRecord;
use crate::types::Medium;
use crate::types::{IngestEvent, Media, StreamId, StreamState};

impl StreamEvaluator {
    pub fn id(&self) -> &StreamId {
        &self.id
    }

    /// Media seconds evaluated so far.
    pub fn progress_s(&self) -> f64 {
        self.clock.progress_s()
    }

    /// Start of the stream's timeline (first media time), once known.
    pub fn origin(&self) -> Option<f64> {
        self.clock.sched.origin()
    }

    pub fn media(&self) -> Option<Media> {
        self.clock.media
    }

    /// Declare which media the stream carries (from the ingest's `Started`).
    pub fn set_media(&mut self, media: Media) {
        self.clock.media = Some(media);
    }

    /// The duration the input's container declares, seconds from its start (files).
    pub fn set_declared_duration(&mut self, seconds: f64) {
        self.clock.ends.declared_s = Some(seconds);
    }

    /// Lengths of every per-stream structure that holds entries (events, onsets, rows, cuts,
    /// shots, bins …), by name: none of them grows with the stream's age.
    pub fn state_sizes(&self) -> Vec<(&'static str, usize)> {
        let mut v = vec![
            ("batcher", self.batcher.len()),
            ("audio_pending", self.audio.pending_samples()),
        ];
        v.extend(self.book.sizes());
        v.extend(self.shots.pacing.sizes());
        for h in &self.heads {
            h.sizes(&mut v);
        }
        v
    }

    /// A medium's branch reached its end (every frame or chunk of it already pushed). While
    /// the other medium goes on, windows follow it alone (and are scored as such), with a state
    /// record that says so; the ended medium holds nothing back.
    pub fn end_medium(&mut self, medium: Medium, out: &mut Vec<Record>) {
        let video = medium.track() == Medium::Video;
        let ends = &mut self.clock.ends.media;
        let (ended, other_going) = if video {
            (&mut ends.video, !ends.audio)
        } else {
            (&mut ends.audio, !ends.video)
        };
        if std::mem::replace(ended, true) {
            return;
        }
        // What the ended medium left waiting for a full batch goes through now.
        if video {
            if let Some(b) = self.batcher.take() {
                self.process_batch(b, out);
            }
        } else {
            self.process_audio(out);
        }
        let media = self.clock.media.unwrap_or_default();
        let (what, at, rest, other_present) = if video {
            ("picture", self.clock.video_to, "sound", media.audio)
        } else {
            ("sound", self.clock.audio_to, "picture", media.video)
        };
        if other_going
            && other_present
            && let Some(at) = at
        {
            let msg = format!("the {what} ended at {at:.2} s; windows go on over the {rest} alone");
            self.clock.ends.note = Some((at, msg));
        }
        self.schedule(out);
    }

    /// Turn an ingest event into records (and state changes).
    pub fn on_ingest(&mut self, e: &IngestEvent, out: &mut Vec<Record>) {
        let running = |m: String| (StreamState::Running, m);
        let (state, message) = match e {
            IngestEvent::Started { media } => {
                self.set_media(*media);
                let what = media_words(*media);
                if self.live && !self.receiving {
                    running(format!("waiting for {what}: no packet yet"))
                } else {
                    running(format!("receiving {what}"))
                }
            }
            IngestEvent::Stalled { medium, for_s } => {
                self.set_stalled(*medium, true);
                out.push(self.state(
                    StreamState::Stalled,
                    format!("no {medium} packets for {for_s:.1} s"),
                ));
                self.schedule(out);
                return;
            }
            IngestEvent::SenderChanged {
                medium,
                ssrc,
                previous: Some(previous),
            } => running(format!(
                "{medium}: a new sender (SSRC {ssrc:#010x}) took over from {previous:#010x} (a restart); following it"
            )),
            IngestEvent::Resumed { medium } => {
                self.set_stalled(*medium, false);
                running(format!("{medium} packets flowing again"))
            }
            IngestEvent::CapsChanged { medium, caps } => {
                running(format!("{medium} format changed: {caps}"))
            }
            IngestEvent::Error { message } => (StreamState::Failed, message.clone()),
            IngestEvent::Warning { message } => running(format!("warning: {message}")),
            IngestEvent::SenderChanged { previous: None, .. }
            | IngestEvent::BranchEos { .. }
            | IngestEvent::Eos => return,
        };
        out.push(self.state(state, message));
    }

    fn set_stalled(&mut self, medium: Medium, stalled: bool) {
        if medium.track() == Medium::Video {
            self.clock.stalled.video = stalled;
        } else {
            self.clock.stalled.audio = stalled;
        }
    }

    /// The early-stop verdict so far.
    pub fn verdict(&self) -> Verdict {
        self.judge.verdict()
    }

    /// Live: the first media of the stream are here (said once).
    pub(super) fn note_receiving(&mut self, out: &mut Vec<Record>) {
        if self.live && !self.receiving {
            self.receiving = true;
            if let Some(media) = self.clock.media {
                let what = media_words(media);
                out.push(self.state(StreamState::Running, format!("receiving {what}")));
            }
        }
    }

    pub(super) fn state(&self, state: StreamState, message: impl Into<String>) -> Record {
        Record::State(StateRecord {
            stream: self.id.to_string(),
            state,
            message: message.into(),
        })
    }

    /// What the sync head reads: visual events (time, strength) and audio onsets of the
    /// horizons still to be scored; all of them when [`keep_sync_evidence`] was called.
    ///
    /// [`keep_sync_evidence`]: Self::keep_sync_evidence
    pub fn sync_evidence(&self) -> (&[(f64, f32)], &[Onset]) {
        self.heads
            .iter()
            .find_map(|h| h.as_any().downcast_ref::<heads::sync::SyncHead>())
            .map_or((&[][..], &[][..]), |s| s.evidence())
    }

    /// Keep every visual event and onset instead of those the heads still need (the trainer
    /// reads the whole sequence's evidence after `finish`). Memory then grows with the stream.
    pub fn keep_sync_evidence(&mut self) {
        for h in &mut self.heads {
            if let Some(s) = h.as_any_mut().downcast_mut::<heads::sync::SyncHead>() {
                s.keep_evidence = true;
            }
        }
    }
}

fn media_words(media: crate::types::Media) -> &'static str {
    match (media.video, media.audio) {
        (true, true) => "video and audio",
        (true, false) => "video only",
        (false, true) => "audio only",
        (false, false) => "no decodable media",
    }
}
