//! Faces and lips (production / performance; post-production / sound): the face tracks of the
//! picture, each mouth's opening at frame rate, and the speech envelope; per window and for
//! the whole input, the offset of the speech from the mouth that speaks it
//! ([`crate::model::faces::lips`]). Where the cuts and flashes lacked evidence, a committed lip
//! offset is the stream's sync figure (source `lips`).
use super::{SummaryCx, WindowCx, WindowHead};
use crate::model::Model;
use crate::model::faces::activity::{self, LipActivity};
use crate::model::faces::lips::{self, LipsEstimate, LipsModel, MOUTH_FEATURES, SpeechBands};
use crate::model::faces::track::{FaceSample, FaceTracker};
use crate::model::faces::{FaceModels, FacesFigures, HORIZON_S};
use crate::model::local_sync::SyncSource;
use crate::model::sync::Decline;
use crate::score::record::{SummaryRecord, SyncFigures, SyncStatus, WindowRecord};
use crate::score::taxonomy;
use crate::types::VideoFrame;
use crate::vocab::{Cut, Detection, EventKind};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// Set to a file name, the summary also writes there each track's mouth features and the
/// speech bands (what `scripts/faces/fit_lips.py` fits the projections on).
pub const DUMP_ENV: &str = "EVALVERSE_FACES_DUMP";

/// Mouth frames of one track: `(pts, features)`.
type Mouth = VecDeque<(f64, [f32; MOUTH_FEATURES])>;

pub struct Faces {
    models: Option<Arc<FaceModels>>,
    tracker: FaceTracker,
    lips: Option<LipsModel>,
    /// Each track's mouth over the horizon.
    mouths: BTreeMap<u64, Mouth>,
    /// The speech's band rows from step `speech_first` (absolute, of the audio timeline).
    bands: SpeechBands,
    speech: VecDeque<[f32; 6]>,
    speech_first: i64,
    audio_origin: Option<f64>,
    search_ms: f64,
    /// Frames looked at and frames with a face: in all, and since the last window.
    frames: (u64, u64),
    window_frames: (u64, u64),
    tracks_seen: usize,
    window_tracks: std::collections::BTreeSet<u64>,
    most_at_once: usize,
    failed: bool,
    /// Lip faults: speech without a moving mouth, a mouth moving through silence.
    activity: LipActivity,
    /// A live stream's face-picture demand (from its frames), told what the tracker needs.
    demand: Option<std::sync::Arc<crate::types::FaceDemand>>,
}

impl Faces {
    pub fn new(model: &Model, audio_rate: u32, search_ms: f64) -> Self {
        let lips = match LipsModel::shipped() {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!("weights/lips_sync.json: {e}; lip sync is off");
                None
            }
        };
        Self {
            models: model.faces(),
            lips,
            tracker: FaceTracker::default(),
            mouths: BTreeMap::new(),
            bands: SpeechBands::new(audio_rate),
            speech: VecDeque::new(),
            speech_first: 0,
            audio_origin: None,
            search_ms,
            frames: (0, 0),
            window_frames: (0, 0),
            tracks_seen: 0,
            window_tracks: Default::default(),
            most_at_once: 0,
            failed: false,
            demand: None,
            activity: LipActivity::default(),
        }
    }

    fn take(&mut self, samples: Vec<FaceSample>) {
        for s in samples {
            let m = self.mouths.entry(s.track).or_insert_with(|| {
                self.tracks_seen += 1;
                VecDeque::new()
            });
            m.push_back((s.pts, s.mouth));
            self.window_tracks.insert(s.track);
        }
    }

    /// The lip offset over what is kept up to `until`: the best-correlated track's.
    fn estimate(&self, until: f64) -> Option<LipsEstimate> {
        let (lips, origin) = (self.lips.as_ref()?, self.audio_origin?);
        let rows: Vec<[f32; 6]> = self.speech.iter().copied().collect();
        let s0 = origin + self.bands.step_time(self.speech_first);
        self.mouths
            .iter()
            .filter_map(|(id, m)| {
                let frames: Vec<_> = m.iter().copied().filter(|(t, _)| *t <= until).collect();
                if frames.len() < 2 {
                    return None;
                }
                let mut e = lips::estimate(lips, &frames, s0, &rows, self.search_ms);
                e.track = Some(*id);
                Some(e)
            })
            .max_by(|a, b| {
                (a.audio_delay_ms.is_some(), a.peak)
                    .partial_cmp(&(b.audio_delay_ms.is_some(), b.peak))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
    }

    fn figures(&self, frames: (u64, u64), tracks: usize, count: usize) -> FacesFigures {
        FacesFigures {
            face_share: if frames.0 > 0 {
                crate::score::record::rounded(frames.1 as f64 / frames.0 as f64)
            } else {
                0.0
            },
            count,
            tracks,
            speaking_track: None,
            offset_ms: None,
            mouth_in_speech: None,
            mouth_in_silence: None,
            detector_runs: self.tracker.detector_runs,
            mesh_runs: self.tracker.mesh_runs,
            pictures: self.tracker.pictures,
        }
    }

    /// A live frame the tracker did not ask a picture of (or one scaled before it asked):
    /// counted as looked at, and as holding a face while one is followed (it keeps its place).
    fn skipped_frame(&mut self) {
        self.tracker.tick();
        let face = u64::from(self.tracker.tracking() > 0);
        self.frames.0 += 1;
        self.window_frames.0 += 1;
        self.frames.1 += face;
        self.window_frames.1 += face;
    }

    fn prune_to(&mut self, latest: f64) {
        let from = latest - HORIZON_S;
        for m in self.mouths.values_mut() {
            while m.front().is_some_and(|(t, _)| *t < from) {
                m.pop_front();
            }
        }
        self.mouths.retain(|_, m| !m.is_empty());
    }
}

impl WindowHead for Faces {
    fn on_picture(&mut self, f: &VideoFrame, _dur: f64, dets: &mut Vec<Detection>) {
        if self.demand.is_none() {
            self.demand.clone_from(&f.face_demand);
        }
        let (Some(models), false) = (&self.models, self.failed) else {
            // No face models on this stream: no face pictures either.
            if let Some(d) = &f.face_demand {
                d.want_every(false);
            }
            return;
        };
        let Some(pic) = &f.face else {
            if f.face_demand.is_some() {
                self.skipped_frame();
            }
            return;
        };
        let pushed = self.tracker.push(models, f.pts, pic);
        if let Some(d) = &f.face_demand {
            d.want_every(self.tracker.tracking() > 0);
        }
        match pushed {
            Ok(samples) => {
                self.frames.0 += 1;
                self.window_frames.0 += 1;
                if !samples.is_empty() {
                    self.frames.1 += 1;
                    self.window_frames.1 += 1;
                }
                self.most_at_once = self.most_at_once.max(samples.len());
                self.activity.on_frame(f.pts, &samples);
                self.activity.check(dets);
                self.take(samples);
                self.prune_to(f.pts);
            }
            Err(e) => {
                tracing::warn!("face models failed ({e}); faces are off for this stream");
                self.failed = true;
            }
        }
    }

    fn on_cut(&mut self, c: &Cut, dets: &mut Vec<Detection>) {
        self.tracker.cut(c.pts);
        // The next shot's faces: look at every frame until the detector has.
        if let Some(d) = &self.demand {
            d.want_every(true);
        }
        self.activity.on_cut(dets);
    }

    fn on_energies(&mut self, origin: f64, first_ms: i64, e: &[f32], dets: &mut Vec<Detection>) {
        if self.models.is_none() || self.failed {
            return;
        }
        self.activity.on_energies(origin, first_ms, e);
        self.activity.check(dets);
    }

    fn finish(&mut self, dets: &mut Vec<Detection>) {
        if self.models.is_some() {
            self.activity.finish(dets);
        }
    }

    fn on_samples(&mut self, origin: f64, first: i64, samples: &[f32]) {
        if self.models.is_none() || self.lips.is_none() {
            return;
        }
        self.audio_origin.get_or_insert(origin);
        for (step, row) in self.bands.push(first, samples) {
            self.push_step(step, row);
        }
    }

    fn window(&mut self, cx: &WindowCx, w: &mut WindowRecord) {
        let frames = std::mem::take(&mut self.window_frames);
        let tracks = std::mem::take(&mut self.window_tracks).len();
        if self.tracks_seen == 0 {
            return;
        }
        let mut f = self.figures(frames, tracks, self.tracker.tracking());
        let est = self.estimate(cx.e);
        f.speaking_track = est.as_ref().and_then(|e| e.track);
        f.offset_ms = est.as_ref().and_then(|e| e.audio_delay_ms);
        (f.mouth_in_speech, f.mouth_in_silence) = self.mouth_activity(cx.s, cx.e);
        w.faces = Some(f);
        let min_z = self.lips.as_ref().map_or(1.0, |m| m.min_z);
        if let Some(est) = est {
            lips_into_window(w, est, min_z);
        }
        lip_faults_into_score(cx, w);
    }

    fn summary(&mut self, cx: &SummaryCx, s: &mut SummaryRecord) {
        if let Some(path) = std::env::var_os(DUMP_ENV) {
            self.dump(std::path::Path::new(&path));
        }
        if self.tracks_seen == 0 {
            return;
        }
        let mut f = self.figures(self.frames, self.tracks_seen, self.most_at_once);
        let est = (cx.media.video && cx.media.audio)
            .then(|| self.estimate(f64::INFINITY))
            .flatten();
        f.speaking_track = est.as_ref().and_then(|e| e.track);
        s.faces = Some(f);
        let Some(est) = est else { return };
        let min_z = self.lips.as_ref().map_or(1.0, |m| m.min_z);
        commit(&mut s.sync, est, min_z);
    }

    fn sizes(&self, v: &mut Vec<(&'static str, usize)>) {
        v.push((
            "mouth_samples",
            self.mouths.values().map(VecDeque::len).sum(),
        ));
        v.push(("speech_steps", self.speech.len()));
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Speech without a mouth and a mouth without speech cost the sync score the share of the
/// window they cover (a window without an offset is scored from 100).
fn lip_faults_into_score(cx: &WindowCx, w: &mut WindowRecord) {
    let covered: f64 = [EventKind::SpeechWithoutMouth, EventKind::MouthWithoutSpeech]
        .into_iter()
        .map(|k| cx.book.coverage(k, cx.s, cx.e))
        .sum::<f64>()
        .min(1.0);
    if covered > 0.0 {
        w.scores.sync = Some(w.scores.sync.unwrap_or(100.0) * (1.0 - covered));
    }
}

/// The lip estimate into a window's sync figures. A lip offset that became the sync figure is
/// scored and diagnosed like any other: a talker 300 ms off its words is a fault, not a window
/// without a sync score.
fn lips_into_window(w: &mut WindowRecord, est: LipsEstimate, min_z: f64) {
    let Some(sync) = w.sync.as_mut() else { return };
    commit(sync, est, min_z);
    if sync.source != Some(SyncSource::Lips) {
        return;
    }
    w.scores.sync = crate::score::sync_score(sync.audio_delay_ms);
    if let Some(d) = sync.audio_delay_ms
        && (d > crate::score::DETECT_LATE_MS || d < -crate::score::DETECT_EARLY_MS)
    {
        let evidence = taxonomy::sync_evidence(sync.source, 0, None, sync.lips.as_ref());
        w.diagnosis.push(taxonomy::sync(d, &evidence));
    }
}

/// Where the cuts and flashes lacked evidence (and the local motion committed nothing or
/// less), a committed lip offset becomes the sync figure; the estimate is kept either way.
fn commit(sync: &mut SyncFigures, est: LipsEstimate, min_z: f64) {
    let lacking = matches!(
        sync.declined,
        Some(Decline::StaticPicture | Decline::TooFewEvents | Decline::WeakEvidence)
    );
    let taken = sync.source == Some(SyncSource::Events);
    if let Some(d) = est.audio_delay_ms
        && !taken
        && (lacking || sync.source == Some(SyncSource::LocalMotion))
    {
        sync.audio_delay_ms = Some(crate::score::record::rounded(d));
        sync.status = SyncStatus::Committed;
        sync.declined = None;
        sync.reason = None;
        sync.best_lag_ms = est.best_lag_ms;
        sync.second_peak_ratio = None;
        sync.commit_probability = None;
        sync.confidence = crate::score::record::rounded(
            (est.peak.clamp(0.0, 1.0) * (est.z / (2.0 * min_z)).min(1.0)).max(0.0),
        );
        sync.source = Some(SyncSource::Lips);
    }
    sync.lips = Some(est);
}

impl Faces {
    /// Median lip movement over the spans read in `[s, e)` with speech, and with no sound.
    fn mouth_activity(&self, s: f64, e: f64) -> (Option<f64>, Option<f64>) {
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            (!v.is_empty()).then(|| crate::score::record::rounded(v[v.len() / 2]))
        };
        let of = |keep: &dyn Fn(&activity::Span) -> bool| {
            median(
                self.activity
                    .spans(s, e)
                    .filter(|x| keep(x))
                    .filter_map(|x| x.mouth_sd)
                    .collect(),
            )
        };
        (
            of(&|x| x.speech),
            of(&|x| x.sound <= activity::SILENT_SHARE),
        )
    }

    fn dump(&self, path: &std::path::Path) {
        let v = serde_json::json!({
            "mouth": self.mouths,
            "speech_t0": self.audio_origin.map(|o| o + self.bands.step_time(self.speech_first)),
            "speech": self.speech,
        });
        if let Err(e) = std::fs::write(path, v.to_string()) {
            tracing::warn!("{DUMP_ENV}: {}: {e}", path.display());
        }
    }

    /// One step of the speech's bands, at absolute step `step` (a gap restarts the series).
    fn push_step(&mut self, step: i64, row: [f32; 6]) {
        let next = self.speech_first + self.speech.len() as i64;
        if self.speech.is_empty() || step != next {
            self.speech.clear();
            self.speech_first = step;
        }
        self.speech.push_back(row);
        let keep = (HORIZON_S / lips::STEP_S) as usize;
        while self.speech.len() > keep {
            self.speech.pop_front();
            self.speech_first += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sync::SyncEstimate;

    fn declined_window() -> WindowRecord {
        let mut w = WindowRecord::for_test("s", 0.0, 4.0);
        let est = SyncEstimate::declined(Decline::StaticPicture, 0, 0);
        w.sync = Some(SyncFigures::new(&est, crate::types::Timing::Arrival));
        w
    }

    fn lips(delay_ms: f64) -> LipsEstimate {
        LipsEstimate {
            audio_delay_ms: Some(delay_ms),
            best_lag_ms: Some(delay_ms),
            peak: 0.5,
            z: 8.0,
            span_s: 5.0,
            track: Some(1),
            ..Default::default()
        }
    }

    #[test]
    fn a_talker_off_its_words_is_scored_and_diagnosed_like_any_offset() {
        let mut w = declined_window();
        lips_into_window(&mut w, lips(320.0), 3.0);
        let sync = w.sync.as_ref().unwrap();
        assert_eq!(sync.source, Some(SyncSource::Lips));
        assert_eq!(w.scores.sync, crate::score::sync_score(Some(320.0)));
        assert!(w.scores.sync.unwrap() < 50.0, "{:?}", w.scores.sync);
        let d = w
            .diagnosis
            .iter()
            .find(|d| d.observed.contains("audio late by 320 ms"));
        assert!(
            d.is_some_and(|d| d.observed.contains("lips of face 1")),
            "{:?}",
            w.diagnosis
        );

        // In sync: scored 100, nothing to diagnose.
        let mut w = declined_window();
        lips_into_window(&mut w, lips(20.0), 3.0);
        assert_eq!(w.scores.sync, Some(100.0));
        assert!(w.diagnosis.is_empty());
    }
}
