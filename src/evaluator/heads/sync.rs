//! Audio-visual sync: abrupt visual changes against audio onsets over the sync horizon, the
//! local-motion evidence where those lack, drift against the stream's earlier committed
//! windows, cut–beat alignment; and the whole input's estimate for the summary.
use super::{MAX_WINDOW_LAG_S, PruneCx, SummaryCx, WindowCx, WindowHead};
use crate::config::AnalysisSettings;
use crate::evaluator::clock::Timing;
use crate::model::features::FrameFeatures;
use crate::model::local_sync::{self, LocalEstimate, LocalSync, SyncSource};
use crate::model::rhythm::VisualEvent;
use crate::model::sync::{Decline, Onset, OnsetDetector, SyncEstimate, SyncTally};
use crate::score::record::{SummaryRecord, SyncCurve, SyncFigures, WindowRecord, rounded};
use crate::score::{self, taxonomy};
use crate::vocab::Detection;
use std::collections::{BTreeMap, VecDeque};

pub struct SyncHead {
    search_ms: f64,
    horizon_s: f64,
    window_s: f64,
    /// Sync evidence of the horizons still to be scored (older entries are pruned).
    visual: Vec<(f64, f32)>,
    onsets: Vec<Onset>,
    onset_det: OnsetDetector,
    /// Visual events and onsets over the whole stream.
    visual_total: usize,
    onsets_total: usize,
    /// The whole-stream sync evidence, for the summary.
    tally: SyncTally,
    /// Local motion against sound onsets, for the summary and the windows.
    local: LocalSync,
    /// The last window's local-motion estimate and the window end it was made at.
    local_window: Option<(f64, LocalEstimate)>,
    /// Committed delays whose horizon still overlaps the windows to come (end, delay ms) ...
    committed: VecDeque<(f64, f64)>,
    /// ... and the earlier ones, as a histogram of 0.1 ms bins: the drift reference.
    committed_before: BTreeMap<i64, u32>,
    committed_before_n: u64,
    first_committed: Option<f64>,
    /// Keep every visual event and onset (the trainer reads them after `finish`).
    pub keep_evidence: bool,
}

impl SyncHead {
    pub fn new(a: &AnalysisSettings) -> Self {
        Self {
            search_ms: a.sync_search_ms,
            horizon_s: a.sync_horizon_s,
            window_s: a.window_s,
            visual: vec![],
            onsets: vec![],
            onset_det: OnsetDetector::default(),
            visual_total: 0,
            onsets_total: 0,
            tally: SyncTally::new(a.sync_search_ms),
            local: LocalSync::default(),
            local_window: None,
            committed: VecDeque::new(),
            committed_before: BTreeMap::new(),
            committed_before_n: 0,
            first_committed: None,
            keep_evidence: false,
        }
    }

    /// Visual events (time, strength) and audio onsets of the horizons still to be scored; all
    /// of them when `keep_evidence` is set.
    pub fn evidence(&self) -> (&[(f64, f32)], &[Onset]) {
        (&self.visual, &self.onsets)
    }

    /// Sync over the horizon ending at `e`, with drift against earlier committed windows.
    fn figures(&mut self, cx: &WindowCx, w: &mut WindowRecord) -> Option<SyncFigures> {
        let (s, e) = (cx.s, cx.e);
        if !(cx.media.audio && cx.media.video) {
            return None;
        }
        let from = (e - self.horizon_s).max(cx.origin);
        let mut est = cx
            .model
            .sync(&self.visual, &self.onsets, from, e, self.search_ms);
        let local = self.window_local(e, &est);
        let source = committed_source(&mut est, local.as_ref(), cx.frame_s);
        let mut fig = SyncFigures::new(&est, cx.timing);
        fig.source = source;
        fig.local = local;
        if let Some(d) = est.audio_delay_ms {
            if d > score::DETECT_LATE_MS || d < -score::DETECT_EARLY_MS {
                let evidence = taxonomy::sync_evidence(
                    fig.source,
                    fig.matched_events,
                    fig.local.as_ref(),
                    None,
                );
                w.diagnosis.push(taxonomy::sync(d, &evidence));
            }
            if let Some(reference) = self.drift_reference(e) {
                fig.drift_ms = Some((d - reference).round());
                fig.drift_abs_ms = Some((d - reference).abs().round());
                if (d - reference).abs() > 1000.0 * cx.frame_s {
                    let since = self.first_committed.unwrap_or(s);
                    w.diagnosis.push(taxonomy::drift(reference, d, e - since));
                }
            }
            self.first_committed.get_or_insert(e);
            self.committed.push_back((e, d));
        }
        if cx.timing == Timing::Arrival {
            fig.confidence = rounded(fig.confidence * 0.5);
        }
        Some(fig)
    }

    /// The local-motion estimate for the window ending at `e`, where the events lacked
    /// evidence: over the [`local_sync::WINDOW_SPAN_S`] s before `e`, made at most every
    /// [`local_sync::WINDOW_EVERY_S`] s (a few ms each) and shown by the windows in between.
    fn window_local(&mut self, e: f64, est: &SyncEstimate) -> Option<LocalEstimate> {
        if !local_sync::events_lack_evidence(est) {
            return None;
        }
        match &self.local_window {
            Some((at, l)) if (0.0..local_sync::WINDOW_EVERY_S).contains(&(e - at)) => {
                Some(l.clone())
            }
            _ => {
                let l = self
                    .local
                    .estimate_since(self.search_ms, e - local_sync::WINDOW_SPAN_S);
                self.local_window = Some((e, l.clone()));
                Some(l)
            }
        }
    }

    /// The drift reference at `e`: the median of the committed delays whose horizon no longer
    /// overlaps this window's (kept as a histogram of 0.1 ms bins).
    fn drift_reference(&mut self, e: f64) -> Option<f64> {
        while let Some(&(t, old)) = self.committed.front() {
            if t > e - self.horizon_s {
                break;
            }
            self.committed.pop_front();
            *self
                .committed_before
                .entry((old * 10.0).round() as i64)
                .or_default() += 1;
            self.committed_before_n += 1;
        }
        if self.committed_before_n == 0 {
            return None;
        }
        let k = self.committed_before_n / 2;
        let mut seen = 0u64;
        self.committed_before
            .iter()
            .find(|(_, n)| {
                seen += **n as u64;
                seen > k
            })
            .map(|(bin, _)| *bin as f64 / 10.0)
    }
}

impl WindowHead for SyncHead {
    fn on_frame(&mut self, f: &FrameFeatures, _dets: &mut Vec<Detection>) {
        self.local.push_frame(f);
    }

    fn on_visual(&mut self, v: &VisualEvent, damaged: bool) {
        // Guarded in the local-motion evidence even where damage keeps it from the events'.
        self.local.push_event(v.pts);
        if damaged {
            return;
        }
        self.visual.push((v.pts, v.strength));
        self.tally.push_visual(v.pts);
        self.visual_total += 1;
    }

    fn on_energies(&mut self, origin: f64, first_ms: i64, e: &[f32], _dets: &mut Vec<Detection>) {
        let mut onsets = vec![];
        self.onset_det.push(origin, first_ms, e, &mut onsets);
        self.local.push_energies(origin, first_ms, e);
        for o in &onsets {
            self.tally.push_onset(o.t);
        }
        self.onsets_total += onsets.len();
        self.onsets.extend(onsets);
    }

    fn on_origin(&mut self, origin: f64) {
        self.tally.set_origin(origin);
    }

    fn prune(&mut self, cx: &PruneCx) {
        self.tally
            .advance(cx.audio_to, cx.video_to, MAX_WINDOW_LAG_S);
        let Some(first) = cx.first else { return };
        let evidence_from =
            first - self.horizon_s.max(self.window_s) - self.search_ms / 1000.0 - 1.0;
        if !self.keep_evidence {
            self.visual.retain(|v| v.0 >= evidence_from);
            self.onsets.retain(|o| o.t >= evidence_from);
        }
    }

    fn window(&mut self, cx: &WindowCx, w: &mut WindowRecord) {
        let sync = self.figures(cx, w);
        w.scores.sync = sync
            .as_ref()
            .and_then(|f| score::sync_score(f.audio_delay_ms));
        w.sync = sync;
        let horizon = (cx.e - self.horizon_s).max(cx.origin);
        w.beat = (cx.media.audio && cx.media.video).then(|| {
            crate::model::beat::figures(
                &self.onsets,
                &cx.pacing.cuts_between(horizon, cx.e),
                horizon,
                cx.e,
            )
        });
    }

    fn summary(&mut self, cx: &SummaryCx, sm: &mut SummaryRecord) {
        self.tally.flush();
        let (media, end) = (cx.media, cx.end);
        let mut est = match (media.video, media.audio) {
            (true, true) => cx
                .model
                .commit_sync(self.tally.estimate(end.max(cx.origin + 0.01))),
            (true, false) => SyncEstimate::declined(Decline::NoAudio, self.visual_total, 0),
            (false, _) => SyncEstimate::declined(Decline::NoVideo, 0, self.onsets_total),
        };
        let local = (media.video && media.audio).then(|| self.local.estimate(self.search_ms));
        let source = committed_source(&mut est, local.as_ref(), cx.frame_s);
        let mut sync = SyncFigures::new(&est, cx.timing);
        if media.video && media.audio {
            sync.correlation = self.tally.curve().map(SyncCurve::new);
        }
        sync.source = source;
        sync.local = local;
        if cx.timing == Timing::Arrival {
            sync.confidence = rounded(sync.confidence * 0.5);
        }
        sm.sync = sync;
    }

    fn sizes(&self, v: &mut Vec<(&'static str, usize)>) {
        v.extend([
            ("visual", self.visual.len()),
            ("onsets", self.onsets.len()),
            ("committed", self.committed.len()),
            ("committed_before_bins", self.committed_before.len()),
        ]);
        v.extend(self.tally.sizes());
        v.extend(self.local.sizes());
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// The events' estimate combined with the local motion's where there is one; the source of a
/// committed delay (the events' when no local estimate was made).
fn committed_source(
    est: &mut SyncEstimate,
    local: Option<&LocalEstimate>,
    frame_s: f64,
) -> Option<SyncSource> {
    match local {
        Some(l) => local_sync::combine(est, l, frame_s),
        None => est.audio_delay_ms.map(|_| SyncSource::Events),
    }
}
