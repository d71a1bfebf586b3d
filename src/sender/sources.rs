//! Things in the picture that make sound, with exact ground truth, for the local-motion sync
//! evidence (post-production / sound design: audio-visual fusion on ordinary footage):
//!
//! - a **talker**: a face in close-up whose mouth opens with every syllable it speaks. The
//!   syllables come in phrases of 2–7 (0.12–0.32 s each, 40–160 ms apart, phrases 0.3–1.2 s
//!   apart); each is a voiced sound (harmonics of a 105–145 Hz pitch shaped by two formants, a
//!   vowel), half of them led by a 20 ms burst of noise (a plosive). The jaw drops as the sound
//!   starts, fastest at first (`1 − (1 − x)²` over 80 ms), and closes smoothly over the
//!   syllable's last 100 ms. Not speech (no words), but its timing: onsets at word and phrase
//!   starts, a quasi-regular syllable rate.
//! - a **walker**: a figure that walks across the frame and back, pausing now and then; each
//!   foot swings forward (slowly at first, fastest as it lands: `u²` forward, a `sin(π u²)` arc
//!   up and down) and lands with a footstep (a 90 Hz thump and a heel click). The cadence is
//!   0.45–0.70 s a step, each step ±12 %, a new cadence after every turn.
//!
//! Both are drawn from a seed, so a control can pair the picture of one draw with the sound of
//! another (a mismatched dub: motion that makes sound, but not this sound).
use super::draw::{contrasting, draws, fill_ellipse, fill_rect, unit};
use std::f64::consts::{PI, TAU};

/// One syllable: when it sounds, how loud, and its voice.
#[derive(Clone, Debug)]
pub struct Syllable {
    pub start: f64,
    pub len: f64,
    pub amp: f64,
    f0: f64,
    /// Amplitude of each harmonic of `f0` (the vowel's formants), below 3.5 kHz.
    harmonics: Vec<f64>,
    burst: bool,
}

/// The syllables spoken in `spans` (seconds), from `seed`.
pub fn syllables(seed: u64, spans: &[(f64, f64)]) -> Vec<Syllable> {
    let mut u = draws(seed ^ 0x5a11_ab1e);
    let mut out = vec![];
    for &(a, b) in spans {
        let mut t = a + 0.2 + 0.5 * u();
        while t < b - 0.4 {
            let n = 2 + (u() * 6.0) as usize;
            for _ in 0..n {
                let len = 0.12 + 0.2 * u();
                if t + len > b {
                    break;
                }
                let (amp, f0) = (0.5 + 0.5 * u(), 105.0 + 40.0 * u());
                let formants = [300.0 + 500.0 * u(), 900.0 + 1300.0 * u()];
                let harmonics = (1..)
                    .map(|h| h as f64 * f0)
                    .take_while(|f| *f < 3500.0)
                    .map(|f| {
                        formants
                            .iter()
                            .map(|fm| 1.0 / (1.0 + ((f - fm) / 90.0).powi(2)))
                            .sum()
                    })
                    .collect();
                let burst = u() < 0.5;
                out.push(Syllable {
                    start: t,
                    len,
                    amp,
                    f0,
                    harmonics,
                    burst,
                });
                t += len + 0.04 + 0.12 * u();
            }
            t += 0.3 + 0.9 * u();
        }
    }
    out
}

/// How far the mouth is open at `t` (0–1).
pub fn mouth_open(syllables: &[Syllable], t: f64) -> f64 {
    syllables
        .iter()
        .filter(|s| t >= s.start && t < s.start + s.len)
        .map(|s| {
            let x = ((t - s.start) / 0.08).min(1.0);
            let y = ((s.start + s.len - t) / 0.1).min(1.0);
            s.amp * (1.0 - (1.0 - x) * (1.0 - x)).min(y * y * (3.0 - 2.0 * y))
        })
        .fold(0.0, f64::max)
}

/// The syllable's sound `dt` seconds after it starts; `noise` in [−1, 1) for the plosive.
pub fn voice(s: &Syllable, dt: f64, noise: f64) -> f64 {
    if !(0.0..s.len).contains(&dt) {
        return 0.0;
    }
    let env = (dt / 0.015).min(1.0) * ((s.len - dt) / 0.05).min(1.0);
    let voiced: f64 = s
        .harmonics
        .iter()
        .enumerate()
        .map(|(h, a)| a * (TAU * (h + 1) as f64 * s.f0 * dt).sin())
        .sum();
    let burst = if s.burst && dt < 0.02 {
        noise * (1.0 - dt / 0.02)
    } else {
        0.0
    };
    s.amp * (0.08 * env * voiced + 0.3 * burst)
}

/// Where the talker of span `i` sits: the face's centre and radii, as fractions of the
/// picture's height (x of its width).
fn face(seed: u64, i: usize) -> (f64, f64, f64) {
    let u = |k| unit(seed ^ 0xface, 2 * i as u64 + k);
    (0.2 + 0.6 * u(0), 0.3 + 0.3 * u(1), 0.16)
}

/// Draw the talkers speaking at `t` into a luma plane, their mouths `open` (0–1).
pub fn paint_talkers(
    ys: &mut [u8],
    (w, h): (usize, usize),
    seed: u64,
    spans: &[(f64, f64)],
    open: f64,
    t: f64,
) {
    let (wf, hf) = (w as f64, h as f64);
    for (i, _) in spans
        .iter()
        .enumerate()
        .filter(|(_, (a, b))| t >= *a && t < *b)
    {
        let (fx, fy, r) = face(seed, i);
        let (cx, cy, ry) = (fx * wf, fy * hf, r * hf);
        let skin = contrasting(ys);
        fill_ellipse(ys, (w, h), (cx, cy, 0.8 * ry, ry), skin);
        let (mw, mh) = (0.8 * ry, (0.05 + 0.55 * open) * ry);
        let my = cy + 0.45 * ry;
        let lips = if skin > 128.0 { 30.0 } else { 225.0 };
        fill_rect(ys, (w, h), (cx - mw / 2.0, my - mh / 2.0, mw, mh), lips);
    }
}

/// One footstep: the foot swings over the `swing` seconds before `t` from `from` to `to`
/// (fractions of the picture's width) and lands at `t`.
#[derive(Clone, Debug)]
pub struct Step {
    pub t: f64,
    pub amp: f64,
    span: usize,
    swing: f64,
    foot: usize,
    from: f64,
    to: f64,
    /// Height of the ground (fraction of the picture's height).
    ground: f64,
}

/// The footsteps of the walks in `spans`, from `seed`.
pub fn steps(seed: u64, spans: &[(f64, f64)]) -> Vec<Step> {
    let mut u = draws(seed ^ 0xf007);
    let mut out = vec![];
    for (span, &(a, b)) in spans.iter().enumerate() {
        let ground = 0.7 + 0.15 * u();
        let mut dir = if u() < 0.5 { 1.0 } else { -1.0 };
        let start = if dir > 0.0 { 0.1 } else { 0.9 };
        let mut feet = [start, start];
        let stride = 0.05 + 0.03 * u();
        let mut cadence = 0.45 + 0.25 * u();
        let mut t = a + 0.5 + 0.5 * u();
        let mut foot = 0;
        while t < b - 0.2 {
            let gap = cadence * (0.88 + 0.24 * u());
            let to = feet[1 - foot] + dir * stride;
            out.push(Step {
                t,
                amp: 0.6 + 0.4 * u(),
                span,
                swing: (0.8 * gap).min(0.45),
                foot,
                from: feet[foot],
                to,
                ground,
            });
            feet[foot] = to;
            foot = 1 - foot;
            t += gap;
            if (dir > 0.0 && to > 0.88) || (dir < 0.0 && to < 0.12) {
                // Turn round after a pause; a new cadence.
                dir = -dir;
                t += 0.6 + 0.9 * u();
                cadence = 0.45 + 0.25 * u();
            } else if u() < 0.08 {
                t += 0.4 + 0.8 * u();
            }
        }
    }
    out
}

/// The footstep's sound `dt` seconds after the foot lands; `noise` in [−1, 1) for the click.
pub fn footstep(s: &Step, dt: f64, noise: f64) -> f64 {
    if !(0.0..0.25).contains(&dt) {
        return 0.0;
    }
    let attack = (dt / 0.002).min(1.0);
    s.amp
        * attack
        * (0.5 * (TAU * 90.0 * dt).sin() * (-dt / 0.04).exp() + 0.3 * noise * (-dt / 0.004).exp())
}

/// Where foot `foot` of walk `span` is at `t`: (x, lift), fractions of width and height.
fn foot_at(steps: &[Step], span: usize, foot: usize, t: f64) -> Option<(f64, f64)> {
    let mine = || steps.iter().filter(|s| s.span == span && s.foot == foot);
    let first = mine().next()?;
    let Some(s) = mine().rev().find(|s| t >= s.t - s.swing) else {
        return Some((first.from, 0.0));
    };
    if t >= s.t {
        return Some((s.to, 0.0));
    }
    let x = (t - (s.t - s.swing)) / s.swing;
    let x2 = x * x;
    Some((s.from + (s.to - s.from) * x2, 0.05 * (PI * x2).sin()))
}

/// Draw the walkers walking at `t` into a luma plane: two feet and a body over them.
pub fn paint_walkers(
    ys: &mut [u8],
    (w, h): (usize, usize),
    spans: &[(f64, f64)],
    steps: &[Step],
    t: f64,
) {
    let (wf, hf) = (w as f64, h as f64);
    for (span, _) in spans
        .iter()
        .enumerate()
        .filter(|(_, (a, b))| t >= *a && t < *b)
    {
        let Some(ground) = steps.iter().find(|s| s.span == span).map(|s| s.ground) else {
            continue;
        };
        let (Some(f0), Some(f1)) = (foot_at(steps, span, 0, t), foot_at(steps, span, 1, t)) else {
            continue;
        };
        let (fw, fh) = (0.1 * hf, 0.045 * hf);
        let gy = ground * hf;
        let level = contrasting(ys);
        for (x, lift) in [f0, f1] {
            let foot = (x * wf - fw / 2.0, gy - fh - lift * hf, fw, fh);
            fill_rect(ys, (w, h), foot, level);
        }
        let (bw, bh) = (0.09 * hf, 0.4 * hf);
        let bx = (f0.0 + f1.0) / 2.0 * wf - bw / 2.0;
        fill_rect(ys, (w, h), (bx, gy - 0.12 * hf - bh, bw, bh), level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syllables_and_steps_stay_in_their_spans_and_are_irregular() {
        let syl = syllables(3, &[(2.0, 20.0)]);
        assert!(syl.len() > 30, "{} syllables", syl.len());
        assert!(
            syl.iter()
                .all(|s| s.start >= 2.0 && s.start + s.len <= 20.0)
        );
        assert!(
            syl.windows(2)
                .all(|p| p[1].start >= p[0].start + p[0].len + 0.04 - 1e-9)
        );
        let st = steps(3, &[(0.0, 30.0)]);
        assert!(st.len() > 30, "{} steps", st.len());
        let gaps: Vec<f64> = st.windows(2).map(|p| p[1].t - p[0].t).collect();
        let (lo, hi) = gaps
            .iter()
            .fold((f64::MAX, 0.0f64), |(l, h), g| (l.min(*g), h.max(*g)));
        assert!(lo >= 0.39 && hi > 0.9, "step gaps {lo}..{hi}");
        // Feet land where they swung to and stay until they swing again.
        for s in &st {
            let (x, lift) = foot_at(&st, s.span, s.foot, s.t).unwrap();
            assert_eq!((x, lift), (s.to, 0.0));
            let (_, up) = foot_at(&st, s.span, s.foot, s.t - s.swing / 2.0).unwrap();
            assert!(up > 0.0);
        }
    }

    #[test]
    fn the_mouth_opens_with_the_sound_and_is_shut_between_syllables() {
        let syl = syllables(5, &[(0.0, 10.0)]);
        let s = &syl[3];
        assert_eq!(mouth_open(&syl, s.start - 0.01), 0.0);
        assert!(mouth_open(&syl, s.start + 0.04) > 0.5 * s.amp);
        assert!(voice(s, 0.03, 0.0).abs() > 0.0);
        assert_eq!(voice(s, s.len + 0.001, 0.0), 0.0);
    }
}
