//! End of input: everything held goes through, open events close, the last window and the
//! summary are written.
use super::heads::SummaryCx;
use super::stream::StreamEvaluator;
use crate::model::rhythm::CutOutput;
use crate::score::record::{EndedEarly, Record, SummaryRecord, rounded};
use crate::types::{Media, StreamState};

impl StreamEvaluator {
    /// End of input: flush everything, close open events, emit the last window and a summary.
    pub fn finish(&mut self, out: &mut Vec<Record>) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.flush_batch(out);
        self.process_audio(out);
        let mut co = CutOutput::default();
        self.shots.finish(&mut co);
        self.handle_cuts(co, out);
        self.release_jumps(f64::INFINITY, out);
        self.release_flashes(true, out);
        self.feed(|h, dets| h.finish(dets), out);
        self.book.close_open();
        if self.clock.media.is_none() {
            self.clock.media = Some(Media {
                video: self.clock.video_to.is_some(),
                audio: self.clock.audio_to.is_some(),
            });
        }
        self.clock.stalled = Media::default();
        self.schedule(out);
        if let Some(end) = self.clock.newest()
            && let Some((s, e)) = self.clock.sched.last(end)
        {
            self.window(s, e, out);
        }
        let summary = self.summary();
        if let Some(e) = summary.ended_early {
            out.push(self.state(StreamState::Ended, e.message()));
        }
        out.push(Record::Summary(Box::new(summary)));
    }

    fn summary(&mut self) -> SummaryRecord {
        let media = self.clock.media.unwrap_or_default();
        let origin = self.clock.sched.origin().unwrap_or(0.0);
        let end = self.clock.newest().unwrap_or(origin);
        let elapsed = self.started.elapsed().as_secs_f64();
        let duration = (end - origin).max(0.0);
        let mut sm = SummaryRecord {
            stream: self.id.to_string(),
            media,
            duration_s: rounded(duration),
            frames: self.frames,
            dropped_frames: self.dropped_frames,
            windows: self.judge.windows(),
            cuts: self.shots.counts(),
            events: self.book.totals(),
            sync: Default::default(),
            rhythm: Default::default(),
            scores: self.judge.means(),
            backend: self.model.kind().to_string(),
            elapsed_s: rounded(elapsed),
            speed_x: rounded(duration / elapsed.max(1e-6)),
            verdict: self.judge.verdict(),
            calibrated: self.judge.calibrated_whole(),
            sound: None,
            faces: None,
            ended_early: self
                .clock
                .ends
                .declared_s
                .and_then(|d| EndedEarly::check(end, d)),
        };
        let cx = SummaryCx {
            origin,
            end,
            media,
            frame_s: self.clock.frame_s(),
            timing: self.timing,
            model: &self.model,
            pacing: &self.shots.pacing,
        };
        for h in &mut self.heads {
            h.summary(&cx, &mut sm);
        }
        sm
    }
}
