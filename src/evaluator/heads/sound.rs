//! Sound craft: loudness, true peak, clipping and dropouts of the sound at its own rate and
//! layout (ITU-R BS.1770 / EBU R 128).
use super::{SummaryCx, WindowCx, WindowHead};
use crate::config::AnalysisSettings;
use crate::model::sound::SoundMeter;
use crate::score::record::{SummaryRecord, WindowRecord};
use crate::types::SoundChunk;
use crate::vocab::{Detection, EventKind};

pub struct Sound {
    meter: SoundMeter,
}

impl Sound {
    pub fn new(a: &AnalysisSettings) -> Self {
        Self {
            meter: SoundMeter::new(a.min_event_s),
        }
    }
}

impl WindowHead for Sound {
    fn on_sound(&mut self, c: &SoundChunk, dets: &mut Vec<Detection>) {
        self.meter.push(c.pts, c.rate, c.channels, &c.samples, dets);
    }

    fn finish(&mut self, dets: &mut Vec<Detection>) {
        self.meter.finish(dets);
    }

    fn window(&mut self, cx: &WindowCx, w: &mut WindowRecord) {
        if !cx.media.audio {
            return;
        }
        w.sound = self.meter.window(cx.s, cx.e);
        let dropouts = cx
            .book
            .closed()
            .iter()
            .filter(|d| {
                d.kind == EventKind::Dropout && !d.transport && d.start < cx.e && d.end > cx.s
            })
            .count();
        w.scores.sound = w
            .sound
            .as_ref()
            .map(|s| crate::model::sound::score(s.clipped_ms, dropouts));
    }

    fn summary(&mut self, cx: &SummaryCx, sm: &mut SummaryRecord) {
        sm.sound = cx.media.audio.then(|| self.meter.summary()).flatten();
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
