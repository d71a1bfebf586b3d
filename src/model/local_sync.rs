//! Sync from local motion that makes sound (post-production / sound design: audio-visual
//! fusion on ordinary footage).
//!
//! Cuts and flashes ([`super::sync`]) are rare; what makes sound in film is mostly something
//! moving in one part of the picture: an impact, a footstep, a door. This estimator correlates
//! *where* the picture's motion changes with *when* the sound starts, over the stream's last
//! [`KEEP_S`] seconds:
//!
//! - **Visual onsets** per region: the 32×18 luma block means of the analysis thumbnail are
//!   differenced frame to frame and summed over 8×6 regions of 4×3 blocks (`D_r(t)`: how much
//!   region r changed); a region's onset strength is the change of that motion over its 3×3
//!   neighbourhood, `|Σ_n D_n(t) − Σ_n D_n(t−1)|`: motion starting or stopping there, while a
//!   thing that moves on from one region into the next leaves the sum alone. For motion at constant speed that starts or stops at τ, the weighted centre of
//!   the two frames this spreads over is τ + 1 frame, so an onset is placed one frame before the
//!   frame that shows it. Frames within 3 frames of a cut or a flash, or of a frame where
//!   ≥ 40 % of the blocks change at once (the picture as a whole), are left out: cuts are the
//!   event estimator's evidence, and sound editors offset them on purpose (J and L cuts).
//! - **Audio onset strength** on a 5 ms grid, from the 1 ms energies the onset detector reads:
//!   `min(ln 1000, max(0, ln(S/L)))`, S the mean energy of the next 20 ms and L of
//!   [−60, −10) ms; 0 where S is below −50 dBFS. S spans 20 ms, not the onset detector's 5,
//!   so that a voice's pitch (a pulse every 5–12 ms) does not read as onsets all through a
//!   vowel; measured on the sweep's clips, it raised the peaks of drops, talkers and walkers
//!   over their nulls and cut the talkers' lateness from +16 to about +8 ms.
//! - **Correlation**: each region's onset series against the audio's on the 5 ms grid, as the
//!   circular cross-correlation at every lag (real FFTs, `realfft`), normalised (Pearson: the
//!   series' means removed, divided by their norms), summed over the regions: a region where one
//!   thing fell once weighs as much as one where things move all the time, and sounds that
//!   follow the motion changes of many regions at one lag add up there.
//! - **Significance**: the candidate is the best lag within ±[`LOCAL_SEARCH_MS`]; the null is
//!   the same statistic at implausible lags, circular shifts of the sound by more than the
//!   search plus 1 s, in windows as wide as the search window (one every 50 ms), each window's
//!   maximum taken (so the look-elsewhere effect is in the null). The estimate commits only when
//!   its peak beats every null window's maximum and stands ≥ [`MIN_Z`] standard deviations above
//!   their mean (the deviation at least 5 % of the peak's height: a flat null proves nothing),
//!   with at least [`MIN_NULL_WINDOWS`] independent windows (about 33 s of stream), at least
//!   [`MIN_ONSETS`] sound onsets and as many frames with a clear motion onset, and no second
//!   peak (more than 60 ms or 1.5 frames away) reaching [`MAX_SECOND_RATIO`] of it above the
//!   null's median (regular, beat-locked motion). The lag is refined by a parabola through the
//!   peak.
//! - **Level changes**: a mouth moves nearly all through speech, so only some of its motion
//!   changes start sounds, but how much it moves follows how much the sound's level changes.
//!   Each region's motion `D_r` (placed between the two frames it compares) is correlated with
//!   `|A(t + 20 ms) − A(t − 20 ms)|`, `A` the RMS amplitude over 20 ms (floored at −50 dBFS),
//!   the regions weighted by the square root of their motion (a mouth is one region that moves
//!   far more than the rest, whose coding noise would outvote it if every region counted the
//!   same), with the same null and guards, and answers only with a sharp peak (second ratio
//!   below [`LEVEL_MAX_SECOND_RATIO`]). A sharp level answer comes first: on a mouth it is the
//!   closer one (the sweep's speakers within 9 ms, where the onsets read them up to 22 ms
//!   late). Motion that leads its sound (a fall, then the landing) gives this statistic a broad
//!   hump whose top reads the sound 60–120 ms late; the sharpness rule leaves most of those to
//!   the onsets, and where the onsets' best lag stands ≥ 2 sd above its null more than a frame
//!   from the level answer, neither answers (a drop clip whose level peak, 0.41 of it second,
//!   read 31 ms late; a synthetic talker whose syllables swell from silence, which the onsets
//!   read 53 ms early at z 8).
//!
//! Positive delay = audio later than video, as everywhere.
use super::features::{FrameFeatures, THUMB_CELLS, THUMB_H, THUMB_W};
use super::picture::motion::parabola_vertex;
use super::sync::{Decline, LONG_FROM, LONG_TO, MIN_ONSET_ENERGY, SHORT, SyncEstimate};
use realfft::RealFftPlanner;
use realfft::num_complex::Complex32;
use serde::Serialize;
use std::collections::VecDeque;

/// Grid of the correlation, s.
pub const GRID_S: f64 = SHORT as f64 / 1000.0;
/// Largest delay the local evidence looks for, ms (the sync search, if smaller).
pub const LOCAL_SEARCH_MS: f64 = 500.0;
/// Span of the stream a window's estimate reads (the window's end and the seconds before).
pub const WINDOW_SPAN_S: f64 = 40.0;
/// A window's estimate is made at most this often (stream seconds); windows in between show
/// the last one.
pub const WINDOW_EVERY_S: f64 = 5.0;
/// Height of the peak over the null windows' maxima, in their standard deviations.
pub const MIN_Z: f64 = 4.0;
/// Fewest independent null windows (search windows that fit in the stream beside the
/// plausible lags): 30, about 33 s of stream. With 20 (23 s), windows of 24–29 s committed
/// wrongly on the sweep's clips (a talker 45 ms off, a speaker 82 ms off, and a dub of other
/// sentences), where the whole 40 s of the same clips did not.
pub const MIN_NULL_WINDOWS: f64 = 30.0;
/// Fewest sound onsets and fewest frames with a clear motion onset the estimate needs.
pub const MIN_ONSETS: usize = 5;
/// A grid step of the sound's onset strength above this (ln: +4.3 dB) starts a sound...
const ONSET_LEVEL: f32 = 1.0;
/// ...and a frame whose strongest region changed its motion by this much has a clear onset.
const MOVE_LEVEL: f32 = 0.1;
/// A second peak reaching this share of the best (above the null's median) is ambiguous.
pub const MAX_SECOND_RATIO: f64 = 0.75;
/// Seconds of evidence kept.
pub const KEEP_S: f64 = 120.0;
/// Added to a region's norm before it is normalised, so that a region with a trace of
/// coding noise does not weigh as much as one where something moved.
const MIN_REGION_NORM: f32 = 0.05;

const REGION_COLS: usize = 8;
const REGION_ROWS: usize = 6;
/// Regions of the picture: 8×6, each 4×3 thumbnail blocks.
pub const REGIONS: usize = REGION_COLS * REGION_ROWS;
/// A block "changes" when its mean moves by this much (0–1)...
const BLOCK_STEP: f32 = 0.03;
/// ...and the picture changes as a whole when this share of the blocks do.
const GLOBAL_SHARE: f32 = 0.4;
/// Frames left out on either side of a cut, flash or whole-picture change.
const GUARD_FRAMES: f64 = 3.0;
/// A longer hole in either medium's timeline starts the evidence afresh, s.
const MAX_GAP_S: f64 = 5.0;
/// Null windows are this far apart, s.
const NULL_STEP_S: f64 = 0.05;
/// The null starts this far beyond the search, s.
const NULL_GAP_S: f64 = 1.0;
/// A second peak is more than this (or 1.5 frames) from the best, s.
const SECOND_GUARD_S: f64 = 0.06;
// The onset detector's windows (`super::sync`); the grid step is its short window.
const MIN_ENERGY: f32 = MIN_ONSET_ENERGY;
const LONG_FROM_MS: i64 = LONG_FROM as i64;
const LONG_TO_MS: i64 = LONG_TO as i64;
const SHORT_MS: i64 = SHORT as i64;
/// The sound after a grid step is its mean energy over this many ms: 20 ms spans two periods
/// of a voice's pitch, which a 5 ms window would read as an onset at every glottal pulse.
const SOUND_MS: i64 = 20;
/// The sound's level at a time is its RMS amplitude over this many ms around it...
const LEVEL_MS: i64 = 20;
/// ...and its level change at a grid step is the difference of the levels this far after and
/// before it (40 ms apart, a frame at 25 fps).
const LEVEL_HALF_STEP_MS: i64 = 20;
/// How far after a grid step the sound must be known to read both series there.
const REACH_MS: i64 = if SOUND_MS > LEVEL_HALF_STEP_MS + LEVEL_MS / 2 {
    SOUND_MS
} else {
    LEVEL_HALF_STEP_MS + LEVEL_MS / 2
};
/// A second peak of the level-change statistic reaching this share of the best (above the
/// null's median) declines it: its peak must be sharp. Motion that leads its sound (a thing
/// that falls, then lands) spreads that statistic over the fall, the maximum somewhere on a
/// broad hump 60–120 ms off (the sweep's drops and walkers: 0.52–0.82); a mouth that moves
/// with the sound's level gives one sharp peak (the sweep's speakers: 0.00–0.24).
pub const LEVEL_MAX_SECOND_RATIO: f64 = 0.4;

/// Which evidence a committed delay comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncSource {
    /// Cuts and flashes against audio onsets, exact to the frame.
    Events,
    /// Local motion that makes sound (the local-motion estimate).
    LocalMotion,
    /// A speaking face's mouth against the speech.
    Lips,
}

impl SyncSource {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncSource::Events => "events",
            SyncSource::LocalMotion => "local_motion",
            SyncSource::Lips => "lips",
        }
    }
}

/// Why the local evidence declined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalDecline {
    /// No local motion change in the kept span (after the guards).
    NoMotion,
    /// No sound onsets.
    Silence,
    /// Too little stream for the null: fewer than [`MIN_NULL_WINDOWS`] windows.
    TooShort,
    /// The peak does not stand out of the null.
    WeakEvidence,
    /// A second lag fits almost as well.
    PeriodicAmbiguity,
    /// The level changes answer sharply, and the motion onsets' best lag, standing out of its
    /// null, is more than a frame away.
    EvidenceDisagrees,
}

/// Which local evidence an estimate rests on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalEvidence {
    /// Motion starting or stopping in a region where a sound starts (an impact, a step, a
    /// syllable's onset).
    MotionOnsets,
    /// How much each region moves against how much the sound's level changes (a mouth that
    /// moves all through speech, opening and closing with its loudness), where its peak is
    /// sharp.
    LevelChanges,
}

/// The level-change statistic's figures (diagnostic).
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct LevelFigures {
    pub best_lag_ms: f64,
    pub z: f64,
    pub above_every_null: bool,
    pub second_ratio: f64,
}

/// The local-motion estimate of the audio delay.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct LocalEstimate {
    /// Positive: audio later than video. `None`: declined.
    pub audio_delay_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declined: Option<LocalDecline>,
    /// The best lag within the search, committed or not (diagnostic).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_lag_ms: Option<f64>,
    /// The peak's height over the null windows' maxima, in their standard deviations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub z: Option<f64>,
    /// Whether the peak beat every null window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub above_every_null: Option<bool>,
    /// Second peak / best, above the null's median.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub second_ratio: Option<f64>,
    /// The evidence the figures above come from: the one that committed, or the onsets'.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<LocalEvidence>,
    /// The level-change statistic, where it was consulted (the onsets reached their test).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<LevelFigures>,
    /// Independent null windows.
    pub null_windows: f64,
    /// Regions with any motion onset.
    pub regions: usize,
    /// Seconds of stream compared.
    pub span_s: f64,
}

impl LocalEstimate {
    fn declined(reason: LocalDecline) -> Self {
        Self {
            audio_delay_ms: None,
            declined: Some(reason),
            best_lag_ms: None,
            z: None,
            above_every_null: None,
            second_ratio: None,
            evidence: None,
            level: None,
            null_windows: 0.0,
            regions: 0,
            span_s: 0.0,
        }
    }
}

/// The grid span an estimate reads: `n` steps from step `from` of the audio timeline that
/// starts at `origin`, searching ±`s` seconds.
struct Span {
    s: f64,
    origin: f64,
    from: i64,
    n: usize,
    span_s: f64,
    null_windows: f64,
}

impl Span {
    fn declined(&self, why: LocalDecline) -> LocalEstimate {
        LocalEstimate {
            null_windows: (self.null_windows.max(0.0) * 100.0).round() / 100.0,
            span_s: self.span_s,
            ..LocalEstimate::declined(why)
        }
    }
}

/// The running evidence of one stream.
pub struct LocalSync {
    prev_thumb: Option<std::sync::Arc<[f32]>>,
    prev_d: Option<[f32; REGIONS]>,
    /// Time of the last frame.
    last_pts: Option<f64>,
    /// Motion onsets: (time the motion changed, strength per region).
    vis: VecDeque<(f64, [f32; REGIONS])>,
    /// Motion: (the time between a frame and the one before, how much each region changed).
    mag: VecDeque<(f64, [f32; REGIONS])>,
    /// Cuts, flashes and whole-picture changes (the guards).
    events: Vec<f64>,
    frame_s: f64,
    audio_origin: Option<f64>,
    /// 1 ms energies, the first at absolute ms `e_first`.
    e_ms: VecDeque<f32>,
    e_first: i64,
    /// The sound on the grid, the first at grid step `env_first` (ms / 5): onset strength and
    /// level change.
    env: VecDeque<[f32; 2]>,
    env_first: i64,
}

impl Default for LocalSync {
    fn default() -> Self {
        Self {
            prev_thumb: None,
            prev_d: None,
            last_pts: None,
            vis: VecDeque::new(),
            mag: VecDeque::new(),
            events: vec![],
            frame_s: 0.04,
            audio_origin: None,
            e_ms: VecDeque::new(),
            e_first: 0,
            env: VecDeque::new(),
            env_first: 0,
        }
    }
}

impl LocalSync {
    /// A frame's features (in presentation order).
    pub fn push_frame(&mut self, f: &FrameFeatures) {
        // A timestamp jump (or a stream that went back) starts the evidence afresh: the kept
        // span must stay one span of one timeline.
        if self
            .last_pts
            .is_some_and(|t| f.pts < t || f.pts - t > MAX_GAP_S)
        {
            self.vis.clear();
            self.mag.clear();
            self.events.clear();
            self.prev_thumb = None;
            self.prev_d = None;
        }
        self.last_pts = Some(f.pts);
        let thumb = f.thumb.clone();
        let prev = self.prev_thumb.replace(thumb);
        let Some(prev) = prev.filter(|_| f.has_prev) else {
            self.prev_d = None;
            return;
        };
        self.frame_s = f.duration.max(1e-3);
        let cur = &f.thumb[..THUMB_CELLS];
        let mut d = [0f32; REGIONS];
        let mut changed = 0usize;
        for by in 0..THUMB_H {
            let ry = (by * REGION_ROWS / THUMB_H).min(REGION_ROWS - 1);
            for bx in 0..THUMB_W {
                let i = by * THUMB_W + bx;
                let step = (cur[i] - prev[i]).abs();
                changed += (step > BLOCK_STEP) as usize;
                d[ry * REGION_COLS + (bx * REGION_COLS / THUMB_W).min(REGION_COLS - 1)] += step;
            }
        }
        if changed as f32 >= GLOBAL_SHARE * THUMB_CELLS as f32 {
            self.events.push(f.pts);
        }
        if d.iter().any(|v| *v > 0.0) {
            self.mag.push_back((f.pts - 0.5 * self.frame_s, d));
        }
        while self.mag.front().is_some_and(|v| v.0 < f.pts - KEEP_S) {
            self.mag.pop_front();
        }
        let Some(pd) = self.prev_d.replace(d) else {
            return;
        };
        // Change of the motion in each region's 3×3 neighbourhood: a thing that moves on from
        // one region into the next leaves the sum of both alone; one that stops (or starts)
        // changes it.
        let mut o = [0f32; REGIONS];
        for ry in 0..REGION_ROWS {
            for rx in 0..REGION_COLS {
                let mut change = 0f32;
                for ny in ry.saturating_sub(1)..(ry + 2).min(REGION_ROWS) {
                    for nx in rx.saturating_sub(1)..(rx + 2).min(REGION_COLS) {
                        let r = ny * REGION_COLS + nx;
                        change += d[r] - pd[r];
                    }
                }
                o[ry * REGION_COLS + rx] = change.abs();
            }
        }
        if o.iter().any(|v| *v > 0.0) {
            self.vis.push_back((f.pts - self.frame_s, o));
        }
        while self.vis.front().is_some_and(|v| v.0 < f.pts - KEEP_S) {
            self.vis.pop_front();
        }
        let keep_from = f.pts - KEEP_S - 1.0;
        self.events.retain(|t| *t >= keep_from);
    }

    /// Entries held: (motion onsets, guard times, 1 ms energies, grid onsets).
    pub fn sizes(&self) -> [(&'static str, usize); 4] {
        [
            ("local_sync.motion", self.vis.len() + self.mag.len()),
            ("local_sync.guards", self.events.len()),
            ("local_sync.energies", self.e_ms.len()),
            ("local_sync.sound", self.env.len()),
        ]
    }

    /// A cut or a flash at `t` (its frames are left out).
    pub fn push_event(&mut self, t: f64) {
        self.events.push(t);
    }

    /// 1 ms energies from absolute ms `first_ms` of a timeline that starts at `origin`.
    pub fn push_energies(&mut self, origin: f64, first_ms: i64, energies: &[f32]) {
        if self.audio_origin.is_none() {
            self.audio_origin = Some(origin);
        }
        if self.e_ms.is_empty() || first_ms != self.e_first + self.e_ms.len() as i64 {
            let expected = (self.env_first + self.env.len() as i64) * SHORT_MS;
            if first_ms < expected || first_ms - expected > (MAX_GAP_S * 1000.0) as i64 {
                self.env.clear();
            }
            self.e_ms.clear();
            self.e_first = first_ms;
        }
        self.e_ms.extend(
            energies
                .iter()
                .map(|e| if e.is_finite() { *e } else { 0.0 }),
        );
        let end = self.e_first + self.e_ms.len() as i64;
        let next = if self.env.is_empty() {
            i64::MIN
        } else {
            (self.env_first + self.env.len() as i64) * SHORT_MS
        };
        let mut k = next.max(self.e_first + LONG_FROM_MS);
        k += (SHORT_MS - k.rem_euclid(SHORT_MS)) % SHORT_MS;
        let e_first = self.e_first;
        let mean = |e: &VecDeque<f32>, from: i64, to: i64| -> f32 {
            let a = (from - e_first) as usize;
            (a..(to - e_first) as usize).map(|i| e[i]).sum::<f32>() / (to - from) as f32
        };
        let level = |e: &VecDeque<f32>, at: i64| -> f32 {
            mean(e, at - LEVEL_MS / 2, at + LEVEL_MS / 2)
                .max(MIN_ENERGY)
                .sqrt()
        };
        while k + REACH_MS <= end {
            let short = mean(&self.e_ms, k, k + SOUND_MS);
            let long = mean(&self.e_ms, k - LONG_FROM_MS, k - LONG_TO_MS);
            let onset = if short > MIN_ENERGY {
                (short / long.max(1e-9)).ln().clamp(0.0, 1000f32.ln())
            } else {
                0.0
            };
            let change = (level(&self.e_ms, k + LEVEL_HALF_STEP_MS)
                - level(&self.e_ms, k - LEVEL_HALF_STEP_MS))
            .abs();
            let j = k / SHORT_MS;
            let gap = j - (self.env_first + self.env.len() as i64);
            if self.env.is_empty() || !(0..(MAX_GAP_S / GRID_S) as i64).contains(&gap) {
                self.env.clear();
                self.env_first = j;
            }
            while self.env_first + (self.env.len() as i64) < j {
                self.env.push_back([0.0; 2]);
            }
            self.env.push_back([onset, change]);
            k += SHORT_MS;
        }
        let drop = (k - LONG_FROM_MS - self.e_first).clamp(0, self.e_ms.len() as i64);
        self.e_ms.drain(..drop as usize);
        self.e_first += drop;
        let most = (KEEP_S / GRID_S) as usize + 1;
        while self.env.len() > most {
            self.env.pop_front();
            self.env_first += 1;
        }
    }

    /// The estimate over the kept span, searching ±`search_ms` (at most [`LOCAL_SEARCH_MS`]).
    pub fn estimate(&self, search_ms: f64) -> LocalEstimate {
        self.estimate_since(search_ms, f64::NEG_INFINITY)
    }

    /// The estimate over the kept span from `since` (stream seconds) on.
    pub fn estimate_since(&self, search_ms: f64, since: f64) -> LocalEstimate {
        let sp = match self.span(search_ms, since) {
            Ok(sp) => sp,
            Err(declined) => return declined,
        };
        let onsets = self.onsets_estimate(&sp);
        if onsets.z.is_none() {
            return onsets;
        }
        let Some(level) = self.level_estimate(&sp) else {
            return onsets;
        };
        let (Some(lag), Some(z), Some(second_ratio)) =
            (level.best_lag_ms, level.z, level.second_ratio)
        else {
            return onsets;
        };
        let figures = LevelFigures {
            best_lag_ms: lag,
            z,
            above_every_null: level.above_every_null == Some(true),
            second_ratio,
        };
        if level.audio_delay_ms.is_none() || second_ratio >= LEVEL_MAX_SECOND_RATIO {
            return LocalEstimate {
                level: Some(figures),
                ..onsets
            };
        }
        // A sharp, significant level answer. The onsets' best lag, where it stands half-way to
        // significance or beyond, contradicts it from more than a frame away: then neither
        // answers.
        let contradicted = onsets.z.is_some_and(|z| z >= 0.5 * MIN_Z)
            && onsets
                .best_lag_ms
                .is_some_and(|b| (b - lag).abs() > 1000.0 * self.frame_s);
        if contradicted {
            return LocalEstimate {
                audio_delay_ms: None,
                declined: Some(LocalDecline::EvidenceDisagrees),
                level: Some(figures),
                ..onsets
            };
        }
        LocalEstimate {
            evidence: Some(LocalEvidence::LevelChanges),
            level: Some(figures),
            ..level
        }
    }

    /// The grid span both media cover from `since` on, or the decline when it is too short.
    fn span(&self, search_ms: f64, since: f64) -> Result<Span, LocalEstimate> {
        let s = search_ms.min(LOCAL_SEARCH_MS) / 1000.0;
        let Some(origin) = self.audio_origin else {
            return Err(LocalEstimate::declined(LocalDecline::Silence));
        };
        let (Some(v0), Some(v1)) = (self.vis.front(), self.vis.back()) else {
            return Err(LocalEstimate::declined(LocalDecline::NoMotion));
        };
        if self.env.is_empty() {
            return Err(LocalEstimate::declined(LocalDecline::Silence));
        }
        // Grid step j is at origin + j·5 ms; the span both media cover.
        let step = |t: f64| ((t - origin) / GRID_S).round() as i64;
        let from = step(v0.0.max(since)).max(self.env_first);
        let to = step(v1.0).min(self.env_first + self.env.len() as i64 - 1);
        let n = smooth_len(((to - from).max(0) + 1) as usize);
        let sp = Span {
            s,
            origin,
            from: to + 1 - n as i64,
            n,
            span_s: n as f64 * GRID_S,
            null_windows: (n as f64 * GRID_S - 2.0 * (s + NULL_GAP_S)) / (2.0 * s),
        };
        if s <= 0.0 || to < from || sp.null_windows < MIN_NULL_WINDOWS {
            return Err(sp.declined(LocalDecline::TooShort));
        }
        Ok(sp)
    }

    /// One of the sound's grid series over the span (0: onset strength, 1: level change).
    fn sound(&self, sp: &Span, which: usize) -> Vec<f32> {
        let at = (sp.from - self.env_first) as usize;
        (0..sp.n).map(|i| self.env[at + i][which]).collect()
    }

    /// The motion onsets' estimate.
    fn onsets_estimate(&self, sp: &Span) -> LocalEstimate {
        let mut audio = self.sound(sp, 0);
        let sounds = audio
            .windows(2)
            .filter(|w| w[0] <= ONSET_LEVEL && w[1] > ONSET_LEVEL)
            .count();
        if sounds < MIN_ONSETS || !center(&mut audio) {
            return sp.declined(LocalDecline::Silence);
        }
        let (mut regions, moves) =
            self.region_series(&self.vis, self.frame_s, sp.origin, sp.from, sp.n);
        if moves < MIN_ONSETS {
            return sp.declined(LocalDecline::NoMotion);
        }
        let Some((pooled, used)) = pooled_correlation(&audio, &mut regions, Pool::Pearson) else {
            return sp.declined(LocalDecline::NoMotion);
        };
        LocalEstimate {
            evidence: Some(LocalEvidence::MotionOnsets),
            ..self.decide_on(sp, &pooled, used)
        }
    }

    /// The level changes' estimate by the same significance test, before the rules that keep
    /// it to where it is sharp and the onsets do not contradict it; `None` where the sound's
    /// level or the picture never changed.
    fn level_estimate(&self, sp: &Span) -> Option<LocalEstimate> {
        let mut change = self.sound(sp, 1);
        if !center(&mut change) {
            return None;
        }
        let (mut regions, _) =
            self.region_series(&self.mag, 0.5 * self.frame_s, sp.origin, sp.from, sp.n);
        let (pooled, used) = pooled_correlation(&change, &mut regions, Pool::ByMotion)?;
        Some(self.decide_on(sp, &pooled, used))
    }

    /// [`decide`] on a pooled correlation over `sp` from `used` regions, a second peak more
    /// than 60 ms or 1.5 frames from the best.
    fn decide_on(&self, sp: &Span, pooled: &[f64], used: usize) -> LocalEstimate {
        let guard = SECOND_GUARD_S.max(1.5 * self.frame_s);
        decide(pooled, sp.s, guard, used, sp.span_s, sp.null_windows)
    }

    /// Each region's `series` (motion onsets or motion, at the time of the frame that shows it
    /// less `shown_after`) on the grid `[from, from + n)` (steps from `origin`), the frames near
    /// cuts, flashes and whole-picture changes left out; and how many frames carried a clear
    /// onset ([`MOVE_LEVEL`]).
    fn region_series(
        &self,
        series: &VecDeque<(f64, [f32; REGIONS])>,
        shown_after: f64,
        origin: f64,
        from: i64,
        n: usize,
    ) -> (Vec<Vec<f32>>, usize) {
        let mut events = self.events.clone();
        events.sort_by(f64::total_cmp);
        let guard = GUARD_FRAMES * self.frame_s + 1e-6;
        let guarded = |t: f64| {
            let i = events.partition_point(|e| *e < t - guard);
            events.get(i).is_some_and(|e| *e <= t + guard)
        };
        let mut regions: Vec<Vec<f32>> = vec![vec![0.0; n]; REGIONS];
        let mut moves = 0;
        for (t, o) in series {
            if guarded(*t + shown_after) {
                continue;
            }
            let i = ((*t - origin) / GRID_S).round() as i64 - from;
            if (0..n as i64).contains(&i) {
                moves += o.iter().any(|v| *v >= MOVE_LEVEL) as usize;
                for r in 0..REGIONS {
                    regions[r][i as usize] += o[r];
                }
            }
        }
        (regions, moves)
    }
}

/// How the regions' correlations with the sound are pooled.
#[derive(Clone, Copy)]
enum Pool {
    /// Each region's Pearson correlation, summed: a region where one thing fell once weighs as
    /// much as one where things move all the time.
    Pearson,
    /// Each region's correlation weighted by the square root of its motion (its norm): a mouth
    /// in close-up is one region that moves far more than the 47 others, whose coding noise
    /// outvotes it where every region counts the same (a speaker 221 ms late read at z 2.2
    /// against 20 on the sweep's clips).
    ByMotion,
}

/// The sum over regions of each one's correlation with the sound at every circular lag
/// (index = lag in grid steps, mod `n`), pooled as `pool` says, and how many regions moved;
/// `None` when none did.
fn pooled_correlation(
    audio: &[f32],
    regions: &mut [Vec<f32>],
    pool: Pool,
) -> Option<(Vec<f64>, usize)> {
    let n = audio.len();
    let mut planner = RealFftPlanner::<f32>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let mut spec_a = fwd.make_output_vec();
    let mut scratch = audio.to_vec();
    fwd.process(&mut scratch, &mut spec_a).ok()?;
    let norm_a = audio.iter().map(|v| v * v).sum::<f32>().sqrt();
    // Σ over regions of each one's normalised spectrum: one inverse transform gives the sum of
    // the regions' correlations at every lag.
    let mut sum = fwd.make_output_vec();
    let mut spec_v = fwd.make_output_vec();
    let mut used = 0;
    for v in regions.iter_mut() {
        if !center(v) {
            continue;
        }
        let norm_v = v.iter().map(|x| x * x).sum::<f32>().sqrt() + MIN_REGION_NORM;
        let weight = match pool {
            Pool::Pearson => 1.0 / norm_v,
            Pool::ByMotion => 1.0 / norm_v.sqrt(),
        };
        if fwd.process(v, &mut spec_v).is_err() {
            continue;
        }
        used += 1;
        for (acc, x) in sum.iter_mut().zip(&spec_v) {
            *acc += x.conj() * weight;
        }
    }
    if used == 0 {
        return None;
    }
    for (acc, a) in sum.iter_mut().zip(&spec_a) {
        *acc *= a;
    }
    // The inverse wants a real DC and Nyquist bin; they are (products of real bins).
    sum[0] = Complex32::new(sum[0].re, 0.0);
    if n % 2 == 0 {
        let last = sum.len() - 1;
        sum[last] = Complex32::new(sum[last].re, 0.0);
    }
    let mut corr = inv.make_output_vec();
    inv.process(&mut sum, &mut corr).ok()?;
    let scale = 1.0 / (n as f64 * norm_a as f64);
    Some((corr.iter().map(|c| *c as f64 * scale).collect(), used))
}

/// Whether the events declined for want of evidence (no visual events, too few matched,
/// matches at chance level), the case the local motion may answer.
pub fn events_lack_evidence(est: &SyncEstimate) -> bool {
    matches!(
        est.declined,
        Some(Decline::StaticPicture | Decline::TooFewEvents | Decline::WeakEvidence)
    )
}

/// The whole stream's sync answer from both kinds of evidence: the events' (cuts and flashes,
/// exact to the frame) when it commits; the local motion's (over the last [`KEEP_S`] s) when
/// the events declined for want of evidence (no visual events, too few matched, matches at
/// chance level) and it commits, with confidence `(1 − second ratio) · min(1, z / 2·MIN_Z)`;
/// a decline when both commit more than 2 frames apart. Returns the source of a committed
/// delay.
pub fn combine(est: &mut SyncEstimate, local: &LocalEstimate, frame_s: f64) -> Option<SyncSource> {
    match (est.audio_delay_ms, local.audio_delay_ms) {
        (Some(e), Some(l)) if (e - l).abs() > 2000.0 * frame_s => {
            est.audio_delay_ms = None;
            est.confidence = 0.0;
            est.declined = Some(Decline::SourcesDisagree);
            None
        }
        (Some(_), _) => Some(SyncSource::Events),
        // Only where the events lacked evidence: events that conflict (periodic, spread, the
        // head's doubt) keep their decline.
        (None, Some(l)) if events_lack_evidence(est) => {
            est.audio_delay_ms = Some(l);
            est.declined = None;
            est.best_lag_ms = local.best_lag_ms;
            est.second_ratio = local.second_ratio;
            est.spread_ms = None;
            est.commit_probability = None;
            est.confidence = (1.0 - local.second_ratio.unwrap_or(1.0)).max(0.0)
                * (local.z.unwrap_or(0.0) / (2.0 * MIN_Z)).min(1.0);
            Some(SyncSource::LocalMotion)
        }
        _ => None,
    }
}

/// The decision on a pooled circular correlation (index = lag in grid steps, mod its length).
fn decide(
    pooled: &[f64],
    s: f64,
    second_guard_s: f64,
    regions: usize,
    span_s: f64,
    null_windows: f64,
) -> LocalEstimate {
    let n = pooled.len() as i64;
    let at = |lag: i64| pooled[lag.rem_euclid(n) as usize];
    let w = (s / GRID_S).round() as i64;
    let (best_lag, best) = (-w..=w)
        .map(|l| (l, at(l)))
        .fold((0, f64::MIN), |acc, x| if x.1 > acc.1 { x } else { acc });
    let guard = (second_guard_s / GRID_S).round() as i64;
    let second = (-w..=w)
        .filter(|l| (l - best_lag).abs() > guard)
        .map(at)
        .fold(f64::MIN, f64::max);
    let mut maxima = null_maxima(pooled, w);
    if maxima.len() < 2 {
        return LocalEstimate {
            null_windows,
            span_s,
            regions,
            ..LocalEstimate::declined(LocalDecline::TooShort)
        };
    }
    let m = maxima.iter().sum::<f64>() / maxima.len() as f64;
    // A flat null (one sound, one movement, nothing else) must not make any peak infinitely
    // significant: the spread is at least 5 % of the peak's height above the null.
    let sd = (maxima.iter().map(|x| (x - m).powi(2)).sum::<f64>() / maxima.len() as f64)
        .sqrt()
        .max(0.05 * (best - m).abs())
        .max(1e-9);
    let top = maxima.iter().copied().fold(f64::MIN, f64::max);
    maxima.sort_by(f64::total_cmp);
    let median = maxima[maxima.len() / 2];
    let z = (best - m) / sd;
    let second_ratio = if best > median {
        ((second - median) / (best - median)).max(0.0)
    } else {
        1.0
    };
    // Sub-step refinement: a parabola through the peak and its neighbours.
    let lag_ms = (best_lag as f64
        + parabola_vertex(
            at(best_lag - 1) as f32,
            best as f32,
            at(best_lag + 1) as f32,
        ) as f64)
        * GRID_S
        * 1000.0;
    let declined = if !(best > top && z >= MIN_Z) {
        Some(LocalDecline::WeakEvidence)
    } else if second_ratio >= MAX_SECOND_RATIO {
        Some(LocalDecline::PeriodicAmbiguity)
    } else {
        None
    };
    let r = |x: f64, k: f64| (x * k).round() / k;
    let lag_ms = r(lag_ms, 100.0);
    LocalEstimate {
        audio_delay_ms: declined.is_none().then_some(lag_ms),
        declined,
        best_lag_ms: Some(lag_ms),
        z: Some(r(z, 1000.0)),
        above_every_null: Some(best > top),
        second_ratio: Some(r(second_ratio, 1000.0)),
        evidence: None,
        level: None,
        null_windows: r(null_windows, 100.0),
        regions,
        span_s: r(span_s, 1000.0),
    }
}

/// The null: the maxima of windows `2w + 1` lags wide at circular shifts beyond the search
/// and the gap, one every [`NULL_STEP_S`].
fn null_maxima(pooled: &[f64], w: i64) -> Vec<f64> {
    let n = pooled.len() as i64;
    let first = w + ((NULL_GAP_S / GRID_S).round() as i64) + w;
    let stride = (NULL_STEP_S / GRID_S).round() as i64;
    let mut maxima = vec![];
    let mut c = first;
    while c <= n - first {
        let window = &pooled[(c - w) as usize..=(c + w) as usize];
        maxima.push(window.iter().copied().fold(f64::MIN, f64::max));
        c += stride;
    }
    maxima
}

/// Remove the mean; false when nothing is left (a flat series).
fn center(v: &mut [f32]) -> bool {
    let m = v.iter().map(|x| *x as f64).sum::<f64>() / v.len().max(1) as f64;
    v.iter_mut().for_each(|x| *x -= m as f32);
    v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() > 1e-12
}

/// The largest length ≤ `n` with no prime factor above 5 (the FFT's fast sizes).
fn smooth_len(n: usize) -> usize {
    (1..=n.max(1))
        .rev()
        .find(|&m| {
            let mut x = m;
            for p in [2, 3, 5] {
                while x % p == 0 {
                    x /= p;
                }
            }
            x == 1
        })
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames of a 25 fps stream whose luma thumbnail is flat but for a square in block
    /// column `bx` for each `(stop, bx, by)`: it rests 6 blocks above `by`, falls under gravity
    /// over the 0.3 s before `stop` and rests on `by` after.
    fn feed(ls: &mut LocalSync, seconds: f64, stops: &[(f64, usize, usize)]) {
        let fps = 25.0;
        let frames = (seconds * fps) as u64;
        for k in 0..frames {
            let t = k as f64 / fps;
            let mut thumb = vec![0.3f32; 3 * THUMB_CELLS];
            for &(stop, bx, by) in stops {
                // Fallen 6·u² blocks after u of the 0.3 s: fastest when it lands.
                let u = 1.0 - ((stop - t) / 0.3).clamp(0.0, 1.0);
                let y = by as f64 - 6.0 * (1.0 - u * u);
                let (y0, frac) = (y.floor(), y - y.floor());
                for (row, wgt) in [(y0, 1.0 - frac), (y0 + 1.0, frac)] {
                    if (0.0..THUMB_H as f64).contains(&row) {
                        thumb[row as usize * THUMB_W + bx] += 0.5 * wgt as f32;
                    }
                }
            }
            push_thumb(ls, k, fps, thumb);
        }
    }

    /// 1 ms energies: a quiet bed (−60 dBFS) and a thud at each time in `thuds`.
    fn sound(ls: &mut LocalSync, seconds: f64, thuds: &[f64]) {
        let ms = (seconds * 1000.0) as i64;
        let e: Vec<f32> = (0..ms)
            .map(|k| {
                let t = k as f64 / 1000.0;
                1e-6 + thuds
                    .iter()
                    .filter(|h| t >= **h && t < **h + 0.08)
                    .map(|h| 0.1 * (-(t - h) / 0.015).exp() as f32)
                    .sum::<f32>()
            })
            .collect();
        push_ms_energies(ls, &e);
    }

    /// Frame `k` of a stream at `fps` with this thumbnail.
    fn push_thumb(ls: &mut LocalSync, k: u64, fps: f64, thumb: Vec<f32>) {
        ls.push_frame(&FrameFeatures {
            index: k,
            pts: k as f64 / fps,
            duration: 1.0 / fps,
            has_prev: k > 0,
            thumb: thumb.into(),
            ..FrameFeatures::for_test(k)
        });
    }

    /// 1 ms energies from 0 s, in blocks of 64.
    fn push_ms_energies(ls: &mut LocalSync, e: &[f32]) {
        for (i, c) in e.chunks(64).enumerate() {
            ls.push_energies(0.0, i as i64 * 64, c);
        }
    }

    /// Uniform draws in [0, 1) from a 64-bit LCG.
    fn uniform(seed: u64) -> impl FnMut() -> f64 {
        let mut x = seed;
        move || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    fn stops(seconds: f64, seed: u64) -> Vec<(f64, usize, usize)> {
        let mut next = uniform(seed);
        let mut v = vec![];
        let mut t = 1.0;
        while t < seconds - 1.0 {
            v.push((t, (next() * 31.0) as usize, 8 + (next() * 9.0) as usize));
            t += 0.9 + 1.6 * next();
        }
        v
    }

    #[test]
    fn finds_the_delay_of_sounds_made_by_local_motion() {
        for delay in [0.0, 0.083, 0.27, -0.31, -0.12] {
            let st = stops(40.0, 3);
            let mut ls = LocalSync::default();
            feed(&mut ls, 40.0, &st);
            let thuds: Vec<f64> = st.iter().map(|s| s.0 + delay).collect();
            sound(&mut ls, 40.0, &thuds);
            let e = ls.estimate(2000.0);
            let d = e.audio_delay_ms.unwrap_or_else(|| panic!("{delay}: {e:?}"));
            // Within 25 ms: this thud jumps 50 dB over a silent bed, the case where the
            // 20 ms sound window reads the onset early (by up to 10 ms; measured −12…−20 ms
            // here, −10 ms with a 5 ms window). The sweep measures it on generated footage.
            assert!((d - delay * 1000.0).abs() <= 25.0, "{delay}: {e:?}");
        }
    }

    #[test]
    fn declines_unrelated_sound_periodic_motion_and_short_streams() {
        let st = stops(40.0, 3);
        // Thuds at times of another draw: no link with the picture.
        let other: Vec<f64> = stops(40.0, 99).iter().map(|s| s.0 + 0.1).collect();
        let mut ls = LocalSync::default();
        feed(&mut ls, 40.0, &st);
        sound(&mut ls, 40.0, &other);
        let e = ls.estimate(2000.0);
        assert_eq!(e.audio_delay_ms, None, "{e:?}");

        // A drop every 0.4 s exactly, each with its thud: any multiple of 0.4 s fits.
        let beat: Vec<(f64, usize, usize)> = (0..95)
            .map(|k| (1.0 + 0.4 * k as f64, 5 + (k % 3) * 9, 12))
            .collect();
        let mut ls = LocalSync::default();
        feed(&mut ls, 40.0, &beat);
        sound(&mut ls, 40.0, &beat.iter().map(|b| b.0).collect::<Vec<_>>());
        let e = ls.estimate(2000.0);
        assert_eq!(e.audio_delay_ms, None, "{e:?}");

        // One thing falls, one thud, nothing else for 40 s: a flat null proves nothing.
        let one = [(12.0, 10, 12)];
        let mut ls = LocalSync::default();
        feed(&mut ls, 40.0, &one);
        sound(&mut ls, 40.0, &[12.0]);
        let e = ls.estimate(2000.0);
        assert_eq!(e.audio_delay_ms, None, "{e:?}");

        let mut ls = LocalSync::default();
        let st = stops(6.0, 3);
        feed(&mut ls, 6.0, &st);
        sound(&mut ls, 6.0, &st.iter().map(|s| s.0).collect::<Vec<_>>());
        assert_eq!(ls.estimate(2000.0).declined, Some(LocalDecline::TooShort));
    }

    /// A talker: a run of syllables (120–300 ms, peaks at random levels, a pause after about
    /// a third of them) whose loudness opens a mouth, one region of an otherwise still face
    /// with a trace of coding noise in every block; the sound `delay` s after the picture, its
    /// syllables from the run of `sound_seed`.
    fn talk(ls: &mut LocalSync, seconds: f64, delay: f64, seed: u64, sound_seed: u64) {
        let syllables = |seed: u64| {
            let mut next = uniform(seed);
            let mut v = vec![];
            let mut t = 0.5;
            while t < seconds {
                let dur = 0.12 + 0.18 * next();
                v.push((t, dur, 0.3 + 0.7 * next()));
                t += dur
                    + if next() < 0.3 {
                        0.05 + 0.35 * next()
                    } else {
                        0.0
                    };
            }
            v
        };
        let loud = |run: &[(f64, f64, f64)], t: f64| -> f64 {
            run.iter()
                .filter(|(a, d, _)| t >= *a && t < a + d)
                .map(|(a, d, p)| p * (std::f64::consts::PI * (t - a) / d).sin().powi(2))
                .sum()
        };
        let (seen, heard) = (syllables(seed), syllables(sound_seed));
        let fps = 25.0;
        let mut noise = uniform(seed);
        for k in 0..(seconds * fps) as u64 {
            let t = k as f64 / fps;
            let open = loud(&seen, t) as f32;
            let thumb: Vec<f32> = (0..3 * THUMB_CELLS)
                .map(|i| {
                    let jitter = 0.004 * (noise() as f32 - 0.5);
                    let (by, bx) = (i / THUMB_W, i % THUMB_W);
                    let mouth = i < THUMB_CELLS && (9..12).contains(&by) && (12..16).contains(&bx);
                    0.3 + jitter + if mouth { 0.4 * open } else { 0.0 }
                })
                .collect();
            push_thumb(ls, k, fps, thumb);
        }
        let e: Vec<f32> = (0..(seconds * 1000.0) as i64)
            .map(|k| 1e-6 + (0.2 * loud(&heard, k as f64 / 1000.0 - delay)).powi(2) as f32)
            .collect();
        push_ms_energies(ls, &e);
    }

    #[test]
    fn a_mouth_that_moves_with_the_loudness_gives_the_delay_by_the_level_changes() {
        let mut committed = 0;
        for (seed, delay) in [(5, -0.2), (6, 0.06), (7, 0.31)] {
            let mut ls = LocalSync::default();
            talk(&mut ls, 40.0, delay, seed, seed);
            let e = ls.estimate(2000.0);
            eprintln!("measured: talker at {delay:+} s → {e:?}");
            match e.audio_delay_ms {
                Some(d) => {
                    assert!((d - delay * 1000.0).abs() <= 40.0, "{delay}: {e:?}");
                    assert_eq!(e.evidence, Some(LocalEvidence::LevelChanges), "{e:?}");
                    committed += 1;
                }
                // These syllables swell from silence, which the onsets read early: where they
                // stand out more than a frame from the level answer, neither answers.
                None => {
                    assert_eq!(e.declined, Some(LocalDecline::EvidenceDisagrees), "{e:?}");
                    let onsets = e.best_lag_ms.unwrap();
                    assert!((onsets - delay * 1000.0).abs() > 40.0, "{delay}: {e:?}");
                }
            }
            // The level changes alone: a sharp peak within a frame.
            let sp = ls.span(2000.0, f64::NEG_INFINITY).unwrap();
            let level = ls.level_estimate(&sp).unwrap();
            let d = level
                .audio_delay_ms
                .unwrap_or_else(|| panic!("{delay}: {level:?}"));
            assert!((d - delay * 1000.0).abs() <= 40.0, "{delay}: {level:?}");
            assert!(
                level.second_ratio.unwrap() < LEVEL_MAX_SECOND_RATIO,
                "{delay}: {level:?}"
            );
        }
        assert!(committed >= 2, "{committed} of 3 talkers committed");
        // Another run of syllables over the same mouth: neither evidence commits.
        let mut ls = LocalSync::default();
        talk(&mut ls, 40.0, 0.0, 5, 8);
        let e = ls.estimate(2000.0);
        assert_eq!(e.audio_delay_ms, None, "{e:?}");
        assert!(e.level.is_some(), "the level changes were consulted: {e:?}");
    }

    #[test]
    fn the_level_changes_of_falling_things_are_a_broad_hump() {
        // Things fall for 0.3 s in silence and land with a thud: the motion leads its sound,
        // and the level statistic's peak is no sharper than the rule allows.
        let st = stops(40.0, 3);
        let mut ls = LocalSync::default();
        feed(&mut ls, 40.0, &st);
        sound(
            &mut ls,
            40.0,
            &st.iter().map(|s| s.0 + 0.12).collect::<Vec<_>>(),
        );
        let sp = ls.span(2000.0, f64::NEG_INFINITY).unwrap();
        let level = ls.level_estimate(&sp).unwrap();
        eprintln!("measured: falling things, the level changes alone → {level:?}");
        let off = (level.best_lag_ms.unwrap() - 120.0).abs();
        assert!(
            off <= 40.0 || level.second_ratio.unwrap() >= LEVEL_MAX_SECOND_RATIO,
            "{level:?}"
        );
        // The estimate itself rests on the onsets.
        let e = ls.estimate(2000.0);
        assert_eq!(e.evidence, Some(LocalEvidence::MotionOnsets), "{e:?}");
    }

    #[test]
    fn cuts_are_left_out_of_the_local_evidence() {
        // Cuts every 0.1 s through each fall and on its landing: with their frames left out
        // there is no evidence left.
        let st = stops(40.0, 3);
        let mut ls = LocalSync::default();
        feed(&mut ls, 40.0, &st);
        for s in &st {
            for back in [0.3, 0.2, 0.1, 0.0] {
                ls.push_event(s.0 - back);
            }
        }
        sound(&mut ls, 40.0, &st.iter().map(|s| s.0).collect::<Vec<_>>());
        assert_eq!(ls.estimate(2000.0).audio_delay_ms, None);
    }

    #[test]
    fn the_events_come_first_and_local_motion_fills_in_only_for_want_of_evidence() {
        let local = LocalEstimate {
            audio_delay_ms: Some(120.0),
            declined: None,
            best_lag_ms: Some(120.0),
            z: Some(8.0),
            above_every_null: Some(true),
            second_ratio: Some(0.2),
            evidence: Some(LocalEvidence::MotionOnsets),
            level: None,
            null_windows: 30.0,
            regions: 48,
            span_s: 40.0,
        };
        let events = |delay: Option<f64>, declined: Option<Decline>| SyncEstimate {
            audio_delay_ms: delay,
            declined,
            best_lag_ms: Some(-400.0),
            second_ratio: Some(0.9),
            commit_probability: Some(0.3),
            ..SyncEstimate::declined(Decline::TooFewEvents, 2, 9)
        };
        // Both commit within 2 frames: the events' (frame-exact) delay stands.
        let mut est = events(Some(100.0), None);
        assert_eq!(combine(&mut est, &local, 0.04), Some(SyncSource::Events));
        assert_eq!(est.audio_delay_ms, Some(100.0));
        // More than 2 frames apart: neither.
        let mut est = events(Some(0.0), None);
        assert_eq!(combine(&mut est, &local, 0.04), None);
        assert_eq!(est.declined, Some(Decline::SourcesDisagree));
        assert_eq!(est.audio_delay_ms, None);
        // The events lacked evidence: local motion answers, with its own figures.
        for why in [
            Decline::StaticPicture,
            Decline::TooFewEvents,
            Decline::WeakEvidence,
        ] {
            let mut est = events(None, Some(why));
            assert_eq!(
                combine(&mut est, &local, 0.04),
                Some(SyncSource::LocalMotion)
            );
            assert_eq!(est.audio_delay_ms, Some(120.0));
            assert_eq!(est.best_lag_ms, Some(120.0));
            assert_eq!(est.second_ratio, Some(0.2));
            assert_eq!((est.declined, est.commit_probability), (None, None));
            assert!((est.confidence - 0.8).abs() < 1e-9, "{}", est.confidence);
        }
        // The events conflict (a beat, spread offsets, the head's doubt): they stay declined.
        for why in [
            Decline::PeriodicAmbiguity,
            Decline::Inconsistent,
            Decline::Uncertain,
        ] {
            let mut est = events(None, Some(why));
            assert_eq!(combine(&mut est, &local, 0.04), None);
            assert_eq!((est.audio_delay_ms, est.declined), (None, Some(why)));
        }
    }

    #[test]
    fn smooth_lengths() {
        assert_eq!(smooth_len(6001), 6000);
        assert_eq!(smooth_len(7), 6);
        assert_eq!(smooth_len(1), 1);
    }
}
