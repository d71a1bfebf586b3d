//! One stream's evaluation, synchronous and free of threads: media in, [`Record`]s out.
//!
//! ```text
//! VideoFrame ─▶ VideoBatcher ─▶ Model::video_features ─▶ cut detector, continuity detectors ─┐
//! AudioChunk ─▶ AudioRing ────▶ Model::audio_energy ───▶ silence, onsets ─────────────────────┤
//!                                                     HopScheduler (watermark) ─▶ window heads ─▶ Record
//! ```
use super::damage::{DamageLog, HealCheck};
use crate::alert::{AlertEngine, AlertRule, Verdict};
use crate::config::AnalysisSettings;
use crate::model::continuity::{Detection, EventKind, Silence, VideoContinuity};
use crate::model::local_sync::{self, LocalEstimate, LocalSync};
use crate::model::picture::detail::DetailFigures;
use crate::model::rhythm::{
    CutDetector, CutKind, CutOutput, DissolveDetector, FadeDetector, Pacing, PacingFigures,
};
use crate::model::sync::{Onset, OnsetDetector, SyncEstimate, SyncTally};
use crate::model::{HEAD_COLUMNS, Model};
use crate::score::record::{
    ContinuityWindow, CutRecord, EventRecord, Record, StateRecord, SummaryRecord, SyncCurve,
    SyncFigures, TransportWindow, WindowRecord, rounded,
};
use crate::score::taxonomy::{self, Diagnosis};
use crate::score::{self, ContinuityInputs, Scores};
use crate::types::{
    AudioChunk, DetailFrame, IngestEvent, Media, SoundChunk, StreamId, StreamState, VideoFrame,
};
use crate::window::timeline::{Jump, Medium, Timeline};
use crate::window::{AudioRing, Batch, HopScheduler, VideoBatcher};
use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

/// How timestamps relate to the source (reported with every sync figure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timing {
    /// Container timestamps of a file.
    File,
    /// RTP mapped to the sender's clock by RTCP sender reports.
    SenderClock,
    /// RTP timed by packet arrival (no RTCP): skew may be the network's, lower confidence.
    Arrival,
}

impl Timing {
    pub fn as_str(self) -> &'static str {
        match self {
            Timing::File => "file",
            Timing::SenderClock => "sender_clock",
            Timing::Arrival => "arrival",
        }
    }
}

struct Row {
    pts: f64,
    cols: [f32; HEAD_COLUMNS],
    arrival: Instant,
}

/// Jumps held for the cut detector at most, and detail frames at least (then placed without
/// waiting; detail frames get 4 s worth at their rate when that is more).
const MAX_PENDING_DETAIL: usize = 64;

/// How long a camera or loudness jump waits for the cut detector to decide on its frames, s.
const JUMP_WAIT_S: f64 = 1.0;
/// Where a stream's media ended, and where its container said they would.
#[derive(Default)]
struct Ends {
    /// Media whose branch reached its end while the other goes on (windows follow the other).
    media: Media,
    /// Said once the other medium has gone on for [`ENDED_NOTE_S`] past the end: (end, words).
    note: Option<(f64, String)>,
    /// The duration a file's container declares (stream time), when known.
    declared_s: Option<f64>,
}

/// A medium that ended is reported once the other has gone on this long past it, s (a file's
/// sound and picture often end a frame or two apart).
const ENDED_NOTE_S: f64 = 1.0;
/// A loudness jump this close to a cut is the new scene's level, s (sound edits lead or trail
/// the picture cut by a few frames; J- and L-cuts by more, and read as inside the shot).
const LEVEL_CUT_S: f64 = 0.25;
/// Sound this far ahead of the pictures releases its loudness jumps unplaced, s.
const VIDEO_BEHIND_S: f64 = 5.0;

/// How far the sound branch may fall behind the analysis audio before windows stop waiting
/// for it, s.
const SOUND_WAIT_S: f64 = 5.0;

/// Evaluation state of one stream.
pub struct StreamEvaluator {
    id: StreamId,
    a: AnalysisSettings,
    model: Model,
    live: bool,
    pub timing: Timing,
    media: Option<Media>,
    stalled: Media,
    /// Where the media ended, and where the container said they would.
    ends: Ends,
    batcher: VideoBatcher,
    timeline: Timeline,
    /// Stretches decoded from damaged input (per medium), for `cause: transport`.
    video_damage: DamageLog,
    audio_damage: DamageLog,
    heal: HealCheck,
    audio: AudioRing,
    sched: HopScheduler,
    samples_per_ms: usize,
    rows: VecDeque<Row>,
    /// Sync evidence of the horizons still to be scored (older entries are pruned).
    visual: Vec<(f64, f32)>,
    onsets: Vec<Onset>,
    /// Closed events that windows still to be scored overlap (older ones are pruned).
    detections: Vec<Detection>,
    open_ongoing: Vec<Detection>,
    cut_det: CutDetector,
    fades: FadeDetector,
    dissolves: DissolveDetector,
    style: crate::model::style::StyleTracker,
    video_cont: VideoContinuity,
    silence: Silence,
    /// Loudness, true peak, clipping, dropouts of the sound at its own rate.
    sound: crate::model::sound::SoundMeter,
    /// Exposure, contrast, colourfulness of the recent frames.
    picture: crate::model::picture::PictureTracker,
    /// Camera jumps wait until the cut detector has seen past them: a jump at a cut is the cut.
    pending_jumps: Vec<Detection>,
    /// Detail frames' figures (stream time), waiting likewise to be placed in their shot.
    pending_detail: VecDeque<(f64, DetailFigures)>,
    /// Stream time minus raw time of the latest video frame (detail frames share the clock).
    video_offset: Option<f64>,
    /// Stream time minus raw time of the latest audio chunk: the sound branch carries the same
    /// timestamps as the audio and is placed on the audio's timeline.
    audio_offset: Option<f64>,
    /// Sound that came before the first audio chunk placed its timeline (bounded).
    sound_waiting: VecDeque<SoundChunk>,
    /// End of the sound measured so far (stream time).
    sound_to: Option<f64>,
    onset_det: OnsetDetector,
    pacing: Pacing,
    cuts: BTreeMap<&'static str, usize>,
    video_to: Option<f64>,
    audio_to: Option<f64>,
    first_video: Option<f64>,
    frame_interval: Option<f64>,
    last_pts: Option<f64>,
    batches: usize,
    pub frames: u64,
    /// Running aggregates for the summary: windows scored, sums and counts of each score.
    windows: usize,
    score_sums: [(f64, usize); 6],
    /// Closed events of each kind (index in `EventKind::ALL`) over the whole stream.
    event_counts: [usize; EventKind::ALL.len()],
    /// Visual events and onsets over the whole stream.
    visual_total: usize,
    onsets_total: usize,
    /// The whole-stream sync evidence, for the summary.
    tally: SyncTally,
    /// Local motion against sound onsets, for the summary and the windows.
    local: LocalSync,
    /// The last window's local-motion estimate and the window end it was made at.
    local_window: Option<(f64, LocalEstimate)>,
    /// Committed delays whose horizon still overlaps the windows to come (end, delay ms) ...
    committed: VecDeque<(f64, f64)>,
    /// ... and the earlier ones, as a histogram of 0.1 ms bins: the drift reference.
    committed_before: BTreeMap<i64, u32>,
    committed_before_n: u64,
    first_committed: Option<f64>,
    /// Keep every visual event and onset (the trainer reads them after `finish`).
    keep_evidence: bool,
    started: Instant,
    pub dropped_frames: u64,
    finished: bool,
    alerts: AlertEngine,
    /// Applies `--calibration` to windows and the summary.
    calibrated: Option<crate::score::calibrated::Tracker>,
    /// Frames per model call: the configured batch live, larger for files (no latency to keep).
    batch_frames: usize,
}

/// Seconds a window may lag the newest media before the evidence it would read is forgotten
/// (a medium far behind the other; the per-frame rows go after `max(window, horizon) + 2 hops`).
const MAX_WINDOW_LAG_S: f64 = 30.0;

impl StreamEvaluator {
    /// `live`: report events as soon as they reach the minimum duration ("ongoing"), and
    /// schedule windows on what has arrived even when one medium stalls.
    pub fn new(
        id: StreamId,
        a: &AnalysisSettings,
        rules: &[AlertRule],
        model: Model,
        live: bool,
        timing: Timing,
    ) -> Self {
        Self {
            alerts: AlertEngine::new(&id, rules),
            calibrated: model
                .calibration()
                .map(crate::score::calibrated::Tracker::new),
            batch_frames: if live {
                a.batch_frames
            } else {
                a.batch_frames.max(32)
            },
            id,
            a: a.clone(),
            model,
            live,
            timing,
            media: None,
            stalled: Media::default(),
            ends: Ends::default(),
            batcher: VideoBatcher::default(),
            timeline: Timeline::new(a.discontinuity_s),
            video_damage: DamageLog::new(a.window_s.max(a.sync_horizon_s) + 30.0),
            audio_damage: DamageLog::new(a.window_s.max(a.sync_horizon_s) + 30.0),
            heal: HealCheck::default(),
            audio: AudioRing::new(a.audio_rate),
            sched: HopScheduler::new(a.window_s, a.hop_s),
            samples_per_ms: (a.audio_rate / 1000).max(1) as usize,
            rows: VecDeque::new(),
            visual: vec![],
            onsets: vec![],
            detections: vec![],
            open_ongoing: vec![],
            cut_det: CutDetector::new(),
            fades: FadeDetector::default(),
            dissolves: DissolveDetector::default(),
            style: Default::default(),
            video_cont: VideoContinuity::new(a),
            silence: Silence::new(a),
            sound: crate::model::sound::SoundMeter::new(a.min_event_s),
            picture: crate::model::picture::PictureTracker::new(a.min_event_s),
            pending_jumps: vec![],
            pending_detail: VecDeque::new(),
            video_offset: None,
            audio_offset: None,
            sound_waiting: VecDeque::new(),
            sound_to: None,
            onset_det: OnsetDetector::default(),
            pacing: Pacing::default(),
            cuts: BTreeMap::new(),
            video_to: None,
            audio_to: None,
            first_video: None,
            frame_interval: None,
            last_pts: None,
            batches: 0,
            frames: 0,
            windows: 0,
            score_sums: [(0.0, 0); 6],
            event_counts: [0; EventKind::ALL.len()],
            visual_total: 0,
            onsets_total: 0,
            tally: SyncTally::new(a.sync_search_ms),
            local: LocalSync::default(),
            local_window: None,
            committed: VecDeque::new(),
            committed_before: BTreeMap::new(),
            committed_before_n: 0,
            first_committed: None,
            keep_evidence: false,
            started: Instant::now(),
            dropped_frames: 0,
            finished: false,
        }
    }

    pub fn id(&self) -> &StreamId {
        &self.id
    }

    /// Media seconds evaluated so far.
    pub fn progress_s(&self) -> f64 {
        let end = [self.video_to, self.audio_to]
            .iter()
            .flatten()
            .copied()
            .reduce(f64::max);
        match (end, self.sched.origin()) {
            (Some(e), Some(o)) => (e - o).max(0.0),
            (Some(e), None) => e.max(0.0),
            _ => 0.0,
        }
    }

    /// What the sync head reads: visual events (time, strength) and audio onsets of the
    /// horizons still to be scored; all of them when [`keep_sync_evidence`] was called.
    ///
    /// [`keep_sync_evidence`]: Self::keep_sync_evidence
    pub fn sync_evidence(&self) -> (&[(f64, f32)], &[Onset]) {
        (&self.visual, &self.onsets)
    }

    /// Keep every visual event and onset instead of those the heads still need (the trainer
    /// reads the whole sequence's evidence after `finish`). Memory then grows with the stream.
    pub fn keep_sync_evidence(&mut self) {
        self.keep_evidence = true;
    }

    /// Lengths of every per-stream structure that holds entries (events, onsets, rows, cuts,
    /// shots, bins …), by name: none of them grows with the stream's age.
    pub fn state_sizes(&self) -> Vec<(&'static str, usize)> {
        let mut v = vec![
            ("rows", self.rows.len()),
            ("visual", self.visual.len()),
            ("onsets", self.onsets.len()),
            ("detections", self.detections.len()),
            ("open_ongoing", self.open_ongoing.len()),
            ("committed", self.committed.len()),
            ("committed_before_bins", self.committed_before.len()),
            ("batcher", self.batcher.len()),
            ("audio_pending", self.audio.pending_samples()),
        ];
        v.extend(self.pacing.sizes());
        v.extend(self.style.sizes());
        v.extend(self.video_cont.sizes());
        v.extend(self.tally.sizes());
        v.extend(self.local.sizes());
        v
    }

    /// Start of the stream's timeline (first media time), once known.
    pub fn origin(&self) -> Option<f64> {
        self.sched.origin()
    }

    pub fn media(&self) -> Option<Media> {
        self.media
    }

    /// Declare which media the stream carries (from the ingest's `Started`).
    pub fn set_media(&mut self, media: Media) {
        self.media = Some(media);
    }

    fn state(&self, state: StreamState, message: impl Into<String>) -> Record {
        Record::State(StateRecord {
            stream: self.id.to_string(),
            state,
            message: message.into(),
        })
    }

    /// The duration the input's container declares, seconds from its start (files).
    pub fn set_declared_duration(&mut self, seconds: f64) {
        self.ends.declared_s = Some(seconds);
    }

    /// A medium's branch reached its end (every frame or chunk of it already pushed). While
    /// the other medium goes on, windows follow it alone (and are scored as such), with a state
    /// record that says so; the ended medium holds nothing back.
    pub fn end_medium(&mut self, medium: Medium, out: &mut Vec<Record>) {
        let (ended, other_going) = match medium {
            Medium::Video => (&mut self.ends.media.video, !self.ends.media.audio),
            Medium::Audio => (&mut self.ends.media.audio, !self.ends.media.video),
        };
        if std::mem::replace(ended, true) {
            return;
        }
        // What the ended medium left waiting for a full batch goes through now.
        match medium {
            Medium::Video => {
                if let Some(b) = self.batcher.take() {
                    self.process_batch(b, out);
                }
            }
            Medium::Audio => self.process_audio(out),
        }
        let media = self.media.unwrap_or_default();
        let (what, at, rest, other_present) = match medium {
            Medium::Video => ("picture", self.video_to, "sound", media.audio),
            Medium::Audio => ("sound", self.audio_to, "picture", media.video),
        };
        if other_going && other_present {
            if let Some(at) = at {
                let msg =
                    format!("the {what} ended at {at:.2} s; windows go on over the {rest} alone");
                self.ends.note = Some((at, msg));
            }
        }
        self.schedule(out);
    }

    /// Turn an ingest event into records (and state changes).
    pub fn on_ingest(&mut self, e: &IngestEvent, out: &mut Vec<Record>) {
        match e {
            IngestEvent::Started { media } => {
                self.set_media(*media);
                let what = match (media.video, media.audio) {
                    (true, true) => "video and audio",
                    (true, false) => "video only",
                    (false, true) => "audio only",
                    (false, false) => "no decodable media",
                };
                out.push(self.state(StreamState::Running, format!("receiving {what}")));
            }
            IngestEvent::Stalled { medium, for_s } => {
                if medium == "video" {
                    self.stalled.video = true;
                } else {
                    self.stalled.audio = true;
                }
                out.push(self.state(
                    StreamState::Stalled,
                    format!("no {medium} packets for {for_s:.1} s"),
                ));
                self.schedule(out);
            }
            IngestEvent::SenderChanged {
                medium,
                ssrc,
                previous: Some(previous),
            } => {
                out.push(self.state(
                    StreamState::Running,
                    format!(
                        "{medium}: a new sender (SSRC {ssrc:#010x}) took over from {previous:#010x} (a restart); following it"
                    ),
                ));
            }
            IngestEvent::SenderChanged { previous: None, .. } => {}
            IngestEvent::Resumed { medium } => {
                if medium == "video" {
                    self.stalled.video = false;
                } else {
                    self.stalled.audio = false;
                }
                out.push(self.state(
                    StreamState::Running,
                    format!("{medium} packets flowing again"),
                ));
            }
            IngestEvent::CapsChanged { medium, caps } => {
                out.push(self.state(
                    StreamState::Running,
                    format!("{medium} format changed: {caps}"),
                ));
            }
            IngestEvent::Error { message } => {
                out.push(self.state(StreamState::Failed, message.clone()))
            }
            IngestEvent::Warning { message } => {
                out.push(self.state(StreamState::Running, format!("warning: {message}")))
            }
            IngestEvent::BranchEos { .. } | IngestEvent::Eos => {}
        }
    }

    pub fn push_video(&mut self, mut f: VideoFrame, out: &mut Vec<Record>) {
        if !f.pts.is_finite() {
            return;
        }
        let dur = f.duration.unwrap_or_else(|| self.frame_s());
        let (t, jump) = self.timeline.map(Medium::Video, f.pts, dur);
        self.video_offset = Some(t - f.pts);
        f.pts = t;
        if let Some(j) = jump {
            self.on_discontinuity(j, out);
        }
        self.video_damage.push(t, t + dur, f.damaged);
        if let Some(last) = self.last_pts {
            let d = f.pts - last;
            if d > 1e-4 && d < 1.0 {
                // Smoothed frame interval (robust to the odd jittery timestamp).
                self.frame_interval = Some(match self.frame_interval {
                    None => d,
                    Some(fi) => 0.9 * fi + 0.1 * d,
                });
            }
        }
        self.last_pts = Some(f.pts);
        self.first_video.get_or_insert(f.pts);
        let mut dets = vec![];
        self.picture.push(f.pts, dur, &f, &mut dets);
        for d in dets {
            if d.kind == EventKind::CameraJump {
                self.pending_jumps.push(d);
            } else {
                self.emit_detection(d, out);
            }
        }
        // Live: the frame that completes the next window flushes the batch (and the audio
        // waiting for its 64 ms chunk), so the window is scored now, not when a batch fills.
        let completes = self.live
            && self.crosses_window_end(f.pts + f.duration.unwrap_or_else(|| self.frame_s()));
        if let Some(b) = self.batcher.push(f) {
            self.process_batch(b, out);
        }
        if completes {
            if let Some(b) = self.batcher.take() {
                self.process_batch(b, out);
            }
            self.process_audio(out);
        }
        if self.batcher.len() >= self.batch_frames {
            if let Some(b) = self.batcher.take() {
                self.process_batch(b, out);
            }
        }
        self.schedule(out);
    }

    pub fn push_audio(&mut self, mut c: AudioChunk, out: &mut Vec<Record>) {
        if !c.pts.is_finite() || c.rate != self.a.audio_rate {
            return;
        }
        let dur = c.samples.len() as f64 / c.rate as f64;
        let raw = c.pts;
        let (t, jump) = self.timeline.map(Medium::Audio, c.pts, dur);
        c.pts = t;
        if self.audio_offset.is_none() {
            self.audio_offset = Some(t - raw);
            while let Some(s) = self.sound_waiting.pop_front() {
                self.push_sound(s, out);
            }
        }
        self.audio_offset = Some(t - raw);
        if let Some(j) = jump {
            self.on_discontinuity(j, out);
        }
        self.audio_damage.push(t, t + dur, c.damaged);
        let end = c.end();
        self.audio.push(&c);
        // Features in chunks of ≥ 64 ms: one model call per chunk is overhead, not information;
        // live, audio that completes the next window goes through at once.
        if self.audio.pending_samples() * 1000 >= 64 * self.a.audio_rate as usize
            || (self.live && self.crosses_window_end(end))
        {
            self.process_audio(out);
            self.schedule(out);
        }
    }

    /// The sound at its own rate and layout: loudness, true peak, clipping, dropouts.
    pub fn push_sound(&mut self, mut c: SoundChunk, out: &mut Vec<Record>) {
        if !c.pts.is_finite() {
            return;
        }
        let Some(offset) = self.audio_offset else {
            // Before the first analysis chunk: wait for it (at most ~2 s of 20 ms chunks).
            if self.sound_waiting.len() >= 128 {
                self.sound_waiting.pop_front();
            }
            self.sound_waiting.push_back(c);
            return;
        };
        c.pts += offset;
        let mut dets = vec![];
        self.sound
            .push(c.pts, c.rate, c.channels, &c.samples, &mut dets);
        for d in dets {
            // A level step is told at a cut or inside a shot once the cut detector has seen
            // past it (without pictures there are no shots: it goes out now).
            if d.kind == EventKind::LoudnessJump && !self.media.is_some_and(|m| !m.video) {
                self.pending_jumps.push(d);
                // Live, pictures 5 s behind the sound have stopped: nothing to place the jumps
                // against. A file's pictures only lag (both branches decode as fast as they can
                // and the sound's queue holds seconds; the fresh-clone CI once saw the sound
                // lead by more than 5 s and a jump go out untagged): they wait for the pictures,
                // or for the end of the stream.
                let video_behind =
                    self.live && c.pts > self.video_to.unwrap_or(0.0) + VIDEO_BEHIND_S;
                if video_behind {
                    // The picture stopped (or never came): nothing to place the jumps against.
                    self.release_jumps(f64::INFINITY, out);
                } else if self.pending_jumps.len() > MAX_PENDING_DETAIL {
                    // The picture stopped moving forward: place the oldest without waiting.
                    let oldest = self
                        .pending_jumps
                        .iter()
                        .map(|d| d.start)
                        .fold(f64::INFINITY, f64::min);
                    self.release_jumps(oldest + 1e-9, out);
                }
            } else {
                self.emit_detection(d, out);
            }
        }
        let frames = c.samples.len() / c.channels.max(1) as usize;
        self.sound_to = Some(c.pts + frames as f64 / c.rate.max(1) as f64);
        self.schedule(out);
    }

    /// A medium's timestamps jumped: the timeline has folded the jump away; report it, and
    /// start the video detectors afresh (frames on either side of a jump are not compared).
    fn on_discontinuity(&mut self, j: Jump, out: &mut Vec<Record>) {
        if j.medium == Medium::Video {
            if let Some(b) = self.batcher.take() {
                self.process_batch(b, out);
            }
            self.batcher.forget_prev();
            let mut co = CutOutput::default();
            self.cut_det.reset(&mut co);
            self.handle_cuts(co, out);
            self.release_jumps(f64::INFINITY, out);
            let mut dets = vec![];
            self.release_detail(f64::INFINITY, &mut dets);
            self.video_cont.reset(&mut dets);
            for d in dets {
                self.emit_detection(d, out);
            }
            self.fades = FadeDetector::default();
            self.dissolves = DissolveDetector::default();
            let mut dets = vec![];
            self.picture.reset(j.at, &mut dets);
            for d in dets {
                self.emit_detection(d, out);
            }
        } else {
            self.process_audio(out);
        }
        let d = Detection {
            kind: EventKind::Discontinuity,
            start: j.at,
            end: j.at,
            ongoing: false,
            values: vec![
                ("jump_s", j.size()),
                ("expected_s", j.expected_raw),
                ("got_s", j.raw),
                ("audio", (j.medium == Medium::Audio) as u8 as f64),
            ],
            transport: false,
        };
        tracing::warn!(stream = %self.id, medium = j.medium.as_str(), jump_s = j.size(), "timestamp discontinuity");
        self.emit_detection(d, out);
    }

    /// Live: process frames that have waited longer than `max_wait_s` even if the batch is not
    /// full, so scores do not lag on slow streams.
    pub fn tick(&mut self, max_wait_s: f64, out: &mut Vec<Record>) {
        let stale = self
            .batcher
            .oldest_arrival()
            .map(|t| t.elapsed().as_secs_f64() > max_wait_s)
            .unwrap_or(false);
        if stale {
            if let Some(b) = self.batcher.take() {
                self.process_batch(b, out);
            }
        }
        self.process_audio(out);
        self.schedule(out);
    }

    /// Whether media ending at `end` reach the end of the next window to score.
    fn crosses_window_end(&self, end: f64) -> bool {
        self.sched
            .next_end()
            .map(|e| end + 1e-6 >= e)
            .unwrap_or(false)
    }

    fn frame_s(&self) -> f64 {
        self.frame_interval.unwrap_or(1.0 / 25.0)
    }

    /// Whether `[start, end]` touches transport damage of the medium `kind` is measured on.
    fn damaged_near(&self, audio: bool, start: f64, end: f64) -> bool {
        // Two frames of margin: a cut or a freeze starts at the frame before the change.
        let margin = 2.0 * self.frame_s();
        if audio {
            self.audio_damage.near(start, end, 0.02)
        } else {
            self.video_damage.near(start, end, margin)
        }
    }

    fn emit_detection(&mut self, mut d: Detection, out: &mut Vec<Record>) {
        if d.kind != EventKind::Discontinuity && !d.transport {
            let audio = matches!(
                d.kind,
                EventKind::Silence
                    | EventKind::Quiet
                    | EventKind::Clipping
                    | EventKind::Dropout
                    | EventKind::LoudnessJump
            );
            d.transport = self.damaged_near(audio, d.start, d.end);
        }
        if d.ongoing {
            if self.live {
                out.push(Record::Event(EventRecord::new(&self.id, &d)));
            }
            self.open_ongoing.retain(|o| o.kind != d.kind);
            self.open_ongoing.push(d);
        } else {
            self.open_ongoing.retain(|o| o.kind != d.kind);
            out.push(Record::Event(EventRecord::new(&self.id, &d)));
            if let Some(i) = EventKind::ALL.iter().position(|k| *k == d.kind) {
                self.event_counts[i] += 1;
            }
            self.detections.push(d);
        }
    }

    fn process_batch(&mut self, b: Batch, out: &mut Vec<Record>) {
        let t0 = Instant::now();
        if b.size_changed && self.batches > 0 {
            let mut co = CutOutput::default();
            self.cut_det.reset(&mut co);
            self.handle_cuts(co, out);
        }
        self.batches += 1;
        let damaged: Vec<bool> = b.frames.iter().map(|f| f.damaged).collect();
        let feats = self.model.video_features_owned(
            b.prev,
            b.frames,
            self.a.detectors.black_luma,
            self.frame_s(),
        );
        let mut dets = vec![];
        let mut co = CutOutput::default();
        for (k, f) in feats.iter().enumerate() {
            if self.live {
                self.heal.push(f, damaged.get(k).copied().unwrap_or(false));
            }
            self.pacing.start(f.pts);
            self.local.push_frame(f);
            let flags = self.video_cont.push(f, &mut dets);
            let known = co.cuts.len();
            self.cut_det.push(f, &mut co);
            co.cuts.extend(self.fades.push(f));
            co.cuts.extend(self.dissolves.push(f));
            // Shot boundaries reach the still-picture detector as soon as they are decided
            // (a freeze is only a freeze inside a shot that was moving).
            for c in &co.cuts[known..] {
                let start = c.span.map(|s| s.1.max(c.pts)).unwrap_or(c.pts);
                self.video_cont.on_shot_start(start, c.span.is_none());
                // Focus and noise levels are per shot: frames before the cut go first.
                self.release_detail(c.pts, &mut dets);
                self.picture.on_shot_start(start, &mut dets);
            }
            self.style
                .push(f, self.picture.style_figures(f.pts).as_ref());
            self.rows.push_back(Row {
                pts: f.pts,
                cols: [
                    if f.has_prev { f.mad } else { 0.0 },
                    flags.frozen as u8 as f32,
                    flags.black as u8 as f32,
                    flags.flicker as u8 as f32,
                    flags.oscillation,
                ],
                arrival: f.arrival,
            });
            self.video_to = Some(f.pts + f.duration);
            self.frames += 1;
        }
        metrics::counter!(crate::metric_names::FRAMES, "stream" => self.id.to_string())
            .increment(feats.len() as u64);
        for d in dets {
            self.emit_detection(d, out);
        }
        self.handle_cuts(co, out);
        if let Some(v) = self.video_to {
            self.release_jumps(v - JUMP_WAIT_S, out);
            let mut dets = vec![];
            self.release_detail(v - JUMP_WAIT_S, &mut dets);
            for d in dets {
                self.emit_detection(d, out);
            }
        }
        self.prune();
        metrics::histogram!(crate::metric_names::LATENCY, "stream" => self.id.to_string(), "stage" => "features")
            .record(t0.elapsed().as_secs_f64());
    }

    /// A detail frame (the larger luma plane): its figures now, its events once the cut
    /// detector has seen past it.
    pub fn push_detail(&mut self, d: DetailFrame, out: &mut Vec<Record>) {
        // Detail frames share the video's clock; before the first video frame there is no
        // mapping yet (at most the first frame or two are skipped).
        let Some(offset) = self.video_offset.filter(|_| d.pts.is_finite()) else {
            return;
        };
        // Across a timestamp jump the branches can be on either side of it: a detail frame
        // far from the latest video frame has no mapping it can trust, and is skipped.
        if self
            .last_pts
            .is_some_and(|v| (d.pts + offset - v).abs() > 1.0)
        {
            return;
        }
        let figures = self.model.detail_figures(&d);
        // Enough for the 1 s wait plus a batch at any configured rate (1–120 a second).
        let limit = (4 * self.a.detail_fps as usize).max(MAX_PENDING_DETAIL);
        if self.pending_detail.len() >= limit {
            // The video stopped moving forward: place the oldest without waiting.
            if let Some((t, f)) = self.pending_detail.pop_front() {
                let mut dets = vec![];
                self.place_detail(t, f, &mut dets);
                for d in dets {
                    self.emit_detection(d, out);
                }
            }
        }
        self.pending_detail.push_back((d.pts + offset, figures));
    }

    fn detail_s(&self) -> f64 {
        1.0 / self.a.detail_fps.max(1) as f64
    }

    /// Detail frames before `upto`, into the picture tracker in time order.
    fn release_detail(&mut self, upto: f64, dets: &mut Vec<Detection>) {
        while let Some(&(t, f)) = self.pending_detail.front() {
            if t >= upto {
                break;
            }
            self.pending_detail.pop_front();
            self.place_detail(t, f, dets);
        }
    }

    /// A detail frame whose shot is known: into focus/noise tracking and the shot's signature.
    fn place_detail(&mut self, t: f64, f: DetailFigures, dets: &mut Vec<Detection>) {
        if f.contrast >= crate::model::picture::detail::FLAT {
            self.style.push_detail(t, f.sharpness, f.noise);
        }
        self.picture.push_detail(t, self.detail_s(), f, dets);
    }

    /// Jumps placed against the shots once the cut detector has seen past them (`upto`): a
    /// camera jump is reported unless a shot boundary is within two frames (then it was the
    /// cut); a loudness jump says whether a cut is within [`LEVEL_CUT_S`] of it (a scene's new
    /// level) or none is (a gain step inside a shot).
    fn release_jumps(&mut self, upto: f64, out: &mut Vec<Record>) {
        // How far the cut detector must have seen for a jump: a loudness jump looks for cuts
        // up to LEVEL_CUT_S after it.
        let reach = |d: &Detection| {
            d.end
                + if d.kind == EventKind::LoudnessJump {
                    LEVEL_CUT_S
                } else {
                    0.0
                }
        };
        let (ready, wait): (Vec<Detection>, Vec<Detection>) =
            std::mem::take(&mut self.pending_jumps)
                .into_iter()
                .partition(|d| reach(d) < upto);
        self.pending_jumps = wait;
        let margin = 2.0 * self.frame_s();
        for mut d in ready {
            if d.kind == EventKind::LoudnessJump {
                // Placed only where the pictures reach past it (`at_cut` absent where a release
                // without waiting — pictures 5 s behind — finds them short of it).
                if self.video_to.is_some_and(|v| v >= reach(&d)) {
                    let near = self
                        .pacing
                        .cuts_between(d.start - LEVEL_CUT_S, d.end + LEVEL_CUT_S);
                    d.values.push(("at_cut", (!near.is_empty()) as u8 as f64));
                }
                self.emit_detection(d, out);
            } else if self
                .pacing
                .cuts_between(d.start - margin, d.end + margin)
                .is_empty()
            {
                self.emit_detection(d, out);
            }
        }
    }

    fn handle_cuts(&mut self, co: CutOutput, out: &mut Vec<Record>) {
        for c in co.cuts {
            // A change where the picture was damaged (or heals at a keyframe) is the network's:
            // reported, not counted as editing.
            let transport = match c.span {
                Some((from, to)) => self.damaged_near(false, from, to),
                None => self.heal.transport_cut(c.frame),
            };
            if transport {
                let mut r = CutRecord::new(&self.id, &c);
                r.cause = "transport";
                out.push(Record::Cut(r));
                continue;
            }
            self.pacing.on_cut(c.pts);
            // Detail frames before the cut belong to the shot it closes (on every path that
            // decides cuts: batches, resets at jumps and size changes, the end of input).
            let mut dets = vec![];
            self.release_detail(c.pts, &mut dets);
            for d in dets {
                self.emit_detection(d, out);
            }
            self.style.on_cut(c.frame, c.pts);
            *self
                .cuts
                .entry(match c.kind {
                    CutKind::Hard => "hard",
                    CutKind::Gradual => "gradual",
                })
                .or_default() += 1;
            out.push(Record::Cut(CutRecord::new(&self.id, &c)));
        }
        for f in co.flashes {
            self.emit_detection(f, out);
        }
        for v in co.visual {
            // Guarded in the local-motion evidence even where damage keeps it from the events'.
            self.local.push_event(v.pts);
            if self.damaged_near(false, v.pts, v.pts) {
                continue;
            }
            self.visual.push((v.pts, v.strength));
            self.tally.push_visual(v.pts);
            self.visual_total += 1;
        }
    }

    fn process_audio(&mut self, out: &mut Vec<Record>) {
        let Some((start, samples)) = self.audio.take_blocks(self.samples_per_ms) else {
            return;
        };
        let Some(origin) = self.audio.origin() else {
            return;
        };
        let energies = self.model.audio_energy(&samples, self.samples_per_ms);
        let first_ms = start / self.samples_per_ms as i64;
        let mut dets = vec![];
        self.silence.push(origin, first_ms, &energies, &mut dets);
        let mut onsets = vec![];
        self.onset_det
            .push(origin, first_ms, &energies, &mut onsets);
        self.local.push_energies(origin, first_ms, &energies);
        for o in &onsets {
            self.tally.push_onset(o.t);
        }
        self.onsets_total += onsets.len();
        self.onsets.extend(onsets);
        self.audio_to = Some(origin + (first_ms + energies.len() as i64) as f64 / 1000.0);
        for d in dets {
            self.emit_detection(d, out);
        }
        self.prune();
    }

    /// Keep only what the window heads can still ask for: the rows of the window, the sync
    /// evidence of the horizon (± the search range), the events the window overlaps, the cuts
    /// of the last minute. What the summary needs is in running aggregates.
    fn prune(&mut self) {
        // A file's windows wait for the sound's search range past their end (see `watermark`).
        let keep = self.a.window_s.max(self.a.sync_horizon_s)
            + 2.0 * self.a.hop_s
            + self.a.sync_search_ms / 1000.0;
        if let Some(newest) = self.video_to {
            while self
                .rows
                .front()
                .map(|r| r.pts < newest - keep)
                .unwrap_or(false)
            {
                self.rows.pop_front();
            }
        }
        let search = self.a.sync_search_ms / 1000.0;
        self.tally
            .advance(self.audio_to, self.video_to, MAX_WINDOW_LAG_S);
        // The earliest start of a window (or of its sync horizon) still to be scored: the next
        // window, or the last one `finish` may add (it ends at most a hop later).
        let (Some(next_end), Some(newest)) = (
            self.sched.next_end(),
            [self.video_to, self.audio_to]
                .into_iter()
                .flatten()
                .reduce(f64::max),
        ) else {
            return;
        };
        let first = (next_end - self.a.hop_s).max(newest - MAX_WINDOW_LAG_S);
        let events_from = first - self.a.window_s - 1.0;
        let evidence_from = first - self.a.sync_horizon_s.max(self.a.window_s) - search - 1.0;
        if !self.keep_evidence {
            self.visual.retain(|v| v.0 >= evidence_from);
            self.onsets.retain(|o| o.t >= evidence_from);
        }
        self.detections.retain(|d| d.end >= events_from);
        // Cuts: a minute for the cut rate, and the horizon for cut–beat alignment.
        self.pacing
            .forget_before(first - self.a.sync_horizon_s.max(60.0) - 1.0);
    }

    /// Watermark of stream time every medium has delivered up to: windows ending before it
    /// are complete.
    ///
    /// A file's window also waits for the onsets its sync search reads past its end (the
    /// sound may trail the picture by up to the search range), so its figures do not depend
    /// on which branch the decoder happened to run ahead; live, a window reads the sound that
    /// has arrived. Once every medium has ended, the watermark is where they ended.
    fn watermark(&self) -> Option<f64> {
        let media = self.media?;
        let mut wm = f64::INFINITY;
        let mut any = false;
        if media.video && !(self.live && self.stalled.video) && !self.ends.media.video {
            wm = wm.min(self.video_to?);
            any = true;
        }
        let sound_lag = |audio_to: f64| {
            // The sound branch (loudness) runs beside the analysis audio: a window waits for
            // it too, unless it has fallen behind by more than SOUND_WAIT_S (a branch that
            // stalled or failed must not hold the other dimensions back) or the stream is
            // finished (everything that will come has come).
            self.sound_to
                .filter(|st| audio_to - st < SOUND_WAIT_S && !self.finished)
                .unwrap_or(f64::INFINITY)
        };
        if media.audio && !(self.live && self.stalled.audio) && !self.ends.media.audio {
            let audio_to = self.audio_to?;
            let lookahead = if self.live || self.finished || !media.video {
                0.0
            } else {
                self.a.sync_search_ms / 1000.0
            };
            wm = wm.min(audio_to - lookahead).min(sound_lag(audio_to));
            any = true;
        }
        if any {
            return Some(wm);
        }
        // Nothing going: every medium ended (or, live, stalled). Ended media hold back no
        // window up to where they ended; stalled ones hold back every window.
        let ended_all = (!media.video || self.ends.media.video || self.finished)
            && (!media.audio || self.ends.media.audio || self.finished);
        let end = [self.video_to, self.audio_to]
            .into_iter()
            .flatten()
            .reduce(f64::max)?;
        let sound = self.audio_to.map_or(f64::INFINITY, sound_lag);
        ended_all.then_some(end.min(sound))
    }

    fn schedule(&mut self, out: &mut Vec<Record>) {
        let Some(media) = self.media else { return };
        if self.sched.origin().is_none() {
            let firsts = [
                media.video.then_some(self.first_video).flatten(),
                media.audio.then_some(self.audio.origin()).flatten(),
            ];
            if let Some(o) = firsts.iter().flatten().copied().reduce(f64::min) {
                self.sched.set_origin(o);
                self.tally.set_origin(o);
            }
        }
        let Some(wm) = self.watermark() else { return };
        if self
            .ends
            .note
            .as_ref()
            .is_some_and(|(at, _)| wm > at + ENDED_NOTE_S)
            && let Some((_, msg)) = self.ends.note.take()
        {
            out.push(self.state(StreamState::Running, msg));
        }
        while let Some((s, e)) = self.sched.due(wm) {
            self.window(s, e, out);
        }
    }

    /// The picture score of `[s, e)` from the picture events in it.
    fn picture_score(&self, s: f64, e: f64) -> f64 {
        let jumps = self
            .detections
            .iter()
            .filter(|d| {
                d.kind == EventKind::CameraJump && !d.transport && d.start >= s && d.start < e
            })
            .count();
        crate::model::picture::score(&crate::model::picture::PictureInputs {
            exposure: self.coverage(EventKind::Overexposed, s, e)
                + self.coverage(EventKind::Underexposed, s, e),
            blur: self.coverage(EventKind::Blur, s, e),
            noise: self.coverage(EventKind::Noise, s, e),
            shake: self.coverage(EventKind::Shake, s, e),
            camera_jumps: jumps,
        })
    }

    fn coverage(&self, kind: EventKind, s: f64, e: f64) -> f64 {
        let len = (e - s).max(1e-9);
        let overlap = |a: f64, b: f64| (b.min(e) - a.max(s)).max(0.0);
        let closed: f64 = self
            .detections
            .iter()
            .filter(|d| d.kind == kind && !d.transport)
            .map(|d| overlap(d.start, d.end))
            .sum();
        let open: f64 = self
            .open_ongoing
            .iter()
            .filter(|d| d.kind == kind && !d.transport)
            .map(|d| overlap(d.start, e))
            .sum();
        ((closed + open) / len).min(1.0)
    }

    fn sync_in(&self, from: f64, to: f64) -> Option<SyncEstimate> {
        let media = self.media?;
        if !media.audio || !media.video {
            return None;
        }
        Some(
            self.model
                .sync(&self.visual, &self.onsets, from, to, self.a.sync_search_ms),
        )
    }

    /// The early-stop verdict so far.
    pub fn verdict(&self) -> Verdict {
        self.alerts.verdict()
    }

    /// Score the window `[s, e)`; pushes the window record and any alerts it triggers.
    fn window(&mut self, s: f64, e: f64, out: &mut Vec<Record>) {
        let media = self.media.unwrap_or_default();
        let frames = self.rows.iter().filter(|r| r.pts >= s && r.pts < e).count();
        let newest_arrival = self
            .rows
            .iter()
            .filter(|r| r.pts < e)
            .map(|r| r.arrival)
            .max();
        let (inputs, continuity) = self.continuity_window(s, e, media);
        let pacing = self.pacing.figures(s, e);
        let mut diagnosis = vec![];
        let origin = self.sched.origin().unwrap_or(s);
        let sync = self.sync_window(s, e, origin, &mut diagnosis);
        self.rhythm_notes(&pacing, &mut diagnosis);
        let horizon = (e - self.a.sync_horizon_s).max(origin);
        let beat = (media.audio && media.video).then(|| {
            crate::model::beat::figures(
                &self.onsets,
                &self.pacing.cuts_between(horizon, e),
                horizon,
                e,
            )
        });
        let style = media.video.then(|| self.style.figures());
        if let Some(d) = style.as_ref().and_then(|st| st.drift_sequence) {
            // Scenes differ in look on purpose; only a shot far off the sequence is worth a note.
            if d > 8.0 {
                let parts = style.as_ref().and_then(|st| st.parts).unwrap_or_default();
                diagnosis.push(taxonomy::style_drift(d, &parts));
            }
        }
        let events = self.window_events(s, e, continuity.flashes, &mut diagnosis);
        let sound = media.audio.then(|| self.sound.window(s, e)).flatten();
        let picture = media.video.then(|| self.picture.window(s, e)).flatten();
        let dropouts = self
            .detections
            .iter()
            .filter(|d| d.kind == EventKind::Dropout && !d.transport && d.start < e && d.end > s)
            .count();
        let sound_score = sound
            .as_ref()
            .map(|w| crate::model::sound::score(w.clipped_ms, dropouts));
        let picture_score = picture.as_ref().map(|_| self.picture_score(s, e));
        let scores = self.window_scores(
            media,
            sync.as_ref(),
            &inputs,
            &pacing,
            (sound_score, picture_score),
        );
        let mut w = WindowRecord {
            stream: self.id.to_string(),
            start: rounded(s),
            end: rounded(e),
            frames,
            scores,
            sync,
            continuity,
            rhythm: pacing,
            beat,
            style,
            picture,
            sound,
            events,
            diagnosis,
            latency_s: newest_arrival
                .map(|t| rounded(t.elapsed().as_secs_f64()))
                .unwrap_or(0.0),
            transport: self.transport_window(s, e, media),
            calibrated: None,
        };
        if let Some(t) = &mut self.calibrated {
            w.calibrated = Some(t.on_window(&w));
        }
        let alerts = self.alerts.on_window(&w);
        out.push(Record::Window(Box::new(w)));
        out.extend(alerts.into_iter().map(Record::Alert));
    }

    /// The continuity head over the window's rows, and the event coverage of the window
    /// (faults only; transport damage is not the generator's).
    fn continuity_window(
        &self,
        s: f64,
        e: f64,
        media: Media,
    ) -> (ContinuityInputs, ContinuityWindow) {
        let rows: Vec<[f32; HEAD_COLUMNS]> = self
            .rows
            .iter()
            .filter(|r| r.pts >= s && r.pts < e)
            .map(|r| r.cols)
            .collect();
        let head = self.model.continuity_head(&rows);
        let silence_ratio = media.audio.then(|| self.coverage(EventKind::Silence, s, e));
        let count = |k: EventKind| {
            self.detections
                .iter()
                .filter(|d| d.kind == k && !d.transport && d.start >= s && d.start < e)
                .count()
        };
        let flashes = count(EventKind::Flash);
        let glitches = count(EventKind::Glitch) + count(EventKind::GradeJump);
        let static_ratio = self.coverage(EventKind::StaticShot, s, e);
        let quiet_ratio = media.audio.then(|| self.coverage(EventKind::Quiet, s, e));
        let inputs = ContinuityInputs {
            freeze: self.coverage(EventKind::Freeze, s, e),
            black: self.coverage(EventKind::Black, s, e),
            silence: silence_ratio,
            flicker: self.coverage(EventKind::Flicker, s, e),
            flashes: flashes + glitches,
        };
        let continuity = ContinuityWindow {
            freeze_ratio: rounded(inputs.freeze),
            black_ratio: rounded(inputs.black),
            silence_ratio: silence_ratio.map(rounded),
            flicker_ratio: rounded(inputs.flicker),
            flicker_index: rounded(head.flicker_index),
            flicker_vbench: rounded(head.flicker_vbench()),
            flashes,
            glitches,
            static_ratio: rounded(static_ratio),
            quiet_ratio: quiet_ratio.map(rounded),
        };
        (inputs, continuity)
    }

    /// Sync over the horizon ending at `e`, with drift against earlier committed windows.
    fn sync_window(
        &mut self,
        s: f64,
        e: f64,
        origin: f64,
        diagnosis: &mut Vec<Diagnosis>,
    ) -> Option<SyncFigures> {
        let mut est = self.sync_in((e - self.a.sync_horizon_s).max(origin), e)?;
        let local = self.window_local(e, &est);
        let source = local
            .as_ref()
            .and_then(|l| local_sync::combine(&mut est, l, self.frame_s()));
        let mut fig = SyncFigures::new(&est, self.timing.as_str());
        fig.source = source;
        fig.local = local;
        if let Some(d) = est.audio_delay_ms {
            if d > score::DETECT_LATE_MS || d < -score::DETECT_EARLY_MS {
                let evidence =
                    taxonomy::sync_evidence(fig.source, fig.matched_events, fig.local.as_ref());
                diagnosis.push(taxonomy::sync(d, &evidence));
            }
            if let Some(reference) = self.drift_reference(e) {
                fig.drift_ms = Some((d - reference).round());
                fig.drift_abs_ms = Some((d - reference).abs().round());
                if (d - reference).abs() > 1000.0 * self.frame_s() {
                    let since = self.first_committed.unwrap_or(s);
                    diagnosis.push(taxonomy::drift(reference, d, e - since));
                }
            }
            self.first_committed.get_or_insert(e);
            self.committed.push_back((e, d));
        }
        if self.timing == Timing::Arrival {
            fig.confidence = rounded(fig.confidence * 0.5);
        }
        Some(fig)
    }

    /// The local-motion estimate for the window ending at `e`, where the events lacked
    /// evidence: over the [`local_sync::WINDOW_SPAN_S`] s before `e`, made at most every
    /// [`local_sync::WINDOW_EVERY_S`] s (a few ms each) and shown by the windows in between.
    fn window_local(&mut self, e: f64, est: &SyncEstimate) -> Option<LocalEstimate> {
        if !local_sync::events_lack_evidence(est) {
            return None;
        }
        match &self.local_window {
            Some((at, l)) if (0.0..local_sync::WINDOW_EVERY_S).contains(&(e - at)) => {
                Some(l.clone())
            }
            _ => {
                let search = self.a.sync_search_ms;
                let l = self
                    .local
                    .estimate_since(search, e - local_sync::WINDOW_SPAN_S);
                self.local_window = Some((e, l.clone()));
                Some(l)
            }
        }
    }

    /// The drift reference at `e`: the median of the committed delays whose horizon no longer
    /// overlaps this window's (kept as a histogram of 0.1 ms bins).
    fn drift_reference(&mut self, e: f64) -> Option<f64> {
        while let Some(&(t, old)) = self.committed.front() {
            if t > e - self.a.sync_horizon_s {
                break;
            }
            self.committed.pop_front();
            *self
                .committed_before
                .entry((old * 10.0).round() as i64)
                .or_default() += 1;
            self.committed_before_n += 1;
        }
        if self.committed_before_n == 0 {
            return None;
        }
        let k = self.committed_before_n / 2;
        let mut seen = 0u64;
        self.committed_before
            .iter()
            .find(|(_, n)| {
                seen += **n as u64;
                seen > k
            })
            .map(|(bin, _)| *bin as f64 / 10.0)
    }

    fn rhythm_notes(&self, pacing: &PacingFigures, diagnosis: &mut Vec<Diagnosis>) {
        if pacing.short_shots > 0 {
            diagnosis.push(taxonomy::short_shots(
                pacing.short_shots,
                pacing.shortest_shot_s.unwrap_or(0.0),
            ));
        }
        if let Some(asl) = pacing.average_shot_length_s {
            if self.pacing.total_cuts >= 3 && !(2.0..=8.0).contains(&asl) {
                diagnosis.push(taxonomy::pacing(asl));
            }
        }
    }

    /// Events overlapping the window, by kind, each with its diagnosis (flashes only when a
    /// few: a strobe sequence is one note, not dozens).
    fn window_events(
        &self,
        s: f64,
        e: f64,
        flashes: usize,
        diagnosis: &mut Vec<Diagnosis>,
    ) -> BTreeMap<&'static str, usize> {
        let mut events = BTreeMap::new();
        // Open events are still going: they overlap every window after their start.
        let open = self.open_ongoing.iter().map(|d| (d, f64::INFINITY));
        for (d, end) in self.detections.iter().map(|d| (d, d.end)).chain(open) {
            if d.start < e && end > s {
                *events.entry(d.kind.as_str()).or_insert(0) += 1;
                if d.kind != EventKind::Flash || flashes <= 3 {
                    diagnosis.push(taxonomy::event(d));
                }
            }
        }
        events
    }

    /// The window's scores, added to the running means of the summary.
    fn window_scores(
        &mut self,
        media: Media,
        sync: Option<&SyncFigures>,
        inputs: &ContinuityInputs,
        pacing: &PacingFigures,
        (sound, picture): (Option<f64>, Option<f64>),
    ) -> Scores {
        let sync_score = sync.and_then(|f| score::sync_score(f.audio_delay_ms));
        let continuity_score =
            (media.video || media.audio).then(|| score::continuity_score(inputs));
        let rhythm_score = media
            .video
            .then(|| score::rhythm_score(pacing.average_shot_length_s, pacing.short_shots));
        let scores = Scores {
            sync: sync_score.map(rounded),
            continuity: continuity_score.map(rounded),
            rhythm: rhythm_score.map(rounded),
            sound: sound.map(rounded),
            picture: picture.map(rounded),
            overall: score::overall(sync_score, continuity_score, rhythm_score).map(rounded),
        };
        self.windows += 1;
        for (acc, v) in self.score_sums.iter_mut().zip([
            scores.sync,
            scores.continuity,
            scores.rhythm,
            scores.overall,
            scores.sound,
            scores.picture,
        ]) {
            if let Some(v) = v {
                acc.0 += v;
                acc.1 += 1;
            }
        }
        scores
    }

    /// Transport health of a live window: damaged shares and transport events.
    fn transport_window(&self, s: f64, e: f64, media: Media) -> Option<TransportWindow> {
        self.live.then(|| {
            let v = self.video_damage.share(s, e);
            let a = if media.audio {
                self.audio_damage.share(s, e)
            } else {
                0.0
            };
            let events = self
                .detections
                .iter()
                .chain(self.open_ongoing.iter())
                .filter(|d| d.transport && d.start < e && d.end >= s)
                .count();
            TransportWindow {
                damaged_video_ratio: rounded(v),
                damaged_audio_ratio: rounded(a),
                events,
                score: rounded(100.0 * (1.0 - v.max(a))),
            }
        })
    }

    /// End of input: flush everything, close open events, emit the last window and a summary.
    pub fn finish(&mut self, out: &mut Vec<Record>) {
        if self.finished {
            return;
        }
        self.finished = true;
        if let Some(b) = self.batcher.take() {
            self.process_batch(b, out);
        }
        self.process_audio(out);
        let mut co = CutOutput::default();
        self.cut_det.finish(&mut co);
        self.handle_cuts(co, out);
        self.release_jumps(f64::INFINITY, out);
        let mut dets = vec![];
        self.release_detail(f64::INFINITY, &mut dets);
        self.video_cont.finish(&mut dets);
        self.silence.finish(&mut dets);
        self.sound.finish(&mut dets);
        self.picture.finish(&mut dets);
        for d in dets {
            self.emit_detection(d, out);
        }
        self.open_ongoing.clear();
        if self.media.is_none() {
            self.media = Some(Media {
                video: self.video_to.is_some(),
                audio: self.audio_to.is_some(),
            });
        }
        self.stalled = Media::default();
        self.schedule(out);
        let end = [self.video_to, self.audio_to]
            .iter()
            .flatten()
            .copied()
            .reduce(f64::max);
        if let Some(end) = end {
            if let Some((s, e)) = self.sched.last(end) {
                self.window(s, e, out);
            }
        }
        self.tally.flush();
        let summary = self.summary();
        if let Record::Summary(sm) = &summary
            && let Some(e) = sm.ended_early
        {
            out.push(self.state(StreamState::Ended, e.message()));
        }
        out.push(summary);
    }

    fn summary(&self) -> Record {
        let media = self.media.unwrap_or_default();
        let origin = self.sched.origin().unwrap_or(0.0);
        let end = [self.video_to, self.audio_to]
            .iter()
            .flatten()
            .copied()
            .reduce(f64::max)
            .unwrap_or(origin);
        let mut est = match (media.video, media.audio) {
            (true, true) => self
                .model
                .commit_sync(self.tally.estimate(end.max(origin + 0.01))),
            (true, false) => {
                SyncEstimate::declined(crate::model::sync::Decline::NoAudio, self.visual_total, 0)
            }
            (false, _) => {
                SyncEstimate::declined(crate::model::sync::Decline::NoVideo, 0, self.onsets_total)
            }
        };
        let local =
            (media.video && media.audio).then(|| self.local.estimate(self.a.sync_search_ms));
        let source = local
            .as_ref()
            .and_then(|l| local_sync::combine(&mut est, l, self.frame_s()));
        let mut sync = SyncFigures::new(&est, self.timing.as_str());
        if media.video && media.audio {
            sync.correlation = self.tally.curve().map(SyncCurve::new);
        }
        sync.source = source;
        sync.local = local;
        if self.timing == Timing::Arrival {
            sync.confidence = rounded(sync.confidence * 0.5);
        }
        let mean = |i: usize| {
            let (sum, n) = self.score_sums[i];
            (n > 0).then(|| rounded(sum / n as f64))
        };
        let events: BTreeMap<&'static str, usize> = EventKind::ALL
            .iter()
            .zip(self.event_counts)
            .map(|(k, n)| (k.as_str(), n))
            .collect();
        let mut cuts = self.cuts.clone();
        cuts.entry("hard").or_insert(0);
        cuts.entry("gradual").or_insert(0);
        let elapsed = self.started.elapsed().as_secs_f64();
        let duration = (end - origin).max(0.0);
        Record::Summary(Box::new(SummaryRecord {
            stream: self.id.to_string(),
            media,
            duration_s: rounded(duration),
            frames: self.frames,
            dropped_frames: self.dropped_frames,
            windows: self.windows,
            cuts,
            events,
            sync,
            rhythm: self.pacing.summary(end + 1e-6),
            scores: Scores {
                sync: mean(0),
                continuity: mean(1),
                rhythm: mean(2),
                sound: mean(4),
                picture: mean(5),
                overall: mean(3),
            },
            backend: self.model.kind().to_string(),
            elapsed_s: rounded(elapsed),
            speed_x: rounded(duration / elapsed.max(1e-6)),
            verdict: self.alerts.verdict(),
            calibrated: self.calibrated.as_ref().and_then(|t| t.whole()),
            sound: media.audio.then(|| self.sound.summary()).flatten(),
            ended_early: self
                .ends
                .declared_s
                .and_then(|d| crate::score::record::EndedEarly::check(end, d)),
        }))
    }
}
