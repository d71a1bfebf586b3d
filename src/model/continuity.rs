//! Continuity: is the picture and sound unbroken? Streaming detectors for **freeze**,
//! **black**, **flicker** (video) and **silence** (audio), the informative look-alikes that are
//! *not* faults (**static shots**, **fades to black**, **quiet passages**), and the window head
//! that turns the cached features into ratios.
//!
//! A monitor that stops good renders gets switched off, so every fault here has a definition
//! that a deliberate choice of a film-maker does not meet. Each detected run is classified once,
//! when it has lasted `min_event_s` (and at least [`DECIDE_FRAMES`] frames, so the shot
//! boundaries around it are known), and keeps its kind until it ends.
//!
//! **Still pictures** (`freeze` fault / `static_shot` content). A frame is *still* when its mean
//! absolute luma difference to its predecessor `mad` is at most
//! `min(freeze_mad, 0.25 · shot floor)`: repeated to within the stream's own noise floor, where the
//! shot floor is the 20th percentile of `mad` over the shot's recent frames that were not still
//! (camera noise and subtle motion keep real footage above it; a repeated frame drops far below).
//! Once a run is going, up to 2 consecutive frames below 3× that do not end it (a re-encoded
//! keyframe inside a held picture does not split it). A still run is a **freeze** only when the picture stopped mid-motion inside
//! the same shot: the median `mad` of the 3 frames of the shot before the run is at least
//! `motion_mad`, and at least half the median of the 9 frames before those (no ease-out).
//! Otherwise (the shot opened still — a title card, a photograph, an establishing shot — or the
//! motion settled into a hold) it is a **static shot**, reported with no score penalty. The freeze starts at the last frame that still changed (the one being held;
//! up to 3 frames of an encoder's refinement right after the stop are counted in: frames whose
//! `mad` is under 15 % of the motion before them) and ends at the first frame that changes again.
//!
//! **Black** (`black` fault / `fade_black` content): frames with at least `black_ratio` of pixels
//! at or below `black_luma`. Black reached by a fade (the mean luma fell over at least 3 frames
//! before it) or black from the first frame of the stream is an editing choice (`fade_black`);
//! black that cuts in from a picture is a fault.
//!
//! **Flicker**: frame-to-frame luma oscillation. With `m_t` the mean luma,
//! `e_t = m_t − (m_{t−1} + m_{t+1}) / 2`; frame `t` flickers when `|e_t| ≥ flicker_amplitude`
//! and `e_t` has the opposite sign of `e_{t−1}` (itself at least half the amplitude). A cut or
//! a flash gives one or two such frames, smooth motion none; an alternating exposure gives a
//! run (which survives up to 2 frames without flicker, e.g. a cut inside it). The event
//! starts at the first frame taking part in the oscillation.
//!
//! **Silence** (`silence` fault / `quiet` content): the 10 ms RMS level (centred) is below
//! `min(silence_db, stream level − silence_relative_db)`, where the stream level is a slow
//! (3 s) average of the levels above `silence_db`. A quiet run is a **silence** (a dropout) when
//! sustained sound cut out: the loudest 10 ms of the 100 ms before the run were at least 20 dB
//! above the floor (a fade-out takes longer to fall that far; a dropout is a step, smeared by a
//! lossy codec over 50–80 ms) and so were at least half of the 300 ms before it (sound, not a
//! click in a quiet passage).
//! Silence from the start of the stream, a fade-out or a pause in a score is a **quiet**
//! passage.
//!
//! The window figures: `freeze_ratio`, `black_ratio`, `silence_ratio`, `static_ratio`,
//! `quiet_ratio` (share of the window's time inside such events), `flicker_vbench` (VBench's
//! temporal-flicker score, `1 − mean(mad)`, 0–1, higher is steadier) and `flicker_index` (mean
//! `|e_t|`, 0–1).
use super::features::FrameFeatures;
use super::run::{RunTracker, RunUpdate};
use crate::config::{AnalysisSettings, DetectorSettings};
pub use crate::vocab::{Detection, EventKind};
use std::collections::VecDeque;

fn detection(kind: EventKind, u: RunUpdate, values: Vec<(&'static str, f64)>) -> Detection {
    match u {
        RunUpdate::Ongoing { start, now } => Detection {
            kind,
            start,
            end: now,
            ongoing: true,
            values,
            transport: false,
        },
        RunUpdate::Ended { start, end } => Detection {
            kind,
            start,
            end,
            ongoing: false,
            values,
            transport: false,
        },
    }
}

/// Per-frame continuity flags the window head aggregates.
#[derive(Clone, Copy, Debug, Default)]
pub struct FrameFlags {
    /// Inside a freeze (a fault; static shots do not set it).
    pub frozen: bool,
    pub black: bool,
    pub flicker: bool,
    /// `|e_t|`, the oscillation measure of the frame before this one (0 until known).
    pub oscillation: f32,
}

/// Frames a run must last before it is classified (more than the cut detectors' look-ahead, so
/// the shot boundary at its start is known).
pub const DECIDE_FRAMES: u64 = 8;
/// A still frame's `mad` must also be below this share of the shot's noise floor.
const FLOOR_RATIO: f32 = 0.25;
/// Percentile of the shot's non-still `mad` taken as its floor.
const FLOOR_PERCENTILE: f64 = 0.2;
/// Non-still frames of a shot the floor needs before it is trusted.
const FLOOR_MIN_FRAMES: usize = 8;
/// Frames right before a still run that tell whether the picture was moving ...
const MOTION_FRAMES: usize = 3;
/// ... and the frames before those that tell whether it was slowing down (an ease-out).
const EARLIER_FRAMES: usize = 9;
/// The last frames' motion must be at least this share of the earlier frames' (no ease-out).
const NO_EASE_RATIO: f32 = 0.5;
/// Frames of an encoder's refinement after a stop that may be counted into the freeze.
const BACKTRACK: usize = 3;
const BACKTRACK_RATIO: f32 = 0.15;
/// Seconds of per-frame history kept (floor, motion before a run, fade-out onsets).
const HISTORY_S: f64 = 3.0;
/// Consecutive frames under 3× the still threshold a run tolerates (keyframe pulses).
const PULSES: u32 = 2;
/// Frames of falling luma before black that make it a fade.
const FADE_FRAMES: usize = 3;

#[derive(Clone, Copy, Debug)]
struct Past {
    pts: f64,
    mad: f32,
    luma: f32,
    still: bool,
}

/// The still run being tracked.
#[derive(Clone, Debug)]
struct StillRun {
    /// Index into the frame count of the first still frame.
    first: u64,
    /// Start: the held frame's pts (refined by backtracking at decision).
    start: f64,
    frames: u64,
    last_end: f64,
    kind: Option<EventKind>,
    values: Vec<(&'static str, f64)>,
    /// Consecutive frames held only by the pulse tolerance, and the first one's pts.
    pulses: u32,
    pulse_since: Option<f64>,
}

/// Freeze / static shot, black / fade to black, and flicker on the video feature stream.
pub struct VideoContinuity {
    d: DetectorSettings,
    min_s: f64,
    history: VecDeque<Past>,
    /// Shot starts (pts) reported by the cut detectors, newest last.
    boundaries: VecDeque<f64>,
    frames_seen: u64,
    first_pts: Option<f64>,
    still: Option<StillRun>,
    black: RunTracker,
    black_kind: EventKind,
    flicker: RunTracker,
    prev_pts: Option<f64>,
    /// Last two frames (pts, duration, luma mean) for the flicker second difference.
    recent: Vec<(f64, f64, f32)>,
    prev_e: f32,
    black_luma_sum: f64,
    black_frames: u64,
    flicker_sum: f64,
    flicker_frames: u64,
    flicker_miss: u32,
    flicker_last_end: f64,
}

fn median(mut v: Vec<f32>) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f32::total_cmp);
    v[v.len() / 2]
}

impl VideoContinuity {
    pub fn new(a: &AnalysisSettings) -> Self {
        Self {
            d: a.detectors.clone(),
            min_s: a.min_event_s,
            history: VecDeque::new(),
            boundaries: VecDeque::new(),
            frames_seen: 0,
            first_pts: None,
            still: None,
            black: RunTracker::new(a.min_event_s),
            black_kind: EventKind::Black,
            flicker: RunTracker::new(a.min_event_s),
            prev_pts: None,
            recent: Vec::with_capacity(3),
            prev_e: 0.0,
            black_luma_sum: 0.0,
            black_frames: 0,
            flicker_sum: 0.0,
            flicker_frames: 0,
            flicker_miss: 0,
            flicker_last_end: 0.0,
        }
    }

    /// A new shot starts at `pts` (a hard cut's first frame, or the end of a gradual cut's
    /// span). Boundaries may arrive a few frames late; runs are classified after
    /// [`DECIDE_FRAMES`].
    pub fn on_shot_start(&mut self, pts: f64) {
        self.boundaries.push_back(pts);
        while self.boundaries.len() > 16 {
            self.boundaries.pop_front();
        }
    }

    /// Entries held.
    pub fn sizes(&self) -> [(&'static str, usize); 2] {
        [
            ("continuity.history", self.history.len()),
            ("continuity.boundaries", self.boundaries.len()),
        ]
    }

    /// Forget continuity-dependent state (after a discontinuity or a size change).
    pub fn reset(&mut self, out: &mut Vec<Detection>) {
        self.finish(out);
        let fresh = Self::new(&AnalysisSettings {
            detectors: self.d.clone(),
            min_event_s: self.min_s,
            ..Default::default()
        });
        *self = fresh;
    }

    /// Start of the shot that `pts` belongs to, as far as boundaries are known.
    fn shot_start(&self, pts: f64) -> f64 {
        self.boundaries
            .iter()
            .rev()
            .find(|b| **b <= pts + 1e-6)
            .copied()
            .unwrap_or(f64::NEG_INFINITY)
    }

    /// The still threshold for a frame at `pts`: `freeze_mad`, or a quarter of the shot's noise
    /// floor when the shot has shown enough frames to know it.
    fn still_threshold(&self, pts: f64) -> f32 {
        let from = self.shot_start(pts);
        let moving: Vec<f32> = self
            .history
            .iter()
            .filter(|p| p.pts > from && !p.still)
            .map(|p| p.mad)
            .collect();
        if moving.len() < FLOOR_MIN_FRAMES {
            return self.d.freeze_mad;
        }
        let mut v = moving;
        let k = ((v.len() - 1) as f64 * FLOOR_PERCENTILE).round() as usize;
        let (_, floor, _) = v.select_nth_unstable_by(k, f32::total_cmp);
        self.d.freeze_mad.min(FLOOR_RATIO * *floor)
    }

    /// Classify the open still run (freeze or static shot) and refine its onset.
    fn classify_still(&mut self) {
        let Some(run) = self.still.as_ref() else {
            return;
        };
        // History index of the run's first still frame.
        let seen_before = self.frames_seen - self.history.len() as u64;
        let j = run.first.checked_sub(seen_before).map(|j| j as usize);
        let Some(mut j) = j.filter(|&j| j > 0 && j < self.history.len()) else {
            // The run began at or before the start of the history: no motion we can see.
            let run = self.still.as_mut().expect("present");
            run.kind = Some(EventKind::StaticShot);
            run.values = vec![("frames", run.frames as f64 + 1.0), ("motion_before", 0.0)];
            return;
        };
        let held = self.history[j - 1].pts;
        let shot = self.shot_start(held);
        let steps = self.steps_before(j, shot, MOTION_FRAMES + EARLIER_FRAMES);
        let motion = if steps.len() >= MOTION_FRAMES {
            median(steps[..MOTION_FRAMES].to_vec())
        } else {
            0.0
        };
        let earlier = if steps.len() >= 2 * MOTION_FRAMES {
            median(steps[MOTION_FRAMES..].to_vec())
        } else {
            motion
        };
        let freeze = motion >= self.d.motion_mad && motion >= NO_EASE_RATIO * earlier;
        let mut extra = 0u64;
        if freeze {
            let back = self.refinement_frames(j, shot, held);
            j -= back;
            extra = back as u64;
        }
        let start = self.history[j - 1].pts;
        let run = self.still.as_mut().expect("present");
        run.start = start;
        run.frames += extra;
        run.kind = Some(if freeze {
            EventKind::Freeze
        } else {
            EventKind::StaticShot
        });
        let opened_still = shot > f64::NEG_INFINITY && (held - shot).abs() < 1e-6;
        run.values = vec![
            ("frames", run.frames as f64 + 1.0),
            ("motion_before", motion as f64),
            ("shot_opened_still", if opened_still { 1.0 } else { 0.0 }),
        ];
    }

    /// The steps (mean |Δluma|) into up to `n` frames of this shot before history index `j`,
    /// newest first (the shot's first frame excluded: its step is the cut).
    fn steps_before(&self, j: usize, shot: f64, n: usize) -> Vec<f32> {
        self.history
            .range(..j)
            .rev()
            .take_while(|p| p.pts > shot + 1e-6)
            .take(n)
            .map(|p| p.mad)
            .collect()
    }

    /// An encoder refines a held picture over a frame or two after the stop: how many frames
    /// before index `j` barely move compared with the motion before them (counted into the
    /// freeze).
    fn refinement_frames(&self, mut j: usize, shot: f64, held: f64) -> usize {
        let base = self.still_threshold(held);
        let mut back = 0;
        for _ in 0..BACKTRACK {
            if j < 2 || self.history[j - 1].pts <= shot + 1e-6 {
                break;
            }
            let m = self.history[j - 1].mad;
            let prior = self.steps_before(j - 1, shot, MOTION_FRAMES + EARLIER_FRAMES);
            if prior.len() < 3 || m > (3.0 * base).max(BACKTRACK_RATIO * median(prior)) {
                break;
            }
            j -= 1;
            back += 1;
        }
        back
    }

    fn close_still(&mut self, end: f64, out: &mut Vec<Detection>) {
        let Some(run) = self.still.as_ref() else {
            return;
        };
        if run.kind.is_none() && end - run.start >= self.min_s - 1e-9 {
            self.classify_still();
        }
        let run = self.still.take().expect("present");
        if let Some(kind) = run.kind {
            let mut values = run.values;
            if let Some(v) = values.iter_mut().find(|(k, _)| *k == "frames") {
                v.1 = (run.frames - run.pulses as u64) as f64 + 1.0;
            }
            out.push(Detection {
                kind,
                start: run.start,
                end,
                ongoing: false,
                values,
                transport: false,
            });
        }
    }

    /// Feed one frame; returns its flags and any events it completes.
    pub fn push(&mut self, f: &FrameFeatures, out: &mut Vec<Detection>) -> FrameFlags {
        let mut flags = FrameFlags::default();
        let end = f.pts + f.duration;
        self.first_pts.get_or_insert(f.pts);

        // A black picture does not move either; it is reported as black, not as a freeze.
        flags.black = f.black_ratio >= self.d.black_ratio;
        let still = self.push_still(f, flags.black, end, out);
        self.history.push_back(Past {
            pts: f.pts,
            mad: if f.has_prev { f.mad } else { 0.0 },
            luma: f.luma_mean,
            still,
        });
        self.frames_seen += 1;
        while self
            .history
            .front()
            .map(|p| p.pts < f.pts - HISTORY_S)
            .unwrap_or(false)
        {
            self.history.pop_front();
        }
        self.report_still(end, out);
        flags.frozen = self
            .still
            .as_ref()
            .map(|r| r.kind == Some(EventKind::Freeze))
            .unwrap_or(false);

        self.push_black(f, flags.black, end, out);
        self.push_flicker(f, &mut flags, out);
        self.prev_pts = Some(f.pts);
        flags
    }

    /// A frame into the still run: extends it (a still frame or a keyframe pulse) or ends it.
    /// Whether the frame is still.
    fn push_still(
        &mut self,
        f: &FrameFeatures,
        black: bool,
        end: f64,
        out: &mut Vec<Detection>,
    ) -> bool {
        let base = self.still_threshold(f.pts);
        let strict = f.has_prev && f.mad <= base && !black;
        // Inside a run, up to PULSES consecutive frames under 3× the threshold (a re-encoded
        // keyframe of the held picture) do not end it; a further one, or a larger change, ends
        // it where the pulses began.
        let pulse = !strict
            && f.has_prev
            && !black
            && f.mad <= 3.0 * base
            && self
                .still
                .as_ref()
                .map(|r| r.pulses < PULSES)
                .unwrap_or(false);
        let still = strict || pulse;
        if still {
            let run = self.still.get_or_insert(StillRun {
                first: self.frames_seen,
                start: self.prev_pts.unwrap_or(f.pts),
                frames: 0,
                last_end: end,
                kind: None,
                values: vec![],
                pulses: 0,
                pulse_since: None,
            });
            run.frames += 1;
            run.last_end = end;
            if pulse {
                run.pulses += 1;
                run.pulse_since.get_or_insert(f.pts);
            } else {
                run.pulses = 0;
                run.pulse_since = None;
            }
        } else if let Some(run) = self.still.as_ref() {
            let at = run.pulse_since.unwrap_or(f.pts);
            self.close_still(at, out);
        }
        still
    }

    /// Once a still run is long enough, classify it (freeze or static shot) and report it as
    /// ongoing.
    fn report_still(&mut self, end: f64, out: &mut Vec<Detection>) {
        if let Some(run) = self.still.as_ref() {
            let decide = run.kind.is_none()
                && run.frames >= DECIDE_FRAMES
                && end - run.start >= self.min_s - 1e-9;
            if decide {
                self.classify_still();
                let run = self.still.as_ref().expect("present");
                out.push(Detection {
                    kind: run.kind.unwrap_or(EventKind::StaticShot),
                    start: run.start,
                    end,
                    ongoing: true,
                    values: run.values.clone(),
                    transport: false,
                });
            }
        }
    }

    fn push_black(&mut self, f: &FrameFeatures, black: bool, end: f64, out: &mut Vec<Detection>) {
        if black && self.black.active_since().is_none() {
            // Classify at onset: black from the stream's first frame, or reached by a fade
            // (the mean luma fell over several frames before it), is an editing choice.
            let opening = self.first_pts == Some(f.pts);
            let mut falling = 0;
            let mut level = f.luma_mean;
            for p in self.history.iter().rev().skip(1) {
                if p.luma < level + 0.002 {
                    break;
                }
                level = p.luma;
                falling += 1;
            }
            self.black_kind = if opening || falling >= FADE_FRAMES {
                EventKind::FadeBlack
            } else {
                EventKind::Black
            };
        }
        if black {
            self.black_luma_sum += f.luma_mean as f64;
            self.black_frames += 1;
        }
        let mean_luma = self.black_luma_sum / self.black_frames.max(1) as f64;
        if let Some(u) = self.black.update(black, f.pts, f.pts, end) {
            out.push(detection(
                self.black_kind,
                u,
                vec![("mean_luma", mean_luma)],
            ));
        }
        if !black {
            self.black_luma_sum = 0.0;
            self.black_frames = 0;
        }
    }

    fn push_flicker(
        &mut self,
        f: &FrameFeatures,
        flags: &mut FrameFlags,
        out: &mut Vec<Detection>,
    ) {
        // Flicker: e for the previous frame needs this frame's luma.
        self.recent.push((f.pts, f.duration, f.luma_mean));
        if self.recent.len() > 3 {
            self.recent.remove(0);
        }
        if self.recent.len() < 3 {
            return;
        }
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

    /// Close open runs at the end of input.
    pub fn finish(&mut self, out: &mut Vec<Detection>) {
        if let Some(end) = self.still.as_ref().map(|r| r.last_end) {
            self.close_still(end, out);
        }
        if let Some(u) = self.black.finish() {
            out.push(detection(
                self.black_kind,
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

/// Silence (dropouts) and quiet passages on the 1 ms audio energy stream.
pub struct Silence {
    /// Absolute floor (mean square) from `silence_db`.
    floor_abs_db: f64,
    relative_db: f64,
    run: RunTracker,
    /// Energies not yet decided (need 5 ms either side).
    pending: VecDeque<f32>,
    /// Absolute ms index of `pending[0]`.
    next_ms: i64,
    origin: f64,
    level_sum: f64,
    level_n: u64,
    /// Slow average of the levels above the absolute floor, dB.
    stream_db: Option<f64>,
    /// Levels (dB) of the last [`SUSTAIN_MS`] decided ms.
    recent: VecDeque<f64>,
    /// Whether the stream has had sound above the floor.
    had_sound: bool,
    /// The open quiet run.
    open: Option<QuietRun>,
}

#[derive(Clone, Copy, Debug)]
struct QuietRun {
    floor_db: f64,
    /// Loudest level just before the run, dB.
    before_db: f64,
    /// Milliseconds of the [`SUSTAIN_MS`] before the run at least [`CUT_OUT_DB`] above the floor.
    sustained_ms: usize,
    had_sound: bool,
}

const HALF_MS: usize = 5;
/// Milliseconds before a quiet run that tell whether the sound cut out (a lossy codec smears
/// a cut over 50–80 ms) ...
const PRE_MS: usize = 100;
/// ... and whether it was sustained sound (at least half of them above the cut-out level), not
/// a click or a short note in a quiet passage.
const SUSTAIN_MS: usize = 300;
/// Level (dB above the floor, just before the run) that makes a quiet run a dropout.
const CUT_OUT_DB: f64 = 20.0;
/// Time constant of the stream level, ms.
const LEVEL_TAU_MS: f64 = 3000.0;

fn db(mean_square: f64) -> f64 {
    10.0 * (mean_square + 1e-12).log10()
}

impl Silence {
    pub fn new(a: &AnalysisSettings) -> Self {
        Self {
            floor_abs_db: a.detectors.silence_db as f64,
            relative_db: a.detectors.silence_relative_db as f64,
            run: RunTracker::new(a.min_event_s),
            pending: Default::default(),
            next_ms: 0,
            origin: 0.0,
            level_sum: 0.0,
            level_n: 0,
            stream_db: None,
            recent: VecDeque::with_capacity(SUSTAIN_MS + 1),
            had_sound: false,
            open: None,
        }
    }

    fn floor_db(&self) -> f64 {
        match self.stream_db {
            Some(l) => self.floor_abs_db.min(l - self.relative_db),
            None => self.floor_abs_db,
        }
    }

    fn classify(q: &QuietRun) -> EventKind {
        if q.had_sound && q.before_db >= q.floor_db + CUT_OUT_DB && 2 * q.sustained_ms >= SUSTAIN_MS
        {
            EventKind::Silence
        } else {
            EventKind::Quiet
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
            let level = db(window);
            // The window covers ms [j, j+10): a run starts at its first ms, and a loud window
            // ends the run at its last ms (where the sound came back).
            let j = self.next_ms;
            let run_start = self.origin + j as f64 / 1000.0;
            let back = self.origin + (j + 2 * HALF_MS as i64 - 1) as f64 / 1000.0;
            let floor = self.floor_db();
            let silent = level < floor;
            if silent {
                self.level_sum += window;
                self.level_n += 1;
                if self.open.is_none() {
                    let before = self
                        .recent
                        .iter()
                        .rev()
                        .take(PRE_MS)
                        .copied()
                        .fold(f64::MIN, f64::max);
                    let loud = floor + CUT_OUT_DB;
                    self.open = Some(QuietRun {
                        floor_db: floor,
                        before_db: before,
                        sustained_ms: self.recent.iter().filter(|l| **l >= loud).count(),
                        had_sound: self.had_sound,
                    });
                }
            } else if level >= self.floor_abs_db {
                self.had_sound = true;
                let a = 1.0 / LEVEL_TAU_MS;
                self.stream_db = Some(match self.stream_db {
                    None => level,
                    Some(l) => l + a * (level - l),
                });
            }
            let level_db = db(self.level_sum / self.level_n.max(1) as f64);
            if let Some(u) = self.run.update(silent, run_start, back, back + 0.001) {
                let kind = self
                    .open
                    .as_ref()
                    .map(Self::classify)
                    .unwrap_or(EventKind::Quiet);
                out.push(detection(kind, u, vec![("level_db", level_db)]));
            }
            if !silent {
                self.level_sum = 0.0;
                self.level_n = 0;
                self.open = None;
            }
            self.recent.push_back(level);
            if self.recent.len() > SUSTAIN_MS {
                self.recent.pop_front();
            }
            flags.push(silent);
            self.pending.pop_front();
            self.next_ms += 1;
        }
        flags
    }

    pub fn finish(&mut self, out: &mut Vec<Detection>) {
        let level_db = db(self.level_sum / self.level_n.max(1) as f64);
        if let Some(u) = self.run.finish() {
            let kind = self
                .open
                .as_ref()
                .map(Self::classify)
                .unwrap_or(EventKind::Quiet);
            out.push(detection(kind, u, vec![("level_db", level_db)]));
        }
        self.open = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(i: u64, mad: f32, mean: f32, black: f32) -> FrameFeatures {
        FrameFeatures {
            mad,
            luma_mean: mean,
            black_ratio: black,
            ..FrameFeatures::for_test(i)
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

    /// Events of one kind that ended.
    fn ended(out: &[Detection], k: EventKind) -> Vec<Detection> {
        out.iter()
            .filter(|d| d.kind == k && !d.ongoing)
            .cloned()
            .collect()
    }

    /// Feed `mads` (one per frame, 25 fps) with shot starts at `cuts` (frame indices).
    fn run_video(mads: &[f32], cuts: &[u64]) -> Vec<Detection> {
        let a = AnalysisSettings::default();
        let mut c = VideoContinuity::new(&a);
        let mut out = vec![];
        for (i, m) in mads.iter().enumerate() {
            let i = i as u64;
            c.push(&frame(i, *m, 0.5, 0.0), &mut out);
            // Boundaries arrive late, as from the cut detector's look-ahead.
            for cut in cuts {
                if i == cut + 4 {
                    c.on_shot_start(*cut as f64 * 0.04);
                }
            }
        }
        c.finish(&mut out);
        out
    }

    #[test]
    fn a_shot_that_opens_still_is_a_static_shot_and_a_stop_mid_motion_a_freeze() {
        // Shot 1 (0..50) moves; shot 2 opens still at the cut (frame 50) for 2 s, then moves;
        // shot 3 (from 150) moves and stops dead at frame 200 for 1.2 s.
        let mads: Vec<f32> = (0..260)
            .map(|i| match i {
                50 => 0.2,
                51..=99 => 0.0,
                150 => 0.2,
                201..=230 => 0.0,
                _ => 0.01,
            })
            .collect();
        let out = run_video(&mads, &[50, 150]);
        let st = ended(&out, EventKind::StaticShot);
        assert_eq!(st.len(), 1, "{out:?}");
        assert!(
            (st[0].start - 2.0).abs() < 1e-9 && (st[0].end - 4.0).abs() < 1e-9,
            "{st:?}"
        );
        let fr = ended(&out, EventKind::Freeze);
        assert_eq!(fr.len(), 1, "{out:?}");
        assert!(
            (fr[0].start - 8.0).abs() < 1e-9 && (fr[0].end - 9.24).abs() < 1e-9,
            "{fr:?}"
        );
        // Live: each run is reported once as ongoing, with the kind it ends with.
        let ongoing: Vec<EventKind> = out.iter().filter(|d| d.ongoing).map(|d| d.kind).collect();
        assert_eq!(ongoing, vec![EventKind::StaticShot, EventKind::Freeze]);
    }

    #[test]
    fn motion_that_settles_before_the_stop_is_a_hold_not_a_freeze() {
        // Motion eases out linearly over 12 frames (an animator's cushion), then holds; and
        // motion that dies below motion_mad before the hold.
        for mads in [
            (0..120)
                .map(|i| match i {
                    0..=39 => 0.01,
                    40..=51 => 0.01 * (52 - i) as f32 / 13.0,
                    _ => 0.0,
                })
                .collect::<Vec<f32>>(),
            (0..120)
                .map(|i| match i {
                    0..=39 => 0.01,
                    40..=49 => 0.0004,
                    _ => 0.0,
                })
                .collect(),
        ] {
            let out = run_video(&mads, &[]);
            assert!(ended(&out, EventKind::Freeze).is_empty(), "{out:?}");
            assert_eq!(ended(&out, EventKind::StaticShot).len(), 1, "{out:?}");
        }
    }

    #[test]
    fn near_static_footage_above_its_own_noise_floor_is_never_still() {
        // Camera footage with subtle motion: mad wanders between 0.06e-3 and 1.5e-3, now and
        // then below freeze_mad, never for long below a quarter of the shot's floor.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mads: Vec<f32> = (0..600u64)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let u = (x >> 40) as f32 / (1u64 << 24) as f32;
                0.00006 + 0.0015 * u * u
            })
            .collect();
        let out = run_video(&mads, &[]);
        assert!(
            out.iter()
                .all(|d| d.kind != EventKind::Freeze && d.kind != EventKind::StaticShot),
            "{out:?}"
        );
    }

    #[test]
    fn an_encoders_refinement_after_the_stop_is_counted_into_the_freeze() {
        // x264 refines a held picture: 0.68e-3, 0.15e-3, then ~0.
        let mads: Vec<f32> = (0..100)
            .map(|i| match i {
                51 => 0.00068,
                52 => 0.00015,
                53..=80 => 0.00004,
                _ => 0.008,
            })
            .collect();
        let out = run_video(&mads, &[]);
        let fr = ended(&out, EventKind::Freeze);
        assert_eq!(fr.len(), 1, "{out:?}");
        assert!(
            (fr[0].start - 50.0 * 0.04).abs() < 1e-9,
            "held frame is 50: {fr:?}"
        );
    }

    #[test]
    fn black_after_a_fade_or_at_the_start_is_not_a_fault() {
        let a = AnalysisSettings::default();
        let mut c = VideoContinuity::new(&a);
        let mut out = vec![];
        for i in 0..200u64 {
            let (mean, black) = match i {
                0..=19 => (0.05, 1.0),                          // opening black
                60..=69 => (0.5 - 0.04 * (i - 59) as f32, 0.0), // fade out
                70..=99 => (0.05, 1.0),                         // black after the fade
                150..=179 => (0.05, 1.0),                       // black cutting in
                _ => (0.5, 0.0),
            };
            c.push(&frame(i, 0.02, mean, black), &mut out);
        }
        c.finish(&mut out);
        let fades = ended(&out, EventKind::FadeBlack);
        assert_eq!(fades.len(), 2, "{out:?}");
        let black = ended(&out, EventKind::Black);
        assert_eq!(black.len(), 1, "{out:?}");
        assert!((black[0].start - 6.0).abs() < 1e-9);
    }

    #[test]
    fn a_dropout_is_silence_and_a_fade_out_or_opening_quiet_is_not() {
        let a = AnalysisSettings::default();
        let mut s = Silence::new(&a);
        let mut out = vec![];
        // 0–0.8 s quiet at the start, sound at -20 dB, a fade-out over 1 s to -75 dB (3.0–4.0 s)
        // held to 5.0 s, sound again, a dropout 6.0–7.0 s, sound to 8 s.
        let e: Vec<f32> = (0..8000)
            .map(|ms| {
                let db = match ms {
                    0..=799 => -75.0,
                    3000..=3999 => -20.0 - 55.0 * (ms - 3000) as f64 / 1000.0,
                    4000..=4999 => -75.0,
                    6000..=6999 => -120.0,
                    _ => -20.0,
                };
                10f64.powf(db / 10.0) as f32
            })
            .collect();
        for (i, chunk) in e.chunks(20).enumerate() {
            s.push(0.0, i as i64 * 20, chunk, &mut out);
        }
        s.finish(&mut out);
        let sil = ended(&out, EventKind::Silence);
        assert_eq!(sil.len(), 1, "{out:?}");
        assert!((sil[0].start - 6.0).abs() <= 0.006, "{sil:?}");
        assert_eq!(ended(&out, EventKind::Quiet).len(), 2, "{out:?}");
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
