//! A synthetic "cinematic" sequence with exact ground truth: shots with a moving subject and a
//! panning background, hard cuts at given times with a beep on each cut, and injectable faults
//! (audio delay, freeze, black, flicker, silence). Used by `demo`, `generate`, `send
//! --synthetic` and the tests.
use super::SendError;
use super::draw::{paint_rect, unit};
use super::sources;
use super::speech::Speech;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What to generate. Times are seconds from the start.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SceneSpec {
    pub width: usize,
    pub height: usize,
    pub fps: u32,
    pub duration_s: f64,
    /// Times of hard cuts (the first frame at or after each time starts a new shot).
    pub cuts: Vec<f64>,
    /// A beep (1.2 kHz, 60 ms) on each cut.
    pub beep_on_cut: bool,
    /// Extra beeps with a flash (2 white frames) at these times.
    pub flashes: Vec<f64>,
    /// Audio later than video by this much (negative: earlier).
    pub audio_delay_ms: f64,
    pub freeze: Vec<(f64, f64)>,
    pub black: Vec<(f64, f64)>,
    pub flicker: Vec<(f64, f64)>,
    pub silence: Vec<(f64, f64)>,
    /// Fades through black over A:B (down to black at the middle, back up by B).
    #[serde(default)]
    pub fades: Vec<(f64, f64)>,
    /// Cross-dissolves over A:B: the frames in [A, B) blend the outgoing shot into the next
    /// one (linearly); the new shot is alone from B (a shot boundary, like a cut at B).
    #[serde(default)]
    pub dissolves: Vec<(f64, f64)>,
    /// Beeps with no visual event (distractor sounds, music clicks), seconds before the delay.
    #[serde(default)]
    pub extra_beeps: Vec<f64>,
    /// Cuts (times, as in `cuts`) that get no beep even with `beep_on_cut`.
    #[serde(default)]
    pub silent_cuts: Vec<f64>,
    /// Shots (0-based, counting cuts and dissolve ends) drawn as a still picture: a title card,
    /// a photograph, a locked-off establishing shot. Content, not a fault.
    #[serde(default)]
    pub still_shots: Vec<u64>,
    /// Holds A:B: the motion eases out over the 0.5 s before A, holds still until B, then
    /// resumes (an animator's hold). Content, not a fault.
    #[serde(default)]
    pub holds: Vec<(f64, f64)>,
    /// Speed of the pans and the subject (1: the default; 0.05: a slow creep).
    #[serde(default = "one")]
    pub motion_scale: f64,
    /// Camera noise: luma grain of this amplitude (levels, peak), new in every frame.
    #[serde(default)]
    pub grain: f64,
    /// Quiet passages A:B in the sound: it fades out over 0.5 s into A (to about −100 dBFS),
    /// stays quiet, and fades back in over 0.3 s from B. Content, not a dropout.
    #[serde(default)]
    pub quiet: Vec<(f64, f64)>,
    /// Fade picture and sound to black and silence from this time to the end.
    #[serde(default)]
    pub fade_out_at: Option<f64>,
    /// Things dropped at these times (local motion that makes a sound): a square fades
    /// in somewhere in the frame (0.5 s), rests, falls 30 % of the picture height under gravity
    /// over the 0.3 s before the time, lands with a thud (a noise burst, 20 ms decay) and fades
    /// out 0.8 s later.
    #[serde(default)]
    pub drops: Vec<f64>,
    /// The drops land without a sound (a control: the picture's motion with no sound of it).
    #[serde(default)]
    pub silent_drops: bool,
    /// Spans A:B where a face in close-up speaks: its mouth opens with each syllable
    /// ([`super::sources`]).
    #[serde(default)]
    pub talk: Vec<(f64, f64)>,
    /// Spans A:B where someone walks across the frame and back, each foot landing with a
    /// footstep ([`super::sources`]).
    #[serde(default)]
    pub walk: Vec<(f64, f64)>,
    /// The talkers' syllables and the walkers' footsteps are heard as this seed draws them, not
    /// as the picture shows them (a control: a mismatched dub).
    #[serde(default)]
    pub sound_seed: Option<u64>,
    /// The talkers speak this sound file, their mouths opening with its loudness
    /// ([`super::speech`]), instead of drawn syllables.
    #[serde(default)]
    pub speech: Option<std::path::PathBuf>,
    /// This sound file is heard instead of `speech`, over the same mouths (a control: a
    /// mismatched dub).
    #[serde(default)]
    pub dub: Option<std::path::PathBuf>,
    pub seed: u64,
    /// Exposure, shake, blur and noise faults (as `inject` makes them).
    #[serde(default)]
    pub picture: super::picture_faults::PictureFaults,
    /// Gain steps, clipping and dropouts on the sound.
    #[serde(default)]
    pub sound: super::sound_faults::SoundFaults,
}

fn one() -> f64 {
    1.0
}

impl Default for SceneSpec {
    fn default() -> Self {
        Self {
            width: 320,
            height: 180,
            fps: 30,
            duration_s: 20.0,
            cuts: vec![],
            beep_on_cut: true,
            flashes: vec![],
            audio_delay_ms: 0.0,
            freeze: vec![],
            black: vec![],
            flicker: vec![],
            silence: vec![],
            fades: vec![],
            dissolves: vec![],
            extra_beeps: vec![],
            silent_cuts: vec![],
            still_shots: vec![],
            holds: vec![],
            motion_scale: 1.0,
            grain: 0.0,
            quiet: vec![],
            fade_out_at: None,
            drops: vec![],
            silent_drops: false,
            talk: vec![],
            walk: vec![],
            sound_seed: None,
            speech: None,
            dub: None,
            seed: 1,
            picture: Default::default(),
            sound: Default::default(),
        }
    }
}

/// Irregular cut times (so that sync has a single answer): gaps cycling through
/// 1.9, 3.1, 2.3, 3.7, 2.7 s from `first`.
pub fn irregular_cuts(first: f64, until: f64) -> Vec<f64> {
    let gaps = [1.9, 3.1, 2.3, 3.7, 2.7];
    let mut t = first;
    let mut out = vec![];
    let mut i = 0;
    while t < until {
        out.push(t);
        t += gaps[i % gaps.len()];
        i += 1;
    }
    out
}

struct Shot {
    top: [f64; 3],
    bottom: [f64; 3],
    stripe_period: f64,
    pan_px_s: f64,
    ball: [f64; 3],
    ball_r: f64,
    ball_v: [f64; 2],
}

fn shot(seed: u64, s: u64) -> Shot {
    let u = |k| unit(seed ^ 0x5eed, s * 97 + k);
    // Alternate dark and bright shots with different hues so every cut is a clear change.
    let bright = s % 2 == 0;
    let y0 = if bright {
        150.0 + 60.0 * u(0)
    } else {
        40.0 + 50.0 * u(0)
    };
    let hue = u(1) * std::f64::consts::TAU;
    let (cb, cr) = (128.0 + 60.0 * hue.cos(), 128.0 + 60.0 * hue.sin());
    Shot {
        top: [y0, cb, cr],
        bottom: [y0 * 0.6, 256.0 - cb, cr],
        stripe_period: 24.0 + 40.0 * u(2),
        pan_px_s: (u(3) - 0.5) * 120.0,
        ball: [
            if bright { 40.0 } else { 220.0 },
            128.0 + 80.0 * (hue + 2.0).cos(),
            128.0 + 80.0 * (hue + 2.0).sin(),
        ],
        ball_r: 0.08 + 0.06 * u(4),
        ball_v: [(u(5) - 0.5) * 0.6, (u(6) - 0.5) * 0.4],
    }
}

fn inside(t: f64, spans: &[(f64, f64)]) -> Option<(f64, f64)> {
    spans.iter().copied().find(|(a, b)| t >= *a && t < *b)
}

impl SceneSpec {
    pub fn frames(&self) -> u64 {
        (self.duration_s * self.fps as f64).round() as u64
    }

    /// Index of the first frame at or after `t`.
    pub fn frame_at(&self, t: f64) -> u64 {
        (t * self.fps as f64 - 1e-9).ceil().max(0.0) as u64
    }

    /// First frame of the shot a cut at `t` starts (a cut during a freeze shows when it ends).
    fn shown_cut_frame(&self, t: f64) -> u64 {
        let shown = self.frame_at(t) as f64 / self.fps as f64;
        inside(shown, &self.freeze)
            .map(|(_, b)| self.frame_at(b))
            .unwrap_or_else(|| self.frame_at(t))
    }

    /// Ground truth: first frames of new shots (a cut during a freeze shows when it ends).
    pub fn cut_frames(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .cuts
            .iter()
            .map(|t| self.shown_cut_frame(*t))
            .filter(|f| *f > 0 && *f < self.frames())
            .collect();
        v.dedup();
        v
    }

    /// Shot boundaries: cuts and the ends of dissolves, sorted.
    fn boundaries(&self) -> Vec<f64> {
        let mut b: Vec<f64> = self
            .cuts
            .iter()
            .copied()
            .chain(self.dissolves.iter().map(|d| d.1))
            .collect();
        b.sort_by(f64::total_cmp);
        b
    }

    fn shot_index(&self, t: f64) -> u64 {
        self.boundaries()
            .iter()
            .filter(|c| self.frame_at(**c) as f64 / self.fps as f64 <= t + 1e-9)
            .count() as u64
    }

    /// Start (s) of shot `s`.
    fn shot_start(&self, s: u64) -> f64 {
        if s == 0 {
            0.0
        } else {
            self.boundaries()
                .get(s as usize - 1)
                .map(|b| self.frame_at(*b) as f64 / self.fps as f64)
                .unwrap_or(0.0)
        }
    }

    /// Ground truth of the dissolves: (first blended frame, first frame of the new shot alone).
    pub fn dissolve_frames(&self) -> Vec<(u64, u64)> {
        self.dissolves
            .iter()
            .map(|(a, b)| (self.frame_at(*a), self.frame_at(*b)))
            .collect()
    }

    /// Content time of shot `s` at `t` s into it: holds stop it (with an ease-out), still shots
    /// never start it, `motion_scale` slows it.
    fn content_time(&self, s: u64, shot_t: f64, t: f64) -> f64 {
        if self.still_shots.contains(&s) {
            return 0.0;
        }
        const EASE: f64 = 0.5;
        // Time lost to the holds of this shot that started before t (each hold loses its span
        // and half the ease-out).
        let shot_start = t - shot_t;
        let mut lost = 0.0;
        for (a, b) in self.holds.iter().filter(|(a, _)| *a > shot_start) {
            if t >= *b {
                lost += (b - a) + EASE / 2.0;
            } else if t >= *a {
                lost += (t - a) + EASE / 2.0;
            } else if t > a - EASE {
                // Easing out: speed falls linearly to 0 at A.
                let x = (a - t) / EASE;
                lost += EASE / 2.0 * (1.0 - x) * (1.0 - x);
            }
        }
        (shot_t - lost.min(shot_t)).max(0.0) * self.motion_scale
    }

    /// Gain of the quiet passages at `t`: a 0.5 s linear fade to 1 % (−40 dB, the room tone at
    /// about −80 dBFS), and a 0.3 s fade back in.
    fn quiet_gain(&self, t: f64) -> f64 {
        const LOW: f64 = 0.01;
        let mut g: f64 = 1.0;
        for (a, b) in &self.quiet {
            let x = if t >= a - 0.5 && t < *a {
                1.0 - (1.0 - LOW) * (t - (a - 0.5)) / 0.5
            } else if t >= *a && t < *b {
                LOW
            } else if t >= *b && t < b + 0.3 {
                LOW + (1.0 - LOW) * (t - b) / 0.3
            } else {
                1.0
            };
            g = g.min(x);
        }
        g
    }

    fn fade_out_gain(&self, t: f64) -> f64 {
        match self.fade_out_at {
            Some(a) if t >= a => (1.0 - (t - a) / 1.0).clamp(0.0, 1.0),
            _ => 1.0,
        }
    }

    /// The picture's level at frame `n` (fades through black, the final fade-out).
    fn picture_gain(&self, n: u64) -> f64 {
        let t = n as f64 / self.fps as f64;
        inside(t, &self.fades)
            .map(|(a, b)| ((t - (a + b) / 2.0).abs() / ((b - a) / 2.0)).min(1.0))
            .unwrap_or(1.0)
            * self.fade_out_gain(t)
    }

    /// Draw shot `s` at `ts` seconds into the shot (faults of frame `n` applied).
    fn paint(&self, n: u64, s: u64, ts: f64, out: &mut [u8]) {
        let (w, h) = (self.width, self.height);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let fps = self.fps as f64;
        let sh = shot(self.seed, s);
        let bx = (0.5 + sh.ball_v[0] * ts).rem_euclid(1.0) * w as f64;
        let by = (0.3 + 0.4 * (0.5 + 0.5 * (sh.ball_v[1] * 6.0 * ts).sin())) * h as f64;
        let r = sh.ball_r * h as f64;
        let lift = if inside(n as f64 / fps, &self.flicker).is_some() && n % 2 == 1 {
            14.0
        } else {
            0.0
        };
        let gain = self.picture_gain(n);
        let pan = sh.pan_px_s * ts;
        let (ys, cs) = out.split_at_mut(w * h);
        let (cbs, crs) = cs.split_at_mut(cw * ch);
        let stripes: Vec<f64> = (0..w)
            .map(|x| 22.0 * ((x as f64 + pan) / sh.stripe_period * std::f64::consts::TAU).sin())
            .collect();
        for y in 0..h {
            let g = y as f64 / h as f64;
            let base = sh.top[0] * (1.0 - g) + sh.bottom[0] * g;
            for x in 0..w {
                let dx = x as f64 - bx;
                let dy = y as f64 - by;
                let v = if dx * dx + dy * dy < r * r {
                    sh.ball[0]
                } else {
                    base + stripes[x] * (0.5 + 0.5 * g)
                };
                let grain = if self.grain > 0.0 {
                    self.grain
                        * (2.0 * unit(self.seed ^ 0x9a1, n * 7_919 + (y * w + x) as u64) - 1.0)
                } else {
                    0.0
                };
                ys[y * w + x] = (16.0 + (v + lift + grain - 16.0) * gain).clamp(16.0, 235.0) as u8;
            }
        }
        for y in 0..ch {
            let g = (2 * y) as f64 / h as f64;
            for x in 0..cw {
                let dx = (2 * x) as f64 - bx;
                let dy = (2 * y) as f64 - by;
                let (cb, cr) = if dx * dx + dy * dy < r * r {
                    (sh.ball[1], sh.ball[2])
                } else {
                    (
                        sh.top[1] * (1.0 - g) + sh.bottom[1] * g,
                        sh.top[2] * (1.0 - g) + sh.bottom[2] * g,
                    )
                };
                cbs[y * cw + x] = (128.0 + (cb - 128.0) * gain).clamp(16.0, 240.0) as u8;
                crs[y * cw + x] = (128.0 + (cr - 128.0) * gain).clamp(16.0, 240.0) as u8;
            }
        }
    }

    /// Where drop `i` (landing at `stop`) is at `t`: (left, top, size in px, opacity), or
    /// `None` when it is not in the picture.
    fn drop_square(&self, i: usize, stop: f64, t: f64) -> Option<(f64, f64, f64, f64)> {
        const FADE_S: f64 = 0.5;
        const FALL_S: f64 = 0.3;
        let (w, h) = (self.width as f64, self.height as f64);
        let (shown, gone) = (stop - FALL_S - 1.0, stop + 0.8 + FADE_S);
        if t < shown || t >= gone {
            return None;
        }
        let size = (0.08 * h).max(4.0);
        let x = (0.05 + 0.9 * unit(self.seed ^ 0xd20b, 2 * i as u64)) * (w - size);
        let land = (0.5 + 0.45 * unit(self.seed ^ 0xd20b, 2 * i as u64 + 1)) * h - size;
        // Fallen (u² of the height) after u of the fall: fastest when it lands.
        let u = 1.0 - ((stop - t) / FALL_S).clamp(0.0, 1.0);
        let y = land - 0.3 * h * (1.0 - u * u);
        let alpha = ((t - shown) / FADE_S)
            .min((gone - t) / FADE_S)
            .clamp(0.0, 1.0);
        Some((x, y, size, alpha))
    }

    /// Times (s) of the beeps, before the audio delay is applied.
    pub fn beep_times(&self) -> Vec<f64> {
        let fps = self.fps as f64;
        let mut v: Vec<f64> = vec![];
        if self.beep_on_cut {
            let mut frames: Vec<u64> = self
                .cuts
                .iter()
                .filter(|t| !self.silent_cuts.contains(t))
                .map(|t| self.shown_cut_frame(*t))
                .filter(|f| *f > 0 && *f < self.frames())
                .collect();
            frames.dedup();
            v.extend(frames.iter().map(|f| *f as f64 / fps));
        }
        v.extend(self.flashes.iter().map(|f| self.frame_at(*f) as f64 / fps));
        v.extend(self.extra_beeps.iter().copied());
        v.sort_by(f64::total_cmp);
        v
    }
}

/// A [`SceneSpec`] with what it draws from worked out once (the talkers' syllables and the
/// walkers' steps, seen and heard; the speech read and decoded), ready to render frames and
/// samples.
#[derive(Debug)]
pub struct Scene {
    pub spec: SceneSpec,
    syllables: Vec<sources::Syllable>,
    heard_syllables: Vec<sources::Syllable>,
    steps: Vec<sources::Step>,
    heard_steps: Vec<sources::Step>,
    speech: Option<Arc<Speech>>,
    dub: Option<Arc<Speech>>,
}

impl SceneSpec {
    /// Work out the scene once (reads the speech files, if any).
    pub fn scene(&self) -> Result<Scene, SendError> {
        let heard = self.sound_seed.unwrap_or(self.seed);
        let read = |p: &Option<std::path::PathBuf>| p.as_deref().map(Speech::read).transpose();
        let speech = read(&self.speech)?;
        let dub = read(&self.dub)?;
        if dub.is_some() && speech.is_none() {
            return Err(SendError::Pipeline(
                "a dub needs the speech it replaces".into(),
            ));
        }
        Ok(Scene {
            spec: self.clone(),
            syllables: sources::syllables(self.seed, &self.talk),
            heard_syllables: sources::syllables(heard, &self.talk),
            steps: sources::steps(self.seed, &self.walk),
            heard_steps: sources::steps(heard, &self.walk),
            speech,
            dub,
        })
    }
}

impl Scene {
    /// When the phrases of the speech heard start (s, before the audio delay); empty without
    /// `speech`.
    pub fn heard_phrases(&self) -> Vec<f64> {
        let heard = self.dub.as_ref().or(self.speech.as_ref());
        heard.map_or(vec![], |sp| {
            super::speech::phrase_times(sp, &self.spec.talk)
        })
    }

    /// Render frame `n` as I420 (Y plane, then Cb, then Cr), with the picture faults.
    pub fn render(&self, n: u64, out: &mut Vec<u8>) {
        let spec = &self.spec;
        self.render_content(n, out);
        if spec.picture != Default::default() {
            let (w, h) = (spec.width, spec.height);
            let c = w.div_ceil(2) * h.div_ceil(2);
            let mut y = out[..w * h].to_vec();
            let mut u = out[w * h..w * h + c].to_vec();
            let mut v = out[w * h + c..w * h + 2 * c].to_vec();
            spec.picture
                .apply([&mut y, &mut u, &mut v], (w, h), n, |&(a, b)| {
                    n >= spec.frame_at(a) && n < spec.frame_at(b)
                });
            out.clear();
            out.extend_from_slice(&y);
            out.extend_from_slice(&u);
            out.extend_from_slice(&v);
        }
    }

    fn render_content(&self, n: u64, out: &mut Vec<u8>) {
        let spec = &self.spec;
        let (w, h) = (spec.width, spec.height);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        out.clear();
        out.resize(w * h + 2 * cw * ch, 0);
        let fps = spec.fps as f64;
        let mut t = n as f64 / fps;
        if let Some((a, _)) = inside(t, &spec.freeze) {
            // Hold the frame shown at the start of the freeze.
            t = spec.frame_at(a) as f64 / fps;
        }
        if inside(n as f64 / fps, &spec.black).is_some() {
            out[..w * h].fill(16);
            out[w * h..].fill(128);
            return;
        }
        let flash = spec.flashes.iter().any(|f| {
            let first = spec.frame_at(*f);
            n == first || n == first + 1
        });
        if flash {
            out[..w * h].fill(235);
            out[w * h..].fill(128);
            return;
        }
        let s = spec.shot_index(t);
        let shown = t;
        let dissolve = spec
            .dissolves
            .iter()
            .map(|(a, b)| (spec.frame_at(*a), spec.frame_at(*b)))
            .find(|(a, b)| n >= *a && n < *b);
        spec.paint(
            n,
            s,
            spec.content_time(s, t - spec.shot_start(s), shown),
            out,
        );
        if let Some((a, b)) = dissolve {
            // Blend towards the next shot: alpha 1/(K+1) … K/(K+1) over the K blended frames.
            let alpha = (n - a + 1) as f64 / (b - a + 1) as f64;
            let mut next = Vec::new();
            next.resize(out.len(), 0);
            let ts = spec.content_time(s + 1, t - spec.shot_start(s + 1), shown);
            spec.paint(n, s + 1, ts, &mut next);
            for (o, x) in out.iter_mut().zip(&next) {
                *o = ((1.0 - alpha) * *o as f64 + alpha * *x as f64).round() as u8;
            }
        }
        // The drops at the time shown (held through a freeze), faded with the picture.
        let gain = spec.picture_gain(n);
        for (i, stop) in spec.drops.iter().enumerate() {
            if let Some((x, y, size, a)) = spec.drop_square(i, *stop, t) {
                paint_rect(&mut out[..w * h], (w, h), (x, y, size, size), a * gain);
            }
        }
        if !spec.talk.is_empty() {
            let open = match &self.speech {
                Some(sp) => sp.position(&spec.talk, t).map_or(0.0, |p| sp.open(p)),
                None => sources::mouth_open(&self.syllables, t),
            };
            sources::paint_talkers(&mut out[..w * h], (w, h), spec.seed, &spec.talk, open, t);
        }
        if !spec.walk.is_empty() {
            sources::paint_walkers(&mut out[..w * h], (w, h), &spec.walk, &self.steps, t);
        }
    }

    /// Audio samples `[from, from + n)` at 48 kHz: quiet noise bed, beeps, faults applied.
    pub fn audio(&self, from: u64, n: usize, out: &mut Vec<f32>) {
        let spec = &self.spec;
        const RATE: f64 = 48_000.0;
        out.clear();
        let delay = spec.audio_delay_ms / 1000.0;
        let beeps = spec.beep_times();
        // The talkers' and walkers' sounds that overlap these samples.
        let (t0, t1) = (
            from as f64 / RATE - delay,
            (from + n as u64) as f64 / RATE - delay,
        );
        let heard_speech = self.dub.as_ref().or(self.speech.as_ref());
        let syl: Vec<_> = (heard_speech.is_none())
            .then_some(&self.heard_syllables)
            .into_iter()
            .flatten()
            .filter(|s| s.start < t1 && s.start + s.len > t0)
            .collect();
        let steps: Vec<_> = self
            .heard_steps
            .iter()
            .filter(|s| s.t < t1 && s.t + 0.25 > t0)
            .collect();
        for i in 0..n as u64 {
            let k = from + i;
            let t = k as f64 / RATE;
            if inside(t, &spec.silence).is_some() {
                out.push(0.0);
                continue;
            }
            // A soft "room tone": noise at about -40 dBFS.
            let noise = (unit(spec.seed ^ 0xa0d10, k) - 0.5) * 0.03;
            let mut v = noise;
            let quiet = spec.quiet_gain(t) * spec.fade_out_gain(t);
            for b in &beeps {
                let dt = t - (b + delay);
                if (0.0..0.060).contains(&dt) {
                    let env = (dt / 0.002).min(1.0) * ((0.060 - dt) / 0.005).min(1.0);
                    v += 0.5 * env * (std::f64::consts::TAU * 1200.0 * dt).sin();
                }
            }
            for d in spec.drops.iter().filter(|_| !spec.silent_drops) {
                let dt = t - (d + delay);
                if (0.0..0.12).contains(&dt) {
                    let env = (dt / 0.001).min(1.0) * (-dt / 0.02).exp();
                    v += 0.5 * env * (2.0 * unit(spec.seed ^ 0x7d0d, k) - 1.0);
                }
            }
            if !syl.is_empty() || !steps.is_empty() {
                let grain = 2.0 * unit(spec.seed ^ 0x5011d, k) - 1.0;
                v += syl
                    .iter()
                    .map(|s| sources::voice(s, t - delay - s.start, grain))
                    .sum::<f64>();
                v += steps
                    .iter()
                    .map(|s| sources::footstep(s, t - delay - s.t, grain))
                    .sum::<f64>();
            }
            if let Some(sp) = heard_speech {
                v += 0.5
                    * sp.position(&spec.talk, t - delay)
                        .map_or(0.0, |p| sp.sample(p));
            }
            out.push(spec.sound.apply(t, (v * quiet) as f32));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_cuts_freezes_and_black_as_specified() {
        let spec = SceneSpec {
            duration_s: 4.0,
            cuts: vec![1.0, 2.5],
            freeze: vec![(1.5, 2.0)],
            black: vec![(3.0, 3.5)],
            ..Default::default()
        };
        assert_eq!(spec.cut_frames(), vec![30, 75]);
        let scene = spec.scene().unwrap();
        let (mut a, mut b) = (vec![], vec![]);
        scene.render(46, &mut a);
        scene.render(55, &mut b);
        assert_eq!(a, b, "frozen frames repeat the frame at the freeze start");
        scene.render(45, &mut b);
        assert_eq!(a, b);
        scene.render(44, &mut b);
        assert_ne!(a, b, "the frame before the freeze moves");
        scene.render(95, &mut a);
        assert!(a[..320 * 180].iter().all(|&y| y == 16));
        let mut s = vec![];
        scene.audio(48_000, 480, &mut s);
        assert!(s.iter().any(|v| v.abs() > 0.1), "beep at the cut at 1.0 s");
    }
}
