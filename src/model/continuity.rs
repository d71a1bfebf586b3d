//! Continuity: is the picture and sound unbroken? Streaming detectors for **freeze**,
//! **black**, **flicker** (video) and **silence** (audio), and the window head that turns the
//! cached features into ratios.
//!
//! Definitions (all thresholds in [`DetectorSettings`], durations ≥ `min_event_s`):
//! - **freeze**: consecutive frames whose mean absolute luma difference to their predecessor is
//!   below `freeze_mad` (0–1 scale; once frozen, below 3× that, so a re-encoded keyframe inside
//!   a held picture does not split the event) and that are not black. The event starts at the last frame that still changed (the
//!   one being held) and ends at the first frame that changes again.
//! - **black**: frames with at least `black_ratio` of pixels at or below `black_luma`.
//! - **flicker**: frame-to-frame luma oscillation. With `m_t` the mean luma,
//!   `e_t = m_t − (m_{t−1} + m_{t+1}) / 2`; frame `t` flickers when `|e_t| ≥ flicker_amplitude`
//!   and `e_t` has the opposite sign of `e_{t−1}` (itself at least half the amplitude). A cut or
//!   a flash gives one or two such frames, smooth motion none; an alternating exposure gives a
//!   run (which survives up to 2 frames without flicker, e.g. a cut inside it). The event
//!   starts at the first frame taking part in the oscillation.
//! - **silence**: 10 ms RMS level (centred) below `silence_db` dBFS.
//!
//! The window figures: `freeze_ratio`, `black_ratio`, `silence_ratio` (share of the window's
//! time inside such events), `flicker_vbench` (VBench's temporal-flicker score,
//! `1 − mean(mad)`, 0–1, higher is steadier) and `flicker_index` (mean `|e_t|`, 0–1).
use super::features::FrameFeatures;
use super::run::{RunTracker, RunUpdate};
use crate::config::{AnalysisSettings, DetectorSettings};
use serde::Serialize;

/// Kinds of continuity and picture events (the JSON `event.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Freeze,
    Black,
    Silence,
    Flicker,
    Flash,
    /// A 1–3 frame change of content inside a shot that returns (a swapped or corrupt frame).
    Glitch,
    /// An abrupt exposure or colour-grade change inside a shot (same picture, other look).
    GradeJump,
}

impl EventKind {
    pub const ALL: [EventKind; 7] = [
        EventKind::Freeze,
        EventKind::Black,
        EventKind::Silence,
        EventKind::Flicker,
        EventKind::Flash,
        EventKind::Glitch,
        EventKind::GradeJump,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Freeze => "freeze",
            EventKind::Black => "black",
            EventKind::Silence => "silence",
            EventKind::Flicker => "flicker",
            EventKind::Flash => "flash",
            EventKind::Glitch => "glitch",
            EventKind::GradeJump => "grade_jump",
        }
    }
}

/// One detected event with the measured values behind it.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    pub kind: EventKind,
    pub start: f64,
    pub end: f64,
    /// Still going: `end` is "so far" (live reporting once the minimum duration is reached).
    pub ongoing: bool,
    pub values: Vec<(&'static str, f64)>,
}

fn detection(kind: EventKind, u: RunUpdate, values: Vec<(&'static str, f64)>) -> Detection {
    match u {
        RunUpdate::Ongoing { start, now } => Detection {
            kind,
            start,
            end: now,
            ongoing: true,
            values,
        },
        RunUpdate::Ended { start, end } => Detection {
            kind,
            start,
            end,
            ongoing: false,
            values,
        },
    }
}

/// Per-frame continuity flags the window head aggregates.
#[derive(Clone, Copy, Debug, Default)]
pub struct FrameFlags {
    pub frozen: bool,
    pub black: bool,
    pub flicker: bool,
    /// `|e_t|`, the oscillation measure of the frame before this one (0 until known).
    pub oscillation: f32,
}

/// Freeze, black and flicker on the video feature stream.
pub struct VideoContinuity {
    d: DetectorSettings,
    freeze: RunTracker,
    black: RunTracker,
    flicker: RunTracker,
    prev_pts: Option<f64>,
    /// Last two frames (pts, duration, luma mean) for the flicker second difference.
    recent: Vec<(f64, f64, f32)>,
    prev_e: f32,
    freeze_frames: u64,
    black_luma_sum: f64,
    black_frames: u64,
    flicker_sum: f64,
    flicker_frames: u64,
    flicker_miss: u32,
    flicker_last_end: f64,
}

impl VideoContinuity {
    pub fn new(a: &AnalysisSettings) -> Self {
        Self {
            d: a.detectors.clone(),
            freeze: RunTracker::new(a.min_event_s),
            black: RunTracker::new(a.min_event_s),
            flicker: RunTracker::new(a.min_event_s),
            prev_pts: None,
            recent: Vec::with_capacity(3),
            prev_e: 0.0,
            freeze_frames: 0,
            black_luma_sum: 0.0,
            black_frames: 0,
            flicker_sum: 0.0,
            flicker_frames: 0,
            flicker_miss: 0,
            flicker_last_end: 0.0,
        }
    }

    /// Feed one frame; returns its flags and any events it completes.
    pub fn push(&mut self, f: &FrameFeatures, out: &mut Vec<Detection>) -> FrameFlags {
        let mut flags = FrameFlags::default();
        let end = f.pts + f.duration;

        // A black picture does not move either; it is reported as black, not as a freeze.
        flags.black = f.black_ratio >= self.d.black_ratio;
        // Hysteresis: a freeze starts below the threshold and holds below 3× it, so one
        // re-encoded keyframe inside a held picture does not split the event.
        let limit = if self.freeze.active_since().is_some() {
            3.0 * self.d.freeze_mad
        } else {
            self.d.freeze_mad
        };
        flags.frozen = f.has_prev && f.mad < limit && !flags.black;
        let held = self.prev_pts.unwrap_or(f.pts);
        if flags.frozen {
            self.freeze_frames += 1;
        }
        let frames = self.freeze_frames;
        if let Some(u) = self.freeze.update(flags.frozen, held, f.pts, end) {
            out.push(detection(
                EventKind::Freeze,
                u,
                vec![("frames", frames as f64 + 1.0)],
            ));
        }
        if !flags.frozen {
            self.freeze_frames = 0;
        }

        if flags.black {
            self.black_luma_sum += f.luma_mean as f64;
            self.black_frames += 1;
        }
        let mean_luma = self.black_luma_sum / self.black_frames.max(1) as f64;
        if let Some(u) = self.black.update(flags.black, f.pts, f.pts, end) {
            out.push(detection(
                EventKind::Black,
                u,
                vec![("mean_luma", mean_luma)],
            ));
        }
        if !flags.black {
            self.black_luma_sum = 0.0;
            self.black_frames = 0;
        }

        // Flicker: e for the previous frame needs this frame's luma.
        self.recent.push((f.pts, f.duration, f.luma_mean));
        if self.recent.len() > 3 {
            self.recent.remove(0);
        }
        if self.recent.len() == 3 {
            let (pts, dur, m) = self.recent[1];
            let e = m - (self.recent[0].2 + self.recent[2].2) / 2.0;
            let amp = self.d.flicker_amplitude;
            let flick = e.abs() >= amp && e * self.prev_e < 0.0 && self.prev_e.abs() >= amp / 2.0;
            flags.oscillation = e.abs();
            flags.flicker = flick;
            if flick {
                self.flicker_sum += e.abs() as f64;
                self.flicker_frames += 1;
                self.flicker_miss = 0;
                self.flicker_last_end = pts + dur;
            } else if self.flicker.active_since().is_some() {
                self.flicker_miss += 1;
            }
            let amplitude = self.flicker_sum / self.flicker_frames.max(1) as f64;
            let frames = self.flicker_frames as f64;
            let values = |span: f64| {
                vec![
                    ("amplitude", amplitude),
                    ("frequency_hz", frames / 2.0 / span.max(1e-3)),
                ]
            };
            // A cut or a single steady frame inside the oscillation does not end it: the run
            // ends after 3 frames without flicker, at the end of the last flickering frame.
            let holding = !flick && self.flicker.active_since().is_some() && self.flicker_miss < 3;
            let update = if !flick && !holding {
                self.flicker.close(self.flicker_last_end)
            } else {
                self.flicker.update(true, self.recent[0].0, pts, pts + dur)
            };
            if let Some(u) = update {
                let span = match u {
                    RunUpdate::Ongoing { start, now } => now - start,
                    RunUpdate::Ended { start, end } => end - start,
                };
                out.push(detection(EventKind::Flicker, u, values(span)));
            }
            if !flick && !holding {
                self.flicker_sum = 0.0;
                self.flicker_frames = 0;
            }
            self.prev_e = e;
        }
        self.prev_pts = Some(f.pts);
        flags
    }

    /// Close open runs at the end of input.
    pub fn finish(&mut self, out: &mut Vec<Detection>) {
        if let Some(u) = self.freeze.finish() {
            out.push(detection(
                EventKind::Freeze,
                u,
                vec![("frames", self.freeze_frames as f64 + 1.0)],
            ));
        }
        if let Some(u) = self.black.finish() {
            out.push(detection(
                EventKind::Black,
                u,
                vec![(
                    "mean_luma",
                    self.black_luma_sum / self.black_frames.max(1) as f64,
                )],
            ));
        }
        if let Some(u) = self.flicker.close(self.flicker_last_end) {
            out.push(detection(
                EventKind::Flicker,
                u,
                vec![(
                    "amplitude",
                    self.flicker_sum / self.flicker_frames.max(1) as f64,
                )],
            ));
        }
    }
}

/// Silence on the 1 ms audio energy stream.
pub struct Silence {
    threshold: f64,
    run: RunTracker,
    /// Energies not yet decided (need 5 ms either side).
    pending: std::collections::VecDeque<f32>,
    /// Absolute ms index of `pending[0]`.
    next_ms: i64,
    origin: f64,
    level_sum: f64,
    level_n: u64,
}

const HALF_MS: usize = 5;

impl Silence {
    pub fn new(a: &AnalysisSettings) -> Self {
        Self {
            threshold: 10f64.powf(a.detectors.silence_db as f64 / 10.0),
            run: RunTracker::new(a.min_event_s),
            pending: Default::default(),
            next_ms: 0,
            origin: 0.0,
            level_sum: 0.0,
            level_n: 0,
        }
    }

    /// Feed energies (mean square per 1 ms) starting at absolute ms `first_ms` of a timeline that
    /// begins at `origin` seconds. Returns one silent flag per decided ms.
    pub fn push(
        &mut self,
        origin: f64,
        first_ms: i64,
        energies: &[f32],
        out: &mut Vec<Detection>,
    ) -> Vec<bool> {
        if self.pending.is_empty() {
            self.next_ms = first_ms;
            self.origin = origin;
        }
        self.pending.extend(energies.iter().copied());
        let mut flags = vec![];
        // Decide ms i once i+HALF_MS is known; the first HALF_MS use a one-sided window.
        while self.pending.len() > 2 * HALF_MS {
            let window: f64 = self
                .pending
                .iter()
                .take(2 * HALF_MS)
                .map(|&e| e as f64)
                .sum::<f64>()
                / (2 * HALF_MS) as f64;
            // The window covers ms [j, j+10): a run starts at its first ms, and a loud window
            // ends the run at its last ms (where the sound came back).
            let j = self.next_ms;
            let run_start = self.origin + j as f64 / 1000.0;
            let back = self.origin + (j + 2 * HALF_MS as i64 - 1) as f64 / 1000.0;
            let silent = window < self.threshold;
            if silent {
                self.level_sum += window;
                self.level_n += 1;
            }
            let level_db = 10.0 * (self.level_sum / self.level_n.max(1) as f64 + 1e-12).log10();
            if let Some(u) = self.run.update(silent, run_start, back, back + 0.001) {
                out.push(detection(
                    EventKind::Silence,
                    u,
                    vec![("level_db", level_db)],
                ));
            }
            if !silent {
                self.level_sum = 0.0;
                self.level_n = 0;
            }
            flags.push(silent);
            self.pending.pop_front();
            self.next_ms += 1;
        }
        flags
    }

    pub fn finish(&mut self, out: &mut Vec<Detection>) {
        let level_db = 10.0 * (self.level_sum / self.level_n.max(1) as f64 + 1e-12).log10();
        if let Some(u) = self.run.finish() {
            out.push(detection(
                EventKind::Silence,
                u,
                vec![("level_db", level_db)],
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn frame(i: u64, mad: f32, mean: f32, black: f32) -> FrameFeatures {
        FrameFeatures {
            index: i,
            pts: i as f64 * 0.04,
            duration: 0.04,
            has_prev: i > 0,
            mad,
            luma_mean: mean,
            luma_std: 0.1,
            black_ratio: black,
            hist: [0.0; 16],
            thumb: vec![0.0; 3 * super::super::features::THUMB_CELLS].into_boxed_slice(),
            arrival: Instant::now(),
        }
    }

    #[test]
    fn freeze_black_and_flicker_onsets_land_on_the_right_frames() {
        let a = AnalysisSettings::default();
        let mut c = VideoContinuity::new(&a);
        let mut out = vec![];
        for i in 0..200u64 {
            let frozen = (51..=80).contains(&i); // frames 51..80 repeat frame 50
            let black = (100..=130).contains(&i);
            let flicker = (150..=180).contains(&i) && i % 2 == 1;
            let mean = if black {
                0.05
            } else if flicker {
                0.55
            } else {
                0.5
            };
            let f = frame(
                i,
                if frozen { 0.0 } else { 0.02 },
                mean,
                if black { 1.0 } else { 0.0 },
            );
            c.push(&f, &mut out);
        }
        c.finish(&mut out);
        let get = |k: EventKind| {
            out.iter()
                .find(|d| d.kind == k && !d.ongoing)
                .cloned()
                .unwrap()
        };
        let fr = get(EventKind::Freeze);
        assert!(
            (fr.start - 50.0 * 0.04).abs() < 1e-9 && (fr.end - 81.0 * 0.04).abs() < 1e-9,
            "{fr:?}"
        );
        let bl = get(EventKind::Black);
        assert!(
            (bl.start - 100.0 * 0.04).abs() < 1e-9 && (bl.end - 131.0 * 0.04).abs() < 1e-9,
            "{bl:?}"
        );
        let fl = get(EventKind::Flicker);
        assert!((fl.start - 150.0 * 0.04).abs() < 0.041, "{fl:?}");
        assert!((fl.end - 181.0 * 0.04).abs() < 0.081, "{fl:?}");
        // The black segment's edges are steps, not oscillation: exactly one flicker event.
        assert_eq!(
            out.iter()
                .filter(|d| d.kind == EventKind::Flicker && !d.ongoing)
                .count(),
            1
        );
        assert!(
            out.iter().any(|d| d.kind == EventKind::Freeze && d.ongoing),
            "live reporting"
        );
    }

    #[test]
    fn silence_onset_is_within_a_few_ms() {
        let a = AnalysisSettings::default();
        let mut s = Silence::new(&a);
        let mut out = vec![];
        // 3 s of -20 dB energy with silence from 1.234 s to 2.5 s.
        let e: Vec<f32> = (0..3000)
            .map(|ms| {
                if (1234..2500).contains(&ms) {
                    0.0
                } else {
                    0.01
                }
            })
            .collect();
        for (i, chunk) in e.chunks(20).enumerate() {
            s.push(0.0, i as i64 * 20, chunk, &mut out);
        }
        s.finish(&mut out);
        let d = out.iter().find(|d| !d.ongoing).unwrap();
        assert!((d.start - 1.234).abs() <= 0.006, "{d:?}");
        assert!((d.end - 2.5).abs() <= 0.006, "{d:?}");
    }
}
