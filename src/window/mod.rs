//! Window: PTS-aligned buffering between ingest and the model, and hop scheduling.
//!
//! - [`AudioRing`] places audio chunks on a sample-exact timeline by their PTS (gaps are filled
//!   with zeros and counted, overlaps trimmed) and hands out whole 1 ms blocks for features.
//! - [`VideoBatcher`] collects frames of one size into batches for the model, remembering the
//!   frame before each batch so per-frame differences are never lost at a batch boundary.
//! - [`HopScheduler`] says which windows `[end − window, end)` are complete, given how far each
//!   medium's features have got (the watermark).
//! - [`timeline::Timeline`] folds timestamp jumps (discontinuities) away before any of these see
//!   them, so no allocation or loop grows with the size of a jump.
pub mod timeline;

use crate::types::{AudioChunk, VideoFrame};
use std::collections::VecDeque;

/// Audio samples on a timeline `origin + index / rate`.
#[derive(Debug)]
pub struct AudioRing {
    rate: u32,
    origin: Option<f64>,
    pending: VecDeque<f32>,
    /// Timeline index of `pending[0]`.
    pending_start: i64,
    /// Samples filled in for gaps, and dropped for overlaps.
    pub gap_samples: u64,
    pub overlap_samples: u64,
}

impl AudioRing {
    pub fn new(rate: u32) -> Self {
        Self {
            rate,
            origin: None,
            pending: VecDeque::new(),
            pending_start: 0,
            gap_samples: 0,
            overlap_samples: 0,
        }
    }

    pub fn origin(&self) -> Option<f64> {
        self.origin
    }

    /// Samples received and not yet handed out.
    pub fn pending_samples(&self) -> usize {
        self.pending.len()
    }

    /// Timeline index just after the last sample received.
    pub fn next_index(&self) -> i64 {
        self.pending_start + self.pending.len() as i64
    }

    /// End time of the received audio.
    pub fn end_time(&self) -> Option<f64> {
        self.origin
            .map(|o| o + self.next_index() as f64 / self.rate as f64)
    }

    pub fn push(&mut self, c: &AudioChunk) {
        if c.samples.is_empty() {
            return;
        }
        let origin = *self.origin.get_or_insert(c.pts);
        let at = ((c.pts - origin) * self.rate as f64).round() as i64;
        let next = self.next_index();
        // Timestamps rounded by muxers wobble by a sample or two: within 1 ms is contiguous.
        let tolerance = (self.rate / 1000).max(1) as i64;
        let mut samples = &c.samples[..];
        if at > next + tolerance {
            let gap = (at - next) as usize;
            self.pending.extend(std::iter::repeat_n(0.0, gap));
            self.gap_samples += gap as u64;
        } else if at < next - tolerance {
            let skip = ((next - at) as usize).min(samples.len());
            samples = &samples[skip..];
            self.overlap_samples += skip as u64;
        }
        self.pending.extend(samples.iter().copied());
    }

    /// Take all complete blocks of `block` samples: (timeline index of the first, samples).
    pub fn take_blocks(&mut self, block: usize) -> Option<(i64, Vec<f32>)> {
        let n = self.pending.len() / block * block;
        if n == 0 {
            return None;
        }
        let start = self.pending_start;
        let out: Vec<f32> = self.pending.drain(..n).collect();
        self.pending_start += n as i64;
        Some((start, out))
    }
}

/// Frames waiting for the model, all of one size.
#[derive(Default)]
pub struct VideoBatcher {
    pending: Vec<VideoFrame>,
    /// The last frame already given to the model (same size as `pending`), for differences.
    prev: Option<VideoFrame>,
}

/// A batch for the model.
pub struct Batch {
    pub prev: Option<VideoFrame>,
    pub frames: Vec<VideoFrame>,
    /// The frame size changed: detectors comparing frames must start over.
    pub size_changed: bool,
}

impl VideoBatcher {
    /// Add a frame; returns a batch to process first when the size changed.
    pub fn push(&mut self, f: VideoFrame) -> Option<Batch> {
        let same = |a: &VideoFrame| a.width == f.width && a.height == f.height;
        let differs = self.pending.first().map(|p| !same(p)).unwrap_or(false);
        let flushed = if differs { self.take() } else { None };
        if self.prev.as_ref().map(|p| !same(p)).unwrap_or(false) {
            self.prev = None;
        }
        self.pending.push(f);
        flushed
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn oldest_arrival(&self) -> Option<std::time::Instant> {
        self.pending.first().map(|f| f.arrival)
    }

    /// Forget the frame before the next batch (after a discontinuity: frames on either side
    /// are not compared).
    pub fn forget_prev(&mut self) {
        self.prev = None;
    }

    /// Take the pending frames as a batch.
    pub fn take(&mut self) -> Option<Batch> {
        if self.pending.is_empty() {
            return None;
        }
        let frames = std::mem::take(&mut self.pending);
        let size_changed = self.prev.is_none();
        let prev = self.prev.take();
        self.prev = frames.last().cloned();
        Some(Batch {
            prev,
            frames,
            size_changed,
        })
    }
}

/// Windows `[end − len, end)` every `hop`, the first ending `len` after the stream's origin.
#[derive(Debug, Clone)]
pub struct HopScheduler {
    len: f64,
    hop: f64,
    origin: Option<f64>,
    next_end: Option<f64>,
    emitted: usize,
}

impl HopScheduler {
    pub fn new(len: f64, hop: f64) -> Self {
        Self {
            len,
            hop,
            origin: None,
            next_end: None,
            emitted: 0,
        }
    }

    pub fn set_origin(&mut self, origin: f64) {
        if self.origin.is_none() {
            self.origin = Some(origin);
            self.next_end = Some(origin + self.len);
        }
    }

    pub fn origin(&self) -> Option<f64> {
        self.origin
    }

    /// End of the next window to score (once the origin is known).
    pub fn next_end(&self) -> Option<f64> {
        self.next_end
    }

    /// The next complete window, if the watermark has passed its end.
    pub fn due(&mut self, watermark: f64) -> Option<(f64, f64)> {
        let end = self.next_end?;
        if watermark + 1e-9 < end {
            return None;
        }
        self.next_end = Some(end + self.hop);
        self.emitted += 1;
        Some((end - self.len, end))
    }

    /// At end of input: one last window ending at `end`, when the media are shorter than a
    /// window, or when at least half a hop is not yet covered by a complete window.
    pub fn last(&mut self, end: f64) -> Option<(f64, f64)> {
        let origin = self.origin?;
        let next = self.next_end.take()?;
        if self.emitted == 0 {
            return (end > origin).then_some((origin, end));
        }
        let last_end = next - self.hop;
        (end - last_end >= self.hop / 2.0).then_some(((end - self.len).max(origin), end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn chunk(pts: f64, n: usize, value: f32) -> AudioChunk {
        AudioChunk {
            pts,
            rate: 16_000,
            samples: vec![value; n],
            arrival: Instant::now(),
            damaged: false,
        }
    }

    #[test]
    fn audio_is_placed_by_pts_with_gaps_zeroed_and_overlaps_trimmed() {
        let mut r = AudioRing::new(16_000);
        r.push(&chunk(10.0, 320, 1.0)); // 10.000–10.020
        r.push(&chunk(10.02, 320, 2.0)); // contiguous
        r.push(&chunk(10.05, 160, 3.0)); // 10 ms gap
        r.push(&chunk(10.055, 160, 4.0)); // 5 ms overlap: 80 dropped
        assert_eq!(r.gap_samples, 160);
        assert_eq!(r.overlap_samples, 80);
        let (start, s) = r.take_blocks(16).unwrap();
        assert_eq!(start, 0);
        assert_eq!(s.len(), 320 + 320 + 160 + 160 + 80);
        assert_eq!(s[0], 1.0);
        assert_eq!(s[640], 0.0); // the gap
        assert_eq!(s[800], 3.0); // 10.050 s = index 800
        assert_eq!(s[960], 4.0); // 10.060 s: the non-overlapping part of the last chunk
        assert!((r.end_time().unwrap() - 10.065).abs() < 1e-9);
    }

    #[test]
    fn windows_are_aligned_on_the_origin_and_wait_for_the_watermark() {
        let mut h = HopScheduler::new(4.0, 1.0);
        assert_eq!(h.due(100.0), None, "no origin yet");
        h.set_origin(2.0);
        assert_eq!(h.due(5.9), None);
        assert_eq!(h.due(6.0), Some((2.0, 6.0)));
        assert_eq!(h.due(7.5), Some((3.0, 7.0)));
        assert_eq!(h.due(7.5), None);
        // End of input at 7.4: the tail after 7.0 is less than half a hop: no partial window.
        assert_eq!(h.clone().last(7.4), None);
        let (s, e) = h.last(7.9).unwrap();
        assert!((s - 3.9).abs() < 1e-9 && (e - 7.9).abs() < 1e-9, "{s} {e}");
        assert_eq!(h.last(9.0), None, "one last window only");
    }

    #[test]
    fn batches_carry_the_previous_frame_and_split_on_size_changes() {
        let f = |i: u64, w: usize| VideoFrame {
            index: i,
            pts: i as f64,
            duration: None,
            width: w,
            height: 2,
            luma: vec![0; w * 2],
            cb: vec![0; w.div_ceil(2)],
            cr: vec![0; w.div_ceil(2)],
            arrival: Instant::now(),
            damaged: false,
            face: None,
            face_demand: None,
        };
        let mut b = VideoBatcher::default();
        assert!(b.push(f(0, 4)).is_none());
        assert!(b.push(f(1, 4)).is_none());
        let first = b.take().unwrap();
        assert!(first.prev.is_none() && first.size_changed);
        b.push(f(2, 4));
        let flushed = b.push(f(3, 8)).expect("size change flushes");
        assert_eq!(flushed.prev.as_ref().unwrap().index, 1);
        assert_eq!(flushed.frames.len(), 1);
        let after = b.take().unwrap();
        assert!(
            after.prev.is_none() && after.size_changed,
            "no differences across sizes"
        );
    }
}
