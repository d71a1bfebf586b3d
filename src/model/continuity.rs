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
//! Once a run is going, up to 3 consecutive frames below 3× that, or below half the shot's
//! recent motion (the median of the 3 largest steps of the 12 frames before the run), do not
//! end it, one of them possibly of any size (a keyframe re-encoding a held picture does not
//! split it) unless a hard cut falls there; a further one ends it where they began. Inside a
//! run that follows motion, a step under 2.5 × `freeze_mad` and a tenth of the motion that
//! stopped holds like a repeated frame (an encoder's noise around the held picture). A still run is a **freeze** only when the
//! picture stopped mid-motion inside the same shot: the median `mad` of the 3 frames of the shot
//! before the run is at least `motion_mad` or 0.35 × the shot's typical step (the median of its
//! frames that were not still: a talking head that barely moves moves by its own measure), and
//! the last step before the run is at least 0.55 × the median of the 3 steps before it, or the
//! step before the last at least 0.7 × the median of the 3 before that (no ease-out: an
//! animator's cushion decelerates to the very end; motion that had slowed and then stopped dead
//! did not; and the step into the held frame alone may come out small, as an encoder spends
//! its bits on the picture it will hold). A fade to black that stops before black (mean luma falling
//! ≥ 0.003 a frame for 6 frames, held above 0.1) is a picture stopped mid-motion too, though
//! the gradual-cut detector ends its span there. An encoder keeps refining a held picture for a while after the stop (over
//! RTP at a low bit rate, half a second): up to 24 frames right before the run into which the
//! motion dropped abruptly (to at most 40 % of the step before), that each move at most 30 % of
//! the motion before them (or 3 × the still threshold) — beyond 3 frames, mostly held frames
//! with a correction now and then, at least a third of them still, unless every one moves at
//! most 10 % of the motion before — are that refinement, neither the
//! motion before the run nor an ease-out; the motion is read before them and the freeze starts
//! there. Otherwise (the shot opened still — a title card, a photograph, an establishing shot —
//! or the motion settled into a hold) it is a **static shot**, reported with no score penalty.
//! The freeze starts at the last frame that still changed (the one being held) and ends at the
//! first frame that changes again.
//!
//! **Black** (`black` fault / `fade_black` content): frames with at least `black_ratio` of pixels
//! at or below `black_luma`. A picture that reaches black within a frame or two is a fault,
//! whatever its luma did before. Black reached by a fade — a sustained, substantial fall: the
//! mean luma came down, within its shot, from where it last rose (within 45 frames) over at
//! least 3 frames, and two
//! frames before the black it had already fallen more than halfway — or by a dark picture
//! dimming (a fall under 0.02), or black from the first frame of the stream, is an editing
//! choice (`fade_black`).
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
//! click in a quiet passage). **Digital silence** (a 10 ms level under −90 dBFS: exact zeros,
//! or dither at most) that begins abruptly inside sound is a silence at any level before it:
//! the run reaches −90 dBFS within its first 100 ms, there was sound (at least −80 dBFS) in the
//! 100 ms before it and over at least half of the 300 ms before it, and the second before it
//! is no fade-out (a fade-out falls steadily: each quarter of that second's median level at
//! least 2 dB below the quarter before, 10 dB in all, and still falling over its last quarter;
//! speech that trails off ends on a pause at a level). A quiet passage that turns
//! into such a silence ends where the digital silence begins.
//! Silence from the start of the stream, a fade-out, room tone or a soft score is a **quiet**
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
/// A step at least this share of the shot's typical step is motion, below `motion_mad` too.
const TYPICAL_RATIO: f32 = 0.35;
/// Frames right before a still run that tell whether the picture was moving ...
const MOTION_FRAMES: usize = 3;
/// ... and the frames before the last step that tell whether it was slowing down into the stop
/// (an ease-out decelerates to the very end; motion that had slowed and then stopped dead did
/// not).
const EARLIER_FRAMES: usize = 3;
/// No ease-out: the last step at least this share of the median of the 3 before it, or ...
const NO_EASE_RATIO: f32 = 0.55;
/// ... the step before the last at least this share of the median of the 3 before that.
const NO_EASE_PREV_RATIO: f32 = 0.7;
/// A fade to black interrupted by the still run: at least this many frames of falling luma
/// right before it ...
const FADE_RUN: usize = 6;
/// ... each falling at least this much (mean luma, 0–1) ...
const FADE_STEP: f32 = 0.003;
/// ... held above this mean luma (not yet black).
const FADE_HELD_ABOVE: f32 = 0.1;
/// Frames of an encoder's refinement after a stop that may be counted into the freeze (0.8 s
/// at 30 fps) ...
const MAX_TAIL: usize = 24;
/// ... each moving at most this share of the motion before them ...
const BACKTRACK_RATIO: f32 = 0.3;
/// ... and, beyond this many frames, held (at most the still threshold) on at least
/// 1 / [`TAIL_HELD_DIV`] of them ...
const SHORT_TAIL: usize = 3;
const TAIL_HELD_DIV: usize = 3;
/// ... or every frame of it moves at most this share of the motion before (a picture that
/// stopped dead, its encoder's noise around it) ...
const TAIL_BARELY: f32 = 0.1;
/// ... and the motion drops into the tail abruptly: its first step at most this share of the
/// step before it.
const TAIL_DROP: f32 = 0.4;
/// Inside a still run that follows motion, a step up to this share of the recent motion is a
/// pulse (a keyframe re-encoding the held picture), not motion resuming.
const PULSE_MOTION_RATIO: f32 = 0.5;
/// Seconds of per-frame history kept (floor, motion before a run, fade-out onsets).
const HISTORY_S: f64 = 3.0;
/// Inside a run that follows motion, a step under this many times `freeze_mad` (and
/// [`TAIL_BARELY`] of the motion that stopped) holds: an encoder's noise around a held picture.
const QUIET_CAP: f32 = 2.5;
/// Frames a still run must have held before a single larger step (a keyframe) is let through.
const SPIKE_AFTER: u64 = 1;
/// Consecutive frames under 3× the still threshold a run tolerates (keyframe pulses).
const PULSES: u32 = 3;
/// Frames of falling luma before black that make it a fade (at least) ...
const FADE_FRAMES: usize = 3;
/// ... looked for over this many frames before the black.
const FADE_LOOKBACK: usize = 45;
/// A frame this much darker than the one after it (mean luma) still counts as the same level
/// when looking back for where a fall into black began (noise, a flickering light).
const LUMA_NOISE: f32 = 0.004;
/// A fall into black smaller than this (mean luma, 0–1) is a dark picture dimming, not a cut.
const DIM_FALL: f32 = 0.02;

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
    /// Steps up to this (besides 3 × the still threshold) count as pulses: see
    /// [`VideoContinuity::recent_motion`].
    pulse_limit: f32,
    /// The current pulses include one larger step (a keyframe).
    spiked: bool,
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
    /// Where the last reported still run ended (a later run's onset is not moved before it).
    last_still_end: f64,
    /// A hard cut inside the open still run: it ends there (at the next frame).
    split_at: Option<f64>,
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
            last_still_end: f64::NEG_INFINITY,
            split_at: None,
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
    /// `hard`: a hard cut (one frame), which also ends a still run that spans it: a cut from
    /// one still picture to another, or a freeze cut away from, is two runs (the frame of
    /// the cut was let through as a spike).
    pub fn on_shot_start(&mut self, pts: f64, hard: bool) {
        if hard && self.still.as_ref().is_some_and(|r| pts > r.start + 1e-6) {
            self.split_at = Some(pts);
        }
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

    /// Whether `motion` (a median step) is motion in the shot of `pts`: at least `motion_mad`,
    /// or at least [`TYPICAL_RATIO`] of the shot's typical step (the median of its frames that
    /// were not still) — a talking head that barely moves is moving by its own measure.
    fn moving(&self, motion: f32, pts: f64) -> bool {
        if motion >= self.d.motion_mad {
            return true;
        }
        let from = self.shot_start(pts);
        let steps: Vec<f32> = self
            .history
            .iter()
            .filter(|p| p.pts > from && p.pts <= pts && !p.still)
            .map(|p| p.mad)
            .collect();
        steps.len() >= FLOOR_MIN_FRAMES && motion >= TYPICAL_RATIO * median(steps)
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
        let mut shot = self.shot_start(self.history[j - 1].pts);
        // A fade to black that stops before black is a picture stopped mid-motion, though the
        // gradual-cut detector ends its span where the change stopped: the fade's frames are
        // the motion before the run. (A dissolve or fade-in that completes onto a still picture
        // is a shot that opens still.)
        if self.fade_stopped_before_black(j) {
            shot = f64::NEG_INFINITY;
        }
        // The encoder's refinement frames right after a stop (if any) are neither motion before
        // the run nor a reason to call it a static shot: the motion is read before them.
        let tail = self.refinement_tail(j, shot);
        let (motion, last, earlier) = self.motion_before(j - tail, shot);
        let at = self.history[j - tail - 1].pts;
        let freeze = self.moving(motion, at) && !self.eased_out(j - tail, shot, last, earlier);
        let mut extra = 0u64;
        if freeze {
            j -= tail;
            extra = tail as u64;
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
        let opened_still = shot > f64::NEG_INFINITY && (start - shot).abs() < 1e-6;
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

    /// Whether the frames right before history index `j` (allowing two frames of encoder
    /// refinement) fade towards black — mean luma falling by at least [`FADE_STEP`] a frame for
    /// [`FADE_RUN`] frames — and the picture held is still above [`FADE_HELD_ABOVE`].
    fn fade_stopped_before_black(&self, j: usize) -> bool {
        let luma: Vec<f32> = self.history.range(..j).rev().map(|p| p.luma).collect();
        (0..=2).any(|skip| {
            let l = &luma[skip.min(luma.len())..];
            l.len() > FADE_RUN
                && l[0] >= FADE_HELD_ABOVE
                && l[..=FADE_RUN].windows(2).all(|w| w[1] - w[0] >= FADE_STEP)
        })
    }

    /// The motion into the frames of the shot before history index `j`: the median step into
    /// the last [`MOTION_FRAMES`], the last step itself, and the median step into the
    /// [`EARLIER_FRAMES`] before the last (0, 0, 0 when too few).
    fn motion_before(&self, j: usize, shot: f64) -> (f32, f32, f32) {
        let steps = self.steps_before(j, shot, 1 + EARLIER_FRAMES.max(MOTION_FRAMES));
        if steps.len() < MOTION_FRAMES {
            return (0.0, 0.0, 0.0);
        }
        let motion = median(steps[..MOTION_FRAMES].to_vec());
        let earlier = if steps.len() > EARLIER_FRAMES {
            median(steps[1..=EARLIER_FRAMES].to_vec())
        } else {
            steps[0]
        };
        (motion, steps[0], earlier)
    }

    /// Whether the motion into history index `j` eased out: the last step below
    /// [`NO_EASE_RATIO`] of the median of the 3 before it, and the step before the last below
    /// [`NO_EASE_PREV_RATIO`] of the median of the 3 before that. (The step into the held frame
    /// alone may come out small — an encoder spends its bits on the picture it will hold — so
    /// a stop after steady motion is told by the step before it too; an ease decelerates over
    /// both.)
    fn eased_out(&self, j: usize, shot: f64, last: f32, earlier: f32) -> bool {
        if last >= NO_EASE_RATIO * earlier {
            return false;
        }
        let steps = self.steps_before(j, shot, 5);
        steps.len() < 5 || steps[1] < NO_EASE_PREV_RATIO * median(steps[2..5].to_vec())
    }

    /// How much a still run that starts at history index `j` may let through as pulses: the
    /// median of the 3 largest steps of the shot's last 12 frames before it, times
    /// [`PULSE_MOTION_RATIO`] (a keyframe re-encoding a held picture moves far less than the
    /// motion it stopped).
    fn recent_motion(&self, j: usize, shot: f64) -> f32 {
        let mut steps = self.steps_before(j, shot, 12);
        steps.sort_by(|a, b| b.total_cmp(a));
        steps.truncate(3);
        PULSE_MOTION_RATIO * median(steps)
    }

    /// An encoder refines a held picture for a while after the stop (over RTP at a low bit
    /// rate, half a second): the frames before history index `j` that barely move next to the
    /// motion before them. The longest such run of up to [`MAX_TAIL`] frames inside the shot
    /// whose every step is at most [`BACKTRACK_RATIO`] of the median step into the
    /// [`MOTION_FRAMES`] before it (or 3 × the still threshold), that motion at least
    /// `motion_mad`, and which, when longer
    /// than [`SHORT_TAIL`] frames, holds still (at most the still threshold) on at least a
    /// third of its frames. 0 when there is none.
    fn refinement_tail(&self, j: usize, shot: f64) -> usize {
        let base = self.still_threshold(self.history[j - 1].pts);
        let mut best = 0;
        let mut tail_max = 0.0f32;
        for k in 1..=MAX_TAIL.min(j.saturating_sub(1)) {
            let p = &self.history[j - k];
            // Not into the shot before, nor into a still run already reported.
            if p.pts <= shot + 1e-6 || p.pts < self.last_still_end - 1e-6 {
                break;
            }
            tail_max = tail_max.max(p.mad);
            let (motion, last, _) = self.motion_before(j - k, shot);
            // The motion stops abruptly into the tail (a slow ease decays smoothly into it).
            if !self.moving(motion, p.pts)
                || tail_max > (3.0 * base).max(BACKTRACK_RATIO * motion)
                || p.mad > TAIL_DROP * last
            {
                continue;
            }
            // A refinement is mostly held frames with a correction now and then; motion that
            // slows to a crawl moves on every frame.
            let held = (j - k..j).filter(|&i| self.history[i].mad <= base).count();
            let barely = tail_max <= TAIL_BARELY * motion;
            if k <= SHORT_TAIL || barely || held * TAIL_HELD_DIV >= k {
                best = k;
            }
        }
        best
    }

    fn close_still(&mut self, end: f64, out: &mut Vec<Detection>) {
        let Some(run) = self.still.as_ref() else {
            return;
        };
        if run.kind.is_none() && end - run.start >= self.min_s - 1e-9 {
            self.classify_still();
        }
        let run = self.still.take().expect("present");
        if run.kind.is_some() {
            self.last_still_end = end;
        }
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
        if let Some(at) = self.split_at.take() {
            self.close_still(at, out);
        }
        let base = self.still_threshold(f.pts);
        // Inside a run that follows motion, the encoder's noise around the held picture (a
        // step under QUIET_CAP × freeze_mad and TAIL_BARELY of the motion that stopped) holds
        // as well as a repeated frame; real motion is larger (`motion_mad` and up).
        let quiet = self.still.as_ref().is_some_and(|r| {
            f.mad
                <= (TAIL_BARELY * r.pulse_limit / PULSE_MOTION_RATIO)
                    .min(QUIET_CAP * self.d.freeze_mad)
        });
        let strict = f.has_prev && (f.mad <= base || quiet) && !black;
        // Inside a run, up to PULSES consecutive frames under 3× the threshold (a re-encoded
        // keyframe of the held picture) do not end it; a further one, or a larger change, ends
        // it where the pulses began. Inside a run that follows motion, the encoder's
        // corrections of the held picture (small next to the motion it stopped) are pulses
        // too; and once a run has held for SPIKE_AFTER frames, one frame of any size among
        // them (a keyframe re-encoding the held picture) is one (a hard cut there ends the
        // run all the same: `on_shot_start`).
        let pulse_limit = match self.still.as_ref() {
            Some(r) => (3.0 * base).max(r.pulse_limit),
            None => 3.0 * base,
        };
        let pulse = !strict
            && f.has_prev
            && !black
            && self.still.as_ref().is_some_and(|r| {
                r.pulses < PULSES
                    && (f.mad <= pulse_limit || (!r.spiked && r.frames >= SPIKE_AFTER))
            });
        let still = strict || pulse;
        if still {
            let pulse_limit = if self.still.is_none() {
                let j = self.history.len();
                self.recent_motion(j, self.shot_start(f.pts))
            } else {
                0.0
            };
            let run = self.still.get_or_insert(StillRun {
                first: self.frames_seen,
                start: self.prev_pts.unwrap_or(f.pts),
                frames: 0,
                last_end: end,
                kind: None,
                values: vec![],
                pulses: 0,
                pulse_since: None,
                pulse_limit,
                spiked: false,
            });
            run.frames += 1;
            run.last_end = end;
            if pulse {
                run.pulses += 1;
                run.pulse_since.get_or_insert(f.pts);
                run.spiked |= f.mad > pulse_limit;
            } else {
                run.pulses = 0;
                run.pulse_since = None;
                run.spiked = false;
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

    /// Whether the picture reached black (mean luma `luma`) by a fade rather than in a frame or
    /// two: over the stretch of its shot before it that only came down or held (up to
    /// [`FADE_LOOKBACK`] frames, back to where the luma last rose by more than [`LUMA_NOISE`]
    /// or the shot began), the luma fell
    /// from its peak over at least [`FADE_FRAMES`] frames, and
    /// two frames before the black it had already come down more than halfway. A picture
    /// already near black (a fall under [`DIM_FALL`]) dims into it.
    fn faded_into(&self, luma: f32) -> bool {
        // Within the shot: a cut from a brighter shot is no part of a fall.
        let shot = self
            .history
            .iter()
            .rev()
            .nth(1)
            .map_or(f64::NEG_INFINITY, |p| self.shot_start(p.pts));
        let before: Vec<f32> = self
            .history
            .iter()
            .rev()
            .skip(1)
            .take(FADE_LOOKBACK)
            .take_while(|p| p.pts >= shot - 1e-6)
            .map(|p| p.luma)
            .collect();
        if before.is_empty() {
            return false;
        }
        // The stretch the picture came down (or held) through: back from the last frame until
        // the luma had risen into the next frame by more than noise.
        let mut n = 0;
        while n + 1 < before.len() && before[n + 1] >= before[n] - LUMA_NOISE {
            n += 1;
        }
        let Some((peak_at, peak)) = before[..=n.min(before.len().saturating_sub(1))]
            .iter()
            .copied()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
        else {
            return false;
        };
        let fall = peak - luma;
        if fall < DIM_FALL {
            return true;
        }
        let two_before = before.get(1).copied().unwrap_or(before[0]);
        peak_at + 1 >= FADE_FRAMES && two_before - luma <= 0.5 * fall
    }

    fn push_black(&mut self, f: &FrameFeatures, black: bool, end: f64, out: &mut Vec<Detection>) {
        if black && self.black.active_since().is_none() {
            // Classify at onset: black from the stream's first frame, or reached by a fade
            // (the mean luma fell over several frames before it), is an editing choice.
            let opening = self.first_pts == Some(f.pts);
            self.black_kind = if opening || self.faded_into(f.luma_mean) {
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
    /// Levels (dB) of the last [`RECENT_MS`] decided ms.
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
    /// The sound before the run was sound (not a fade-out), up to the last [`PRE_MS`].
    cut_from_sound: bool,
    /// The run reached digital silence within its first [`PRE_MS`].
    digital: bool,
    /// Milliseconds since the run began.
    age_ms: usize,
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
/// Digital silence: a 10 ms level under this (exact zeros, or dither at most) ...
const DIGITAL_DB: f64 = -90.0;
/// ... cut into sound: the 10 ms levels before it at least this.
const SOUND_DB: f64 = -80.0;
/// A fade-out: over the [`FADE_SPAN_MS`] before the run, each quarter's median level at least
/// [`FADE_STEP_DB`] below the one before, and the last this far below the first.
const FADE_OUT_DB: f64 = 10.0;
const FADE_STEP_DB: f64 = 2.0;
const FADE_END_DB: f64 = 3.0;
const FADE_SPAN_MS: usize = 1000;
/// Milliseconds of levels kept.
const RECENT_MS: usize = FADE_SPAN_MS;
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
            recent: VecDeque::with_capacity(RECENT_MS + 1),
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
        let dropout = q.had_sound
            && q.before_db >= q.floor_db + CUT_OUT_DB
            && 2 * q.sustained_ms >= SUSTAIN_MS;
        if dropout || (q.cut_from_sound && q.digital) {
            EventKind::Silence
        } else {
            EventKind::Quiet
        }
    }

    /// Whether digital silence starting now would cut into sound: sound (at least
    /// [`SOUND_DB`]) in the last [`PRE_MS`], over at least half of the last [`SUSTAIN_MS`], and
    /// not a fade-out ([`Self::fading_out`]).
    fn cut_from_sound(&self) -> bool {
        let n = self.recent.len();
        let last = |k: usize| self.recent.iter().skip(n.saturating_sub(k));
        let abrupt = last(PRE_MS).any(|l| *l >= SOUND_DB);
        let sustained = 2 * last(SUSTAIN_MS).filter(|l| **l >= SOUND_DB).count() >= SUSTAIN_MS;
        if !(abrupt && sustained) {
            return false;
        }
        !self.fading_out()
    }

    /// Whether the last second of levels is a fade-out: its four quarters' median levels each
    /// at least [`FADE_STEP_DB`] below the quarter before, [`FADE_OUT_DB`] in all, and still
    /// falling over the last quarter (its second half's median [`FADE_END_DB`] below its first
    /// half's). Speech that trails off ends on a pause at a level; a fade goes on down.
    fn fading_out(&self) -> bool {
        let n = self.recent.len();
        if n < FADE_SPAN_MS {
            return false;
        }
        let median = |from: usize, len: usize| {
            let mut v: Vec<f64> = self.recent.iter().skip(from).take(len).copied().collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let q = FADE_SPAN_MS / 4;
        let start = n - FADE_SPAN_MS;
        let quarters: Vec<f64> = (0..4).map(|k| median(start + k * q, q)).collect();
        let steady = quarters.windows(2).all(|w| w[0] - w[1] >= FADE_STEP_DB)
            && quarters[0] - quarters[3] >= FADE_OUT_DB;
        // Still falling at the end (speech that trails off ends on a pause at a level).
        let (h1, h2) = (
            median(start + 3 * q, q / 2),
            median(start + 3 * q + q / 2, q / 2),
        );
        steady && h1 - h2 >= FADE_END_DB
    }

    /// Open a quiet run at this ms, remembering what came before it.
    fn open_run(&mut self, floor: f64) {
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
            sustained_ms: self
                .recent
                .iter()
                .rev()
                .take(SUSTAIN_MS)
                .filter(|l| **l >= loud)
                .count(),
            had_sound: self.had_sound,
            cut_from_sound: self.cut_from_sound(),
            digital: false,
            age_ms: 0,
        });
    }

    /// A quiet passage that turns into digital silence cut in from its sound ends there; the
    /// silence is a run of its own.
    fn split_at_digital_cut(&mut self, level: f64, at: f64, out: &mut Vec<Detection>) {
        let Some(q) = self.open.as_ref() else {
            return;
        };
        let was_sound = self.recent.back().is_some_and(|l| *l >= DIGITAL_DB);
        if q.age_ms <= PRE_MS
            || level >= DIGITAL_DB
            || !was_sound
            || Self::classify(q) != EventKind::Quiet
            || !self.cut_from_sound()
        {
            return;
        }
        let level_db = db(self.level_sum / self.level_n.max(1) as f64);
        if let Some(u) = self.run.close(at) {
            out.push(detection(EventKind::Quiet, u, vec![("level_db", level_db)]));
        }
        self.level_sum = 0.0;
        self.level_n = 0;
        let floor = q.floor_db;
        self.open_run(floor);
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
                self.split_at_digital_cut(level, run_start, out);
                self.level_sum += window;
                self.level_n += 1;
                if self.open.is_none() {
                    self.open_run(floor);
                }
                if let Some(q) = self.open.as_mut() {
                    q.digital |= level < DIGITAL_DB && q.age_ms <= PRE_MS;
                    q.age_ms += 1;
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
            if self.recent.len() > RECENT_MS {
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
                    c.on_shot_start(*cut as f64 * 0.04, true);
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
        // motion that eases into a crawl below motion_mad before the hold.
        for mads in [
            (0..120)
                .map(|i| match i {
                    0..=39 => 0.01,
                    40..=51 => 0.01 * (52 - i) as f32 / 13.0,
                    _ => 0.0,
                })
                .collect::<Vec<f32>>(),
            // (An abrupt drop to a crawl is a stop: an encoder's noise around a held picture.)
            (0..120)
                .map(|i| match i {
                    0..=39 => 0.01,
                    40..=45 => [0.006, 0.0035, 0.002, 0.0012, 0.0007, 0.0005][i - 40],
                    46..=55 => 0.0004,
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

    #[test]
    fn black_that_cuts_in_is_a_fault_whatever_the_luma_did_before() {
        // A bright shot whose luma drifts down a little for a few frames (as motion does),
        // then black drawn in; a 4-frame fade into black; a slow fade over a second; a dark
        // picture dimming into black.
        let a = AnalysisSettings::default();
        let mut c = VideoContinuity::new(&a);
        let mut out = vec![];
        for i in 0..400u64 {
            let (mean, black) = match i {
                40..=45 => (0.59 - 0.003 * (i - 39) as f32, 0.0), // drifts down
                46..=80 => (0.06, 1.0),                           // black drawn in
                120..=123 => (0.6 - 0.12 * (i - 119) as f32, 0.0), // 4-frame fade
                124..=150 => (0.06, 1.0),
                200..=224 => (0.6 - 0.021 * (i - 199) as f32, 0.0), // 1 s fade
                225..=250 => (0.06, 1.0),
                300..=320 => (0.08, 0.0), // a dark picture
                321..=350 => (0.07, 1.0), // dims into black
                _ => (0.59, 0.0),
            };
            c.push(&frame(i, 0.02, mean, black), &mut out);
        }
        c.finish(&mut out);
        let black = ended(&out, EventKind::Black);
        assert_eq!(black.len(), 1, "{out:?}");
        assert!((black[0].start - 46.0 * 0.04).abs() < 1e-9, "{black:?}");
        assert_eq!(ended(&out, EventKind::FadeBlack).len(), 3, "{out:?}");
    }

    #[test]
    fn a_dark_picture_cut_to_black_is_a_fault() {
        // Measured on a generated night scene (a torch): mean luma 0.098, black drawn in.
        let a = AnalysisSettings::default();
        let mut c = VideoContinuity::new(&a);
        let mut out = vec![];
        for i in 0..100u64 {
            let (mean, black) = if (50..=75).contains(&i) {
                (0.0627, 1.0)
            } else {
                (0.098, 0.0)
            };
            c.push(&frame(i, 0.005, mean, black), &mut out);
        }
        c.finish(&mut out);
        assert_eq!(ended(&out, EventKind::Black).len(), 1, "{out:?}");
    }

    #[test]
    fn a_two_frame_fall_into_black_is_a_fault() {
        let a = AnalysisSettings::default();
        let mut c = VideoContinuity::new(&a);
        let mut out = vec![];
        for i in 0..100u64 {
            let (mean, black) = match i {
                40 => (0.3, 0.0),
                41..=70 => (0.06, 1.0),
                _ => (0.6, 0.0),
            };
            c.push(&frame(i, 0.02, mean, black), &mut out);
        }
        c.finish(&mut out);
        assert_eq!(ended(&out, EventKind::Black).len(), 1, "{out:?}");
    }

    /// Energies (mean square per ms) from levels in dB, fed in 20 ms chunks.
    fn run_silence(levels: impl Fn(usize) -> f64, ms: usize) -> Vec<Detection> {
        let a = AnalysisSettings::default();
        let mut s = Silence::new(&a);
        let mut out = vec![];
        let e: Vec<f32> = (0..ms)
            .map(|i| {
                let db = levels(i);
                if db <= -200.0 {
                    0.0
                } else {
                    10f64.powf(db / 10.0) as f32
                }
            })
            .collect();
        for (i, chunk) in e.chunks(20).enumerate() {
            s.push(0.0, i as i64 * 20, chunk, &mut out);
        }
        s.finish(&mut out);
        out
    }

    /// A soft level that wanders between -46 and -59 dB (a quiet score).
    fn soft(i: usize) -> f64 {
        -52.5 + 6.5 * ((i as f64) * 0.013).sin() * ((i as f64) * 0.0021).cos()
    }

    #[test]
    fn digital_silence_cut_into_a_quiet_passage_is_a_silence() {
        // A quiet score at -46…-59 dB, exact zeros 4.0–5.0 s, the score again.
        let out = run_silence(
            |i| {
                if (4000..5000).contains(&i) {
                    -300.0
                } else {
                    soft(i)
                }
            },
            8000,
        );
        let sil = ended(&out, EventKind::Silence);
        assert_eq!(sil.len(), 1, "{out:?}");
        assert!((sil[0].start - 4.0).abs() <= 0.006, "{sil:?}");
        assert!((sil[0].end - 5.0).abs() <= 0.012, "{sil:?}");
    }

    #[test]
    fn digital_silence_inside_room_tone_under_the_floor_splits_the_quiet_run() {
        // Sound at -20 dB faded out over a second to room tone at -75 dB (a quiet passage
        // under the floor), then exact zeros from 4.0 s: the room tone is quiet, the zeros a
        // silence.
        let out = run_silence(
            |i| match i {
                0..=999 => -20.0,
                1000..=1999 => -20.0 - 55.0 * (i - 1000) as f64 / 1000.0,
                2000..=3999 => -75.0 + ((i as f64) * 0.05).sin(),
                4000..=4999 => -300.0,
                _ => -20.0,
            },
            6000,
        );
        let sil = ended(&out, EventKind::Silence);
        assert_eq!(sil.len(), 1, "{out:?}");
        assert!((sil[0].start - 4.0).abs() <= 0.006, "{sil:?}");
        assert_eq!(ended(&out, EventKind::Quiet).len(), 1, "{out:?}");
    }

    #[test]
    fn a_fade_out_to_digital_silence_and_short_notes_between_zeros_stay_quiet() {
        // A 2 s fade-out (gain falling linearly) from -20 dB into zeros; then 60 ms beeps
        // with zeros between them (events.mp4's pattern).
        let fade = run_silence(
            |i| match i {
                0..=999 => -20.0,
                1000..=2999 => -20.0 + 20.0 * (1.0 - (i - 1000) as f64 / 2000.0).max(1e-6).log10(),
                _ => -300.0,
            },
            5000,
        );
        assert!(ended(&fade, EventKind::Silence).is_empty(), "{fade:?}");
        let beeps = run_silence(|i| if i % 800 < 60 { -20.0 } else { -300.0 }, 8000);
        assert!(ended(&beeps, EventKind::Silence).is_empty(), "{beeps:?}");
    }

    #[test]
    fn a_long_refinement_after_the_stop_is_counted_into_the_freeze() {
        // Measured on the live demo (x264 at 1.5 Mb/s over RTP, 30 fps): after the stop the
        // encoder corrects the held picture on and off for half a second, one correction
        // (a refresh) as large as 0.0012, then the picture holds.
        const TAIL: [f32; 24] = [
            0.001192, 0.000062, 0.000579, 0.000020, 0.000416, 0.000301, 0.000281, 0.000007,
            0.000016, 0.000032, 0.000321, 0.000005, 0.000001, 0.000079, 0.001188, 0.000002,
            0.000016, 0.000000, 0.000014, 0.000032, 0.000000, 0.000169, 0.000078, 0.000075,
        ];
        let mads: Vec<f32> = (0..150)
            .map(|i| match i {
                51..=74 => TAIL[i - 51],
                75..=110 => 0.00001,
                _ => 0.0113,
            })
            .collect();
        let out = run_video(&mads, &[]);
        let fr = ended(&out, EventKind::Freeze);
        assert_eq!(fr.len(), 1, "{out:?}");
        assert!(
            (fr[0].start - 50.0 * 0.04).abs() < 1e-9,
            "held frame is 50: {fr:?}"
        );
        assert!(ended(&out, EventKind::StaticShot).is_empty(), "{out:?}");
    }

    #[test]
    fn motion_that_slowed_then_stopped_dead_is_a_freeze() {
        // Measured on a generated talker (24 fps, x264 crf 18): she moves at ~0.014, slows to
        // ~0.004 a quarter second before the freeze, then the picture holds (one frame of
        // encoder correction, 0.0008).
        let mads: Vec<f32> = (0..120)
            .map(|i| match i {
                40..=45 => [0.0024, 0.0036, 0.0038, 0.0048, 0.0039, 0.0026][i - 40],
                46 => 0.00079,
                47..=80 => 0.00003,
                _ => 0.014,
            })
            .collect();
        let out = run_video(&mads, &[]);
        let fr = ended(&out, EventKind::Freeze);
        assert_eq!(fr.len(), 1, "{out:?}");
        assert!(
            (fr[0].start - 45.0 * 0.04).abs() < 1e-9,
            "held frame 45: {fr:?}"
        );
    }

    #[test]
    fn a_fade_to_black_that_stops_before_black_is_a_freeze_and_one_onto_a_still_is_not() {
        // A fade-out falling 0.027 a frame from 0.8, stopped at 0.15 and held; the gradual-cut
        // detector closes its span where the change stopped. Then a fade-in onto a still
        // picture, closed the same way: a shot that opens still.
        let a = AnalysisSettings::default();
        let mut c = VideoContinuity::new(&a);
        let mut out = vec![];
        for i in 0..200u64 {
            let (mad, mean) = match i {
                0..=19 => (0.01, 0.8),
                20..=44 => (0.027, 0.8 - 0.027 * (i - 19) as f32),
                45..=80 => (0.0, 0.8 - 0.027 * 25.0),
                81..=99 => (0.01, 0.5),
                100..=124 => (0.02, 0.2 + 0.02 * (i - 99) as f32),
                _ => (0.0, 0.7),
            };
            c.push(&frame(i, mad, mean, 0.0), &mut out);
            if i == 48 {
                c.on_shot_start(43.0 * 0.04, false);
            }
            if i == 128 {
                c.on_shot_start(123.0 * 0.04, false);
            }
        }
        c.finish(&mut out);
        let fr = ended(&out, EventKind::Freeze);
        assert_eq!(fr.len(), 1, "{out:?}");
        assert!((fr[0].start - 44.0 * 0.04).abs() < 1e-9, "{fr:?}");
        let st = ended(&out, EventKind::StaticShot);
        assert_eq!(st.len(), 1, "{out:?}");
        assert!(st[0].start > 120.0 * 0.04, "{st:?}");
    }

    #[test]
    fn a_keyframe_inside_a_freeze_does_not_split_it_into_static_shots() {
        // Measured on a generated talker (24 fps, x264 crf 18, a keyframe every 2 s): he
        // slows from 0.017 to 0.003, the picture holds from frame 27, a keyframe re-encodes
        // the held picture at frame 48 (0.0014), and motion resumes at frame 70.
        let mads: Vec<f32> = (0..100)
            .map(|i| match i {
                0..=21 => 0.017,
                22..=27 => [0.0124, 0.0101, 0.0053, 0.0036, 0.0034, 0.0030][i - 22],
                28 => 0.00053,
                48 => 0.0014,
                29..=69 => 0.0001,
                _ => 0.02,
            })
            .collect();
        let out = run_video(&mads, &[]);
        let fr = ended(&out, EventKind::Freeze);
        assert_eq!(fr.len(), 1, "{out:?}");
        assert!((fr[0].start - 27.0 * 0.04).abs() < 1e-9, "{fr:?}");
        assert!((fr[0].end - 70.0 * 0.04).abs() < 1e-9, "{fr:?}");
        assert!(ended(&out, EventKind::StaticShot).is_empty(), "{out:?}");
    }

    #[test]
    fn a_slow_ease_into_a_hold_stays_a_hold() {
        // A linear ease over 40 frames from 0.01: its last steps fall below 3 × the still
        // threshold smoothly, not abruptly, so they are no refinement tail.
        let mads: Vec<f32> = (0..150)
            .map(|i| match i {
                0..=39 => 0.01,
                40..=79 => 0.01 * (80 - i) as f32 / 41.0,
                _ => 0.0,
            })
            .collect();
        let out = run_video(&mads, &[]);
        assert!(ended(&out, EventKind::Freeze).is_empty(), "{out:?}");
    }

    #[test]
    fn a_stop_into_the_encoders_noise_is_a_freeze() {
        // Measured on a generated clip (24 fps, x264 crf 18): steady motion at 0.016, the
        // picture held, and the re-encoded copies wander 0.0002–0.0007 around it.
        const NOISE: [f32; 16] = [
            0.000389, 0.000307, 0.000237, 0.000448, 0.000512, 0.000336, 0.000266, 0.000589,
            0.000595, 0.000285, 0.000251, 0.000691, 0.000698, 0.000285, 0.000201, 0.000700,
        ];
        let mads: Vec<f32> = (0..120)
            .map(|i| match i {
                0..=40 => 0.016,
                41..=56 => NOISE[i - 41],
                57..=90 => [0.00018, 0.00013, 0.00068, 0.0001][i % 4],
                _ => 0.016,
            })
            .collect();
        let out = run_video(&mads, &[]);
        let fr = ended(&out, EventKind::Freeze);
        assert_eq!(fr.len(), 1, "{out:?}");
        assert!((fr[0].start - 40.0 * 0.04).abs() < 1e-9, "{fr:?}");
    }

    #[test]
    fn a_small_step_into_the_held_frame_after_steady_motion_is_still_a_freeze() {
        // Measured on a generated clip (24 fps, x264 crf 18): steady motion at ~0.004, the
        // step into the held frame comes out at 0.0015 (the encoder spends its bits on the
        // picture it will hold), then the picture holds with the encoder's noise around it
        // (0.0002–0.0006, above freeze_mad on six frames running).
        let mads: Vec<f32> = (0..120)
            .map(|i| match i {
                45 => 0.001463,
                46..=49 => 0.0001,
                50..=55 => [0.000325, 0.000524, 0.000366, 0.000342, 0.00056, 0.000497][i - 50],
                56..=80 => 0.0001,
                _ => [0.00357, 0.00306, 0.00319, 0.00402, 0.00419, 0.00354][i % 6],
            })
            .collect();
        let out = run_video(&mads, &[]);
        let fr = ended(&out, EventKind::Freeze);
        assert_eq!(fr.len(), 1, "{out:?}");
        assert!((fr[0].start - 45.0 * 0.04).abs() < 1e-9, "{fr:?}");
        assert!((fr[0].end - 81.0 * 0.04).abs() < 1e-9, "{fr:?}");
    }
}
