//! Audio-visual sync: how late the sound is relative to the picture, and whether we can tell.
//!
//! **Audio onsets** (streaming, 1 ms resolution): with `E_k` the energy of millisecond `k`,
//! `S_k` the mean over `[k, k+5)` ms and `L_k` the mean over `[k−60, k−10)` ms, an onset fires
//! when `S_k ≥ 8·L_k` (+9 dB), `S_k` is above −50 dBFS and the last onset is ≥ 50 ms back; its
//! time is refined to the first millisecond in `[k, k+5)` with `E ≥ 4·L_k` (+6 dB), so the
//! estimate has millisecond precision from the audio side.
//!
//! **Sync head** (Burn): audio onsets are rendered as an impulse train on a 5 ms grid (each
//! spread over ±5 ms) and cross-correlated with the visual events (cuts, flash onsets:
//! frame-exact) over lags `±sync_search_ms`: since the visual train is a few impulses, the
//! correlation is the sum of the audio windows gathered at the visual positions (one `select`
//! and one `sum_dim`, `[nV, 2S+1]`). The best lag is refined on the raw events: every visual
//! event takes the nearest onset within ±30 ms of it, and the delay is the median of those
//! offsets. Positive delay = audio later than video.
//!
//! **Commitment.** A wrong confident answer would stop a good render, so the head commits only
//! when the evidence is unambiguous, and otherwise declines with a reason:
//! `no_audio`, `no_video`, `silence` (no audio onsets), `static_picture` (no visual events),
//! `too_few_events` (< 3 matched pairs), `weak_evidence` (matches not above what chance gives
//! with this onset density), `periodic_ambiguity` (a second lag scores ≥ 0.75 of the best — e.g.
//! cuts locked to a beat), `inconsistent` (matched offsets spread > 12 ms).
//! `confidence = (1 − second/best) · (1 − e^(−matched/3)) · min(1, matched/visual events)`.
use burn::tensor::{Device, Tensor, TensorData};
use serde::Serialize;
use std::collections::VecDeque;

const GRID_S: f64 = 0.005;
const MATCH_S: f64 = 0.030;
const RULES_MIN_MATCHED: usize = 3;
const MAX_SPREAD_MS: f64 = 12.0;
const MAX_SECOND_RATIO: f64 = 0.75;
/// Largest look-elsewhere-corrected chance of the matches for the learned head to decide.
const MAX_GLOBAL_CHANCE: f64 = 0.1;

/// An audio onset: time (s) and strength (dB rise over the background).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Onset {
    pub t: f64,
    pub strength: f32,
}

/// Streaming onset detector on 1 ms energies.
pub struct OnsetDetector {
    energies: VecDeque<f32>,
    /// Absolute ms index of `energies[0]`.
    first_ms: i64,
    origin: f64,
    last_onset_ms: i64,
}

/// The background an onset rises over: the mean energy of `[k − LONG_FROM, k − LONG_TO)` ms...
pub(crate) const LONG_FROM: usize = 60;
pub(crate) const LONG_TO: usize = 10;
/// ...against the mean of the `SHORT` ms from `k`, which must be above this (−50 dBFS).
pub(crate) const SHORT: usize = 5;
pub(crate) const MIN_ONSET_ENERGY: f32 = 1e-5;

impl Default for OnsetDetector {
    fn default() -> Self {
        Self {
            energies: VecDeque::new(),
            first_ms: 0,
            origin: 0.0,
            last_onset_ms: i64::MIN / 2,
        }
    }
}

impl OnsetDetector {
    /// Feed 1 ms energies starting at absolute ms `first_ms` of a timeline beginning at `origin`.
    pub fn push(&mut self, origin: f64, first_ms: i64, energies: &[f32], out: &mut Vec<Onset>) {
        if self.energies.is_empty() {
            self.first_ms = first_ms;
            self.origin = origin;
        }
        self.energies.extend(energies.iter().copied());
        // Decide position LONG_FROM (needs LONG_FROM back and SHORT ahead).
        while self.energies.len() >= LONG_FROM + SHORT {
            let k = LONG_FROM;
            let e = &self.energies;
            let long: f32 = (k - LONG_FROM..k - LONG_TO).map(|i| e[i]).sum::<f32>()
                / (LONG_FROM - LONG_TO) as f32;
            let short: f32 = (k..k + SHORT).map(|i| e[i]).sum::<f32>() / SHORT as f32;
            let abs_ms = self.first_ms + k as i64;
            if short >= 8.0 * long.max(1e-9)
                && short > MIN_ONSET_ENERGY
                && abs_ms - self.last_onset_ms >= 50
            {
                let mut at = k;
                for i in k..k + SHORT {
                    if e[i] >= 4.0 * long.max(1e-9) {
                        at = i;
                        break;
                    }
                }
                let onset_ms = self.first_ms + at as i64;
                self.last_onset_ms = onset_ms;
                out.push(Onset {
                    t: self.origin + onset_ms as f64 / 1000.0,
                    strength: 10.0 * (short / long.max(1e-9)).log10(),
                });
            }
            self.energies.pop_front();
            self.first_ms += 1;
        }
    }
}

/// Why the head declined to commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decline {
    NoAudio,
    NoVideo,
    Silence,
    StaticPicture,
    TooFewEvents,
    WeakEvidence,
    PeriodicAmbiguity,
    Inconsistent,
    /// The learned commitment head rates the evidence below its threshold.
    Uncertain,
    /// The cuts and flashes and the local motion (the local-motion estimator) point to delays
    /// more than 2 frames apart.
    SourcesDisagree,
}

impl Decline {
    pub fn explain(self) -> &'static str {
        match self {
            Decline::NoAudio => "the input has no audio",
            Decline::NoVideo => "the input has no video",
            Decline::Silence => "no audio onsets in the horizon (silence or steady sound)",
            Decline::StaticPicture => {
                "no abrupt visual changes in the horizon (static picture or slow motion only)"
            }
            Decline::TooFewEvents => "fewer than 3 visual events have a matching sound",
            Decline::WeakEvidence => {
                "matches are no more frequent than chance given how dense the audio onsets are"
            }
            Decline::PeriodicAmbiguity => {
                "another offset fits almost as well (regular, beat-locked events)"
            }
            Decline::Inconsistent => "the matched offsets disagree by more than 12 ms",
            Decline::Uncertain => {
                "the learned commitment head rates this evidence too weak to trust (probability below its threshold)"
            }
            Decline::SourcesDisagree => {
                "the cuts and flashes and the local motion point to delays more than 2 frames apart"
            }
        }
    }
}

/// The sync head's answer for one horizon.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SyncEstimate {
    /// Positive: audio later than video. `None`: declined.
    pub audio_delay_ms: Option<f64>,
    pub confidence: f64,
    pub declined: Option<Decline>,
    pub matched: usize,
    pub visual_events: usize,
    pub audio_onsets: usize,
    /// Second-best / best correlation (1 = ambiguous).
    pub second_ratio: Option<f64>,
    /// Median absolute deviation of matched offsets, ms.
    pub spread_ms: Option<f64>,
    /// The best lag of the correlation, committed or not (diagnostics); refined to the median
    /// matched offset when any visual event found its sound.
    pub best_lag_ms: Option<f64>,
    /// Chance that a visual event finds an onset within ±30 ms anyway, given the onset density.
    pub chance: Option<f64>,
    /// Length of audio the onsets were drawn from (the horizon plus the search range), s.
    pub span_s: f64,
    /// The learned commitment head's probability that `best_lag_ms` is right (when it ran).
    pub commit_probability: Option<f64>,
    /// Independent lags the search tried (±search / ±30 ms match windows).
    pub lags: f64,
}

impl SyncEstimate {
    pub fn declined(reason: Decline, nv: usize, na: usize) -> Self {
        Self {
            audio_delay_ms: None,
            confidence: 0.0,
            declined: Some(reason),
            matched: 0,
            visual_events: nv,
            audio_onsets: na,
            second_ratio: None,
            spread_ms: None,
            best_lag_ms: None,
            chance: None,
            span_s: 0.0,
            commit_probability: None,
            lags: 1.0,
        }
    }

    /// The candidate is unambiguous: no second lag fits almost as well (periodic, beat-locked
    /// events) and the matched offsets agree (spread ≤ 12 ms). These rules stay hard guards
    /// whoever decides commitment.
    pub fn unambiguous(&self) -> bool {
        self.second_ratio.is_some_and(|r| r < MAX_SECOND_RATIO)
            && self.spread_ms.is_some_and(|s| s <= MAX_SPREAD_MS)
    }

    /// Chance that some lag of the search would match as many visual events by luck
    /// (binomial tail × independent lags; the look-elsewhere effect). `None` without a candidate.
    pub fn global_chance(&self) -> Option<f64> {
        let p = self.chance?;
        (self.matched > 0).then(|| {
            (self.lags * binomial_tail(self.visual_events.max(1), self.matched, p)).min(1.0)
        })
    }

    /// The head's domain: unambiguous, and the matches are significant after the look-elsewhere
    /// correction (global chance ≤ 10 %).
    pub fn decidable(&self) -> bool {
        self.unambiguous() && self.global_chance().is_some_and(|g| g <= MAX_GLOBAL_CHANCE)
    }

    /// The evidence behind the candidate delay, as the learned commitment head reads it
    /// (the commitment head, `model::commit`); `None` when no visual event found a sound.
    ///
    /// `[ln(1+matched), ln(1+visual events), ln(1+onsets per s), matched/visual, z of matched
    /// over chance, second/best correlation, spread/12 ms, chance, −log10 of the chance that any
    /// of the searched lags matches as many by luck]`
    pub fn evidence(&self) -> Option<[f32; EVIDENCE]> {
        if self.matched == 0 || self.best_lag_ms.is_none() {
            return None;
        }
        let p = self.chance?;
        let (m, nv) = (self.matched as f64, self.visual_events.max(1) as f64);
        let expected = nv * p;
        let z = (m - expected) / (expected * (1.0 - p) + 1.0).sqrt();
        // Look-elsewhere: the chance that some lag of the search matches this many by luck.
        let global = self.global_chance().unwrap_or(1.0);
        Some([
            m.ln_1p() as f32,
            nv.ln_1p() as f32,
            (self.audio_onsets as f64 / self.span_s.max(1e-3)).ln_1p() as f32,
            (m / nv).min(1.0) as f32,
            z.clamp(-5.0, 20.0) as f32,
            self.second_ratio.unwrap_or(1.0) as f32,
            (self.spread_ms.unwrap_or(60.0).min(60.0) / MAX_SPREAD_MS) as f32,
            p as f32,
            (-global.max(1e-12).log10()) as f32,
        ])
    }
}

/// Length of [`SyncEstimate::evidence`].
pub const EVIDENCE: usize = 9;

/// `P(X ≥ m)` for `X ~ Binomial(n, p)`.
pub fn binomial_tail(n: usize, m: usize, p: f64) -> f64 {
    if m == 0 {
        return 1.0;
    }
    if m > n || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    // Term k = m in log space, then the ratio recurrence upwards.
    let ln_choose =
        |n: usize, k: usize| -> f64 { (1..=k).map(|i| ((n - k + i) as f64 / i as f64).ln()).sum() };
    let mut term = (ln_choose(n, m) + m as f64 * p.ln() + (n - m) as f64 * (1.0 - p).ln()).exp();
    let mut sum = term;
    for k in m..n {
        term *= (n - k) as f64 / (k + 1) as f64 * p / (1.0 - p);
        sum += term;
    }
    sum.min(1.0)
}

fn splat(grid: &mut [f32], pos: f64, weight: f32) {
    let i = pos.round() as i64;
    for (off, w) in [(-1i64, 0.5f32), (0, 1.0), (1, 0.5)] {
        let j = i + off;
        if j >= 0 && (j as usize) < grid.len() {
            grid[j as usize] += w * weight;
        }
    }
}

/// Cross-correlate visual events with audio onsets over `[from, to)` and decide.
///
/// # Shapes
/// - audio train `[L + 2S + 1]`, gathered `[nV, 2S + 1]` → correlation `[2S + 1]`, with
///   `L = (to − from) / 5 ms` and `S = search / 5 ms`.
pub fn estimate(
    device: &Device,
    visual: &[(f64, f32)],
    onsets: &[Onset],
    from: f64,
    to: f64,
    search_ms: f64,
) -> SyncEstimate {
    let vis: Vec<f64> = visual
        .iter()
        .map(|v| v.0)
        .filter(|t| *t >= from && *t < to)
        .collect();
    let search = search_ms / 1000.0;
    let aud: Vec<f64> = onsets
        .iter()
        .map(|o| o.t)
        .filter(|t| *t >= from - search && *t < to + search)
        .collect();
    let (nv, na) = (vis.len(), aud.len());
    if nv == 0 {
        return SyncEstimate::declined(Decline::StaticPicture, nv, na);
    }
    if na == 0 {
        return SyncEstimate::declined(Decline::Silence, nv, na);
    }
    let len = ((to - from) / GRID_S).ceil().max(1.0) as usize;
    let s = (search / GRID_S).round() as usize;
    let mut a = vec![0f32; len + 2 * s + 1];
    for t in &aud {
        splat(&mut a, (t - from + search) / GRID_S, 1.0);
    }
    // The visual train is a handful of impulses, so the correlation is a sum of shifted audio
    // windows: gather `[nV, 2S+1]` slices of the audio train at the visual positions and sum.
    let width = 2 * s + 1;
    let mut idx = Vec::with_capacity(nv * width);
    for t in &vis {
        let p = (((t - from) / GRID_S).round().max(0.0) as usize).min(len);
        idx.extend((p..p + width).map(|i| i as i64));
    }
    let x = Tensor::<1>::from_data(TensorData::new(a, [len + 2 * s + 1]), device);
    let ids = Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(idx, [nv * width]), device);
    let corr: Vec<f32> = x
        .select(0, ids)
        .reshape([nv, width])
        .sum_dim(0)
        .reshape([width])
        .into_data()
        .try_into_vec()
        .unwrap_or_default();
    if corr.len() != width {
        return SyncEstimate::declined(Decline::TooFewEvents, nv, na);
    }
    let (_, lag0, second_ratio) = best_lag(&corr, s);

    // Refine on the raw events: nearest onset to each visual event within ±30 ms of the lag.
    let mut offsets: Vec<(usize, f64)> = vec![];
    for tv in &vis {
        let target = tv + lag0;
        if let Some((j, ta)) = aud
            .iter()
            .enumerate()
            .map(|(j, ta)| (j, *ta))
            .filter(|(_, ta)| (ta - target).abs() <= MATCH_S)
            .min_by(|x, y| (x.1 - target).abs().total_cmp(&(y.1 - target).abs()))
        {
            match offsets.iter_mut().find(|(k, _)| *k == j) {
                Some(slot) if (slot.1 - lag0).abs() > (ta - tv - lag0).abs() => slot.1 = ta - tv,
                Some(_) => {}
                None => offsets.push((j, ta - tv)),
            }
        }
    }
    let mut offs: Vec<(f64, u32)> = offsets.iter().map(|o| (o.1, 1)).collect();
    offs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let span = (to - from + 2.0 * search).max(1e-3);
    decide(nv, na, span, search, lag0, second_ratio, &offs)
}

/// The best lag of a correlation over lags `−s..=s` grid steps: (index, lag s, second/best).
/// The second peak is the best correlation more than 60 ms away from the best.
fn best_lag(corr: &[f32], s: usize) -> (usize, f64, f64) {
    let (best_i, best) =
        corr.iter().copied().enumerate().fold(
            (0, f32::MIN),
            |acc, (i, c)| if c > acc.1 { (i, c) } else { acc },
        );
    let guard = (0.060 / GRID_S) as usize;
    let second = corr
        .iter()
        .enumerate()
        .filter(|(i, _)| i.abs_diff(best_i) > guard)
        .map(|(_, c)| *c)
        .fold(0f32, f32::max);
    let lag0 = (best_i as f64 - s as f64) * GRID_S;
    let second_ratio = if best > 0.0 {
        (second / best) as f64
    } else {
        1.0
    };
    (best_i, lag0, second_ratio)
}

/// The value of rank `k` (0-based) of a multiset given as sorted (value, count) groups.
fn rank(groups: &[(f64, u32)], k: u64) -> f64 {
    let mut seen = 0u64;
    for (v, c) in groups {
        seen += *c as u64;
        if seen > k {
            return *v;
        }
    }
    groups.last().map(|g| g.0).unwrap_or(0.0)
}

/// The rules' decision on the evidence of one horizon: `nv` visual events, `na` onsets drawn
/// from `span` seconds, the best lag and its second-peak ratio, and the matched offsets at that
/// lag as sorted (offset s, count) groups.
fn decide(
    nv: usize,
    na: usize,
    span: f64,
    search: f64,
    lag0: f64,
    second_ratio: f64,
    offs: &[(f64, u32)],
) -> SyncEstimate {
    let matched: usize = offs.iter().map(|g| g.1 as usize).sum();
    // Chance level: how many visual events would find an onset in a ±30 ms window anyway.
    let p = ((na as f64 / span) * 2.0 * MATCH_S).min(1.0);
    let mut est = SyncEstimate {
        audio_delay_ms: None,
        confidence: 0.0,
        declined: None,
        matched,
        visual_events: nv,
        audio_onsets: na,
        second_ratio: Some(second_ratio),
        spread_ms: None,
        best_lag_ms: Some(lag0 * 1000.0),
        chance: Some(p),
        span_s: span,
        commit_probability: None,
        lags: (search / MATCH_S).max(1.0),
    };
    if matched == 0 {
        est.declined = Some(Decline::TooFewEvents);
        return est;
    }
    let n = matched as u64;
    let median = rank(offs, n / 2);
    let delay = if n % 2 == 0 {
        (rank(offs, n / 2 - 1) + median) / 2.0
    } else {
        median
    };
    let mut dev: Vec<(f64, u32)> = offs.iter().map(|(o, c)| ((o - delay).abs(), *c)).collect();
    dev.sort_by(|a, b| a.0.total_cmp(&b.0));
    let spread_ms = rank(&dev, n / 2) * 1000.0;
    est.spread_ms = Some(spread_ms);
    est.best_lag_ms = Some(delay * 1000.0);
    if matched < RULES_MIN_MATCHED {
        est.declined = Some(Decline::TooFewEvents);
        return est;
    }
    let expected = nv as f64 * p;
    let needed = expected + 3.0 * (expected * (1.0 - p)).sqrt() + 2.0;
    if (matched as f64) < needed {
        est.declined = Some(Decline::WeakEvidence);
        return est;
    }
    if second_ratio >= MAX_SECOND_RATIO {
        est.declined = Some(Decline::PeriodicAmbiguity);
        return est;
    }
    if spread_ms > MAX_SPREAD_MS {
        est.declined = Some(Decline::Inconsistent);
        return est;
    }
    est.audio_delay_ms = Some(delay * 1000.0);
    est.confidence = (1.0 - second_ratio)
        * (1.0 - (-(matched as f64) / 3.0).exp())
        * (matched as f64 / nv as f64).min(1.0);
    est
}

/// Width of the offset bins of [`SyncTally`], s.
const TALLY_BIN_S: f64 = 0.001;
/// Offset bins per lag: `±MATCH_S` (60 ms) in [`TALLY_BIN_S`] steps, both ends included.
const TALLY_BINS: usize = 61;

/// Matched offsets at one lag of a [`SyncTally`].
#[derive(Default)]
struct LagMatches {
    /// Count of the offsets in each bin of `offset − lag`, and the sum of their positions in
    /// the bin (s from the bin's start); allocated on first match.
    bins: Option<Box<([u32; TALLY_BINS], [f32; TALLY_BINS])>>,
    /// Matches of the last 60 ms of visual events (onset id, visual time, offset): a later event
    /// may take one of their onsets, and then only the closer of the two counts.
    recent: Vec<(u64, f64, f64)>,
}

impl LagMatches {
    /// The bin of an offset, and its position in the bin (s).
    fn bin(offset: f64, lag: f64) -> (usize, f64) {
        let x = (offset - lag + MATCH_S).max(0.0);
        let b = ((x / TALLY_BIN_S).floor() as usize).min(TALLY_BINS - 1);
        (b, x - b as f64 * TALLY_BIN_S)
    }

    fn add(&mut self, offset: f64, lag: f64, sign: i32) {
        let (b, within) = Self::bin(offset, lag);
        let bins = self
            .bins
            .get_or_insert_with(|| Box::new(([0; TALLY_BINS], [0.0; TALLY_BINS])));
        if sign > 0 {
            bins.0[b] += 1;
            bins.1[b] += within as f32;
        } else {
            bins.0[b] = bins.0[b].saturating_sub(1);
            bins.1[b] -= within as f32;
        }
    }

    /// Sorted (mean offset s, count) groups.
    fn groups(&self, lag: f64) -> Vec<(f64, u32)> {
        let Some(bins) = &self.bins else {
            return vec![];
        };
        (0..TALLY_BINS)
            .filter(|b| bins.0[*b] > 0)
            .map(|b| {
                let within = (bins.1[b] as f64 / bins.0[b] as f64).clamp(0.0, TALLY_BIN_S);
                (lag - MATCH_S + b as f64 * TALLY_BIN_S + within, bins.0[b])
            })
            .collect()
    }
}

/// The whole-stream sync evidence as a running aggregate, for the summary: what
/// [`estimate`] over `[origin, end)` would compute from every visual event and onset of the
/// stream, in memory that does not grow with the stream's age.
///
/// Each visual event is folded in once the onsets that can match it have arrived (audio past it
/// by the search range): its slice of the audio impulse train is added to a running correlation
/// (exactly the batch correlation: the same grid, the same ±1-cell spread), and at every lag
/// its nearest onset within ±30 ms is added to that lag's offset bins (1 ms wide, each with its
/// count and the sum of positions in the bin), with the batch's rule that an onset matched by two events counts once, for
/// the closer. At the end the best lag, the second-peak ratio, the matched count and the
/// chance level are exactly the batch figures; the delay (median offset) and the spread are
/// taken from bin means, exact when the matched offsets of a bin agree and within 1 ms
/// otherwise. Memory: the correlation (`2S+1` values), at most 61 bins (8 bytes each) per lag, and the events
/// of the last `2 × search` seconds.
pub struct SyncTally {
    search: f64,
    s: usize,
    origin: Option<f64>,
    corr: Vec<f32>,
    lags: Vec<LagMatches>,
    /// Visual events not yet folded in, oldest first.
    pending: VecDeque<f64>,
    /// Onsets that a pending or future visual event may still match (id, time), oldest first.
    onsets: VecDeque<(u64, f64)>,
    next_id: u64,
    visual_events: usize,
    audio_onsets: usize,
}

impl SyncTally {
    pub fn new(search_ms: f64) -> Self {
        let search = search_ms / 1000.0;
        let s = (search / GRID_S).round() as usize;
        Self {
            search,
            s,
            origin: None,
            corr: vec![0.0; 2 * s + 1],
            lags: (0..2 * s + 1).map(|_| LagMatches::default()).collect(),
            pending: VecDeque::new(),
            onsets: VecDeque::new(),
            next_id: 0,
            visual_events: 0,
            audio_onsets: 0,
        }
    }

    /// The start of the stream's timeline (the batch estimate's `from`); set once.
    pub fn set_origin(&mut self, origin: f64) {
        if self.origin.is_none() {
            self.origin = Some(origin);
            self.pending.retain(|t| *t >= origin);
        }
    }

    pub fn push_visual(&mut self, t: f64) {
        if self.origin.is_none_or(|o| t >= o) {
            self.pending.push_back(t);
        }
    }

    /// Onsets arrive in time order (as the onset detector finds them).
    pub fn push_onset(&mut self, t: f64) {
        self.onsets.push_back((self.next_id, t));
        self.next_id += 1;
        self.audio_onsets += 1;
    }

    /// Fold in the visual events whose matching onsets have all arrived (audio decided up to
    /// `audio_to`), or that are older than `video_to − stale_s` (their audio never came: a
    /// stalled medium), and forget onsets no event can match any more.
    pub fn advance(&mut self, audio_to: Option<f64>, video_to: Option<f64>, stale_s: f64) {
        if self.origin.is_none() {
            return;
        }
        let reach = self.search + MATCH_S + 2.0 * GRID_S;
        while let Some(&t) = self.pending.front() {
            let heard = audio_to.is_some_and(|a| a >= t + reach + 0.1);
            let stale = video_to.is_some_and(|v| v - t > stale_s.max(reach + 1.0));
            if !(heard || stale) {
                break;
            }
            self.pending.pop_front();
            self.fold(t);
        }
        // The oldest event still to come is at or after the oldest pending one, or the newest
        // video time. Before the first video frame (audio decodes ahead of the picture in a
        // file), onsets wait up to `stale_s` for it: pruning them by the audio time would lose
        // the sounds of the first events, and how many depended on the decoders' race.
        let horizon = self
            .pending
            .front()
            .copied()
            .or(video_to)
            .or(audio_to.map(|a| a - stale_s));
        if let Some(h) = horizon {
            // Visual events are decided a few frames (a dissolve: its span) after their time.
            while self.onsets.front().is_some_and(|o| o.1 < h - reach - 5.0) {
                self.onsets.pop_front();
            }
        }
    }

    fn fold(&mut self, tv: f64) {
        let Some(origin) = self.origin else { return };
        self.visual_events += 1;
        let width = 2 * self.s + 1;
        let p = ((tv - origin) / GRID_S).round().max(0.0) as i64;
        let reach = self.search + MATCH_S + 2.0 * GRID_S;
        let lo = self.onsets.partition_point(|o| o.1 < tv - reach);
        let hi = self.onsets.partition_point(|o| o.1 <= tv + reach);
        let near: Vec<(u64, f64)> = self.onsets.range(lo..hi).copied().collect();
        // Correlation: this event's slice of the audio train (as `estimate` splats it).
        for &(_, ta) in &near {
            let i = ((ta - origin + self.search) / GRID_S).round() as i64;
            for (off, w) in [(-1i64, 0.5f32), (0, 1.0), (1, 0.5)] {
                let r = i + off - p;
                if i + off >= 0 && r >= 0 && (r as usize) < width {
                    self.corr[r as usize] += w;
                }
            }
        }
        // Matches: at every lag, the nearest onset within ±30 ms (the first of equals).
        let mut j = 0;
        for (li, lag) in self.lags.iter_mut().enumerate() {
            let lag_s = (li as f64 - self.s as f64) * GRID_S;
            lag.recent.retain(|r| r.1 >= tv - 2.0 * MATCH_S - 1e-6);
            let target = tv + lag_s;
            while j < near.len() && near[j].1 < target - MATCH_S {
                j += 1;
            }
            let mut best: Option<(u64, f64)> = None;
            for &(id, ta) in near[j..].iter().take_while(|o| o.1 <= target + MATCH_S) {
                if (ta - target).abs() <= MATCH_S
                    && best.is_none_or(|b| (ta - target).abs() < (b.1 - target).abs())
                {
                    best = Some((id, ta));
                }
            }
            let Some((id, ta)) = best else { continue };
            let off = ta - tv;
            match lag.recent.iter().position(|r| r.0 == id) {
                Some(k) if (lag.recent[k].2 - lag_s).abs() > (off - lag_s).abs() => {
                    let old = lag.recent[k].2;
                    lag.add(old, lag_s, -1);
                    lag.add(off, lag_s, 1);
                    lag.recent[k].2 = off;
                }
                Some(_) => {}
                None => {
                    lag.add(off, lag_s, 1);
                    lag.recent.push((id, tv, off));
                }
            }
        }
    }

    /// Fold in every pending event (end of the stream).
    pub fn flush(&mut self) {
        while let Some(t) = self.pending.pop_front() {
            self.fold(t);
        }
    }

    /// Onsets seen, whatever the picture did.
    pub fn audio_onsets(&self) -> usize {
        self.audio_onsets
    }

    /// Visual events folded in so far (all of them after [`flush`](Self::flush)).
    pub fn visual_events(&self) -> usize {
        self.visual_events + self.pending.len()
    }

    /// The rules' estimate over `[origin, to)` (call [`flush`](Self::flush) first).
    pub fn estimate(&self, to: f64) -> SyncEstimate {
        let (nv, na) = (self.visual_events, self.audio_onsets);
        if nv == 0 {
            return SyncEstimate::declined(Decline::StaticPicture, nv, na);
        }
        if na == 0 {
            return SyncEstimate::declined(Decline::Silence, nv, na);
        }
        let from = self.origin.unwrap_or(to);
        let (best_i, lag0, second_ratio) = best_lag(&self.corr, self.s);
        let span = (to - from + 2.0 * self.search).max(1e-3);
        let offs = self
            .lags
            .get(best_i)
            .map(|l| l.groups(lag0))
            .unwrap_or_default();
        decide(nv, na, span, self.search, lag0, second_ratio, &offs)
    }

    /// The whole-stream correlation against lag, scaled to its peak (1 = the best lag), for a
    /// person to see how clearly one lag stands out: `(first lag ms, step ms, values)`. `None`
    /// before any visual event met any onset.
    pub fn curve(&self) -> Option<(f64, f64, Vec<f32>)> {
        let peak = self.corr.iter().copied().fold(0.0f32, f32::max);
        (peak > 0.0).then(|| {
            (
                -(self.s as f64) * GRID_S * 1000.0,
                GRID_S * 1000.0,
                self.corr.iter().map(|c| c / peak).collect(),
            )
        })
    }

    /// Entries held: (pending visual events, onsets kept, lags with offset bins, recent matches).
    pub fn sizes(&self) -> [(&'static str, usize); 4] {
        [
            ("sync_tally.pending_visual", self.pending.len()),
            ("sync_tally.onsets", self.onsets.len()),
            (
                "sync_tally.lags_with_bins",
                self.lags.iter().filter(|l| l.bins.is_some()).count(),
            ),
            (
                "sync_tally.recent_matches",
                self.lags.iter().map(|l| l.recent.len()).sum(),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(deprecated)]
    fn device() -> Device {
        Device::ndarray()
    }

    #[test]
    fn onsets_have_millisecond_precision() {
        let mut det = OnsetDetector::default();
        let mut out = vec![];
        // Background -60 dB, beeps (-10 dB) at 1.2345 s and 2.001 s for 60 ms.
        let e: Vec<f32> = (0..3000)
            .map(|ms| {
                if (1234..1294).contains(&ms) || (2001..2061).contains(&ms) {
                    0.1
                } else {
                    1e-6
                }
            })
            .collect();
        for (i, c) in e.chunks(16).enumerate() {
            det.push(0.5, i as i64 * 16, c, &mut out);
        }
        assert_eq!(out.len(), 2, "{out:?}");
        assert!((out[0].t - 1.734).abs() < 0.0015, "{out:?}");
        assert!((out[1].t - 2.501).abs() < 0.0015, "{out:?}");
    }

    #[test]
    fn finds_a_known_delay_and_declines_periodic_or_empty_evidence() {
        let dev = device();
        let times = [0.5, 1.3, 2.9, 3.4, 5.1, 6.0, 7.7, 9.2];
        let visual: Vec<(f64, f32)> = times.iter().map(|t| (*t, 1.0)).collect();
        let onsets: Vec<Onset> = times
            .iter()
            .map(|t| Onset {
                t: t + 0.2137,
                strength: 20.0,
            })
            .collect();
        let est = estimate(&dev, &visual, &onsets, 0.0, 10.0, 2000.0);
        let d = est.audio_delay_ms.expect("commits");
        assert!((d - 213.7).abs() < 0.5, "{est:?}");
        assert!(est.confidence > 0.5);

        // Perfectly periodic events 1 s apart: every lag of k seconds fits as well.
        let periodic: Vec<(f64, f32)> = (0..10).map(|k| (k as f64, 1.0)).collect();
        let p_on: Vec<Onset> = (0..10)
            .map(|k| Onset {
                t: k as f64 + 0.1,
                strength: 20.0,
            })
            .collect();
        let est = estimate(&dev, &periodic, &p_on, 0.0, 10.0, 2000.0);
        assert_eq!(est.declined, Some(Decline::PeriodicAmbiguity), "{est:?}");

        // Dense random onsets unrelated to the picture: no commitment.
        let mut x = 12345u64;
        let noise: Vec<Onset> = (0..60)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                Onset {
                    t: (x >> 11) as f64 / (1u64 << 53) as f64 * 10.0,
                    strength: 10.0,
                }
            })
            .collect();
        let est = estimate(&dev, &visual, &noise, 0.0, 10.0, 2000.0);
        assert!(est.audio_delay_ms.is_none(), "{est:?}");

        assert_eq!(
            estimate(&dev, &[], &onsets, 0.0, 10.0, 2000.0).declined,
            Some(Decline::StaticPicture)
        );
        assert_eq!(
            estimate(&dev, &visual, &[], 0.0, 10.0, 2000.0).declined,
            Some(Decline::Silence)
        );
    }

    /// Feed `visual` and `onsets` to a tally as a stream would (interleaved in time, audio
    /// decided in 64 ms steps), then compare with the batch estimate over the whole.
    fn tally_vs_batch(visual: &[(f64, f32)], onsets: &[Onset], end: f64) {
        tally_vs_batch_with_video_late(visual, onsets, end, 0.0)
    }

    /// The same, with the picture `video_late` seconds behind the sound (a file whose audio
    /// decodes ahead of the first video frame): no video time at all before it starts.
    fn tally_vs_batch_with_video_late(
        visual: &[(f64, f32)],
        onsets: &[Onset],
        end: f64,
        video_late: f64,
    ) {
        let dev = device();
        let mut tally = SyncTally::new(2000.0);
        tally.set_origin(0.0);
        let (mut vi, mut oi) = (0, 0);
        let mut t = 0.0;
        let mut most_held = 0;
        while t < end + video_late {
            t += 0.064;
            let video_to = (t >= video_late).then_some(t - video_late);
            while vi < visual.len() && video_to.is_some_and(|v| visual[vi].0 < v) {
                tally.push_visual(visual[vi].0);
                vi += 1;
            }
            while oi < onsets.len() && onsets[oi].t < t {
                tally.push_onset(onsets[oi].t);
                oi += 1;
            }
            tally.advance(Some(t), video_to, 30.0);
            most_held = most_held.max(tally.sizes()[1].1 + tally.sizes()[0].1);
        }
        tally.flush();
        let batch = estimate(&dev, visual, onsets, 0.0, end, 2000.0);
        let streamed = tally.estimate(end);
        eprintln!("batch {batch:?}\nstreamed {streamed:?}");
        let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() <= 1.0,
            (None, None) => true,
            _ => false,
        };
        assert!(close(batch.audio_delay_ms, streamed.audio_delay_ms));
        assert!(close(batch.best_lag_ms, streamed.best_lag_ms));
        assert!(match (batch.spread_ms, streamed.spread_ms) {
            (Some(a), Some(b)) => (a - b).abs() <= 1.5,
            (a, b) => a == b,
        });
        assert_eq!(batch.declined, streamed.declined);
        assert_eq!(batch.matched, streamed.matched);
        assert_eq!(batch.visual_events, streamed.visual_events);
        assert_eq!(batch.audio_onsets, streamed.audio_onsets);
        assert_eq!(batch.second_ratio, streamed.second_ratio);
        assert_eq!(batch.chance, streamed.chance);
        assert!((batch.confidence - streamed.confidence).abs() < 1e-9);
        // What the tally holds does not grow with the stream: ~2 × (search + 30 ms) + 5 s of
        // events at these rates.
        assert!(most_held < 200, "{most_held}");
    }

    fn lcg(x: &mut u64) -> f64 {
        *x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*x >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn the_running_tally_gives_the_batch_estimate_of_the_whole_stream() {
        let mut x = 7u64;
        // Event-rich: irregular events with their sound 213.7 ms late, and unrelated onsets.
        let mut visual = vec![];
        let mut t = 0.3;
        while t < 600.0 {
            visual.push((t, 1.0f32));
            t += 0.7 + 2.5 * lcg(&mut x);
        }
        let mut onsets: Vec<Onset> = visual
            .iter()
            .map(|v| Onset {
                t: v.0 + 0.2137,
                strength: 20.0,
            })
            .collect();
        for _ in 0..200 {
            onsets.push(Onset {
                t: 600.0 * lcg(&mut x),
                strength: 10.0,
            });
        }
        onsets.sort_by(|a, b| a.t.total_cmp(&b.t));
        tally_vs_batch(&visual, &onsets, 601.0);

        // Jittered offsets (±4 ms): the median comes from 1 ms bins.
        let jittered: Vec<Onset> = visual
            .iter()
            .map(|v| Onset {
                t: v.0 - 0.0831 + 0.008 * (lcg(&mut x) - 0.5),
                strength: 20.0,
            })
            .collect();
        tally_vs_batch(&visual, &jittered, 601.0);

        // Events 50 ms apart share onsets (the batch's one-match-per-onset rule), and dense
        // unrelated onsets.
        let mut close = vec![];
        for k in 0..200 {
            let t = 1.0 + k as f64 * 1.7;
            close.push((t, 1.0f32));
            close.push((t + 0.05, 1.0f32));
        }
        let mut dense: Vec<Onset> = (0..3000)
            .map(|_| Onset {
                t: 345.0 * lcg(&mut x),
                strength: 10.0,
            })
            .collect();
        dense.sort_by(|a, b| a.t.total_cmp(&b.t));
        tally_vs_batch(&close, &dense, 345.0);

        // The sound decoded 12 s ahead of the first video frame: every onset still waits for
        // its event (found in a file run, where the count of matches depended on the race).
        tally_vs_batch_with_video_late(&visual, &onsets, 601.0, 12.0);
        let paired: Vec<Onset> = close
            .iter()
            .step_by(2)
            .map(|v| Onset {
                t: v.0 + 0.021,
                strength: 20.0,
            })
            .collect();
        tally_vs_batch(&close, &paired, 345.0);

        // Periodic: ambiguous either way.
        let periodic: Vec<(f64, f32)> = (0..300).map(|k| (k as f64, 1.0)).collect();
        let p_on: Vec<Onset> = (0..300)
            .map(|k| Onset {
                t: k as f64 + 0.1,
                strength: 20.0,
            })
            .collect();
        tally_vs_batch(&periodic, &p_on, 300.5);
    }
}
