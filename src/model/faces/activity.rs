//! Lip faults of generated video (production / performance): speech while the face that talks
//! keeps its mouth still (`speech_without_mouth`: the mouth starts late, stops early, or never
//! speaks the line), and a mouth that talks through silence (`mouth_without_speech`).
//!
//! Every [`HOP_S`] the last [`SPAN_S`] is read: the share of its 10-ms steps with sound (above
//! `max(FLOOR_DB, loud − BELOW_LOUD_DB)`, `loud` the 95th percentile of the last
//! [`LOUD_S`], decaying slowly), whether that sound is speech-like (its level swings by
//! syllables: [`SPEECH_DEPTH_DB`] or more between the 10th and 90th percentile steps, where
//! ambience and sustained music hold steady), and, for each face large enough to read and in
//! view for most of the span, the standard deviation of its inner-lip gap (over the eye span).
//! A span of speech while every such mouth is still is held against its track: it becomes an
//! event once that track is seen talking (a mouth moving with speech), so a face that only
//! listens — or sits in a portrait over music — is never blamed for the sound. A span of
//! silence while a mouth moves like a talker's is an event at once.
use super::track::FaceSample;
use crate::model::transient::LevelTrail;
use crate::vocab::{Detection, EventKind};
use std::collections::VecDeque;

/// Length of the span read, and the step between spans, seconds.
pub const SPAN_S: f64 = 1.0;
pub const HOP_S: f64 = 0.25;
/// Inner-lip gap standard deviations (over the eye span): under `STILL_SD` a mouth is still;
/// from `TALKING_SD` it moves as a talker's does (talking mouths in the generated clips: 1-s
/// medians 0.015–0.12; their still stretches 0.001–0.004); from `MOVING_SD` it is plainly
/// talking (the bar for blaming silence).
pub const STILL_SD: f64 = 0.004;
pub const TALKING_SD: f64 = 0.012;
pub const MOVING_SD: f64 = 0.03;
/// Shares of a span's steps with sound: from `SOUND_SHARE` the span has speech for this
/// purpose; up to `SILENT_SHARE` it is silent.
pub const SOUND_SHARE: f64 = 0.6;
/// Speech swings this much between its 10th- and 90th-percentile 10-ms steps in a span, dB
/// (floored at the sound bar). Spans where a mouth talks with sound in the generated clips:
/// median 18.5 dB, 10th percentile 9.8; the steady beds under still mouths there: 0.8–5 dB.
pub const SPEECH_DEPTH_DB: f64 = 10.0;
pub const SILENT_SHARE: f64 = 0.1;
/// Sound is a 10-ms step above `max(FLOOR_DB, loud − BELOW_LOUD_DB)` dBFS.
pub const FLOOR_DB: f64 = -55.0;
pub const BELOW_LOUD_DB: f64 = 30.0;
/// The loud reference: 95th percentile of the last `LOUD_S` of steps, decaying at most
/// `LOUD_DECAY_DB_S` per second (a long silence does not become the new loud).
pub const LOUD_S: f64 = 10.0;
pub const LOUD_DECAY_DB_S: f64 = 0.5;
/// A face narrower than this (face picture pixels) is too small for its lips to be read.
pub const MIN_FACE_PX: f32 = 48.0;
/// A face in view for this share of the span's frames counts as visible.
const VISIBLE_SHARE: f64 = 0.8;
/// Spans read are kept this long for the window figures, seconds.
const KEEP_SPANS_S: f64 = 60.0;

/// What one span showed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Span {
    pub end: f64,
    /// Share of its 10-ms steps with sound.
    pub sound: f64,
    /// Sound over most of it, swinging like speech.
    pub speech: bool,
    /// The largest mouth movement among the visible faces (`None`: no face to read).
    pub mouth_sd: Option<f64>,
}

/// A fault being followed: its kind, where it runs, and the figures behind it.
#[derive(Clone, Debug)]
struct Run {
    kind: EventKind,
    start: f64,
    end: f64,
    track: u64,
    /// Largest (speech without mouth) or smallest (mouth without speech) mouth movement, and
    /// the sound share at its extreme.
    mouth_sd: f64,
    sound: f64,
}

#[derive(Debug)]
pub struct LipActivity {
    /// 10-ms sound levels over the last [`LOUD_S`].
    levels: LevelTrail,
    loud: Option<f64>,
    /// Frames looked at, and the readable mouths: `(pts, track, gap)`.
    looked: VecDeque<f64>,
    mouths: VecDeque<(f64, u64, f32)>,
    video_to: Option<f64>,
    /// End of the next span to read.
    next_end: Option<f64>,
    spans: VecDeque<Span>,
    /// Tracks seen talking (a moving mouth with sound).
    talkers: std::collections::BTreeSet<u64>,
    /// Speech-without-mouth runs waiting for their track to be seen talking.
    held: Vec<Run>,
    open: Option<Run>,
}

impl Default for LipActivity {
    fn default() -> Self {
        Self {
            levels: LevelTrail::keeping((LOUD_S / 0.01) as usize),
            loud: None,
            looked: VecDeque::new(),
            mouths: VecDeque::new(),
            video_to: None,
            next_end: None,
            spans: VecDeque::new(),
            talkers: Default::default(),
            held: vec![],
            open: None,
        }
    }
}

impl LipActivity {
    /// 1-ms mean-square energies of the analysis audio from absolute ms `first_ms` of a
    /// timeline starting at `origin`.
    pub fn on_energies(&mut self, origin: f64, first_ms: i64, e: &[f32]) {
        self.levels.push(origin, first_ms, e);
    }

    /// A frame looked at (with or without faces) and the faces found on it.
    pub fn on_frame(&mut self, pts: f64, faces: &[FaceSample]) {
        self.looked.push_back(pts);
        for f in faces {
            if f.rect[2] - f.rect[0] >= MIN_FACE_PX {
                self.mouths.push_back((pts, f.track, f.mouth[0]));
            }
        }
        self.video_to = Some(self.video_to.map_or(pts, |v: f64| v.max(pts)));
        self.next_end.get_or_insert(pts + SPAN_S);
    }

    /// Read every span both media now cover; closed faults go to `dets`.
    pub fn check(&mut self, dets: &mut Vec<Detection>) {
        let (Some(v), Some(a)) = (self.video_to, self.levels.end()) else {
            return;
        };
        let upto = v.min(a);
        while let Some(end) = self.next_end.filter(|e| *e <= upto) {
            self.read_span(end, dets);
            self.next_end = Some(end + HOP_S);
        }
        let from = self.next_end.unwrap_or(upto) - SPAN_S - HOP_S;
        while self.looked.front().is_some_and(|t| *t < from) {
            self.looked.pop_front();
        }
        while self.mouths.front().is_some_and(|m| m.0 < from) {
            self.mouths.pop_front();
        }
        while self
            .spans
            .front()
            .is_some_and(|s| s.end < upto - KEEP_SPANS_S)
        {
            self.spans.pop_front();
        }
    }

    /// End of input: close what is open (held runs whose track never talked are dropped).
    pub fn finish(&mut self, dets: &mut Vec<Detection>) {
        self.check(dets);
        self.close(dets);
        self.held.clear();
    }

    /// A cut ends every track: a run cannot go on across it.
    pub fn on_cut(&mut self, dets: &mut Vec<Detection>) {
        self.close(dets);
        self.held.clear();
    }

    /// Spans read that end inside `[s, e)`.
    pub fn spans(&self, s: f64, e: f64) -> impl Iterator<Item = &Span> {
        self.spans.iter().filter(move |x| x.end > s && x.end <= e)
    }

    /// The share of `[start, end)` with sound, and its swing (dB between the 10th and 90th
    /// percentile steps, floored at the sound bar).
    fn sound_share(&mut self, start: f64, end: f64) -> Option<(f64, f64)> {
        let mut sorted: Vec<f64> = self.levels.all().collect();
        sorted.sort_by(f64::total_cmp);
        let p95 = *sorted.get(((sorted.len() as f64 - 1.0) * 0.95) as usize)?;
        let loud = match self.loud {
            Some(l) => p95.max(l - LOUD_DECAY_DB_S * HOP_S),
            None => p95,
        };
        self.loud = Some(loud);
        let bar = FLOOR_DB.max(loud - BELOW_LOUD_DB);
        let mut span: Vec<f64> = self
            .levels
            .levels(start, end)
            .map(|(_, db)| db.max(bar))
            .collect();
        if span.is_empty() {
            return None;
        }
        let on = span.iter().filter(|db| **db > bar).count() as f64 / span.len() as f64;
        span.sort_by(f64::total_cmp);
        let at = |q: f64| span[((span.len() - 1) as f64 * q).round() as usize];
        Some((on, at(0.9) - at(0.1)))
    }

    /// Per visible track in `[start, end)`: its gap's standard deviation.
    fn mouth_sds(&self, start: f64, end: f64) -> Vec<(u64, f64)> {
        let looked = self
            .looked
            .iter()
            .filter(|t| **t >= start && **t < end)
            .count();
        let mut by: std::collections::BTreeMap<u64, Vec<f64>> = Default::default();
        for (t, id, g) in &self.mouths {
            if *t >= start && *t < end {
                by.entry(*id).or_default().push(*g as f64);
            }
        }
        by.into_iter()
            .filter(|(_, g)| looked > 2 && g.len() as f64 >= VISIBLE_SHARE * looked as f64)
            .map(|(id, g)| {
                let m = g.iter().sum::<f64>() / g.len() as f64;
                let var = g.iter().map(|x| (x - m).powi(2)).sum::<f64>() / g.len() as f64;
                (id, var.sqrt())
            })
            .collect()
    }

    fn read_span(&mut self, end: f64, dets: &mut Vec<Detection>) {
        let start = end - SPAN_S;
        let Some((sound, swing)) = self.sound_share(start, end) else {
            return;
        };
        let speech = sound >= SOUND_SHARE && swing >= SPEECH_DEPTH_DB;
        let sds = self.mouth_sds(start, end);
        let most = sds.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1));
        self.spans.push_back(Span {
            end,
            sound,
            speech,
            mouth_sd: most.map(|m| m.1),
        });
        for (id, sd) in &sds {
            if speech && *sd >= TALKING_SD && self.talkers.insert(*id) {
                self.release(*id, dets);
            }
        }
        let fault = match most {
            Some((id, sd)) if speech && sd < STILL_SD => {
                Some((EventKind::SpeechWithoutMouth, id, sd))
            }
            Some((id, sd)) if sound <= SILENT_SHARE && sd >= MOVING_SD => {
                Some((EventKind::MouthWithoutSpeech, id, sd))
            }
            _ => None,
        };
        match (fault, &mut self.open) {
            (Some((kind, id, sd)), Some(run)) if run.kind == kind && run.track == id => {
                run.end = end;
                if (kind == EventKind::SpeechWithoutMouth) == (sd > run.mouth_sd) {
                    run.mouth_sd = sd;
                    run.sound = sound;
                }
            }
            (Some((kind, track, mouth_sd)), _) => {
                self.close(dets);
                self.open = Some(Run {
                    kind,
                    start,
                    end,
                    track,
                    mouth_sd,
                    sound,
                });
            }
            (None, _) => self.close(dets),
        }
    }

    /// The open run ends: reported, or held until its track talks.
    fn close(&mut self, dets: &mut Vec<Detection>) {
        let Some(run) = self.open.take() else { return };
        if run.kind == EventKind::SpeechWithoutMouth && !self.talkers.contains(&run.track) {
            self.held.push(run);
        } else {
            dets.push(detection(&run));
        }
    }

    /// A track was seen talking: its held runs are faults.
    fn release(&mut self, track: u64, dets: &mut Vec<Detection>) {
        let (mine, rest): (Vec<Run>, Vec<Run>) =
            self.held.drain(..).partition(|r| r.track == track);
        self.held = rest;
        dets.extend(mine.iter().map(detection));
    }
}

fn detection(r: &Run) -> Detection {
    Detection {
        kind: r.kind,
        start: r.start,
        end: r.end,
        ongoing: false,
        values: vec![
            ("track", r.track as f64),
            ("mouth_sd", r.mouth_sd),
            ("sound_share", r.sound),
        ],
        transport: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(track: u64, gap: f32) -> FaceSample {
        FaceSample {
            track,
            pts: 0.0,
            mouth_opening: gap,
            mouth: [gap, 0.5, 0.0, 0.0, 1.0, 0.3, 0.6],
            face_score: 0.9,
            rect: [100.0, 100.0, 200.0, 220.0],
        }
    }

    /// 8 s at 25 fps: speech (a -20 dBFS level) where `speech(t)`, and the mouth's gap
    /// `gap(t)`; the faults found.
    fn run(speech: impl Fn(f64) -> bool, gap: impl Fn(f64) -> f32) -> Vec<Detection> {
        let mut a = LipActivity::default();
        let mut dets = vec![];
        for ms in (0..8000).step_by(40) {
            let t = ms as f64 / 1000.0;
            // Syllables: 150 ms at -20 dBFS, 100 ms at -40.
            let level = |m: i64| {
                let on = speech(m as f64 / 1000.0);
                match (on, m % 250 < 150) {
                    (true, true) => 0.01,
                    (true, false) => 1e-4,
                    _ => 1e-9,
                }
            };
            let e: Vec<f32> = (ms..ms + 40).map(level).collect();
            a.on_energies(0.0, ms, &e);
            a.on_frame(t, &[face(1, gap(t))]);
            a.check(&mut dets);
        }
        a.finish(&mut dets);
        dets
    }

    fn talking(t: f64) -> f32 {
        0.1 + 0.05 * (t * 2.0 * std::f64::consts::PI * 4.0).sin() as f32
    }

    #[test]
    fn a_mouth_that_starts_late_on_its_speech_is_a_fault_once_it_talks() {
        let dets = run(|_| true, |t| if t < 3.0 { 0.02 } else { talking(t) });
        assert_eq!(dets.len(), 1, "{dets:?}");
        let d = &dets[0];
        assert_eq!(d.kind, EventKind::SpeechWithoutMouth);
        assert!(d.start < 0.3 && (2.9..=3.3).contains(&d.end), "{d:?}");
    }

    #[test]
    fn a_face_that_never_talks_is_not_blamed_for_the_sound() {
        assert!(run(|_| true, |_| 0.02).is_empty());
    }

    #[test]
    fn a_steady_bed_under_a_still_mouth_is_not_speech() {
        // The sound holds at -20 dBFS (ambience, a sustained chord) while the mouth rests,
        // then the talker speaks: the still stretch was no fault.
        let mut a = LipActivity::default();
        let mut dets = vec![];
        for ms in (0..8000).step_by(40) {
            let t = ms as f64 / 1000.0;
            let e: Vec<f32> = (ms..ms + 40)
                .map(|m| if t < 3.0 || m % 250 < 150 { 0.01 } else { 1e-4 })
                .collect();
            a.on_energies(0.0, ms, &e);
            let gap = if t < 3.0 { 0.02 } else { talking(t) };
            a.on_frame(t, &[face(1, gap)]);
            a.check(&mut dets);
        }
        a.finish(&mut dets);
        assert!(dets.is_empty(), "{dets:?}");
    }

    #[test]
    fn a_mouth_talking_through_silence_is_a_fault() {
        let dets = run(|t| !(3.0..5.0).contains(&t), talking);
        assert_eq!(dets.len(), 1, "{dets:?}");
        let d = &dets[0];
        assert_eq!(d.kind, EventKind::MouthWithoutSpeech);
        assert!(
            (2.9..=3.3).contains(&d.start) && (4.7..=5.1).contains(&d.end),
            "{d:?}"
        );
    }

    #[test]
    fn a_talker_in_sync_is_no_fault() {
        let gap = |t: f64| {
            if (3.0..5.0).contains(&t) {
                0.02
            } else {
                talking(t)
            }
        };
        assert!(run(|t| !(3.0..5.0).contains(&t), gap).is_empty());
    }
}
