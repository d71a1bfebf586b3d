//! Cross-stream batching: on a GPU, the frames of every live stream go through one model call.
//!
//! ```text
//!  stream 1 ─┐  Request (its frames, the frame before them)         ┌─▶ features of stream 1
//!  stream 2 ─┼─▶ bounded queue ─▶ batcher thread: drain, group by ──┼─▶ features of stream 2
//!  stream N ─┘                     frame size, one call per group   └─▶ …
//! ```
//!
//! A GPU call costs mostly a fixed launch-and-readback time (measured on an H200: ~0.8 ms for
//! 8 frames, ~1.3 ms for 64), so many streams' frames in one call cost little more than one
//! stream's. The batcher takes whatever requests are queued when it is free — no timer, so a
//! lone stream waits for nothing — up to `max_frames` frames, groups them by frame size and
//! runs [`video_features_batched`] once per group. Stream threads block on their reply (they
//! are evaluator threads, never GStreamer streaming threads). On the CPU backend batching buys
//! nothing (the work is per pixel) and would serialise streams that the cores run in parallel,
//! so [`super::Model`] only uses it on wgpu.
use super::features::{FrameFeatures, Segment, video_features_batched};
use crate::types::VideoFrame;
use burn::tensor::Device;
use crossbeam::channel::{Receiver, Sender, bounded};
use std::collections::BTreeMap;

struct Request {
    prev: Option<VideoFrame>,
    frames: Vec<VideoFrame>,
    black_luma: f32,
    frame_s: f64,
    reply: Sender<Vec<FrameFeatures>>,
}

/// Handle to the batcher thread; cloned into every stream's [`super::Model`]. The thread ends
/// when the last handle is dropped.
pub struct FeatureBatcher {
    tx: Sender<Request>,
    device: Device,
}

/// What one batched call held (for benches and logs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallShape {
    pub streams: usize,
    pub frames: usize,
}

impl FeatureBatcher {
    /// Start the batcher thread on `device`; one call takes at most `max_frames` frames (a
    /// request is never split, so a call may exceed it by one request).
    pub fn spawn(device: Device, max_frames: usize) -> std::io::Result<Self> {
        let (tx, rx) = bounded::<Request>(1024);
        let d = device.clone();
        std::thread::Builder::new()
            .name("evalverse-batch".into())
            .spawn(move || serve(&d, &rx, max_frames.max(1)))?;
        Ok(Self { tx, device })
    }

    /// Features of one stream's frames, computed together with whatever other streams queued.
    /// Falls back to a call of its own if the batcher thread is gone.
    pub fn features(
        &self,
        prev: Option<VideoFrame>,
        frames: Vec<VideoFrame>,
        black_luma: f32,
        frame_s: f64,
    ) -> Vec<FrameFeatures> {
        let (reply, rx) = bounded(1);
        match self.tx.send(Request {
            prev,
            frames,
            black_luma,
            frame_s,
            reply,
        }) {
            Ok(()) => rx.recv().unwrap_or_default(),
            Err(e) => {
                let r = e.into_inner();
                super::features::video_features(
                    &self.device,
                    r.prev.as_ref(),
                    &r.frames,
                    r.black_luma,
                    r.frame_s,
                )
            }
        }
    }
}

fn serve(device: &Device, rx: &Receiver<Request>, max_frames: usize) {
    while let Ok(first) = rx.recv() {
        let mut frames = first.frames.len();
        let mut requests = vec![first];
        while frames < max_frames {
            match rx.try_recv() {
                Ok(r) => {
                    frames += r.frames.len();
                    requests.push(r);
                }
                Err(_) => break,
            }
        }
        let shapes = run_batched(device, &requests);
        tracing::trace!(?shapes, "batched feature calls");
    }
}

/// One call per (frame size, black level) group; replies to every request.
fn run_batched(device: &Device, requests: &[Request]) -> Vec<CallShape> {
    let mut groups: BTreeMap<(usize, usize, u32), Vec<usize>> = BTreeMap::new();
    for (i, r) in requests.iter().enumerate() {
        let Some(f) = r.frames.first() else {
            let _ = r.reply.send(vec![]);
            continue;
        };
        groups
            .entry((f.width, f.height, r.black_luma.to_bits()))
            .or_default()
            .push(i);
    }
    let mut shapes = vec![];
    for ((_, _, black), members) in groups {
        let segments: Vec<Segment<'_>> = members
            .iter()
            .map(|&i| Segment {
                prev: requests[i].prev.as_ref(),
                frames: &requests[i].frames,
                default_duration: requests[i].frame_s,
            })
            .collect();
        let results = video_features_batched(device, &segments, f32::from_bits(black));
        shapes.push(CallShape {
            streams: members.len(),
            frames: segments.iter().map(|s| s.frames.len()).sum(),
        });
        for (&i, feats) in members.iter().zip(results) {
            // A stream that went away meanwhile has dropped its receiver: nothing to do.
            let _ = requests[i].reply.send(feats);
        }
    }
    shapes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn frame(index: u64, level: u8, w: usize, h: usize) -> VideoFrame {
        let mut luma = vec![level; w * h];
        // Some structure, so thumbnails differ between streams.
        for (i, p) in luma.iter_mut().enumerate() {
            *p = p.wrapping_add((i % w) as u8 / 4);
        }
        VideoFrame {
            index,
            pts: index as f64 / 25.0,
            duration: Some(0.04),
            width: w,
            height: h,
            luma,
            cb: vec![128; w.div_ceil(2) * h.div_ceil(2)],
            cr: vec![128; w.div_ceil(2) * h.div_ceil(2)],
            arrival: Instant::now(),
            damaged: false,
            face: None,
            face_demand: None,
        }
    }

    /// Batched features equal per-stream features, whatever the mix of sizes and leads.
    #[test]
    #[allow(deprecated)]
    fn batched_call_equals_separate_calls() {
        let device = Device::ndarray();
        let a: Vec<VideoFrame> = (0..5)
            .map(|i| frame(i, 20 + 30 * i as u8, 160, 90))
            .collect();
        let b: Vec<VideoFrame> = (10..13)
            .map(|i| frame(i, 200 - 10 * i as u8, 160, 90))
            .collect();
        let c: Vec<VideoFrame> = (0..4).map(|i| frame(i, 90, 120, 90)).collect();
        let prev_b = frame(9, 50, 160, 90);
        let segs = [
            Segment {
                prev: None,
                frames: &a,
                default_duration: 0.04,
            },
            Segment {
                prev: Some(&prev_b),
                frames: &b,
                default_duration: 0.04,
            },
            Segment {
                prev: None,
                frames: &c,
                default_duration: 0.04,
            },
        ];
        let together = video_features_batched(&device, &segs, 0.07);
        assert_eq!(together[0].len(), 5);
        assert_eq!(together[1].len(), 3);
        assert!(
            together[2].is_empty(),
            "a segment of another size is left for its own call"
        );
        for (k, s) in segs[..2].iter().enumerate() {
            let alone =
                super::super::features::video_features(&device, s.prev, s.frames, 0.07, 0.04);
            for (x, y) in together[k].iter().zip(&alone) {
                assert_eq!(x.index, y.index);
                assert_eq!(x.has_prev, y.has_prev);
                assert!((x.mad - y.mad).abs() < 1e-6 && (x.luma_mean - y.luma_mean).abs() < 1e-6);
                assert_eq!(x.thumb, y.thumb);
            }
        }
        // The lead row of segment b compares with prev_b, not with a's last frame.
        let expect = (100.0 - 50.0) / 255.0;
        assert!(
            (together[1][0].mad - expect).abs() < 1e-4,
            "{}",
            together[1][0].mad
        );
        assert!(!together[0][0].has_prev && together[1][0].has_prev);
    }

    /// Requests of several sizes through the batcher thread all get their own features back.
    #[test]
    #[allow(deprecated)]
    fn batcher_replies_to_every_stream() {
        let batcher = std::sync::Arc::new(FeatureBatcher::spawn(Device::ndarray(), 256).unwrap());
        let handles: Vec<_> = (0..6)
            .map(|s| {
                let b = batcher.clone();
                std::thread::spawn(move || {
                    let w = if s % 2 == 0 { 160 } else { 120 };
                    let frames: Vec<VideoFrame> = (0..4)
                        .map(|i| frame(i, (s * 30 + i as usize) as u8, w, 90))
                        .collect();
                    let feats = b.features(None, frames, 0.07, 0.04);
                    (s, feats)
                })
            })
            .collect();
        for h in handles {
            let (s, feats) = h.join().unwrap();
            assert_eq!(feats.len(), 4, "stream {s}");
            // Level of its last frame plus the mean of the ramp ⌊x/4⌋ over the row.
            let w = if s % 2 == 0 { 160.0 } else { 120.0 };
            let expect = ((s * 30 + 3) as f32 + (w / 4.0 - 1.0) / 2.0) / 255.0;
            assert!(
                (feats[3].luma_mean - expect).abs() < 1e-3,
                "stream {s}: mean {} vs {expect}",
                feats[3].luma_mean
            );
        }
    }
}
