//! Sound as a re-recording mixer checks it (post-production / sound design), measured on the
//! audio at its own rate and channel layout (the pipelines' `sound` branch), not on the 16 kHz
//! mono analysis signal:
//!
//! - **Loudness** per EBU R 128 / ITU-R BS.1770-4, with the maintained `ebur128` crate (a port
//!   of libebur128; histogram mode, so memory does not grow with the stream's age): momentary
//!   (400 ms) and short-term (3 s) loudness every 100 ms, integrated (gated) loudness and
//!   loudness range over the whole input, and the true peak (4× oversampled, per channel).
//! - **`clipping`**: runs of ≥ [`CLIP_RUN`] consecutive samples of one sign at |x| ≥
//!   [`CLIP_LEVEL`] (a flat top at full scale; a lossy decoder's ripple on it stays above the
//!   level), at least [`CLIP_MIN_RUNS`] such runs with gaps under [`MERGE_S`]. Onset: the first
//!   clipped sample.
//! - **`dropout`**: sound cuts to digital silence (every channel under [`HOLE_LEVEL`], −80 dBFS)
//!   abruptly — the [`EDGE_S`] before the hole at ≥ [`EDGE_DB`] dBFS RMS, i.e. not a decay —
//!   for [`HOLE_MIN_S`] up to the silence detector's minimum duration, and comes back as
//!   abruptly. Longer holes are `silence`'s. Onset: the first silent sample.
//! - **`loudness_jump`**: the level (RMS over every channel, in 10 ms blocks) of the
//!   [`JUMP_SIDE_S`] after a point differs from that before it by ≥ [`JUMP_LU`] dB, both sides
//!   above [`JUMP_FLOOR_DB`] by their median 10 ms level (sound to silence is `silence`'s), at the point of the largest
//!   difference. The evaluator places it against the shots once the cut detector has seen past
//!   it (value `at_cut`: a cut within 0.25 s — the new scene's level — or none: a step inside a
//!   shot, which is how a gain step in the mix shows). Informative, not scored: scenes differ in
//!   level on purpose, and inside a shot a loud sound effect reads the same as a gain step.
//!
//! Window figures: short-term loudness at the window's end, the highest momentary loudness, the
//! true peak, clipped milliseconds. The `sound` score (0–100):
//! `100 − min(60, 3 × clipped_ms) − 25 × dropouts`, floored at 0, over the window ([`score`]).
use crate::vocab::{Detection, EventKind};
use ebur128::{EbuR128, Mode};
use serde::Serialize;
use std::collections::VecDeque;

/// |x| at or above this is full scale for clipping (−0.26 dBFS).
pub const CLIP_LEVEL: f32 = 0.97;
/// Consecutive samples of one sign at full scale that make a clipped run.
pub const CLIP_RUN: usize = 4;
/// Clipped runs that make a `clipping` event.
pub const CLIP_MIN_RUNS: usize = 3;
/// Clipped runs closer than this belong to one event, s (a lossy decoder's output can dip
/// under [`CLIP_LEVEL`] for a few hundred ms inside a clipped passage).
pub const MERGE_S: f64 = 1.0;
/// Digital silence for a dropout (−80 dBFS).
pub const HOLE_LEVEL: f32 = 1e-4;
/// Shortest hole that is a dropout, s.
pub const HOLE_MIN_S: f64 = 0.010;
/// Span before and after a hole whose RMS shows sound, s ...
pub const EDGE_S: f64 = 0.005;
/// ... at this level or above, dBFS.
pub const EDGE_DB: f64 = -40.0;
/// Level blocks for loudness jumps, s.
const BLOCK_S: f64 = 0.010;
/// Each side of a loudness jump, s.
pub const JUMP_SIDE_S: f64 = 0.5;
/// Smallest level step that is a loudness jump, dB.
pub const JUMP_LU: f64 = 12.0;
/// Both sides of a jump above this, dBFS: a word after a pause is not a jump (at −50 dBFS the
/// dev clips' dialogue and effects gave 2–10 "jumps" a clip; at −35, none).
pub const JUMP_FLOOR_DB: f64 = -35.0;
/// Measurement blocks kept for window figures, s.
const KEEP_S: f64 = 120.0;
/// Short-term loudness: 3 s of 100 ms blocks.
const SHORT_TERM_BLOCKS: usize = 30;

fn db(mean_square: f64) -> f64 {
    10.0 * (mean_square + 1e-20).log10()
}

fn lin_db(x: f64) -> f64 {
    20.0 * (x + 1e-20).log10()
}

/// One 100 ms measurement block.
#[derive(Clone, Copy, Debug)]
struct Block {
    t: f64,
    momentary: f64,
    short_term: f64,
    true_peak: f64,
    clipped_samples: u32,
}

/// Per-window sound figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct SoundWindow {
    /// Short-term loudness (3 s) at the window's end, LUFS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_term_lufs: Option<f64>,
    /// Highest momentary loudness (400 ms) in the window, LUFS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub momentary_max_lufs: Option<f64>,
    /// Highest true peak in the window, dBTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub true_peak_dbtp: Option<f64>,
    /// Milliseconds of clipped samples in the window.
    pub clipped_ms: f64,
    pub channels: u32,
    pub rate: u32,
}

/// Whole-input sound figures (the summary's `sound`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct SoundSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrated_lufs: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loudness_range_lu: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub true_peak_dbtp: Option<f64>,
    pub clipped_ms: f64,
    pub channels: u32,
    pub rate: u32,
    /// Every channel carried the same samples throughout (a mono programme sent as stereo, as
    /// Opus over RTP arrives): BS.1770 sums the channels, so this reads 3.01 LU above the mono
    /// source it came from.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dual_mono: bool,
}

/// The `sound` score of a window from its clipped time and its dropouts.
pub fn score(clipped_ms: f64, dropouts: usize) -> f64 {
    (100.0 - (3.0 * clipped_ms).min(60.0) - 25.0 * dropouts as f64).max(0.0)
}

/// The open hole (a run of digital silence).
#[derive(Clone, Copy, Debug)]
struct Hole {
    start: f64,
    /// RMS level of the [`EDGE_S`] before it, dBFS.
    before_db: f64,
    /// Set when sound came back: (end, samples of the edge after it heard so far, their sum of squares).
    after: Option<(f64, usize, f64)>,
}

/// Loudness, true peak, clipping, dropouts and level steps of one stream's sound.
pub struct SoundMeter {
    ebu: Option<EbuR128>,
    rate: u32,
    channels: u32,
    max_hole_s: f64,
    /// Stream time of the next sample.
    t: Option<f64>,
    /// Samples (frames) into the current 100 ms block, its true peak so far and clipped samples.
    in_block: usize,
    block_clipped: u32,
    /// True peak of the current block so far (the crate's `prev_true_peak` covers only the
    /// last `add_frames` call, so it is folded in after every call).
    block_peak: f64,
    blocks: VecDeque<Block>,
    /// K-weighted mean square of the last 30 blocks (3 s; zeros before the start, as the
    /// crate's own buffer): momentary and short-term loudness are their means over 4 and 30,
    /// the crate's own figures without summing 3 s of samples every 100 ms.
    block_energy: VecDeque<f64>,
    true_peak: f64,
    clipped_total: u64,
    /// Multichannel sound: (a frame with sound had equal channels, a frame had unequal ones).
    twins: (bool, bool),
    // clipping
    run: usize,
    run_sign: f32,
    run_start: f64,
    clip_open: Option<(f64, f64, usize)>,
    // dropouts
    edge: VecDeque<f32>,
    silent_frames: usize,
    hole: Option<Hole>,
    // level steps: 10 ms block mean squares with their start times
    level: VecDeque<(f64, f64)>,
    level_acc: (f64, usize),
    jump_cooldown_until: f64,
    pub failed: Option<String>,
}

impl SoundMeter {
    /// `max_hole_s`: the silence detector's minimum duration (longer holes are silence).
    pub fn new(max_hole_s: f64) -> Self {
        Self {
            ebu: None,
            rate: 0,
            channels: 0,
            max_hole_s,
            t: None,
            in_block: 0,
            block_clipped: 0,
            block_peak: 0.0,
            blocks: VecDeque::new(),
            block_energy: VecDeque::new(),
            true_peak: 0.0,
            clipped_total: 0,
            twins: (false, false),
            run: 0,
            run_sign: 0.0,
            run_start: 0.0,
            clip_open: None,
            edge: VecDeque::new(),
            silent_frames: 0,
            hole: None,
            level: VecDeque::new(),
            level_acc: (0.0, 0),
            jump_cooldown_until: f64::NEG_INFINITY,
            failed: None,
        }
    }

    /// Feed interleaved samples starting at stream time `t`. A change of rate or layout starts
    /// a new measurement (integrated loudness restarts); a gap or overlap in time re-anchors.
    pub fn push(
        &mut self,
        t: f64,
        rate: u32,
        channels: u32,
        samples: &[f32],
        out: &mut Vec<Detection>,
    ) {
        if rate == 0 || channels == 0 || !t.is_finite() {
            return;
        }
        if self.ebu.is_none() || rate != self.rate || channels != self.channels {
            let mode = Mode::I | Mode::S | Mode::M | Mode::LRA | Mode::TRUE_PEAK | Mode::HISTOGRAM;
            match EbuR128::new(channels, rate, mode) {
                Ok(e) => {
                    self.ebu = Some(e);
                    self.rate = rate;
                    self.channels = channels;
                    self.in_block = 0;
                    self.twins = (false, false);
                    self.block_energy = VecDeque::from(vec![0.0; SHORT_TERM_BLOCKS]);
                    self.edge.clear();
                    self.hole = None;
                    self.silent_frames = 0;
                }
                Err(e) => {
                    self.failed = Some(format!("loudness meter: {e:?}"));
                    return;
                }
            }
        }
        if self.t.is_none_or(|n| (n - t).abs() > 0.02) {
            // Re-anchored (a gap, or time went back): blocks after the new time are not kept.
            self.blocks.retain(|b| b.t <= t);
            self.t = Some(t);
        }
        let ch = channels as usize;
        if ch > 1 && !self.twins.1 {
            for f in samples.chunks_exact(ch) {
                if f.iter().any(|x| *x != f[0]) {
                    self.twins.1 = true;
                    break;
                }
                self.twins.0 |= f[0] != 0.0;
            }
        }
        let block = (rate / 10) as usize;
        // Whole frames only; the chunk is cut at block ends and each part goes to the meter
        // as the slice it already is.
        let whole = &samples[..samples.len() / ch * ch];
        let mut at = 0;
        while at < whole.len() {
            let n = (block - self.in_block).min((whole.len() - at) / ch);
            let flat = &whole[at..at + n * ch];
            at += n * ch;
            let t0 = self.t.unwrap_or(t);
            for (i, f) in flat.chunks_exact(ch).enumerate() {
                self.sample(t0 + i as f64 / rate as f64, f, out);
            }
            if let Some(e) = self.ebu.as_mut() {
                match e.add_frames_f32(flat) {
                    Ok(()) => {
                        for c in 0..self.channels {
                            self.block_peak =
                                self.block_peak.max(e.prev_true_peak(c).unwrap_or(0.0));
                        }
                    }
                    Err(err) => self.failed = Some(format!("loudness meter: {err:?}")),
                }
            }
            self.t = Some(t0 + n as f64 / rate as f64);
            self.in_block += n;
            if self.in_block == block {
                self.in_block = 0;
                self.close_block();
            }
        }
    }

    fn close_block(&mut self) {
        let Some(e) = self.ebu.as_ref() else { return };
        let peak = std::mem::take(&mut self.block_peak);
        self.true_peak = self.true_peak.max(peak);
        let t = self.t.unwrap_or(0.0);
        // The block just closed is the crate's last 100 ms (blocks are cut at its boundaries).
        let energy = e
            .loudness_window(100)
            .map(|l| 10f64.powf((l + 0.691) / 10.0))
            .unwrap_or(0.0);
        self.block_energy
            .push_back(if energy.is_finite() { energy } else { 0.0 });
        while self.block_energy.len() > SHORT_TERM_BLOCKS {
            self.block_energy.pop_front();
        }
        let lufs = |n: usize| {
            let mean = self.block_energy.iter().rev().take(n).sum::<f64>() / n as f64;
            if mean > 0.0 {
                10.0 * mean.log10() - 0.691
            } else {
                f64::NEG_INFINITY
            }
        };
        self.blocks.push_back(Block {
            t,
            momentary: lufs(4),
            short_term: lufs(SHORT_TERM_BLOCKS),
            true_peak: peak,
            clipped_samples: std::mem::take(&mut self.block_clipped),
        });
        while self.blocks.front().is_some_and(|b| b.t < t - KEEP_S) {
            self.blocks.pop_front();
        }
    }

    /// One frame (all channels) at time `t`.
    fn sample(&mut self, t: f64, frame: &[f32], out: &mut Vec<Detection>) {
        // The loudest channel, with its sign; the frame's mean square.
        let x = frame
            .iter()
            .copied()
            .fold(0.0f32, |a, v| if v.abs() > a.abs() { v } else { a });
        let ms = frame.iter().map(|v| (*v as f64) * (*v as f64)).sum::<f64>() / frame.len() as f64;
        self.clip_sample(t, x, out);
        self.level_sample(t, ms, out);
        let silent = frame.iter().all(|v| v.abs() < HOLE_LEVEL);
        self.hole_sample(t, x.abs(), ms, silent, out);
    }

    /// Clipping: runs of one sign at full scale, on the loudest channel.
    fn clip_sample(&mut self, t: f64, x: f32, out: &mut Vec<Detection>) {
        if x.abs() >= CLIP_LEVEL && (self.run == 0 || x.signum() == self.run_sign) {
            if self.run == 0 {
                self.run_start = t;
                self.run_sign = x.signum();
            }
            self.run += 1;
            if self.run == CLIP_RUN {
                self.clipped_run(self.run_start, t, out);
                self.block_clipped += CLIP_RUN as u32;
                self.clipped_total += CLIP_RUN as u64;
            } else if self.run > CLIP_RUN {
                self.block_clipped += 1;
                self.clipped_total += 1;
                if let Some(c) = self.clip_open.as_mut() {
                    c.1 = t;
                }
            }
        } else {
            self.run = 0;
            if x.abs() >= CLIP_LEVEL {
                self.run = 1;
                self.run_start = t;
                self.run_sign = x.signum();
            }
        }
        if self.clip_open.is_some_and(|c| t - c.1 > MERGE_S) {
            self.close_clipping(out);
        }
    }

    /// Level blocks for loudness jumps.
    fn level_sample(&mut self, t: f64, ms: f64, out: &mut Vec<Detection>) {
        self.level_acc.0 += ms;
        self.level_acc.1 += 1;
        if self.level_acc.1 as f64 >= BLOCK_S * self.rate as f64 {
            let mean = self.level_acc.0 / self.level_acc.1 as f64;
            self.level.push_back((t - BLOCK_S, mean));
            self.level_acc = (0.0, 0);
            self.check_jump(out);
        }
    }

    /// Dropouts: an abrupt hole of digital silence between two edges of sound. `peak`: the
    /// loudest channel's magnitude, `ms` the frame's mean square.
    fn hole_sample(&mut self, t: f64, peak: f32, ms: f64, silent: bool, out: &mut Vec<Detection>) {
        let edge_n = ((EDGE_S * self.rate as f64) as usize).max(1);
        if let Some(h) = self.hole.as_mut()
            && let Some((end, n, sum)) = h.after.as_mut()
        {
            *n += 1;
            *sum += ms;
            if *n >= edge_n {
                let after_db = db(*sum / *n as f64);
                let (start, end, before) = (h.start, *end, h.before_db);
                self.hole = None;
                if after_db >= EDGE_DB {
                    out.push(Detection {
                        kind: EventKind::Dropout,
                        start,
                        end,
                        ongoing: false,
                        values: vec![
                            ("hole_ms", (end - start) * 1000.0),
                            ("before_db", before),
                            ("after_db", after_db),
                        ],
                        transport: false,
                    });
                }
            }
        } else if silent {
            self.silent_frames += 1;
            if self.silent_frames == 1 {
                let before = self
                    .edge
                    .iter()
                    .map(|v| (*v as f64) * (*v as f64))
                    .sum::<f64>()
                    / self.edge.len().max(1) as f64;
                let before_db = if self.edge.len() >= edge_n {
                    db(before)
                } else {
                    f64::NEG_INFINITY
                };
                self.hole = (before_db >= EDGE_DB).then_some(Hole {
                    start: t,
                    before_db,
                    after: None,
                });
            }
            if let Some(h) = self.hole
                && t - h.start > self.max_hole_s
            {
                self.hole = None;
            }
        } else {
            if let Some(h) = self.hole.as_mut() {
                if t - h.start >= HOLE_MIN_S {
                    h.after = Some((t, 1, ms));
                } else {
                    self.hole = None;
                }
            }
            self.silent_frames = 0;
        }
        if !silent {
            self.edge.push_back(peak);
            if self.edge.len() > edge_n {
                self.edge.pop_front();
            }
        }
    }

    fn clipped_run(&mut self, start: f64, t: f64, out: &mut Vec<Detection>) {
        match self.clip_open.as_mut() {
            Some(c) if start - c.1 <= MERGE_S => {
                c.1 = t;
                c.2 += 1;
                if c.2 == CLIP_MIN_RUNS {
                    // Reported as soon as it is one (live: alerts need not wait for its end).
                    out.push(Detection {
                        kind: EventKind::Clipping,
                        start: c.0,
                        end: t,
                        ongoing: true,
                        values: vec![("clipped_runs", c.2 as f64)],
                        transport: false,
                    });
                }
            }
            _ => {
                self.close_clipping(out);
                self.clip_open = Some((start, t, 1));
            }
        }
    }

    fn close_clipping(&mut self, out: &mut Vec<Detection>) {
        if let Some((s, e, runs)) = self.clip_open.take()
            && runs >= CLIP_MIN_RUNS
        {
            out.push(Detection {
                kind: EventKind::Clipping,
                start: s,
                end: e.max(s + 1.0 / self.rate.max(1) as f64),
                ongoing: false,
                values: vec![
                    ("clipped_runs", runs as f64),
                    ("true_peak_dbtp", lin_db(self.true_peak)),
                ],
                transport: false,
            });
        }
    }

    /// A level step at the middle of the kept 10 ms blocks: once `2 × JUMP_SIDE_S` are there,
    /// find the largest before/after difference and report it if it is a jump.
    fn check_jump(&mut self, out: &mut Vec<Detection>) {
        let side = (JUMP_SIDE_S / BLOCK_S).round() as usize;
        // Keep 3 sides: the step is searched in the middle third so each side is whole.
        while self.level.len() > 3 * side {
            self.level.pop_front();
        }
        if self.level.len() < 3 * side {
            return;
        }
        let lv: Vec<f64> = self.level.iter().map(|l| l.1).collect();
        // Prefix sums: every candidate point's side means in O(1) (this runs every 10 ms).
        let mut prefix = Vec::with_capacity(lv.len() + 1);
        prefix.push(0.0);
        for l in &lv {
            prefix.push(prefix.last().copied().unwrap_or(0.0) + l);
        }
        // Energies are non-negative; the guard keeps rounding from making a silent side negative.
        let mean_db = |a: usize, b: usize| db(((prefix[b] - prefix[a]) / (b - a) as f64).max(0.0));
        // The typical (median) 10 ms level of a side: a side is above the floor when most of it
        // is, so a point beside a step that ends under the floor (one loud block on its quiet
        // side) does not pass for the step.
        let median_db = |a: usize, b: usize| {
            let mut v = lv[a..b].to_vec();
            let mid = v.len() / 2;
            db(*v.select_nth_unstable_by(mid, f64::total_cmp).1)
        };
        let mut best: Option<(usize, f64, f64, f64)> = None;
        for i in side..=2 * side {
            let end = (i + side).min(lv.len());
            let (before, after) = (mean_db(i - side, i), mean_db(i, end));
            let d = after - before;
            // The medians (the costly part) only for a point that would become the best.
            if d.abs() >= JUMP_LU
                && best.is_none_or(|b| d.abs() > b.1.abs())
                && median_db(i - side, i).min(median_db(i, end)) >= JUMP_FLOOR_DB
            {
                best = Some((i, d, before, after));
            }
        }
        let Some((i, d, before, after)) = best else {
            return;
        };
        let at = self.level[i].0;
        // Report a step once it is in the middle of the kept blocks (both sides whole), once.
        if i != side || at < self.jump_cooldown_until {
            return;
        }
        self.jump_cooldown_until = at + 2.0 * JUMP_SIDE_S;
        out.push(Detection {
            kind: EventKind::LoudnessJump,
            start: at,
            end: at,
            ongoing: false,
            values: vec![("step_db", d), ("before_db", before), ("after_db", after)],
            transport: false,
        });
    }

    /// End of the input: close what is open.
    pub fn finish(&mut self, out: &mut Vec<Detection>) {
        self.close_clipping(out);
    }

    /// Figures over `[from, to)`.
    pub fn window(&self, from: f64, to: f64) -> Option<SoundWindow> {
        self.ebu.as_ref()?;
        let inside: Vec<&Block> = self
            .blocks
            .iter()
            .filter(|b| b.t > from && b.t <= to + 1e-9)
            .collect();
        let last = inside.last()?;
        let finite = |v: f64| v.is_finite().then(|| round(v, 2));
        Some(SoundWindow {
            short_term_lufs: finite(last.short_term),
            momentary_max_lufs: finite(
                inside
                    .iter()
                    .map(|b| b.momentary)
                    .fold(f64::NEG_INFINITY, f64::max),
            ),
            true_peak_dbtp: finite(lin_db(
                inside.iter().map(|b| b.true_peak).fold(0.0, f64::max),
            )),
            clipped_ms: round(
                inside.iter().map(|b| b.clipped_samples as f64).sum::<f64>() * 1000.0
                    / self.rate as f64,
                2,
            ),
            channels: self.channels,
            rate: self.rate,
        })
    }

    /// Whole-input figures.
    pub fn summary(&self) -> Option<SoundSummary> {
        let e = self.ebu.as_ref()?;
        let finite = |v: Option<f64>| v.filter(|v| v.is_finite()).map(|v| round(v, 2));
        Some(SoundSummary {
            integrated_lufs: finite(e.loudness_global().ok()),
            loudness_range_lu: finite(e.loudness_range().ok()),
            true_peak_dbtp: finite(Some(lin_db(self.true_peak))),
            clipped_ms: round(self.clipped_total as f64 * 1000.0 / self.rate as f64, 2),
            channels: self.channels,
            rate: self.rate,
            dual_mono: self.channels > 1 && self.twins.0 && !self.twins.1,
        })
    }
}

/// Rounded to `d` decimals (a copy of `score::record`'s: record depends on this module).
fn round(v: f64, d: i32) -> f64 {
    let p = 10f64.powi(d);
    (v * p).round() / p
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 48000;

    /// Stereo interleaved: `f(t)` on both channels, `secs` long.
    fn stereo(secs: f64, f: impl Fn(f64) -> f32) -> Vec<f32> {
        (0..(secs * RATE as f64) as usize)
            .flat_map(|i| {
                let v = f(i as f64 / RATE as f64);
                [v, v]
            })
            .collect()
    }

    fn run(samples: &[f32]) -> (SoundMeter, Vec<Detection>) {
        let mut m = SoundMeter::new(0.5);
        let mut out = vec![];
        // 20 ms chunks, as a decoder delivers them.
        for (k, c) in samples.chunks(2 * 960).enumerate() {
            m.push(k as f64 * 0.02, RATE, 2, c, &mut out);
        }
        m.finish(&mut out);
        (m, out)
    }

    fn sine(freq: f64, amp: f64) -> impl Fn(f64) -> f32 {
        move |t| (amp * (2.0 * std::f64::consts::PI * freq * t).sin()) as f32
    }

    /// A mono programme sent as two equal channels reads 3.01 LU louder under BS.1770, and the
    /// summary says why; a stereo mix is not called dual mono.
    #[test]
    fn dual_mono_is_named_and_reads_three_db_above_its_mono_source() {
        let twin = stereo(6.0, sine(997.0, 0.1));
        let (m2, _) = run(&twin);
        let mono: Vec<f32> = twin.iter().step_by(2).copied().collect();
        let mut m1 = SoundMeter::new(0.5);
        let mut out = vec![];
        for (k, c) in mono.chunks(960).enumerate() {
            m1.push(k as f64 * 0.02, RATE, 1, c, &mut out);
        }
        let (s1, s2) = (m1.summary().unwrap(), m2.summary().unwrap());
        assert!(s2.dual_mono && !s1.dual_mono, "{s1:?} {s2:?}");
        let d = s2.integrated_lufs.unwrap() - s1.integrated_lufs.unwrap();
        assert!((d - 3.01).abs() < 0.05, "{d}");
        let mut mix = twin.clone();
        for f in mix.chunks_exact_mut(2) {
            f[1] *= 0.5;
        }
        assert!(!run(&mix).0.summary().unwrap().dual_mono);
    }

    #[test]
    fn ebu_tech_3341_sine_reads_minus_23_lufs() {
        // EBU Tech 3341 case 1: stereo 1 kHz sine at −23 dBFS per channel reads −23.0 LUFS.
        let amp = 10f64.powf(-23.0 / 20.0);
        let (m, out) = run(&stereo(20.0, sine(1000.0, amp)));
        let s = m.summary().unwrap();
        let i = s.integrated_lufs.unwrap();
        assert!((i + 23.0).abs() <= 0.1, "integrated {i}");
        let w = m.window(10.0, 14.0).unwrap();
        assert!((w.short_term_lufs.unwrap() + 23.0).abs() <= 0.1, "{w:?}");
        // True peak of a sine at amplitude a: 20 log10 a (−23 dBTP).
        assert!((s.true_peak_dbtp.unwrap() + 23.0).abs() <= 0.2, "{s:?}");
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn block_means_are_the_crates_momentary_and_short_term() {
        // Level steps every 0.7 s over a 300 Hz tone: the 4- and 30-block means against the
        // crate summing its own 400 ms and 3 s of samples, at every block, from the start.
        let f = |t: f64| {
            let gain = [0.02, 0.5, 0.0, 0.9, 0.1][(t / 0.7) as usize % 5];
            (gain * (2.0 * std::f64::consts::PI * 300.0 * t).sin()) as f32
        };
        let samples = stereo(8.0, f);
        let mut m = SoundMeter::new(0.5);
        let mode = Mode::M | Mode::S;
        let mut reference = EbuR128::new(2, RATE, mode).unwrap();
        let block = (RATE / 10) as usize * 2;
        let mut out = vec![];
        for (k, c) in samples.chunks(block).enumerate() {
            m.push(k as f64 * 0.1, RATE, 2, c, &mut out);
            reference.add_frames_f32(c).unwrap();
            let b = m.blocks.back().unwrap();
            let close = |ours: f64, theirs: f64| {
                (ours == theirs)
                    || (ours - theirs).abs() < 1e-9
                    || (ours < -200.0 && theirs < -200.0)
            };
            let (mo, st) = (
                reference.loudness_momentary().unwrap(),
                reference.loudness_shortterm().unwrap(),
            );
            assert!(
                close(b.momentary, mo),
                "block {k}: momentary {} vs {mo}",
                b.momentary
            );
            assert!(
                close(b.short_term, st),
                "block {k}: short-term {} vs {st}",
                b.short_term
            );
        }
    }

    #[test]
    fn hard_clipping_is_found_at_its_first_clipped_sample() {
        // A 200 Hz sine at −6 dBFS, driven 12 dB into the rails from 2.000 s to 3.000 s.
        let f = |t: f64| {
            let gain = if (2.0..3.0).contains(&t) { 4.0 } else { 1.0 };
            (gain * 0.5 * (2.0 * std::f64::consts::PI * 200.0 * t).sin()).clamp(-1.0, 1.0) as f32
        };
        let (m, out) = run(&stereo(5.0, f));
        // Reported once it is clipping (ongoing, 5 ms in), then whole when it ends.
        let ongoing: Vec<&Detection> = out
            .iter()
            .filter(|d| d.kind == EventKind::Clipping && d.ongoing)
            .collect();
        assert_eq!(ongoing.len(), 1, "{out:?}");
        assert!(ongoing[0].end < 2.05, "{:?}", ongoing[0]);
        let clips: Vec<&Detection> = out
            .iter()
            .filter(|d| d.kind == EventKind::Clipping && !d.ongoing)
            .collect();
        assert_eq!(clips.len(), 1, "{out:?}");
        assert_eq!(clips[0].start, ongoing[0].start);
        assert!((clips[0].start - 2.0).abs() < 0.003, "{:?}", clips[0]);
        assert!((clips[0].end - 3.0).abs() < 0.01, "{:?}", clips[0]);
        assert!(m.summary().unwrap().clipped_ms > 300.0);
        assert!(out.iter().all(|d| d.kind != EventKind::Dropout), "{out:?}");
    }

    #[test]
    fn a_dropout_is_a_short_abrupt_hole_and_a_decay_is_not() {
        let tone = sine(440.0, 0.3);
        // A 60 ms hole at 1.500 s; a note that decays to nothing at 3.0 s and restarts at 3.2 s.
        let f = |t: f64| {
            if (1.5..1.56).contains(&t) {
                0.0
            } else if (2.9..3.0).contains(&t) {
                tone(t) * (((3.0 - t) / 0.1) as f32).powi(3)
            } else if (3.0..3.2).contains(&t) {
                0.0
            } else {
                tone(t)
            }
        };
        let (_, out) = run(&stereo(5.0, f));
        let drops: Vec<&Detection> = out
            .iter()
            .filter(|d| d.kind == EventKind::Dropout)
            .collect();
        assert_eq!(drops.len(), 1, "{out:?}");
        assert!((drops[0].start - 1.5).abs() < 0.001, "{:?}", drops[0]);
        assert!((drops[0].end - 1.56).abs() < 0.001, "{:?}", drops[0]);
    }

    #[test]
    fn a_gain_step_is_a_loudness_jump_at_its_time() {
        let f = |t: f64| {
            let amp = if t < 2.37 { 0.05 } else { 0.5 };
            (amp * (2.0 * std::f64::consts::PI * 300.0 * t).sin()) as f32
        };
        let (_, out) = run(&stereo(5.0, f));
        let jumps: Vec<&Detection> = out
            .iter()
            .filter(|d| d.kind == EventKind::LoudnessJump)
            .collect();
        assert_eq!(jumps.len(), 1, "{out:?}");
        assert!((jumps[0].start - 2.37).abs() <= 0.02, "{:?}", jumps[0]);
        let step = jumps[0].values.iter().find(|v| v.0 == "step_db").unwrap().1;
        assert!((step - 20.0).abs() < 1.0, "{step}");
    }

    #[test]
    fn a_step_is_found_in_place_when_silence_follows_and_not_beside_one_under_the_floor() {
        let sine = |amp: f64, t: f64| (amp * (2.0 * std::f64::consts::PI * 300.0 * t).sin()) as f32;
        // +15 dB at 2.0 s, then digital silence from 2.6 s (a drop of ~190 dB in the same
        // search span, under the floor): the step is still the step.
        let (_, out) = run(&stereo(4.0, |t| {
            let amp = if t < 2.0 {
                0.05
            } else if t < 2.6 {
                0.05 * 5.62
            } else {
                0.0
            };
            sine(amp, t)
        }));
        let jumps: Vec<&Detection> = out
            .iter()
            .filter(|d| d.kind == EventKind::LoudnessJump)
            .collect();
        assert_eq!(jumps.len(), 1, "{out:?}");
        assert!((jumps[0].start - 2.0).abs() <= 0.02, "{:?}", jumps[0]);
        // −15 dB at 2.0 s from −20 to −35.4 dBFS RMS (under the floor): no jump beside it.
        let (_, out) = run(&stereo(4.0, |t| {
            sine(if t < 2.0 { 0.14 } else { 0.14 * 0.178 }, t)
        }));
        assert!(
            out.iter().all(|d| d.kind != EventKind::LoudnessJump),
            "{out:?}"
        );
    }

    #[test]
    fn score_follows_its_formula() {
        assert_eq!(score(0.0, 0), 100.0);
        assert_eq!(score(10.0, 1), 45.0);
        assert_eq!(score(100.0, 2), 0.0);
    }
}
