//! Rhythm: the cut rate and shot lengths of the stream's shots against film norms.
use super::{SummaryCx, WindowCx, WindowHead};
use crate::score::record::{SummaryRecord, WindowRecord};
use crate::score::{self, taxonomy};

pub struct Rhythm;

impl WindowHead for Rhythm {
    fn window(&mut self, cx: &WindowCx, w: &mut WindowRecord) {
        let pacing = cx.pacing.figures(cx.s, cx.e);
        if pacing.short_shots > 0 {
            w.diagnosis.push(taxonomy::short_shots(
                pacing.short_shots,
                pacing.shortest_shot_s.unwrap_or(0.0),
            ));
        }
        if let Some(asl) = pacing.average_shot_length_s
            && cx.pacing.total_cuts >= 3
            && !(2.0..=8.0).contains(&asl)
        {
            w.diagnosis.push(taxonomy::pacing(asl));
        }
        w.scores.rhythm = cx
            .media
            .video
            .then(|| score::rhythm_score(pacing.average_shot_length_s, pacing.short_shots));
        w.rhythm = pacing;
    }

    fn summary(&mut self, cx: &SummaryCx, sm: &mut SummaryRecord) {
        sm.rhythm = cx.pacing.summary(cx.end + 1e-6);
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
