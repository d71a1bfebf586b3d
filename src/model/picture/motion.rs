//! Camera motion (production / cinematography, camera movement): the global translation of
//! the picture from frame to frame, the camera path it adds up to within a shot, its
//! high-frequency jitter (**shake**) and single-frame **camera jumps**.
//!
//! - **Global motion**: phase correlation of consecutive analysis frames, luma averaged 2×2
//!   (80 px wide for the 160-px analysis frame), mean removed, Hann-windowed, zero-padded to
//!   powers of two; the normalised cross-power spectrum's inverse peaks at the displacement,
//!   refined to sub-pixel by a parabola through the peak and its neighbours. The peak's height
//!   (0–1) says whether one translation explains the change: below 0.12 (a cut, a flat
//!   or black frame, content that changes as a whole) the frame's motion is *unknown*, and the
//!   path restarts. Two FFTs of 128×64 a frame, real-to-complex along the rows (`realfft`) so
//!   only 65 of the 128 columns are transformed (the spectrum of a real picture is symmetric).
//! - **Camera path**: the displacements summed within a run of known motion, in fractions of
//!   the picture width (dy too, so both axes share a unit).
//! - **Shake**: a frame's jitter is its distance from the straight line through its two
//!   neighbours on the path (a pan or a dolly, even an accelerating one, is nearly straight
//!   from frame to frame; a shaking camera zigzags); `shake` = the median jitter over the
//!   trailing second, in % of the picture width (the median: one large step that a cut left
//!   moves two frames, not the second). A step over 10 % of the width breaks the path. An
//!   event when `shake` stays at or above [`SHAKE_PCT`] for [`HOLD_S`] (or `min_event_s`, if
//!   longer); its onset is the first frame at the threshold from which on at least half are.
//! - **Camera jump**: one frame displaced by ≥ [`JUMP_PCT`] of the width with a strong
//!   correlation peak (the same picture, moved), while the frames on either side moved less
//!   than a quarter of that (not a whip pan), and no shake around it.
//! - **Dynamic degree**: camera speed, the mean |displacement| in picture widths per second.
use crate::vocab::{Detection, EventKind};
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner, num_complex::Complex32};
use std::collections::VecDeque;
use std::sync::Arc;

/// Correlation peak below which the frame's motion is unknown.
pub const MIN_PEAK: f32 = 0.12;
/// Frames flatter than this (standard deviation, code values) have no motion to measure.
pub const MIN_STD: f32 = 4.0;
/// Shake threshold: median jitter of the camera path over a second, % of the picture width.
pub const SHAKE_PCT: f64 = 0.3;
/// A camera jump displaces one frame by at least this, % of the picture width.
pub const JUMP_PCT: f64 = 4.0;
/// A camera jump moves the whole picture: the previous frame moved by the jump must match
/// the frame at least this much better than unmoved (mean absolute difference, moved over
/// unmoved). An object that leaps while the background holds (a ball wrapping round the
/// frame's edge) correlates strongly too, but moving the whole picture explains nothing: no
/// camera jump (though such a leap still ends a held picture as a freeze).
pub const JUMP_FIT: f64 = 0.5;
/// Shortest shake event, s.
pub const HOLD_S: f64 = 1.0;
/// A frame displaced by more than this (% of the width) breaks the camera path.
const BREAK_PCT: f64 = 10.0;

/// Where the parabola through a peak `c` and its neighbours `m` (before) and `p` (after) has
/// its vertex, as an offset from the peak (−0.5…0.5 steps; 0 on a flat top).
pub(crate) fn parabola_vertex(m: f32, c: f32, p: f32) -> f32 {
    let d = m - 2.0 * c + p;
    if d.abs() > 1e-9 {
        (0.5 * (m - p) / d).clamp(-0.5, 0.5)
    } else {
        0.0
    }
}

/// Lanes of the sums and the peak scan: independent accumulators, so the loops vectorise.
const LANES: usize = 8;

/// The sum of `f` over `values`, in [`LANES`] independent partial sums.
fn sum_lanes(values: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0f32; LANES];
    let blocks = values.chunks_exact(LANES);
    let tail: f32 = blocks.remainder().iter().map(|&v| f(v)).sum();
    for b in blocks {
        for (l, &v) in lanes.iter_mut().zip(b) {
            *l += f(v);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Phase correlation of consecutive frames.
pub struct PhaseCorrelator {
    w: usize,
    h: usize,
    /// Columns of the half spectrum: `w / 2 + 1`.
    hw: usize,
    fwd_row: Arc<dyn RealToComplex<f32>>,
    inv_row: Arc<dyn ComplexToReal<f32>>,
    fwd_col: Arc<dyn Fft<f32>>,
    inv_col: Arc<dyn Fft<f32>>,
    window: Vec<f32>,
    /// The frame size `window` was made for.
    window_size: (usize, usize),
    /// Gaussian low-pass over the half spectrum: fine detail and coding noise carry no motion.
    weights: Vec<f32>,
    /// The weights summed over the whole spectrum: the height of a perfect shift's peak.
    weight_sum: f32,
    prev: Option<(usize, usize, Vec<Complex32>)>,
    /// The padded picture in, the correlation surface out (`w × h`).
    real: Vec<f32>,
    /// The half spectrum (`hw × h`).
    spec: Vec<Complex32>,
    col: Vec<Complex32>,
    scratch: Vec<Complex32>,
    /// The box-averaged frame (`load`), kept between frames.
    small: Vec<f32>,
    /// Per-bin magnitudes of the cross-power spectrum.
    mags: Vec<f32>,
}

/// One frame's displacement against the one before.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shift {
    /// Fractions of the picture width (both axes).
    pub dx: f64,
    pub dy: f64,
    pub peak: f32,
}

impl Default for PhaseCorrelator {
    fn default() -> Self {
        Self::new(128, 64)
    }
}

impl PhaseCorrelator {
    /// For half-size frames up to `w × h` (powers of two).
    pub fn new(w: usize, h: usize) -> Self {
        let mut p = FftPlanner::<f32>::new();
        let mut r = RealFftPlanner::<f32>::new();
        let hw = w / 2 + 1;
        let full = low_pass(w, h);
        let (fwd_row, inv_row) = (r.plan_fft_forward(w), r.plan_fft_inverse(w));
        let (fwd_col, inv_col) = (p.plan_fft_forward(h), p.plan_fft_inverse(h));
        // One scratch buffer, as long as the longest any of the four transforms asks for.
        let scratch = [
            fwd_row.get_scratch_len(),
            inv_row.get_scratch_len(),
            fwd_col.get_inplace_scratch_len(),
            inv_col.get_inplace_scratch_len(),
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        Self {
            w,
            h,
            hw,
            fwd_row,
            inv_row,
            fwd_col,
            inv_col,
            window: vec![],
            window_size: (0, 0),
            weights: (0..h)
                .flat_map(|y| full[y * w..y * w + hw].to_vec())
                .collect(),
            weight_sum: full.iter().sum(),
            prev: None,
            real: vec![0.0; w * h],
            spec: vec![Complex32::default(); hw * h],
            col: vec![Complex32::default(); h],
            scratch: vec![Complex32::default(); scratch],
            small: vec![],
            mags: vec![],
        }
    }

    /// Forget the previous frame (a discontinuity).
    pub fn reset(&mut self) {
        self.prev = None;
    }

    /// The columns of the half spectrum through the forward or inverse column transform.
    fn columns(&mut self, inverse: bool) {
        let Self {
            hw,
            h,
            fwd_col,
            inv_col,
            spec,
            col,
            scratch,
            ..
        } = self;
        let fft = if inverse { inv_col } else { fwd_col };
        for x in 0..*hw {
            for y in 0..*h {
                col[y] = spec[y * *hw + x];
            }
            fft.process_with_scratch(col, scratch);
            for y in 0..*h {
                spec[y * *hw + x] = col[y];
            }
        }
    }

    /// `real` (its first `rows` rows; the rest are zero) → `spec`.
    fn forward(&mut self, rows: usize) {
        let Self {
            w,
            hw,
            fwd_row,
            real,
            spec,
            scratch,
            ..
        } = self;
        for (y, out) in spec.chunks_exact_mut(*hw).enumerate() {
            if y < rows {
                // Lengths are the planned ones: the transform cannot refuse them.
                let _ = fwd_row.process_with_scratch(&mut real[y * *w..(y + 1) * *w], out, scratch);
            } else {
                out.fill(Complex32::default());
            }
        }
        self.columns(false);
    }

    /// `spec` → `real` (unnormalised, as the forward).
    fn inverse(&mut self) {
        self.columns(true);
        let Self {
            w,
            hw,
            inv_row,
            real,
            spec,
            scratch,
            ..
        } = self;
        for (input, out) in spec.chunks_exact_mut(*hw).zip(real.chunks_exact_mut(*w)) {
            // The DC and Nyquist bins of a symmetric spectrum are real up to rounding; the
            // transform reports the rounding and ignores it, which is what is wanted here.
            let _ = inv_row.process_with_scratch(input, out, scratch);
        }
    }

    /// The frame averaged 2×2, mean removed, Hann-windowed, into the zero-padded buffer.
    /// Returns the frame's standard deviation (code values).
    fn load(&mut self, luma: &[u8], width: usize, step: usize, (sw, sh): (usize, usize)) -> f32 {
        if self.window_size != (sw, sh) {
            self.window_size = (sw, sh);
            let hann = |i: usize, n: usize| {
                0.5 - 0.5 * (2.0 * std::f32::consts::PI * (i as f32 + 0.5) / n as f32).cos()
            };
            self.window = (0..sh)
                .flat_map(|y| (0..sw).map(move |x| hann(x, sw) * hann(y, sh)))
                .collect();
        }
        let mut small = std::mem::take(&mut self.small);
        small.clear();
        small.resize(sw * sh, 0.0);
        if step == 2 {
            // The analysis frame's case: two rows to one, pairs of columns summed.
            for (y, out) in small.chunks_exact_mut(sw).enumerate() {
                let (r0, r1) = (&luma[2 * y * width..], &luma[(2 * y + 1) * width..]);
                let pairs = r0.chunks_exact(2).zip(r1.chunks_exact(2));
                for (v, (a, b)) in out.iter_mut().zip(pairs) {
                    *v = (a[0] as u32 + a[1] as u32 + b[0] as u32 + b[1] as u32) as f32 * 0.25;
                }
            }
        } else {
            let norm = 1.0 / (step * step) as f32;
            for y in 0..sh {
                for r in 0..step {
                    let row = &luma[(step * y + r) * width..];
                    for (x, v) in small[y * sw..(y + 1) * sw].iter_mut().enumerate() {
                        let px = &row[step * x..step * (x + 1)];
                        *v += px.iter().map(|&p| p as u32).sum::<u32>() as f32;
                    }
                }
            }
            small.iter_mut().for_each(|v| *v *= norm);
        }
        let mean = sum_lanes(&small, |v| v) / small.len() as f32;
        let var = sum_lanes(&small, |v| (v - mean) * (v - mean)) / small.len() as f32;
        self.real.fill(0.0);
        for ((row, s), w) in self
            .real
            .chunks_exact_mut(self.w)
            .zip(small.chunks_exact(sw))
            .zip(self.window.chunks_exact(sw))
        {
            for ((r, s), w) in row.iter_mut().zip(s).zip(w) {
                *r = (s - mean) * w;
            }
        }
        self.small = small;
        var.sqrt()
    }

    /// The inverse cross-power spectrum's peak, refined to sub-pixel (frames `sw` wide).
    fn peak(&self, sw: usize) -> Shift {
        // A perfect circular shift peaks at Σ weights (the inverse FFT is unnormalised).
        let n = self.weight_sum;
        // The largest value (lane-wise, so the scan vectorises), then its first position.
        let mut lanes = [f32::MIN; LANES];
        let blocks = self.real.chunks_exact(LANES);
        let tail = blocks.remainder().iter().fold(f32::MIN, |m, &v| m.max(v));
        for b in blocks {
            for (m, &v) in lanes.iter_mut().zip(b) {
                *m = m.max(v);
            }
        }
        let best = lanes.iter().fold(tail, |m, &v| m.max(v));
        let at = self.real.iter().position(|&v| v == best).unwrap_or(0);
        let (px, py) = (at % self.w, at / self.w);
        let v = |x: usize, y: usize| self.real[(y % self.h) * self.w + (x % self.w)];
        let fx = parabola_vertex(v(px + self.w - 1, py), best, v(px + 1, py));
        let fy = parabola_vertex(v(px, py + self.h - 1), best, v(px, py + 1));
        let wrap = |p: usize, n: usize| {
            if p > n / 2 {
                p as f32 - n as f32
            } else {
                p as f32
            }
        };
        // Half-size pixels → fractions of the picture width.
        let scale = 1.0 / sw as f64;
        Shift {
            dx: (wrap(px, self.w) + fx) as f64 * scale,
            dy: (wrap(py, self.h) + fy) as f64 * scale,
            peak: best / n,
        }
    }

    /// The displacement of `luma` (`width × height`) against the previous frame; `None` for
    /// the first frame or after a size change.
    pub fn push(&mut self, luma: &[u8], width: usize, height: usize) -> Option<Shift> {
        // Box-average by `step` (2 for the 160-px analysis frame) so the whole picture fits.
        let step = 2usize
            .max(width.div_ceil(self.w))
            .max(height.div_ceil(self.h));
        let (sw, sh) = (width / step, height / step);
        if sw < 8 || sh < 8 || luma.len() < width * height {
            self.prev = None;
            return None;
        }
        if self.load(luma, width, step, (sw, sh)) < MIN_STD {
            // A flat or near-black frame: coding noise, not the picture, would be tracked.
            self.prev = None;
            return None;
        }
        self.forward(sh);
        // This frame's spectrum becomes `prev`; the previous one's buffer takes the product.
        let mut other = match self.prev.take() {
            Some((pw, ph, buf)) if (pw, ph) == (sw, sh) => Some(buf),
            _ => None,
        };
        let Some(prev) = other.as_mut() else {
            self.prev = Some((sw, sh, self.spec.clone()));
            return None;
        };
        // Normalised cross-power spectrum; bins far below the typical magnitude are noise.
        let mags = &mut self.mags;
        mags.resize(prev.len(), 0.0);
        for ((p, c), m) in prev.iter_mut().zip(&self.spec).zip(mags.iter_mut()) {
            *p = Complex32::new(c.re * p.re + c.im * p.im, c.im * p.re - c.re * p.im);
            *m = (p.re * p.re + p.im * p.im).sqrt();
        }
        let floor = 1e-6 * sum_lanes(mags, |v| v) / mags.len() as f32 + 1e-12;
        let cross = prev;
        for ((b, g), m) in cross.iter_mut().zip(&self.weights).zip(mags.iter()) {
            *b *= g / (m + floor);
        }
        std::mem::swap(&mut self.spec, cross);
        self.prev = other.map(|buf| (sw, sh, buf));
        self.inverse();
        Some(self.peak(sw))
    }
}

/// Spectral weights of a `w × h` FFT: `exp(−(f / 0.35)²)` with `f` the radial frequency in
/// cycles per sample (0.5 at Nyquist).
fn low_pass(w: usize, h: usize) -> Vec<f32> {
    let f = |k: usize, n: usize| {
        let k = if k > n / 2 {
            k as f32 - n as f32
        } else {
            k as f32
        };
        k / n as f32
    };
    (0..h)
        .flat_map(|y| (0..w).map(move |x| (f(x, w), f(y, h))))
        .map(|(fx, fy)| (-(fx * fx + fy * fy) / (0.35f32 * 0.35)).exp())
        .collect()
}

/// One frame on the camera path.
#[derive(Clone, Copy, Debug)]
struct PathPoint {
    pts: f64,
    dur: f64,
    x: f64,
    y: f64,
}

/// Camera path, shake and jumps of one stream.
pub struct CameraTracker {
    corr: PhaseCorrelator,
    min_s: f64,
    /// The current run of known motion (a path); cleared where motion is unknown.
    path: VecDeque<PathPoint>,
    /// Jitter over the trailing second: (pts, dur, |jitter| in % of width).
    jitter: VecDeque<(f64, f64, f64)>,
    shake: Option<ShakeRun>,
    /// Where the last shake run ended: the next one starts after it.
    last_shake_end: f64,
    /// The last three displacements (pts, dur, Shift), for jumps.
    recent: VecDeque<(f64, f64, Option<Shift>)>,
    /// Per frame: (pts, |displacement| in widths, known), for window figures.
    speeds: VecDeque<(f64, f64, bool)>,
    /// Trailing shake measure per frame (pts, % of width), for window figures.
    shake_series: VecDeque<(f64, f64)>,
    /// The previous frame's luma and size, to check a jump moves the whole picture, and the
    /// last three frames' fits ([`registration`]; 0 where no jump-sized step was seen).
    last: (Vec<u8>, usize, usize),
    fits: VecDeque<f64>,
}

struct ShakeRun {
    start: f64,
    end: f64,
    sum_sq: f64,
    n: usize,
    peak: f64,
    reported: bool,
}

/// How well `prev` moved by `s` matches `cur` against unmoved: mean absolute difference over
/// the pixels both cover, moved over unmoved (the better of the two directions; 1 when
/// nothing overlaps or nothing changed).
fn registration(prev: &[u8], cur: &[u8], (w, h): (usize, usize), s: Shift) -> f64 {
    let (dx, dy) = (
        (s.dx * w as f64).round() as i64,
        (s.dy * w as f64).round() as i64,
    );
    let (wi, hi) = (w as i64, h as i64);
    let mad = |ox: i64, oy: i64| {
        let (mut sum, mut n) = (0u64, 0u64);
        for y in oy.max(0)..(hi + oy).min(hi) {
            let (row, prow) = ((y * wi) as usize, ((y - oy) * wi) as usize);
            for x in ox.max(0)..(wi + ox).min(wi) {
                let (a, b) = (cur[row + x as usize], prev[prow + (x - ox) as usize]);
                sum += a.abs_diff(b) as u64;
                n += 1;
            }
        }
        (n > 0).then(|| sum as f64 / n as f64)
    };
    if prev.len() < w * h || cur.len() < w * h {
        return 1.0;
    }
    let (Some(plain), Some(a), Some(b)) = (mad(0, 0), mad(dx, dy), mad(-dx, -dy)) else {
        return 1.0;
    };
    if plain <= 0.0 {
        return 1.0;
    }
    a.min(b) / plain
}

/// Window figures of camera motion.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MotionFigures {
    /// Mean camera speed, picture widths per second (dynamic degree of the camera).
    pub camera_speed: f64,
    /// Highest trailing-second path jitter in the window, % of the picture width.
    pub shake_pct: f64,
    /// Share of frames whose global motion was known (one translation explains them).
    pub tracked: f64,
}

const KEEP_S: f64 = 120.0;

impl CameraTracker {
    pub fn new(min_event_s: f64) -> Self {
        Self {
            corr: PhaseCorrelator::default(),
            min_s: HOLD_S.max(min_event_s),
            path: VecDeque::new(),
            jitter: VecDeque::new(),
            shake: None,
            last_shake_end: f64::NEG_INFINITY,
            recent: VecDeque::new(),
            speeds: VecDeque::new(),
            shake_series: VecDeque::new(),
            last: (vec![], 0, 0),
            fits: VecDeque::new(),
        }
    }

    /// Feed the next frame (analysis luma).
    pub fn push(
        &mut self,
        pts: f64,
        dur: f64,
        luma: &[u8],
        (w, h): (usize, usize),
        out: &mut Vec<Detection>,
    ) {
        let shift = self.corr.push(luma, w, h);
        // How much of the change a displacement large enough for a jump explains.
        let fit = match shift.filter(|s| 100.0 * s.dx.hypot(s.dy) >= JUMP_PCT) {
            Some(s) if (self.last.1, self.last.2) == (w, h) => {
                registration(&self.last.0, luma, (w, h), s)
            }
            _ => 0.0,
        };
        self.fits.push_back(fit);
        if self.fits.len() > 3 {
            self.fits.pop_front();
        }
        self.last.0.clear();
        self.last
            .0
            .extend_from_slice(&luma[..luma.len().min(w * h)]);
        (self.last.1, self.last.2) = (w, h);
        let known = shift.filter(|s| s.peak >= MIN_PEAK);
        self.speeds.push_back((
            pts,
            known.map(|s| s.dx.hypot(s.dy)).unwrap_or(0.0),
            known.is_some(),
        ));
        while self.speeds.front().is_some_and(|x| x.0 < pts - KEEP_S) {
            self.speeds.pop_front();
        }
        self.jump(pts, dur, shift, out);
        // A step this large is a jump or a cut the correlation half-explained: the path breaks.
        match known.filter(|s| 100.0 * s.dx.hypot(s.dy) < BREAK_PCT) {
            Some(s) => {
                let (x, y) = self
                    .path
                    .back()
                    .map(|p| (p.x + s.dx, p.y + s.dy))
                    .unwrap_or((s.dx, s.dy));
                self.path.push_back(PathPoint { pts, dur, x, y });
            }
            None => {
                // Motion unknown: the path restarts (its tail has no centred average).
                self.path.clear();
            }
        }
        // Jitter of the frame before the newest: its distance from the straight line through
        // its neighbours on the path (a pan, even an accelerating one, is nearly straight
        // frame to frame; a shaking camera zigzags).
        while self.path.len() > 3 {
            self.path.pop_front();
        }
        if let (Some(a), Some(b), Some(c)) = (self.path.front(), self.path.get(1), self.path.get(2))
        {
            let j = 100.0 * (b.x - 0.5 * (a.x + c.x)).hypot(b.y - 0.5 * (a.y + c.y));
            self.jitter.push_back((b.pts, b.dur, j));
        }
        while self
            .jitter
            .front()
            .is_some_and(|x| x.0 < self.jitter.back().map_or(0.0, |b| b.0) - 1.0 + 1e-6)
        {
            self.jitter.pop_front();
        }
        self.shake_state(pts, out);
    }

    fn shake_state(&mut self, pts: f64, out: &mut Vec<Detection>) {
        let Some(&(jt, jd, _)) = self.jitter.back() else {
            self.close_shake(out);
            return;
        };
        // The trailing second must be (mostly) tracked to say anything.
        let n = self.jitter.len();
        let expect = (1.0 / jd.max(1e-3)).round() as usize;
        if n * 4 < expect * 3 || jt < pts - 1.0 {
            self.close_shake(out);
            return;
        }
        // The median: a cut or a jump that slipped through as one large step moves two
        // frames, not the trailing second.
        let mut js: Vec<f64> = self.jitter.iter().map(|j| j.2).collect();
        js.sort_by(f64::total_cmp);
        let shake = js[n / 2];
        self.shake_series.push_back((jt, shake));
        while self
            .shake_series
            .front()
            .is_some_and(|x| x.0 < pts - KEEP_S)
        {
            self.shake_series.pop_front();
        }
        // Hysteresis: a run ends below 0.7 of the threshold, so that a median hovering at it
        // does not split one shake into several.
        if shake < SHAKE_PCT * if self.shake.is_some() { 0.7 } else { 1.0 } {
            self.close_shake(out);
            return;
        }
        let j = self.jitter.back().map_or(0.0, |x| x.2);
        let run = self.shake.get_or_insert_with(|| {
            // Onset: the first frame of the trailing second that reached the threshold and
            // from which on at least half the frames did.
            let start = onset(&self.jitter).unwrap_or(jt).max(self.last_shake_end);
            ShakeRun {
                start,
                end: jt + jd,
                sum_sq: 0.0,
                n: 0,
                peak: 0.0,
                reported: false,
            }
        });
        // The run ends with the last frame that still shook (the trailing median lags).
        if j >= SHAKE_PCT {
            run.end = jt + jd;
        }
        run.sum_sq += shake * shake;
        run.n += 1;
        run.peak = run.peak.max(j);
        if !run.reported && run.end - run.start >= self.min_s {
            run.reported = true;
            out.push(shake_detection(run, true));
        }
    }

    fn close_shake(&mut self, out: &mut Vec<Detection>) {
        if let Some(run) = self.shake.take() {
            self.last_shake_end = run.end;
            if run.end - run.start >= self.min_s {
                out.push(shake_detection(&run, false));
            }
        }
    }

    /// Decide on the frame before the newest: a lone large displacement of the same picture.
    fn jump(&mut self, pts: f64, dur: f64, shift: Option<Shift>, out: &mut Vec<Detection>) {
        self.recent.push_back((pts, dur, shift));
        if self.recent.len() > 3 {
            self.recent.pop_front();
        }
        let [a, b, c] = match (self.recent.front(), self.recent.get(1), self.recent.get(2)) {
            (Some(a), Some(b), Some(c)) => [a, b, c],
            _ => return,
        };
        let Some(s) = b.2.filter(|s| s.peak >= 2.0 * MIN_PEAK) else {
            return;
        };
        let size = 100.0 * s.dx.hypot(s.dy);
        let small = |x: &(f64, f64, Option<Shift>)| {
            x.2.is_some_and(|o| o.peak >= MIN_PEAK && 100.0 * o.dx.hypot(o.dy) < 0.25 * size)
        };
        let shaking = self.shake.is_some()
            || self
                .shake_series
                .back()
                .is_some_and(|x| x.1 >= 0.5 * SHAKE_PCT && x.0 > b.0 - 1.5);
        if size >= JUMP_PCT && small(a) && small(c) && !shaking {
            out.push(Detection {
                kind: EventKind::CameraJump,
                start: b.0,
                end: b.0 + b.1,
                ongoing: false,
                values: vec![
                    ("jump_pct", size),
                    ("dx_pct", 100.0 * s.dx),
                    ("dy_pct", 100.0 * s.dy),
                    ("peak", s.peak as f64),
                    ("fit", self.fits.get(1).copied().unwrap_or(0.0)),
                ],
                transport: false,
            });
        }
    }

    /// A shot starts (or the timeline jumped): the path restarts.
    pub fn restart(&mut self, out: &mut Vec<Detection>) {
        self.path.clear();
        self.jitter.clear();
        self.close_shake(out);
    }

    /// A discontinuity: also forget the previous frame.
    pub fn reset(&mut self, out: &mut Vec<Detection>) {
        self.corr.reset();
        self.recent.clear();
        self.fits.clear();
        self.last.1 = 0;
        self.restart(out);
    }

    pub fn finish(&mut self, out: &mut Vec<Detection>) {
        self.close_shake(out);
    }

    /// The newest frame's displacement, picture widths; `None` where its motion is unknown.
    pub fn last_displacement(&self) -> Option<f64> {
        self.speeds.back().filter(|x| x.2).map(|x| x.1)
    }

    pub fn window(&self, s: f64, e: f64) -> MotionFigures {
        let (mut sum, mut n, mut known) = (0.0, 0usize, 0usize);
        for x in self.speeds.iter().filter(|x| x.0 >= s && x.0 < e) {
            n += 1;
            if x.2 {
                known += 1;
                sum += x.1;
            }
        }
        let span = (e - s).max(1e-6);
        let shake = self
            .shake_series
            .iter()
            .filter(|x| x.0 >= s && x.0 < e)
            .map(|x| x.1)
            .fold(0.0, f64::max);
        MotionFigures {
            camera_speed: sum / span,
            shake_pct: shake,
            tracked: if n > 0 { known as f64 / n as f64 } else { 0.0 },
        }
    }
}

/// The first jitter at or over [`SHAKE_PCT`] from which on at least half the frames are.
fn onset(jitter: &VecDeque<(f64, f64, f64)>) -> Option<f64> {
    let n = jitter.len();
    let mut over_after = vec![0usize; n + 1];
    for i in (0..n).rev() {
        over_after[i] = over_after[i + 1] + (jitter[i].2 >= SHAKE_PCT) as usize;
    }
    (0..n)
        .find(|&i| jitter[i].2 >= SHAKE_PCT && 2 * over_after[i] >= n - i)
        .map(|i| jitter[i].0)
}

fn shake_detection(run: &ShakeRun, ongoing: bool) -> Detection {
    Detection {
        kind: EventKind::Shake,
        start: run.start,
        end: run.end,
        ongoing,
        values: vec![
            ("jitter_pct", (run.sum_sq / run.n.max(1) as f64).sqrt()),
            ("peak_pct", run.peak),
        ],
        transport: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A textured 160×90 luma plane, shifted by (sx, sy) analysis pixels (integer).
    fn texture(sx: i64, sy: i64) -> Vec<u8> {
        let (w, h) = (160i64, 90i64);
        let mut v = Vec::with_capacity((w * h) as usize);
        for y in 0..h {
            for x in 0..w {
                let (u, t) = ((x - sx) as f64, (y - sy) as f64);
                let g = 128.0
                    + 50.0 * (u * 0.21).sin() * (t * 0.17).cos()
                    + 30.0 * ((u * 0.05 + t * 0.09).sin())
                    + 20.0 * ((u * u * 0.003 + t * 0.4).sin());
                v.push(g.clamp(16.0, 235.0) as u8);
            }
        }
        v
    }

    #[test]
    fn phase_correlation_finds_the_translation() {
        let mut c = PhaseCorrelator::default();
        assert!(c.push(&texture(0, 0), 160, 90).is_none());
        let s = c.push(&texture(6, -4), 160, 90).unwrap();
        // 6 analysis px = 3 half-size px = 3/80 of the width.
        assert!((s.dx - 6.0 / 160.0).abs() < 0.003, "{s:?}");
        assert!((s.dy + 4.0 / 160.0).abs() < 0.003, "{s:?}");
        assert!(s.peak > 0.2, "{s:?}");
        // Unrelated content (independent noise; another texture): a weak peak.
        let mut seed = 1u64;
        let mut noise = || -> Vec<u8> {
            (0..160 * 90)
                .map(|_| {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    (seed >> 56) as u8
                })
                .collect()
        };
        let s = c.push(&noise(), 160, 90).unwrap();
        assert!(s.peak < MIN_PEAK, "{s:?}");
        let s = c.push(&noise(), 160, 90).unwrap();
        assert!(s.peak < MIN_PEAK, "{s:?}");
        let other: Vec<u8> = (0..160 * 90)
            .map(|i| {
                let (x, y) = ((i % 160) as f64, (i / 160) as f64);
                (128.0 + 60.0 * (x * 0.13 + y * 0.31).sin() * (y * 0.07).cos()) as u8
            })
            .collect();
        c.push(&texture(0, 0), 160, 90);
        let s = c.push(&other, 160, 90).unwrap();
        assert!(s.peak < MIN_PEAK, "{s:?}");
    }

    #[test]
    fn steady_pan_is_not_shake_but_jitter_is() {
        let run = |offsets: &dyn Fn(i64) -> (i64, i64)| {
            let mut t = CameraTracker::new(0.5);
            let mut out = vec![];
            for i in 0..90i64 {
                let (x, y) = offsets(i);
                t.push(
                    i as f64 / 30.0,
                    1.0 / 30.0,
                    &texture(x, y),
                    (160, 90),
                    &mut out,
                );
            }
            t.finish(&mut out);
            (out, t.window(0.0, 3.0))
        };
        let (pan, fig) = run(&|i| (i, 0));
        assert!(pan.is_empty(), "{pan:?}");
        assert!(fig.camera_speed > 0.15 && fig.shake_pct < 0.1, "{fig:?}");
        // ±3 px (≈1.9 % of the width) random offsets from frame 30 on.
        let (shake, fig) = run(&|i| {
            if i < 30 {
                (0, 0)
            } else {
                let r = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
                ((r % 7) as i64 - 3, ((r >> 8) % 7) as i64 - 3)
            }
        });
        let s: Vec<_> = shake.iter().filter(|d| !d.ongoing).collect();
        assert_eq!(s.len(), 1, "{shake:?}");
        assert_eq!(s[0].kind, EventKind::Shake);
        assert!((s[0].start - 1.0).abs() <= 1.5 / 30.0, "{:?}", s[0]);
        assert!(fig.shake_pct > SHAKE_PCT, "{fig:?}");
    }

    #[test]
    fn a_lone_displacement_is_a_camera_jump() {
        let mut t = CameraTracker::new(0.5);
        let mut out = vec![];
        for i in 0..40i64 {
            let x = if i < 20 { 0 } else { 12 };
            t.push(
                i as f64 / 30.0,
                1.0 / 30.0,
                &texture(x, 0),
                (160, 90),
                &mut out,
            );
        }
        t.finish(&mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].kind, EventKind::CameraJump);
        assert!((out[0].start - 20.0 / 30.0).abs() < 1e-9, "{:?}", out[0]);
    }

    /// A bright ball that leaps across a smooth, still background (the generator's ball
    /// wrapping round the frame's edge) dominates the correlation, but moving the whole
    /// picture by its leap explains nothing: no camera jump. The textured picture moved as a
    /// whole is one.
    #[test]
    fn an_object_leaping_over_a_still_background_is_no_camera_jump() {
        let frame = |ball_x: i64| -> Vec<u8> {
            (0..160 * 90)
                .map(|i| {
                    let (x, y) = ((i % 160) as i64, (i / 160) as i64);
                    if (x - ball_x).pow(2) + (y - 45).pow(2) < 64 {
                        250
                    } else {
                        (100.0 + 30.0 * (x as f64 * 0.4).sin()) as u8
                    }
                })
                .collect()
        };
        let mut t = CameraTracker::new(0.5);
        let mut out = vec![];
        for i in 0..40i64 {
            // The ball walks right 2 px a frame, and at frame 20 leaps 60 px left.
            let x = if i < 20 {
                100 + 2 * i
            } else {
                80 + 2 * (i - 20)
            };
            t.push(i as f64 / 30.0, 1.0 / 30.0, &frame(x), (160, 90), &mut out);
        }
        t.finish(&mut out);
        let fit = |d: &Detection| d.values.iter().find(|v| v.0 == "fit").map_or(0.0, |v| v.1);
        assert!(
            out.iter().any(|d| d.kind == EventKind::CameraJump)
                && out
                    .iter()
                    .all(|d| d.kind != EventKind::CameraJump || fit(d) > JUMP_FIT),
            "{out:?}"
        );
        let s = Shift {
            dx: 12.0 / 160.0,
            dy: 0.0,
            peak: 1.0,
        };
        assert!(registration(&texture(0, 0), &texture(12, 0), (160, 90), s) < 0.2);
    }
}
