//! Lip sync: how far the speech is from the mouth that speaks it.
//!
//! The mouth's shape at frame rate ([`mouth_features`]: the inner-lip gap, the mouth's width, the
//! inner and outer lip areas, the jaw's and both lips' distances from the nose, all over the
//! eye span) and the speech's spectrum every 10 ms ([`SpeechBands`]: six log band energies,
//! 80 Hz–7.9 kHz) are each projected onto one line learned from talking clips that are in sync
//! (the first canonical pair of mouth and speech, `weights/lips_sync.json`, fitted by
//! `scripts/faces/fit_lips.py`). The two projections, less their 0.6-s moving averages, are
//! correlated at every lag of ±[`SEARCH_MS`]; the best lag, refined below a step by a parabola,
//! less the lag speech keeps behind the mouth in sync, is the offset. It is committed only when
//! the peak is high and stands out of the same search run against the speech rolled by more
//! than a second (a null from the input itself: its height over those maxima, in their standard
//! deviations): a mouth set against someone else's speech gives a peak no higher than chance.
use super::mesh::Landmarks;
use realfft::RealFftPlanner;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Lags searched, ± ms (a mouth more than half a second off its words is plain to see).
pub const SEARCH_MS: f64 = 500.0;
/// Steps of the speech bands and of the resampled mouth, seconds.
pub const STEP_S: f64 = 0.01;
/// Least span of mouth and speech together before an offset is looked for, seconds.
pub const MIN_SPAN_S: f64 = 2.5;
/// Mouth features per frame and speech bands per step.
pub const MOUTH_FEATURES: usize = 7;
pub const BANDS: [(f32, f32); 6] = [
    (80.0, 300.0),
    (300.0, 600.0),
    (600.0, 1200.0),
    (1200.0, 2400.0),
    (2400.0, 4800.0),
    (4800.0, 7900.0),
];
/// A mouth whose inner-lip gap varies less than this (standard deviation, over the eye span)
/// is still: it says nothing about sync (talking mouths in the training clips: 0.008–0.2).
pub const MIN_MOUTH_SD: f64 = 0.005;
/// Band energies are floored this far under each band's loudest step, dB.
const FLOOR_DB: f32 = 50.0;
/// Moving-average half width for detrending, steps (0.6 s in all).
const DETREND_HALF: usize = 30;
/// The null: the speech rolled by at least this much, in steps of this, lags every 2 steps.
const NULL_MIN_ROLL_S: f64 = 1.2;
const NULL_ROLL_STEP_S: f64 = 0.25;

/// The learned projections and the decision (`weights/lips_sync.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LipsModel {
    /// Weights of the mouth features and of the speech bands, one pair per canonical component
    /// (the same count of each, at least one); the score at a lag is the mean of the
    /// components' correlations.
    pub mouth: Vec<[f64; MOUTH_FEATURES]>,
    pub speech: Vec<[f64; BANDS.len()]>,
    /// The lag of speech behind the mouth in clips that are in sync, ms.
    pub speech_lag_ms: f64,
    /// A committed peak's correlation and its height over the null, at least.
    pub min_peak: f64,
    pub min_z: f64,
}

/// The shipped model.
pub const SHIPPED: &str = include_str!("../../../weights/lips_sync.json");

impl LipsModel {
    pub fn shipped() -> Result<Self, String> {
        Self::parse(SHIPPED)
    }

    /// A model from its JSON, checked.
    pub fn parse(text: &str) -> Result<Self, String> {
        let m: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if m.mouth.is_empty() || m.mouth.len() != m.speech.len() {
            return Err(format!(
                "{} mouth and {} speech projections (want the same count, at least one)",
                m.mouth.len(),
                m.speech.len()
            ));
        }
        Ok(m)
    }
}

/// What the mouth and the speech say about sync.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LipsEstimate {
    /// Positive: audio later than the picture. `None`: declined.
    pub audio_delay_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declined: Option<String>,
    /// The best lag, less the speech lag, committed or not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_lag_ms: Option<f64>,
    /// The correlation at the best lag.
    pub peak: f64,
    /// The peak's height over the null's maxima, in their standard deviations.
    pub z: f64,
    /// Seconds of mouth and speech set against each other.
    pub span_s: f64,
    /// The face track that spoke (the best correlated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track: Option<u64>,
}

fn dist(a: [f32; 3], b: [f32; 3]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// Area of the polygon through points `ring` of `l`.
fn area(l: &Landmarks, ring: &[usize]) -> f32 {
    let p = |i: usize| {
        l.points
            .get(ring[i % ring.len()])
            .copied()
            .unwrap_or_default()
    };
    let mut s = 0.0;
    for i in 0..ring.len() {
        let (a, b) = (p(i), p(i + 1));
        s += a[0] * b[1] - b[0] * a[1];
    }
    s.abs() / 2.0
}

/// The mouth's shape, scale-free: the mean gap of five inner-lip pairs, the inner mouth's
/// width, the inner and outer lip areas (over the span squared), and the distances from the
/// nose tip to the chin, the upper and the lower lip — each over the outer eye span.
pub fn mouth_features(l: &Landmarks) -> [f32; MOUTH_FEATURES] {
    use super::mesh::INNER_LIPS;
    const OUTER: [usize; 20] = [
        61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146,
    ];
    const PAIRS: [(usize, usize); 5] = [(81, 178), (82, 87), (13, 14), (312, 317), (311, 402)];
    let at = |i: usize| l.points.get(i).copied().unwrap_or_default();
    let span = l.eye_span();
    if span <= 0.0 {
        return [0.0; MOUTH_FEATURES];
    }
    let gap = PAIRS.iter().map(|(a, b)| dist(at(*a), at(*b))).sum::<f32>() / PAIRS.len() as f32;
    let nose = at(1);
    [
        gap / span,
        dist(at(78), at(308)) / span,
        area(l, &INNER_LIPS) / (span * span),
        area(l, &OUTER) / (span * span),
        dist(nose, at(152)) / span,
        dist(nose, at(0)) / span,
        dist(nose, at(17)) / span,
    ]
}

/// The speech's six log band energies every [`STEP_S`]: Hann windows of 4 steps, from the
/// analysis audio as it arrives.
pub struct SpeechBands {
    rate: u32,
    hop: usize,
    win: usize,
    fft: Arc<dyn realfft::RealToComplex<f32>>,
    window: Vec<f32>,
    /// Samples from absolute sample `carry_first` not yet framed.
    carry: Vec<f32>,
    carry_first: i64,
    /// Bins of each band.
    bins: Vec<(usize, usize)>,
}

impl SpeechBands {
    pub fn new(rate: u32) -> Self {
        let hop = (rate as f64 * STEP_S).round().max(1.0) as usize;
        let win = 4 * hop;
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(win);
        let window = (0..win)
            .map(|i| {
                let x = std::f32::consts::PI * 2.0 * i as f32 / (win - 1).max(1) as f32;
                0.5 - 0.5 * x.cos()
            })
            .collect();
        let hz = rate as f32 / win as f32;
        let bins = BANDS
            .iter()
            .map(|(lo, hi)| {
                (
                    (lo / hz).ceil() as usize,
                    ((hi / hz).ceil() as usize).min(win / 2 + 1),
                )
            })
            .collect();
        Self {
            rate,
            hop,
            win,
            fft,
            window,
            carry: vec![],
            carry_first: 0,
            bins,
        }
    }

    /// The time of step `i`'s centre, seconds from the audio's origin.
    pub fn step_time(&self, i: i64) -> f64 {
        (i as f64 * self.hop as f64 + self.win as f64 / 2.0) / self.rate as f64
    }

    /// Samples from absolute sample `first`; the steps they complete, `(index, dB per band)`.
    pub fn push(&mut self, first: i64, samples: &[f32]) -> Vec<(i64, [f32; 6])> {
        let expected = self.carry_first + self.carry.len() as i64;
        if self.carry.is_empty() || first != expected {
            // A gap (or the start): frames start again on the step grid.
            self.carry.clear();
            let step = first.div_euclid(self.hop as i64);
            self.carry_first = step * self.hop as i64;
            let lead = (first - self.carry_first) as usize;
            self.carry.extend(std::iter::repeat_n(0.0, lead));
        }
        self.carry
            .extend(samples.iter().map(|s| if s.is_finite() { *s } else { 0.0 }));
        let mut out = vec![];
        let mut input = vec![0.0f32; self.win];
        let mut spectrum = self.fft.make_output_vec();
        let mut used = 0;
        while self.carry.len() - used >= self.win {
            for (k, x) in input.iter_mut().enumerate() {
                *x = self.carry[used + k] * self.window[k];
            }
            if self.fft.process(&mut input, &mut spectrum).is_err() {
                break;
            }
            let mut row = [0.0f32; 6];
            for (b, (lo, hi)) in self.bins.iter().enumerate() {
                let e: f32 = spectrum[*lo..*hi].iter().map(|c| c.norm_sqr()).sum();
                row[b] = 10.0 * (e + 1e-10).log10();
            }
            out.push(((self.carry_first + used as i64) / self.hop as i64, row));
            used += self.hop;
        }
        self.carry.drain(..used);
        self.carry_first += used as i64;
        out
    }
}

/// `v` less its moving average over 2·[`DETREND_HALF`] + 1 steps (edges held).
pub fn detrend(v: &[f64]) -> Vec<f64> {
    let n = v.len();
    if n == 0 {
        return vec![];
    }
    let h = DETREND_HALF;
    let padded: Vec<f64> = (0..n + 2 * h)
        .map(|i| v[i.saturating_sub(h).min(n - 1)])
        .collect();
    let mut sum: f64 = padded[..2 * h + 1].iter().sum();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(v[i] - sum / (2 * h + 1) as f64);
        if i + 2 * h + 1 < padded.len() {
            sum += padded[i + 2 * h + 1] - padded[i];
        }
    }
    out
}

/// The mouth's projection by `w` at [`STEP_S`] from its frames `(pts, features)` (sorted): the
/// time of the first step and the values.
pub fn mouth_line(
    w: &[f64; MOUTH_FEATURES],
    frames: &[(f64, [f32; MOUTH_FEATURES])],
) -> (f64, Vec<f64>) {
    let (Some(first), Some(last)) = (frames.first(), frames.last()) else {
        return (0.0, vec![]);
    };
    let proj =
        |f: &[f32; MOUTH_FEATURES]| -> f64 { f.iter().zip(w).map(|(x, w)| *x as f64 * w).sum() };
    let n = ((last.0 - first.0) / STEP_S).floor() as usize + 1;
    let mut out = Vec::with_capacity(n);
    let mut j = 0;
    for k in 0..n {
        let t = first.0 + k as f64 * STEP_S;
        while j + 1 < frames.len() && frames[j + 1].0 <= t {
            j += 1;
        }
        let (a, b) = (&frames[j], &frames[(j + 1).min(frames.len() - 1)]);
        let x = if b.0 > a.0 {
            ((t - a.0) / (b.0 - a.0)).clamp(0.0, 1.0)
        } else {
            0.0
        };
        out.push(proj(&a.1) * (1.0 - x) + proj(&b.1) * x);
    }
    (first.0, out)
}

/// The speech's projection by `w`: each band floored [`FLOOR_DB`] under its loudest step,
/// weighted.
pub fn speech_line(w: &[f64; BANDS.len()], rows: &[[f32; 6]]) -> Vec<f64> {
    let mut top = [f32::MIN; 6];
    for r in rows {
        for (t, v) in top.iter_mut().zip(r) {
            *t = t.max(*v);
        }
    }
    rows.iter()
        .map(|r| {
            r.iter()
                .zip(top)
                .zip(w)
                .map(|((v, t), w)| v.max(t - FLOOR_DB) as f64 * w)
                .sum()
        })
        .collect()
}

/// Pearson's correlation of the common length of `a` and `b` (0 when either is flat).
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    if n < 3 {
        return 0.0;
    }
    let (ma, mb) = (
        a[..n].iter().sum::<f64>() / n as f64,
        b[..n].iter().sum::<f64>() / n as f64,
    );
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (x, y) = (a[i] - ma, b[i] - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    if saa > 0.0 && sbb > 0.0 {
        sab / (saa * sbb).sqrt()
    } else {
        0.0
    }
}

/// Correlations of each component of `mouth` (step 0 at `m0`) with the same component of
/// `speech` (step 0 at `s0`), averaged over the components, at lags `-steps..=steps` every
/// `every` steps: `(lag in steps, r, overlap in steps)`.
fn correlations(
    m0: f64,
    mouth: &[Vec<f64>],
    s0: f64,
    speech: &[Vec<f64>],
    steps: i64,
    every: i64,
) -> Vec<(i64, f64, usize)> {
    let len = |v: &[Vec<f64>]| v.iter().map(Vec::len).min().unwrap_or(0);
    let (mouth_n, speech_n) = (len(mouth), len(speech));
    let parts = mouth.len().min(speech.len()).max(1) as f64;
    let off = ((m0 - s0) / STEP_S).round() as i64;
    let min_n = (MIN_SPAN_S / STEP_S) as usize;
    let mut out = vec![];
    let mut lag = -steps;
    while lag <= steps {
        // mouth[k] against speech[k + off + lag]
        let k0 = (-(off + lag)).max(0) as usize;
        let j0 = (k0 as i64 + off + lag) as usize;
        let n = mouth_n.saturating_sub(k0).min(speech_n.saturating_sub(j0));
        if n >= min_n {
            let r: f64 = mouth
                .iter()
                .zip(speech)
                .map(|(m, s)| pearson(&m[k0..k0 + n], &s[j0..j0 + n]))
                .sum();
            out.push((lag, r / parts, n));
        }
        lag += every;
    }
    out
}

/// The offset of the speech (band rows from `s0`, step centres) from a mouth, or why there is
/// none.
pub fn estimate(
    m: &LipsModel,
    frames: &[(f64, [f32; MOUTH_FEATURES])],
    s0: f64,
    rows: &[[f32; 6]],
    search_ms: f64,
) -> LipsEstimate {
    let gaps: Vec<f64> = frames.iter().map(|f| f.1[0] as f64).collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len().max(1) as f64;
    let gap_sd =
        (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len().max(1) as f64).sqrt();
    let m0 = frames.first().map_or(0.0, |f| f.0);
    let mouth: Vec<Vec<f64>> = m
        .mouth
        .iter()
        .map(|w| detrend(&mouth_line(w, frames).1))
        .collect();
    let speech: Vec<Vec<f64>> = m
        .speech
        .iter()
        .map(|w| detrend(&speech_line(w, rows)))
        .collect();
    let steps = (search_ms / 1000.0 / STEP_S).round() as i64;
    let c = correlations(m0, &mouth, s0, &speech, steps, 1);
    let span_s = c.iter().map(|x| x.2).max().unwrap_or(0) as f64 * STEP_S;
    let declined = |why: &str, e: LipsEstimate| LipsEstimate {
        declined: Some(why.to_string()),
        ..e
    };
    let Some(best) = (0..c.len()).max_by(|a, b| c[*a].1.total_cmp(&c[*b].1)) else {
        return declined(
            "too_short",
            LipsEstimate {
                span_s,
                ..Default::default()
            },
        );
    };
    let (lag, peak) = (c[best].0, c[best].1);
    let refined = if best > 0 && best + 1 < c.len() {
        let (a, b, d) = (c[best - 1].1, peak, c[best + 1].1);
        let den = a - 2.0 * b + d;
        if den < 0.0 {
            (0.5 * (a - d) / den).clamp(-0.5, 0.5)
        } else {
            0.0
        }
    } else {
        0.0
    };
    let z = null_z(m0, &mouth, s0, &speech, steps, peak);
    let e = LipsEstimate {
        audio_delay_ms: None,
        declined: None,
        // `+ 0.0`: a rounded −0.4 ms is 0, not −0.
        best_lag_ms: Some(
            ((lag as f64 + refined) * STEP_S * 1000.0 - m.speech_lag_ms).round() + 0.0,
        ),
        peak,
        z,
        span_s,
        track: None,
    };
    if gap_sd < MIN_MOUTH_SD {
        declined("mouth_still", e)
    } else if best == 0 || best + 1 == c.len() {
        declined("peak_at_search_edge", e)
    } else if peak < m.min_peak {
        declined("weak_peak", e)
    } else if z < m.min_z {
        declined("no_better_than_chance", e)
    } else {
        LipsEstimate {
            audio_delay_ms: e.best_lag_ms,
            ..e
        }
    }
}

/// The peak's height over the best correlations found with the speech rolled round by more
/// than [`NULL_MIN_ROLL_S`] (in their standard deviations); 0 when the speech is too short to
/// roll.
fn null_z(m0: f64, mouth: &[Vec<f64>], s0: f64, speech: &[Vec<f64>], steps: i64, peak: f64) -> f64 {
    let n = speech.iter().map(Vec::len).min().unwrap_or(0);
    let min_roll = (NULL_MIN_ROLL_S / STEP_S) as usize;
    let every = (NULL_ROLL_STEP_S / STEP_S) as usize;
    if n < 2 * min_roll + every {
        return 0.0;
    }
    let mut maxima = vec![];
    let mut rolled = vec![vec![0.0; n]; speech.len()];
    let mut roll = min_roll;
    while roll + min_roll <= n {
        for (line, s) in rolled.iter_mut().zip(speech) {
            for (i, r) in line.iter_mut().enumerate() {
                *r = s[(i + n - roll) % n];
            }
        }
        let best = correlations(m0, mouth, s0, &rolled, steps, 2)
            .iter()
            .map(|c| c.1)
            .fold(f64::MIN, f64::max);
        if best > f64::MIN {
            maxima.push(best);
        }
        roll += every;
    }
    if maxima.len() < 3 {
        return 0.0;
    }
    let k = maxima.len() as f64;
    let mean = maxima.iter().sum::<f64>() / k;
    let sd = (maxima.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / k).sqrt();
    if sd > 0.0 { (peak - mean) / sd } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> LipsModel {
        LipsModel {
            mouth: vec![[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]],
            speech: vec![[0.0, 1.0, 0.0, 0.0, 0.0, 0.0]],
            speech_lag_ms: 0.0,
            min_peak: 0.3,
            min_z: 3.0,
        }
    }

    /// A mouth opening irregularly at 24 fps for 6 s, and speech whose band follows it
    /// `delay` s later.
    fn talk(delay: f64) -> (Vec<(f64, [f32; 7])>, f64, Vec<[f32; 6]>) {
        let mut frames = vec![];
        let mut rng = 7u64;
        let mut level = 0.0f32;
        for k in 0..144 {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if k % 3 == 0 {
                level = ((rng >> 33) % 100) as f32 / 100.0;
            }
            let mut f = [0.0; 7];
            f[0] = level;
            frames.push((k as f64 / 24.0, f));
        }
        // The mouth between frames as the estimator sees it: linear.
        let at = |i: f64| {
            if i < 0.0 {
                0.0
            } else {
                frames.get(i as usize).map_or(0.0, |f| f.1[0])
            }
        };
        let open = |t: f64| {
            let k = (t * 24.0).floor();
            at(k) + (at(k + 1.0) - at(k)) * (t * 24.0 - k) as f32
        };
        let rows = (0..700)
            .map(|i| {
                let t = i as f64 * STEP_S - 0.5 - delay;
                let mut r = [-60.0f32; 6];
                r[1] = -60.0 + 50.0 * open(t);
                r
            })
            .collect();
        (frames, -0.5, rows)
    }

    #[test]
    fn a_known_delay_is_found_within_a_step() {
        for delay in [-0.3, -0.12, 0.0, 0.08, 0.25] {
            let (f, s0, rows) = talk(delay);
            let e = estimate(&model(), &f, s0, &rows, SEARCH_MS);
            let got = e.audio_delay_ms.unwrap_or(f64::NAN);
            assert!((got - delay * 1000.0).abs() <= 10.0, "{delay}: {e:?}");
        }
    }

    #[test]
    fn speech_of_another_mouth_is_declined() {
        let (f, _, _) = talk(0.0);
        let (_, s0, rows) = {
            let (mut g, s0, _) = talk(0.0);
            g.reverse();
            let other: Vec<[f32; 6]> = (0..700)
                .map(|i| {
                    let mut r = [-60.0f32; 6];
                    r[1] = -60.0 + ((i * 7919 % 97) as f32 / 2.0);
                    r
                })
                .collect();
            (g, s0, other)
        };
        let e = estimate(&model(), &f, s0, &rows, SEARCH_MS);
        assert!(e.audio_delay_ms.is_none(), "{e:?}");
    }

    #[test]
    fn components_are_averaged_and_must_pair() {
        let (f, s0, rows) = talk(0.12);
        // A second component that reads nothing the speech carries halves the peak.
        let mut two = model();
        two.mouth.push([0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        two.speech.push([0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        let (one, both) = (
            estimate(&model(), &f, s0, &rows, SEARCH_MS),
            estimate(&two, &f, s0, &rows, SEARCH_MS),
        );
        assert!(one.peak > 0.9, "{one:?}");
        assert!(
            (both.peak - one.peak / 2.0).abs() < 0.05,
            "{one:?} {both:?}"
        );
        assert_eq!(both.best_lag_ms, one.best_lag_ms);
        let text = serde_json::to_string(&two).unwrap();
        assert!(LipsModel::parse(&text).is_ok());
        let mut odd = two;
        odd.speech.pop();
        let err = LipsModel::parse(&serde_json::to_string(&odd).unwrap()).unwrap_err();
        assert!(err.contains("2 mouth and 1 speech"), "{err}");
        assert!(LipsModel::shipped().is_ok());
    }

    #[test]
    fn bands_come_every_step_and_see_a_tone_in_its_band() {
        let mut b = SpeechBands::new(16_000);
        let tone: Vec<f32> = (0..16_000)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16_000.0).sin())
            .collect();
        let rows = b.push(0, &tone[..8000]);
        let more = b.push(8000, &tone[8000..]);
        assert_eq!(rows.len() + more.len(), (16_000 - 640) / 160 + 1);
        assert_eq!(more[0].0, rows.last().unwrap().0 + 1);
        let r = rows[10].1;
        let loudest = (0..6).max_by(|a, c| r[*a].total_cmp(&r[*c])).unwrap();
        assert_eq!(loudest, 2, "1 kHz is in the 600–1200 Hz band: {r:?}");
    }
}
