//! Style: a look signature per shot — grade, exposure, camera and texture — and how far the
//! current shot drifts from the previous one and from the sequence so far (post-production /
//! colour; production / cinematography).
//!
//! **Signature** of a shot: the mean over its frames of each component below, each in its own
//! unit, with the "just noticeable" step `s` that scales it:
//!
//! | group | component | unit | s |
//! |---|---|---|---|
//! | grade | `luma` mean | 0–1 | 0.08 |
//! | grade | `contrast` (luma std) | 0–1 | 0.04 |
//! | grade | `cb`, `cr` means | 0–1 | 0.025 each |
//! | grade | `chroma` strength `\|Cb − ½\| + \|Cr − ½\|` | 0–1 | 0.04 |
//! | grade | `colourfulness` (Hasler–Süsstrunk M / 100) | — | 0.08 |
//! | exposure | `highlights` clipped, `shadows` crushed | share of the picture | 0.12 each |
//! | camera | `camera_speed` (frames whose motion is known) | picture widths / s | 0.25 |
//! | texture | `sharpness` (detail plane), ln | ln(ratio) | 0.2 |
//! | texture | `noise` σ (detail plane), ln(σ + 0.5) | ln(code values) | 0.2 |
//!
//! The steps were set so that clean footage stays well under the note's 8 (camera speed and
//! exposure legitimately differ between the shots of a scene: on the dev clips a 0.1 width/s
//! camera step put the action clips' camera part at 6.6–7.3).
//!
//! Texture needs the detail plane (`analysis.detail_width`); without it the component is absent
//! and drifts are taken over the components both signatures have.
//!
//! **Drift** between two signatures: `sqrt(Σ ((a_i − b_i) / s_i)²)`, about one just-noticeable
//! difference per unit; the same sum over one group's components is that group's part
//! (`parts`), so a note can say *what* drifted. `drift_prev`: the current shot vs the previous
//! shot; `drift_sequence`: the current shot vs the mean signature of all earlier shots. Cuts
//! between scenes legitimately change the look, so the sequence drift is the figure to watch for
//! a generator losing its look.
//!
//! **Style score** (0–100, higher is better): `100 · exp(−drift_sequence / 4)`; none before
//! the second shot.
use super::features::FrameFeatures;
use serde::Serialize;
use serde::ser::SerializeMap;
use std::collections::VecDeque;

/// What a component describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Grade,
    Exposure,
    Camera,
    Texture,
}

impl Group {
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Grade => "grade",
            Group::Exposure => "exposure",
            Group::Camera => "camera",
            Group::Texture => "texture",
        }
    }
}

/// The components: (name, group, just-noticeable step).
pub const COMPONENTS: [(&str, Group, f64); SIGNATURE] = [
    ("luma", Group::Grade, 0.08),
    ("contrast", Group::Grade, 0.04),
    ("cb", Group::Grade, 0.025),
    ("cr", Group::Grade, 0.025),
    ("chroma", Group::Grade, 0.04),
    ("colourfulness", Group::Grade, 0.08),
    ("highlights", Group::Exposure, 0.12),
    ("shadows", Group::Exposure, 0.12),
    ("camera_speed", Group::Camera, 0.25),
    ("sharpness", Group::Texture, 0.2),
    ("noise", Group::Texture, 0.2),
];
pub const SIGNATURE: usize = 11;
const GROUPS: [Group; 4] = [Group::Grade, Group::Exposure, Group::Camera, Group::Texture];
/// Index of the first texture component (fed by the detail plane).
const SHARPNESS: usize = 9;

/// The picture figures of one analysis frame the signature needs beyond the frame's features.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FrameLookFigures {
    /// Hasler–Süsstrunk M.
    pub colourfulness: f64,
    pub highlights: f64,
    pub shadows: f64,
    /// Picture widths per second; `None` where one translation does not explain the motion.
    pub camera_speed: Option<f64>,
}

/// A shot's signature: each component's mean, where it was measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Signature(pub [Option<f64>; SIGNATURE]);

impl Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for ((name, _, _), v) in COMPONENTS.iter().zip(self.0) {
            if let Some(v) = v {
                m.serialize_entry(name, &((v * 1000.0).round() / 1000.0))?;
            }
        }
        m.end()
    }
}

impl<'de> serde::Deserialize<'de> for Signature {
    /// The components by name, as [`Signature`]'s `Serialize` writes them (unknown names are
    /// refused: a record from another version says so instead of losing a figure).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = std::collections::BTreeMap::<String, f64>::deserialize(d)?;
        let mut v = [None; SIGNATURE];
        for (name, x) in m {
            let i = COMPONENTS
                .iter()
                .position(|(n, _, _)| *n == name)
                .ok_or_else(|| serde::de::Error::unknown_field(&name, &[]))?;
            v[i] = Some(x);
        }
        Ok(Signature(v))
    }
}

/// Sums and counts of each component.
#[derive(Clone, Copy, Debug, Default)]
struct Acc {
    sum: [f64; SIGNATURE],
    n: [u32; SIGNATURE],
}

impl Acc {
    fn add(&mut self, v: &[Option<f64>; SIGNATURE]) {
        for (i, x) in v.iter().enumerate() {
            if let Some(x) = x.filter(|x| x.is_finite()) {
                self.sum[i] += x;
                self.n[i] += 1;
            }
        }
    }

    fn merge(&mut self, o: &Acc) {
        for i in 0..SIGNATURE {
            self.sum[i] += o.sum[i];
            self.n[i] += o.n[i];
        }
    }

    /// Frames with a grade (every kept frame has one).
    fn frames(&self) -> u32 {
        self.n[0]
    }

    fn mean(&self) -> Signature {
        Signature(std::array::from_fn(|i| {
            (self.n[i] > 0).then(|| self.sum[i] / self.n[i] as f64)
        }))
    }
}

/// The frame's components (texture comes from detail frames, separately).
fn frame_components(
    f: &FrameFeatures,
    look: Option<&FrameLookFigures>,
) -> [Option<f64>; SIGNATURE] {
    let (cb, cr) = f.chroma_means();
    let (cb, cr) = (cb as f64, cr as f64);
    let mut v = [None; SIGNATURE];
    v[0] = Some(f.luma_mean as f64);
    v[1] = Some(f.luma_std as f64);
    v[2] = Some(cb);
    v[3] = Some(cr);
    v[4] = Some((cb - 0.5).abs() + (cr - 0.5).abs());
    if let Some(l) = look {
        v[5] = Some(l.colourfulness / 100.0);
        v[6] = Some(l.highlights);
        v[7] = Some(l.shadows);
        v[8] = l.camera_speed;
    }
    v
}

/// Drift in each group, over the components both signatures have (`None`: no such component).
pub fn parts(a: &Signature, b: &Signature) -> [Option<f64>; 4] {
    GROUPS.map(|g| {
        let mut any = false;
        let sq: f64 = COMPONENTS
            .iter()
            .enumerate()
            .filter(|(_, c)| c.1 == g)
            .filter_map(|(i, c)| {
                let (x, y) = (a.0[i]?, b.0[i]?);
                any = true;
                Some(((x - y) / c.2).powi(2))
            })
            .sum();
        any.then(|| sq.sqrt())
    })
}

pub fn drift(a: &Signature, b: &Signature) -> f64 {
    parts(a, b)
        .iter()
        .flatten()
        .map(|p| p * p)
        .sum::<f64>()
        .sqrt()
}

/// Frames kept apart before they count for their shot: cuts are decided a few frames late
/// (and per batch), so a frame's shot is only known once no cut can land before it.
const PENDING: usize = 64;
/// Detail frames kept apart the same way (they reach the tracker once the cut detector has
/// seen past them, so these are few).
const PENDING_DETAIL: usize = 64;

#[derive(Default)]
pub struct StyleTracker {
    shot: Acc,
    pending: VecDeque<(u64, [Option<f64>; SIGNATURE])>,
    pending_detail: VecDeque<(f64, [Option<f64>; SIGNATURE])>,
    shots: VecDeque<Signature>,
    seq: Acc,
    /// Completed shots whose mean is in `seq` (means are summed, one vote a shot).
    seq_n: u64,
}

/// Drift of the current shot from the sequence, by group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct DriftParts {
    pub grade: f64,
    pub exposure: f64,
    pub camera: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub texture: Option<f64>,
}

impl DriftParts {
    /// The group that drifted most, with its part.
    pub fn largest(&self) -> (Group, f64) {
        let mut best = (Group::Grade, self.grade);
        for (g, v) in [
            (Group::Exposure, Some(self.exposure)),
            (Group::Camera, Some(self.camera)),
            (Group::Texture, self.texture),
        ] {
            if let Some(v) = v.filter(|v| *v > best.1) {
                best = (g, v);
            }
        }
        best
    }
}

/// Style figures of a window.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct StyleFigures {
    /// Signature of the current shot so far.
    pub signature: Option<Signature>,
    pub drift_prev: Option<f32>,
    pub drift_sequence: Option<f32>,
    /// `drift_sequence` by group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parts: Option<DriftParts>,
    pub score: Option<f64>,
    pub shots: u64,
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

impl StyleTracker {
    /// Feed a frame with its look figures. Frames of a black or flat picture carry no look.
    pub fn push(&mut self, f: &FrameFeatures, look: Option<&FrameLookFigures>) {
        if f.luma_std < 0.02 {
            return;
        }
        self.pending.push_back((f.index, frame_components(f, look)));
        while self.pending.len() > PENDING {
            if let Some((_, v)) = self.pending.pop_front() {
                self.shot.add(&v);
            }
        }
    }

    /// Feed a detail frame's focus and noise (stream time `t`, in time order).
    pub fn push_detail(&mut self, t: f64, sharpness: f64, noise: f64) {
        if !(sharpness > 0.0 && noise >= 0.0) {
            return;
        }
        let mut v = [None; SIGNATURE];
        v[SHARPNESS] = Some(sharpness.ln());
        v[SHARPNESS + 1] = Some((noise + 0.5).ln());
        self.pending_detail.push_back((t, v));
        while self.pending_detail.len() > PENDING_DETAIL {
            if let Some((_, v)) = self.pending_detail.pop_front() {
                self.shot.add(&v);
            }
        }
    }

    fn current(&self) -> Option<Signature> {
        let mut acc = self.shot;
        for v in self
            .pending
            .iter()
            .map(|p| &p.1)
            .chain(self.pending_detail.iter().map(|p| &p.1))
        {
            acc.add(v);
        }
        (acc.frames() >= 3).then(|| acc.mean())
    }

    /// A cut at `frame` (stream time `t`) closes the shot before it; frames from `frame` on
    /// start the next one.
    pub fn on_cut(&mut self, frame: u64, t: f64) {
        while let Some((_, v)) = self.pending.pop_front_if(|(i, _)| *i < frame) {
            self.shot.add(&v);
        }
        while let Some((_, v)) = self.pending_detail.pop_front_if(|(s, _)| *s < t) {
            self.shot.add(&v);
        }
        if self.shot.frames() >= 3 {
            let sig = self.shot.mean();
            self.shots.push_back(sig);
            // The figures compare with the last shot and the one before it only.
            if self.shots.len() > 2 {
                self.shots.pop_front();
            }
            let mut one = Acc::default();
            one.add(&sig.0);
            self.seq.merge(&one);
            self.seq_n += 1;
        }
        self.shot = Acc::default();
    }

    /// Entries held.
    pub fn sizes(&self) -> [(&'static str, usize); 3] {
        [
            ("style.pending", self.pending.len()),
            ("style.pending_detail", self.pending_detail.len()),
            ("style.shots", self.shots.len()),
        ]
    }

    /// Figures for the current shot; while it is too young (< 3 frames), for the last shot.
    pub fn figures(&self) -> StyleFigures {
        let current = self.current();
        let (cur, prev_idx) = match current {
            Some(c) => (Some(c), self.shots.len().checked_sub(1)),
            None => (self.shots.back().copied(), self.shots.len().checked_sub(2)),
        };
        let prev = prev_idx.and_then(|i| self.shots.get(i)).copied();
        // The mean of the shots before the one described (all completed ones, or all but the
        // last when the last is the one described).
        let mut seq = self.seq;
        if current.is_none() {
            if let Some(last) = self.shots.back() {
                for (i, v) in last.0.iter().enumerate() {
                    if let Some(v) = v {
                        seq.sum[i] -= v;
                        seq.n[i] = seq.n[i].saturating_sub(1);
                    }
                }
            }
        }
        let seq = (seq.frames() > 0).then(|| seq.mean());
        let drift_prev = cur.zip(prev).map(|(a, b)| drift(&a, &b));
        let parts = cur.zip(seq).map(|(a, b)| {
            let p = parts(&a, &b);
            DriftParts {
                grade: round2(p[0].unwrap_or(0.0)),
                exposure: round2(p[1].unwrap_or(0.0)),
                camera: round2(p[2].unwrap_or(0.0)),
                texture: p[3].map(round2),
            }
        });
        let drift_sequence = cur.zip(seq).map(|(a, b)| drift(&a, &b));
        StyleFigures {
            signature: cur,
            drift_prev: drift_prev.map(|d| round2(d) as f32),
            drift_sequence: drift_sequence.map(|d| round2(d) as f32),
            parts,
            score: drift_sequence.map(|d| round2(100.0 * (-d / 4.0).exp())),
            shots: self.seq_n + current.is_some() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(i: u64, luma: f32, cb: f32) -> FrameFeatures {
        let cells = super::super::features::THUMB_CELLS;
        let mut thumb = vec![luma; 3 * cells];
        thumb[cells..2 * cells].fill(cb);
        thumb[2 * cells..].fill(0.5);
        FrameFeatures {
            luma_mean: luma,
            thumb: thumb.into(),
            ..FrameFeatures::for_test(i)
        }
    }

    fn sig(v: &[(usize, f64)]) -> Signature {
        let mut s = Signature([
            Some(0.5),
            Some(0.2),
            Some(0.5),
            Some(0.5),
            Some(0.0),
            Some(0.3),
            Some(0.0),
            Some(0.0),
            Some(0.05),
            None,
            None,
        ]);
        for (i, x) in v {
            s.0[*i] = Some(*x);
        }
        s
    }

    #[test]
    fn shots_are_split_at_the_cut_frame_even_when_the_cut_comes_late() {
        let mut t = StyleTracker::default();
        for i in 0..50 {
            t.push(&frame(i, 0.7, 0.5), None);
        }
        for i in 50..90 {
            t.push(&frame(i, 0.3, 0.4), None);
        }
        // The cut at frame 50 is only known now.
        t.on_cut(50, 2.0);
        let f = t.figures();
        assert_eq!(f.signature.unwrap().0[0], Some(0.3f32 as f64));
        assert!(f.drift_prev.unwrap() > 4.0, "{f:?}");
        assert_eq!(f.shots, 2);
    }

    #[test]
    fn drift_is_zero_for_the_same_look_and_grows_with_a_grade_change() {
        let a = sig(&[]);
        assert_eq!(drift(&a, &a), 0.0);
        let warmer = sig(&[(2, 0.45), (3, 0.56), (4, 0.11)]);
        assert!(drift(&a, &warmer) > 3.0);
        let slightly = sig(&[(0, 0.51)]);
        assert!(drift(&a, &slightly) < 0.2);
    }

    #[test]
    fn parts_say_which_group_drifted_and_skip_what_one_side_lacks() {
        let a = sig(&[(9, 0.0), (10, 1.0)]);
        let burnt = sig(&[(6, 0.3), (9, 0.0), (10, 1.0)]);
        let p = parts(&a, &burnt);
        assert_eq!(p[0], Some(0.0));
        assert!((p[1].unwrap() - 2.5).abs() < 1e-9, "{p:?}");
        assert_eq!(p[3], Some(0.0));
        // Texture only where both have a detail plane.
        let no_detail = sig(&[(6, 0.3)]);
        assert_eq!(parts(&a, &no_detail)[3], None);
        let grainier = sig(&[(9, 0.0), (10, 1.6)]);
        assert!(parts(&a, &grainier)[3].unwrap() > 2.9);
    }

    #[test]
    fn detail_frames_go_to_the_shot_they_fall_in() {
        let mut t = StyleTracker::default();
        for i in 0..50 {
            t.push(&frame(i, 0.5, 0.5), None);
            if i % 5 == 0 {
                t.push_detail(i as f64 / 25.0, 0.8, 1.0);
            }
        }
        for i in 50..100 {
            t.push(&frame(i, 0.5, 0.5), None);
            if i % 5 == 0 {
                t.push_detail(i as f64 / 25.0, 0.8, 6.0);
            }
        }
        t.on_cut(50, 2.0);
        let f = t.figures();
        let noise = f.signature.unwrap().0[10].unwrap();
        assert!((noise - 6.5f64.ln()).abs() < 1e-9, "{noise}");
        let p = f.parts.unwrap();
        assert_eq!(p.largest().0, Group::Texture);
        assert!(p.grade < 0.01, "{p:?}");
    }
}
