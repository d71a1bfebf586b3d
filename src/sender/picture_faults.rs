//! Picture faults for `inject` (production / cinematography), each over a span `A:B` of the
//! output with an amount, applied to the full-resolution I420 frame:
//!
//! - `exposure A:B:STOPS`: luma and chroma offsets scaled by `2^STOPS` around video black and
//!   neutral (+ brighter, − darker), clamped to the video range;
//! - `shake A:B:PCT`: every frame translated by a random offset, uniform in ±PCT % of the
//!   picture width on both axes (edges repeated), independently frame to frame;
//! - `blur A:B:PX`: three passes of a box blur of radius PX pixels (≈ a Gaussian of σ ≈ PX);
//! - `noise A:B:SIGMA`: Gaussian noise of σ SIGMA code values on luma.
//!
//! The random draws are a fixed function of the frame number: the same faults give the same
//! file.
use serde::{Deserialize, Serialize};

/// A span of the output, seconds, with the fault's amount.
pub type Amount = (f64, f64, f64);

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct PictureFaults {
    #[serde(default)]
    pub exposure: Vec<Amount>,
    #[serde(default)]
    pub shake: Vec<Amount>,
    #[serde(default)]
    pub blur: Vec<Amount>,
    #[serde(default)]
    pub noise: Vec<Amount>,
}

impl PictureFaults {
    /// Every fault with its truth name.
    pub fn all(&self) -> impl Iterator<Item = (&'static str, Amount)> + '_ {
        let named = |name: &'static str, v: &'static str, a: &Amount| {
            (if a.2 >= 0.0 { name } else { v }, *a)
        };
        self.exposure
            .iter()
            .map(move |a| named("overexposed", "underexposed", a))
            .chain(self.shake.iter().map(|a| ("shake", *a)))
            .chain(self.blur.iter().map(|a| ("blur", *a)))
            .chain(self.noise.iter().map(|a| ("noise", *a)))
    }

    pub fn validate(&self) -> Result<(), String> {
        for (kind, (a, b, x)) in self.all() {
            if !(a.is_finite() && b.is_finite() && a >= 0.0 && b > a && x.is_finite()) {
                return Err(format!(
                    "{kind} span {a}:{b} needs 0 <= A < B and a finite amount"
                ));
            }
        }
        let bad = |v: &[Amount], lo: f64, hi: f64| v.iter().any(|a| !(lo..=hi).contains(&a.2));
        if bad(&self.exposure, -8.0, 8.0) {
            return Err("exposure must be within ±8 stops".into());
        }
        if bad(&self.shake, 0.0, 20.0) {
            return Err("shake must be 0–20 % of the width".into());
        }
        if bad(&self.blur, 0.0, 64.0) {
            return Err("blur radius must be 0–64 pixels".into());
        }
        if bad(&self.noise, 0.0, 100.0) {
            return Err("noise sigma must be 0–100 code values".into());
        }
        Ok(())
    }

    /// Apply the faults whose span holds frame `n` (index → time by `frame_in`).
    pub fn apply(
        &self,
        planes: [&mut Vec<u8>; 3],
        (w, h): (usize, usize),
        n: u64,
        frame_in: impl Fn(&(f64, f64)) -> bool,
    ) {
        let [y, u, v] = planes;
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let active = |list: &[Amount]| list.iter().find(|a| frame_in(&(a.0, a.1))).map(|a| a.2);
        if let Some(stops) = active(&self.exposure) {
            let g = 2f64.powf(stops);
            let scale = |p: &mut Vec<u8>, base: f64, lo: f64, hi: f64| {
                p.iter_mut()
                    .for_each(|x| *x = (base + (*x as f64 - base) * g).round().clamp(lo, hi) as u8)
            };
            scale(y, 16.0, 16.0, 235.0);
            scale(u, 128.0, 16.0, 240.0);
            scale(v, 128.0, 16.0, 240.0);
        }
        if let Some(px) = active(&self.blur) {
            let r = px.round() as usize;
            box_blur(y, w, h, r);
            box_blur(u, cw, ch, r / 2);
            box_blur(v, cw, ch, r / 2);
        }
        if let Some(sigma) = active(&self.noise) {
            let mut r = rng(n ^ 0x5EED_0000);
            for p in y.iter_mut() {
                *p = (*p as f64 + sigma * normal(&mut r))
                    .round()
                    .clamp(0.0, 255.0) as u8;
            }
        }
        if let Some(pct) = active(&self.shake) {
            let mut r = rng(n ^ 0x5AE0_0000);
            let a = pct / 100.0 * w as f64;
            let ox = ((2.0 * rand::Rng::random::<f64>(&mut r) - 1.0) * a).round() as isize;
            let oy = ((2.0 * rand::Rng::random::<f64>(&mut r) - 1.0) * a).round() as isize;
            translate(y, w, h, ox, oy);
            translate(u, cw, ch, ox / 2, oy / 2);
            translate(v, cw, ch, ox / 2, oy / 2);
        }
    }
}

/// Three box-blur passes of radius `r`, separable, edges repeated.
fn box_blur(p: &mut [u8], w: usize, h: usize, r: usize) {
    if r == 0 || p.len() < w * h {
        return;
    }
    let mut line = vec![0u32; w.max(h)];
    for _ in 0..3 {
        for row in 0..h {
            blur_line(p, row * w, 1, w, r, &mut line);
        }
        for col in 0..w {
            blur_line(p, col, w, h, r, &mut line);
        }
    }
}

fn blur_line(p: &mut [u8], start: usize, step: usize, n: usize, r: usize, tmp: &mut [u32]) {
    for (i, t) in tmp.iter_mut().enumerate().take(n) {
        *t = p[start + i * step] as u32;
    }
    let at = |i: isize| tmp[i.clamp(0, n as isize - 1) as usize];
    let k = (2 * r + 1) as u32;
    let mut sum: u32 = (-(r as isize)..=r as isize).map(at).sum();
    for i in 0..n {
        p[start + i * step] = ((sum + k / 2) / k) as u8;
        sum += at(i as isize + r as isize + 1);
        sum -= at(i as isize - r as isize);
    }
}

/// Move the picture by (ox, oy) pixels, edges repeated.
fn translate(p: &mut [u8], w: usize, h: usize, ox: isize, oy: isize) {
    if (ox == 0 && oy == 0) || p.len() < w * h {
        return;
    }
    let src = p[..w * h].to_vec();
    for y in 0..h {
        let sy = (y as isize - oy).clamp(0, h as isize - 1) as usize;
        for x in 0..w {
            let sx = (x as isize - ox).clamp(0, w as isize - 1) as usize;
            p[y * w + x] = src[sy * w + sx];
        }
    }
}

/// A seeded generator (`rand_chacha`, already used for calibration splits): the same frame
/// gets the same draws.
fn rng(seed: u64) -> rand_chacha::ChaCha8Rng {
    rand::SeedableRng::seed_from_u64(seed)
}

/// A standard normal draw (Box–Muller).
fn normal(r: &mut impl rand::Rng) -> f64 {
    let (a, b): (f64, f64) = (r.random::<f64>().max(1e-12), r.random());
    (-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_keeps_the_mean_and_smooths_an_edge() {
        let (w, h) = (32, 8);
        let mut p: Vec<u8> = (0..w * h)
            .map(|i| if i % w < 16 { 16 } else { 235 })
            .collect();
        let mean = |p: &[u8]| p.iter().map(|&x| x as f64).sum::<f64>() / p.len() as f64;
        let m0 = mean(&p);
        box_blur(&mut p, w, h, 2);
        assert!((mean(&p) - m0).abs() < 1.0);
        assert!(p[14] > 16 && p[17] < 235, "{:?}", &p[..w]);
    }

    #[test]
    fn noise_has_the_asked_sigma_and_exposure_scales_around_black() {
        let f = PictureFaults {
            noise: vec![(0.0, 1.0, 5.0)],
            ..Default::default()
        };
        let (mut y, mut u, mut v) = (vec![128u8; 10_000], vec![128u8; 2500], vec![128u8; 2500]);
        f.apply([&mut y, &mut u, &mut v], (100, 100), 3, |_| true);
        let sd = (y.iter().map(|&x| (x as f64 - 128.0).powi(2)).sum::<f64>() / 1e4).sqrt();
        assert!((sd - 5.0).abs() < 0.3, "{sd}");
        let e = PictureFaults {
            exposure: vec![(0.0, 1.0, -1.0)],
            ..Default::default()
        };
        let (mut y, mut u, mut v) = (vec![116u8; 4], vec![128u8; 1], vec![178u8; 1]);
        e.apply([&mut y, &mut u, &mut v], (2, 2), 0, |_| true);
        assert_eq!((y[0], u[0], v[0]), (66, 128, 153));
    }
}
