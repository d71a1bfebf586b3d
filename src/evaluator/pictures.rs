//! The picture path: batches of frames through the model's per-frame features, frame by frame
//! into the heads and the shot detectors, the cuts they decide placed and counted.
use super::stream::{JUMP_WAIT_S, StreamEvaluator};
use crate::model::rhythm::CutOutput;
use crate::score::record::{CutRecord, Record};
use crate::window::Batch;
use std::time::Instant;

impl StreamEvaluator {
    pub(super) fn process_batch(&mut self, b: Batch, out: &mut Vec<Record>) {
        let t0 = Instant::now();
        if b.size_changed && self.batches > 0 {
            let mut co = CutOutput::default();
            self.shots.reset(&mut co);
            self.handle_cuts(co, out);
        }
        self.batches += 1;
        let damaged: Vec<bool> = b.frames.iter().map(|f| f.damaged).collect();
        let feats = self.model.video_features_owned(
            b.prev,
            b.frames,
            self.a.detectors.black_luma,
            self.clock.frame_s(),
        );
        let mut dets = vec![];
        let mut co = CutOutput::default();
        for (k, f) in feats.iter().enumerate() {
            if self.live {
                self.book
                    .heal
                    .push(f, damaged.get(k).copied().unwrap_or(false));
            }
            self.shots.pacing.start(f.pts);
            for h in &mut self.heads {
                h.on_frame(f, &mut dets);
            }
            let known = co.cuts.len();
            self.shots.push(f, &mut co);
            // Shot boundaries reach the heads as soon as they are decided.
            for c in &co.cuts[known..] {
                let start = c.span.map(|s| s.1.max(c.pts)).unwrap_or(c.pts);
                for h in &mut self.heads {
                    h.on_shot_start(start, c.span.is_none(), c.pts, &mut dets);
                }
            }
            for h in &mut self.heads {
                h.after_frame(f);
            }
            self.arrivals.push_back((f.pts, f.arrival));
            self.clock.video_to = Some(f.pts + f.duration);
            self.frames += 1;
        }
        metrics::counter!(crate::metric_names::FRAMES, "stream" => self.id.to_string())
            .increment(feats.len() as u64);
        self.emit_all(dets, out);
        self.handle_cuts(co, out);
        if let Some(v) = self.clock.video_to {
            self.release_jumps(v - JUMP_WAIT_S, out);
            self.release_flashes(false, out);
            self.feed(|h, dets| h.on_video_progress(v - JUMP_WAIT_S, dets), out);
        }
        self.prune();
        metrics::histogram!(crate::metric_names::LATENCY, "stream" => self.id.to_string(), "stage" => "features")
            .record(t0.elapsed().as_secs_f64());
    }

    pub(super) fn handle_cuts(&mut self, co: CutOutput, out: &mut Vec<Record>) {
        let frame_s = self.clock.frame_s();
        for c in co.cuts {
            // A change where the picture was damaged (or heals at a keyframe) is the network's:
            // reported, not counted as editing.
            let transport = match c.span {
                Some((from, to)) => self.book.damaged_near(false, from, to, frame_s),
                None => self.book.heal.transport_cut(c.frame),
            };
            if transport {
                let mut r = CutRecord::new(&self.id, &c);
                r.cause = crate::vocab::Cause::Transport;
                out.push(Record::Cut(r));
                continue;
            }
            self.shots.count(c.pts, c.kind);
            self.feed(|h, dets| h.on_cut(&c, dets), out);
            out.push(Record::Cut(CutRecord::new(&self.id, &c)));
        }
        for f in co.flashes {
            self.hold_flash(f, out);
        }
        for v in co.visual {
            let damaged = self.book.damaged_near(false, v.pts, v.pts, frame_s);
            for h in &mut self.heads {
                h.on_visual(&v, damaged);
            }
        }
    }
}
