//! The shots: hard cuts, fades and dissolves decided frame by frame, and the pacing they make.
use crate::model::features::FrameFeatures;
use crate::model::rhythm::{
    CutDetector, CutKind, CutOutput, DissolveDetector, FadeDetector, Pacing,
};
use std::borrow::Cow;
use std::collections::BTreeMap;

#[derive(Default)]
pub struct Shots {
    cut_det: CutDetector,
    fades: FadeDetector,
    dissolves: DissolveDetector,
    /// Cuts of the last minute or more, and the recent shot lengths.
    pub pacing: Pacing,
    /// Cuts counted as editing, by kind, over the whole stream.
    counts: BTreeMap<&'static str, usize>,
}

impl Shots {
    pub fn new() -> Self {
        Self {
            cut_det: CutDetector::new(),
            ..Default::default()
        }
    }

    /// A frame into the detectors; what they decided goes to `co`.
    pub fn push(&mut self, f: &FrameFeatures, co: &mut CutOutput) {
        self.cut_det.push(f, co);
        co.cuts.extend(self.fades.push(f));
        co.cuts.extend(self.dissolves.push(f));
    }

    /// Start afresh (a timestamp jump, a new picture size): what the cut detector held is
    /// decided now.
    pub fn reset(&mut self, co: &mut CutOutput) {
        self.cut_det.reset(co);
    }

    /// Also forget the transitions under way (a timestamp jump).
    pub fn reset_transitions(&mut self) {
        self.fades = FadeDetector::default();
        self.dissolves = DissolveDetector::default();
    }

    /// End of input.
    pub fn finish(&mut self, co: &mut CutOutput) {
        self.cut_det.finish(co);
    }

    /// A cut counted as editing.
    pub fn count(&mut self, t: f64, kind: CutKind) {
        self.pacing.on_cut(t);
        *self
            .counts
            .entry(match kind {
                CutKind::Hard => "hard",
                CutKind::Gradual => "gradual",
            })
            .or_default() += 1;
    }

    /// Cuts by kind over the whole stream (both kinds present).
    pub fn counts(&self) -> BTreeMap<Cow<'static, str>, usize> {
        let mut cuts: BTreeMap<Cow<'static, str>, usize> = self
            .counts
            .iter()
            .map(|(k, n)| (Cow::Borrowed(*k), *n))
            .collect();
        cuts.entry(Cow::Borrowed("hard")).or_insert(0);
        cuts.entry(Cow::Borrowed("gradual")).or_insert(0);
        cuts
    }
}
