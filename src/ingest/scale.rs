//! The analysis frame from the decoder's own, scaled in Rust the way GStreamer's `videoscale`
//! scales by default (method `bilinear`: two taps an axis, the vertical pass first, 8-bit fixed
//! point), reading only the 2 source rows each output row is made from (180 of a 720p frame's
//! 720 rows for 90 output rows) instead of converting every pixel first. The thresholds of every dimension were tuned on `videoscale`'s
//! frames; these are the same frames, bit for bit (`matches_videoscale` below compares them with
//! a real `videoscale`), except where `videoscale` also converted colour: for a source whose caps
//! name no colorimetry it assumes BT.709 above 576 lines and BT.601 at the analysis size, and so
//! converted HD luma between matrices (±5 levels in saturated colour). Ours is the encoded luma.
//!
//! The fixed-point rules are those of GStreamer's video scaler (`video-scaler.c`,
//! `video-resampler.c`): rows sample at `(j + ½)·in/out − ½` with 8-bit weights rounded so each
//! pair sums to 256, `s1 + ((s2 − s1)·w + 128) >> 8` in 16 bits; columns step by
//! `((in − 1) << 16) / (out − 1) − 1` and blend `(a·(256 − f) + b·f) >> 8`.

/// The analysis size GStreamer would negotiate for `width` pixels wide with square pixels: the
/// source's display aspect kept, the height rounded to the nearest line (at least 1).
/// `par` is the source's pixel aspect ratio (numerator, denominator).
pub fn analysis_size(src: (usize, usize), par: (i32, i32), width: usize) -> (usize, usize) {
    let (w, h) = (src.0.max(1) as u128, src.1 as u128);
    let (pn, pd) = (par.0.max(1) as u128, par.1.max(1) as u128);
    let (num, den) = (width as u128 * h * pd, w * pn);
    let height = ((2 * num + den) / (2 * den)).max(1);
    (width.max(1), height.min(usize::MAX as u128) as usize)
}

/// Scales one 8-bit plane of a fixed size to another fixed size (made once per caps).
#[derive(Clone, Debug, PartialEq)]
pub struct PlaneScaler {
    src: (usize, usize),
    dst: (usize, usize),
    /// Per output row: the first source row and the second row's weight (of 256).
    rows: Vec<(usize, i16)>,
    /// Per output column: the first source column and the second column's weight (of 256).
    cols: Vec<(usize, u16)>,
}

impl PlaneScaler {
    pub fn new(src: (usize, usize), dst: (usize, usize)) -> Self {
        Self {
            src,
            dst,
            rows: row_taps(src.1, dst.1),
            cols: column_taps(src.0, dst.0),
        }
    }

    /// Scale `data` (rows `stride` bytes apart) into a tightly packed plane. `None` when the
    /// data is shorter than the source size says.
    pub fn scale(&self, data: &[u8], stride: usize) -> Option<Vec<u8>> {
        let (sw, sh) = self.src;
        if sw == 0 || sh == 0 || stride < sw || data.len() < stride * (sh - 1) + sw {
            return None;
        }
        let mut out = Vec::with_capacity(self.dst.0 * self.dst.1);
        // The vertical pass over whole rows (a straight loop the compiler vectorises: cheaper
        // than blending only the columns the horizontal pass reads, one by one), then the
        // horizontal taps on that row.
        // One more than the row, a copy of its last pixel: every column pair can be read.
        let mut row = vec![0u8; sw + 1];
        for &(r, w) in &self.rows {
            let top = &data[r * stride..r * stride + sw];
            // The last source row has no row below: its taps are (0, 256) on the row above.
            let bottom = if r + 1 < sh {
                &data[(r + 1) * stride..(r + 1) * stride + sw]
            } else {
                top
            };
            for ((d, &s1), &s2) in row.iter_mut().zip(top).zip(bottom) {
                // 16-bit arithmetic as the original's: the high byte, added modulo 256.
                let t = ((s2 as i16 - s1 as i16).wrapping_mul(w).wrapping_add(128) >> 8) as u8;
                *d = t.wrapping_add(s1);
            }
            row[sw] = row[sw - 1];
            if self.cols.is_empty() {
                out.extend_from_slice(&row[..sw]);
                continue;
            }
            let start = out.len();
            out.resize(start + self.cols.len(), 0);
            for (o, &(c, f)) in out[start..].iter_mut().zip(&self.cols) {
                let pair = &row[c..c + 2];
                let (a, b, f) = (pair[0] as u32, pair[1] as u32, f as u32);
                *o = ((a * (256 - f) + b * f) >> 8) as u8;
            }
        }
        Some(out)
    }
}

/// Vertical taps: 2 a row, sampled at the output row's centre, 8-bit weights.
fn row_taps(src: usize, dst: usize) -> Vec<(usize, i16)> {
    if src <= 1 {
        return vec![(0, 0); dst];
    }
    (0..dst)
        .map(|j| {
            let x = ((0.5 + j as f64) / dst as f64 * src as f64 - 0.5).clamp(0.0, (src - 1) as f64);
            let first = x.floor() as usize;
            let frac = x - first as f64;
            if first > src - 2 {
                // Past the last pair: all the weight on the last row.
                return (src - 2, 256);
            }
            (first, second_weight(1.0 - frac, frac))
        })
        .collect()
}

/// The second tap of a pair in 8 bits, rounded with the bias that makes the pair sum to 256
/// (the bisection of GStreamer's `resampler_convert_coeff`).
fn second_weight(t0: f64, t1: f64) -> i16 {
    let (mut low, mut high, mut offset) = (0.0f64, 1.0f64, 0.5f64);
    let mut second = (offset + t1 * 256.0).floor() as i16;
    for _ in 0..64 {
        let first = (offset + t0 * 256.0).floor() as i16;
        second = (offset + t1 * 256.0).floor() as i16;
        let sum = first + second;
        if sum == 256 || low == high {
            break;
        }
        if sum < 256 {
            low = low.max(offset);
            offset += (high - low) / 2.0;
        } else {
            high = high.min(offset);
            offset -= (high - low) / 2.0;
        }
    }
    second
}

/// Horizontal taps: a 16.16 step from the first column to the last, the blend in 8 bits.
/// Empty when the width stays (the row is copied).
fn column_taps(src: usize, dst: usize) -> Vec<(usize, u16)> {
    if src == dst {
        return vec![];
    }
    let inc: i64 = if dst <= 1 {
        0
    } else {
        (((src as i64 - 1) << 16) / (dst as i64 - 1) - 1).max(0)
    };
    (0..dst as i64)
        .map(|i| {
            let t = i * inc;
            (((t >> 16) as usize).min(src - 1), ((t >> 8) & 0xff) as u16)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_those_gstreamer_negotiates() {
        // Measured with gst-launch-1.0 … ! videoscale ! video/x-raw,width=160,pixel-aspect-ratio=1/1
        for (src, par, h) in [
            ((1280, 720), (1, 1), 90),
            ((480, 320), (1, 1), 107),
            ((500, 331), (1, 1), 106),
            ((720, 480), (8, 9), 120),
            ((720, 576), (59, 54), 117),
            ((704, 576), (16, 11), 90),
            ((1440, 1080), (4, 3), 90),
            ((100, 60), (1, 1), 96),
            ((161, 91), (1, 1), 90),
        ] {
            assert_eq!(analysis_size(src, par, 160), (160, h), "{src:?} {par:?}");
        }
        assert_eq!(analysis_size((4000, 1), (1, 1), 160), (160, 1));
    }

    #[test]
    fn a_flat_plane_stays_flat_and_sizes_hold() {
        for (src, dst) in [
            ((1280, 720), (160, 90)),
            ((33, 17), (160, 90)),
            ((1, 1), (4, 3)),
        ] {
            let s = PlaneScaler::new(src, dst);
            let out = s.scale(&vec![77u8; src.0 * src.1], src.0).unwrap();
            assert_eq!(out.len(), dst.0 * dst.1);
            assert!(out.iter().all(|&v| v == 77), "{src:?} → {dst:?}");
        }
        // A stride wider than the row, and data too short for the size.
        let s = PlaneScaler::new((8, 2), (4, 1));
        assert_eq!(s.scale(&[9u8; 16 + 8], 16).unwrap(), vec![9; 4]);
        assert!(s.scale(&[9u8; 16], 16).is_none());
    }

    #[test]
    fn an_8x_downscale_reads_two_of_eight_lines_at_the_known_weights() {
        // 1280 → 160: output column 75 blends source columns 603 and 604 at 180/256 and 76/256
        // (what an impulse through videoscale shows), row 75 rows 603 and 604 at ½ each.
        let cols = column_taps(1280, 160);
        assert_eq!(cols[75], (603, 76));
        assert_eq!(cols[76], (611, 88));
        let rows = row_taps(720, 90);
        assert_eq!(rows[75], (603, 128));
        assert_eq!(rows[0], (3, 128));
    }

    /// Our frames against a real `videoscale` on the same frames: identical, for downscales,
    /// an odd size, non-square pixels and an upscale (colorimetry fixed on both sides, so
    /// `videoscale` converts no colour).
    #[test]
    fn matches_videoscale() {
        use gstreamer as gst;
        use gstreamer::prelude::*;
        use gstreamer_video::prelude::*;
        crate::ingest::init().unwrap();
        for (w, h, par, pattern) in [
            (640, 360, "1/1", "pinwheel"),
            (480, 320, "1/1", "zone-plate"),
            (704, 576, "16/11", "smpte"),
            (720, 480, "8/9", "ball"),
            (120, 64, "1/1", "zone-plate"),
        ] {
            let desc = format!(
                "videotestsrc num-buffers=3 pattern={pattern} ! video/x-raw,format=I420,width={w},height={h},pixel-aspect-ratio={par},colorimetry=bt601 ! tee name=t \
                 t. ! queue ! appsink name=full sync=false \
                 t. ! queue ! videoscale ! video/x-raw,width=160,pixel-aspect-ratio=1/1 ! appsink name=small sync=false"
            );
            let p = gst::parse::launch(&desc)
                .unwrap()
                .downcast::<gst::Pipeline>()
                .unwrap();
            let sink = |n: &str| {
                p.by_name(n)
                    .unwrap()
                    .downcast::<gstreamer_app::AppSink>()
                    .unwrap()
            };
            let (full, small) = (sink("full"), sink("small"));
            p.set_state(gst::State::Playing).unwrap();
            for _ in 0..3 {
                let a = full.pull_sample().unwrap();
                let b = small.pull_sample().unwrap();
                let ai = gstreamer_video::VideoInfo::from_caps(a.caps().unwrap()).unwrap();
                let bi = gstreamer_video::VideoInfo::from_caps(b.caps().unwrap()).unwrap();
                let size = analysis_size((w, h), (ai.par().numer(), ai.par().denom()), 160);
                assert_eq!(size, (bi.width() as usize, bi.height() as usize));
                let af = gstreamer_video::VideoFrameRef::from_buffer_ref_readable(
                    a.buffer().unwrap(),
                    &ai,
                )
                .unwrap();
                let bf = gstreamer_video::VideoFrameRef::from_buffer_ref_readable(
                    b.buffer().unwrap(),
                    &bi,
                )
                .unwrap();
                for plane in 0..3u32 {
                    let c = |n: usize| if plane == 0 { n } else { n.div_ceil(2) };
                    let s = PlaneScaler::new((c(w), c(h)), (c(size.0), c(size.1)));
                    let ours = s
                        .scale(
                            af.plane_data(plane).unwrap(),
                            af.plane_stride()[plane as usize] as usize,
                        )
                        .unwrap();
                    let stride = bf.plane_stride()[plane as usize] as usize;
                    let theirs = bf.plane_data(plane).unwrap();
                    // GStreamer leaves the last luma row of an odd height black; ours scales it.
                    let rows = if plane == 0 && size.1 % 2 == 1 {
                        size.1 - 1
                    } else {
                        c(size.1)
                    };
                    for r in 0..rows {
                        let row = c(size.0);
                        assert_eq!(
                            ours[r * row..(r + 1) * row],
                            theirs[r * stride..r * stride + row],
                            "{w}x{h} {pattern}: plane {plane} row {r}"
                        );
                    }
                }
            }
            p.set_state(gst::State::Null).unwrap();
        }
    }
}
