//! The look of one analysis frame, the figures a cinematographer and a colourist read first
//! (production / cinematography, exposure; post-production / colour):
//!
//! - exposure: mean level (luma, 0–1 of the video range 16–235), the share of clipped
//!   highlights (luma ≥ 235) and of crushed shadows (luma ≤ 18);
//! - contrast: RMS contrast, the standard deviation of the normalised luma;
//! - colourfulness: Hasler & Süsstrunk (2003), `M = σ_rgyb + 0.3 μ_rgyb` over the opponent
//!   channels `rg = R − G`, `yb = (R + G)/2 − B` on 0–255 RGB (BT.709 limited range); about 0
//!   for grey, 15 "slightly", 33 "moderately", 45 "averagely", 59 "quite", 82+ "highly"
//!   colourful in the paper's scale;
//! - colour cast: the mean chroma offset from neutral (`√(Cb'² + Cr'²)`, Cb' and Cr' in ±0.5).
//!
//! One pass over the 160-px analysis frame (chroma at its own half resolution, each sample
//! with the luma at its top-left): ~15 k pixels, microseconds a frame.
use crate::types::VideoFrame;

/// Luma at or above this is a clipped highlight (video range white).
pub const HIGHLIGHT: u8 = 235;
/// Luma at or below this is a crushed shadow (2 codes above video range black).
pub const SHADOW: u8 = 18;

/// One frame's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FrameLook {
    pub mean_luma: f64,
    pub highlights: f64,
    pub shadows: f64,
    /// The level 95 % of the picture is at or below (0–1 of the video range).
    pub p95: f64,
    /// Share of the picture at or below code 32 (the black detector's default black level).
    pub dark: f64,
    pub contrast: f64,
    pub colourfulness: f64,
    pub cast: f64,
}

/// The figures of one frame.
pub fn look(f: &VideoFrame) -> FrameLook {
    let n = f.luma.len().max(1) as f64;
    // One pass builds the histogram; every luma figure is read from it. Four histograms
    // summed at the end: runs of one level would otherwise wait on each other's increment.
    let mut hists = [[0u32; 256]; 4];
    let quads = f.luma.chunks_exact(4);
    for &y in quads.remainder() {
        hists[0][y as usize] += 1;
    }
    for q in quads {
        for (h, &y) in hists.iter_mut().zip(q) {
            h[y as usize] += 1;
        }
    }
    let mut hist = [0u32; 256];
    for (k, c) in hist.iter_mut().enumerate() {
        *c = hists.iter().map(|h| h[k]).sum();
    }
    let (mut sum, mut sq) = (0.0f64, 0.0f64);
    for (code, &c) in hist.iter().enumerate() {
        let v = ((code as f64 - 16.0) / 219.0).clamp(0.0, 1.0);
        sum += v * c as f64;
        sq += v * v * c as f64;
    }
    let hi: u32 = hist[HIGHLIGHT as usize..].iter().sum();
    let lo: u32 = hist[..=SHADOW as usize].iter().sum();
    let mean = sum / n;
    let (mut below, mut p95) = (0u32, 255usize);
    for (code, c) in hist.iter().enumerate() {
        below += c;
        if below as f64 >= 0.95 * n {
            p95 = code;
            break;
        }
    }
    let dark = hist[..=32].iter().sum::<u32>() as f64 / n;
    let ([rg0, rg1, yb0, yb1, cast], m) = colour(f);
    let (rg, yb) = ([rg0, rg1], [yb0, yb1]);
    let m = m.max(1) as f64;
    let var = |s: [f64; 2]| (s[1] / m - (s[0] / m).powi(2)).max(0.0);
    let sigma = (var(rg) + var(yb)).sqrt();
    let mu = ((rg[0] / m).powi(2) + (yb[0] / m).powi(2)).sqrt();
    FrameLook {
        mean_luma: mean,
        highlights: hi as f64 / n,
        shadows: lo as f64 / n,
        p95: ((p95 as f64 - 16.0) / 219.0).clamp(0.0, 1.0),
        dark,
        contrast: (sq / n - mean * mean).max(0.0).sqrt(),
        colourfulness: sigma + 0.3 * mu,
        cast: cast / m,
    }
}

/// Lanes of [`colour_row`]: independent sums, so the loop vectorises.
const LANES: usize = 8;

/// The colour figures of one sample: `[rg, rg², yb, yb², cast]`.
#[inline(always)]
fn colour_terms(y: u8, cb: u8, cr: u8) -> [f32; 5] {
    let yn = ((y as f32 - 16.0) / 219.0).clamp(0.0, 1.0);
    let (u, v) = ((cb as f32 - 128.0) / 224.0, (cr as f32 - 128.0) / 224.0);
    let r = (yn + 1.5748 * v).clamp(0.0, 1.0) * 255.0;
    let g = (yn - 0.1873 * u - 0.4681 * v).clamp(0.0, 1.0) * 255.0;
    let b = (yn + 1.8556 * u).clamp(0.0, 1.0) * 255.0;
    let (a, c) = (r - g, 0.5 * (r + g) - b);
    [a, a * a, c, c * c, (u * u + v * v).sqrt()]
}

/// The colour sums of one chroma row, each sample with the luma at its top-left (`luma` is
/// the luma row, twice as wide, give or take one for an odd width): `[rg, rg², yb, yb², cast]`
/// and the number of samples. In f32 lanes per row (a row holds at most a few thousand
/// terms), totals in f64.
fn colour_row(cb: &[u8], cr: &[u8], luma: &[u8]) -> ([f64; 5], usize) {
    let n = cb.len().min(cr.len()).min(luma.len().div_ceil(2));
    let (cb, cr) = (&cb[..n], &cr[..n]);
    let mut acc = [[0f32; LANES]; 5];
    let full = (n / LANES).min(luma.len() / (2 * LANES));
    let rows = cb.chunks_exact(LANES).zip(cr.chunks_exact(LANES));
    for ((b, r), y) in rows.zip(luma.chunks_exact(2 * LANES)).take(full) {
        for j in 0..LANES {
            let t = colour_terms(y[2 * j], b[j], r[j]);
            for (a, t) in acc.iter_mut().zip(t) {
                a[j] += t;
            }
        }
    }
    for x in full * LANES..n {
        let t = colour_terms(luma[2 * x], cb[x], cr[x]);
        for (a, t) in acc.iter_mut().zip(t) {
            a[0] += t;
        }
    }
    (acc.map(|lanes| lanes.iter().map(|&v| v as f64).sum()), n)
}

/// The colour sums of a frame (`[rg, rg², yb, yb², cast]`, as [`colour_row`]) and the number
/// of chroma samples; rows the planes do not hold (a short buffer) are left out.
fn colour(f: &VideoFrame) -> ([f64; 5], usize) {
    let (cw, ch) = (f.chroma_width(), f.chroma_height());
    let (mut sums, mut m) = ([0f64; 5], 0usize);
    for cy in 0..ch {
        let ly = (2 * cy).min(f.height.saturating_sub(1));
        let (Some(cb), Some(cr), Some(luma)) = (
            f.cb.get(cy * cw..(cy + 1) * cw),
            f.cr.get(cy * cw..(cy + 1) * cw),
            f.luma.get(ly * f.width..(ly + 1) * f.width),
        ) else {
            continue;
        };
        let (s, n) = colour_row(cb, cr, luma);
        sums.iter_mut().zip(s).for_each(|(a, b)| *a += b);
        m += n;
    }
    (sums, m)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 160×90 frame with luma `y(x, yy)` and constant chroma.
    fn frame(y: impl Fn(usize, usize) -> u8, cb: u8, cr: u8) -> VideoFrame {
        let (w, h) = (160, 90);
        let mut i420: Vec<u8> = (0..h)
            .flat_map(|r| (0..w).map(move |c| (r, c)))
            .map(|(r, c)| y(c, r))
            .collect();
        i420.extend(std::iter::repeat_n(cb, 80 * 45));
        i420.extend(std::iter::repeat_n(cr, 80 * 45));
        VideoFrame::from_i420(0, 0.0, 1.0 / 30.0, (w, h), &i420)
    }

    #[test]
    fn grey_is_colourless_and_flat() {
        let l = look(&frame(|_, _| 126, 128, 128));
        assert!((l.mean_luma - 110.0 / 219.0).abs() < 1e-9, "{l:?}");
        assert!(
            l.colourfulness < 0.5 && l.contrast < 1e-5 && l.cast < 1e-9,
            "{l:?}"
        );
        assert_eq!((l.highlights, l.shadows), (0.0, 0.0));
    }

    #[test]
    fn half_white_half_black_has_contrast_one_half_and_both_clips() {
        let l = look(&frame(|x, _| if x < 80 { 16 } else { 235 }, 128, 128));
        assert!((l.contrast - 0.5).abs() < 1e-9, "{l:?}");
        assert!((l.highlights - 0.5).abs() < 1e-9 && (l.shadows - 0.5).abs() < 1e-9);
    }

    #[test]
    fn colourfulness_ranks_saturation_and_measures_a_cast() {
        // Pure red in BT.709 limited range: Y 63, Cb 102, Cr 240.
        let red = look(&frame(|_, _| 63, 102, 240));
        // A uniformly red picture has no spread, only a mean: M = 0.3 μ, μ ≈ 255·√(1² + 0.5²).
        assert!(
            (red.colourfulness - 0.3 * 255.0 * 1.25f64.sqrt()).abs() < 6.0,
            "{red:?}"
        );
        assert!(red.cast > 0.4, "{red:?}");
        // Red and cyan stripes: opponent spread on top → more colourful than plain red.
        let stripes = {
            let mut f = frame(|x, _| if (x / 8) % 2 == 0 { 63 } else { 188 }, 0, 0);
            for (i, (cb, cr)) in f.cb.iter_mut().zip(f.cr.iter_mut()).enumerate() {
                let red = ((i % 80) / 4) % 2 == 0;
                (*cb, *cr) = if red { (102, 240) } else { (154, 16) };
            }
            look(&f)
        };
        assert!(
            stripes.colourfulness > red.colourfulness + 20.0,
            "{stripes:?} vs {red:?}"
        );
    }

    /// The lane-wise colour pass against the plain f64 one it replaced (each chroma sample
    /// with the luma at its top-left, clamped into the picture), on noise of every size
    /// parity: the same figures to 1e-5 relative.
    #[test]
    fn colour_sums_match_a_plain_f64_pass() {
        let mut seed = 0x9E37_79B9u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed >> 24) as u8
        };
        for (w, h) in [(160usize, 90usize), (161, 91), (7, 5), (2, 2), (1, 1)] {
            let n = w * h + 2 * w.div_ceil(2) * h.div_ceil(2);
            let i420: Vec<u8> = (0..n).map(|_| next()).collect();
            let f = VideoFrame::from_i420(0, 0.0, 0.04, (w, h), &i420);
            let (cw, ch) = (f.chroma_width(), f.chroma_height());
            let (mut want, mut m) = ([0f64; 5], 0usize);
            for cy in 0..ch {
                for cx in 0..cw {
                    let i = cy * cw + cx;
                    let y = f.luma[(2 * cy).min(h - 1) * w + (2 * cx).min(w - 1)];
                    let yn = ((y as f64 - 16.0) / 219.0).clamp(0.0, 1.0);
                    let u = (f.cb[i] as f64 - 128.0) / 224.0;
                    let v = (f.cr[i] as f64 - 128.0) / 224.0;
                    let r = (yn + 1.5748 * v).clamp(0.0, 1.0) * 255.0;
                    let g = (yn - 0.1873 * u - 0.4681 * v).clamp(0.0, 1.0) * 255.0;
                    let b = (yn + 1.8556 * u).clamp(0.0, 1.0) * 255.0;
                    let (a, c) = (r - g, 0.5 * (r + g) - b);
                    for (s, t) in want
                        .iter_mut()
                        .zip([a, a * a, c, c * c, (u * u + v * v).sqrt()])
                    {
                        *s += t;
                    }
                    m += 1;
                }
            }
            let (got, got_m) = colour(&f);
            assert_eq!(got_m, m, "{w}x{h}");
            for (g, w_) in got.iter().zip(want) {
                assert!(
                    (g - w_).abs() <= 1e-5 * w_.abs().max(1.0),
                    "{w}x{h}: {got:?} vs {want:?}"
                );
            }
        }
    }
}
