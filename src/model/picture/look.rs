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
    // One pass builds the histogram; every luma figure is read from it.
    let mut hist = [0u32; 256];
    for &y in &f.luma {
        hist[y as usize] += 1;
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
    let (cw, ch) = (f.chroma_width(), f.chroma_height());
    let (mut rg, mut yb, mut cast) = ([0.0f64; 2], [0.0f64; 2], 0.0f64);
    let mut m = 0usize;
    for cy in 0..ch {
        for cx in 0..cw {
            let i = cy * cw + cx;
            let (Some(&cb), Some(&cr)) = (f.cb.get(i), f.cr.get(i)) else {
                continue;
            };
            let y = f
                .luma
                .get(
                    (2 * cy).min(f.height.saturating_sub(1)) * f.width
                        + (2 * cx).min(f.width.saturating_sub(1)),
                )
                .copied()
                .unwrap_or(16);
            let yn = ((y as f64 - 16.0) / 219.0).clamp(0.0, 1.0);
            let (u, v) = ((cb as f64 - 128.0) / 224.0, (cr as f64 - 128.0) / 224.0);
            let r = (yn + 1.5748 * v).clamp(0.0, 1.0) * 255.0;
            let g = (yn - 0.1873 * u - 0.4681 * v).clamp(0.0, 1.0) * 255.0;
            let b = (yn + 1.8556 * u).clamp(0.0, 1.0) * 255.0;
            let (a, c) = (r - g, 0.5 * (r + g) - b);
            rg[0] += a;
            rg[1] += a * a;
            yb[0] += c;
            yb[1] += c * c;
            cast += (u * u + v * v).sqrt();
            m += 1;
        }
    }
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
}
