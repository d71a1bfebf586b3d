//! Event placement: every detection of a stream goes out through here — tagged `transport`
//! where the input was damaged, reported (ongoing ones live only), counted for the summary, and
//! kept while a window still to be scored overlaps it. Camera and loudness jumps wait here until
//! the cut detector has seen past them: a camera jump at a cut is the cut, a loudness jump at a
//! cut the new scene's level.
use super::damage::{DamageLog, HealCheck};
use crate::config::AnalysisSettings;
use crate::model::rhythm::Pacing;
use crate::score::record::{EventRecord, Record, TransportWindow, rounded};
use crate::score::taxonomy::{self, Diagnosis};
use crate::types::Media;
use crate::vocab::{Detection, EventKind};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A camera jump the whole picture made (its `fit`); an object's leap over a still background
/// only ends a held picture (above), it is not reported.
fn whole_picture(d: &Detection) -> bool {
    d.kind != EventKind::CameraJump
        || d.values
            .iter()
            .find(|v| v.0 == "fit")
            .is_none_or(|v| v.1 <= crate::model::picture::motion::JUMP_FIT)
}

/// A loudness jump this close to a cut is the new scene's level, s (sound edits lead or trail
/// the picture cut by a few frames; J- and L-cuts by more, and read as inside the shot).
pub const LEVEL_CUT_S: f64 = 0.25;

pub struct EventBook {
    stream: String,
    live: bool,
    /// Closed events that windows still to be scored overlap (older ones are pruned).
    closed: Vec<Detection>,
    /// Events still going (one per kind).
    open: Vec<Detection>,
    /// Closed events of each kind (index in `EventKind::ALL`) over the whole stream.
    counts: [usize; EventKind::ALL.len()],
    /// Stretches decoded from damaged input (per medium), for `cause: transport`.
    pub video_damage: DamageLog,
    pub audio_damage: DamageLog,
    /// Keyframes that heal damage: the picture change there is the network's.
    pub heal: HealCheck,
    /// Camera and loudness jumps waiting for the cut detector.
    pending: Vec<Detection>,
}

impl EventBook {
    pub fn new(stream: &str, a: &AnalysisSettings, live: bool) -> Self {
        let keep = a.window_s.max(a.sync_horizon_s) + 30.0;
        Self {
            stream: stream.to_string(),
            live,
            closed: vec![],
            open: vec![],
            counts: [0; EventKind::ALL.len()],
            video_damage: DamageLog::new(keep),
            audio_damage: DamageLog::new(keep),
            heal: HealCheck::default(),
            pending: vec![],
        }
    }

    /// Closed events a window still to be scored may overlap.
    pub fn closed(&self) -> &[Detection] {
        &self.closed
    }

    /// Whether `[start, end]` touches transport damage of the picture (`audio` false) or the
    /// sound; `frame_s`: the picture's frame interval.
    pub fn damaged_near(&self, audio: bool, start: f64, end: f64, frame_s: f64) -> bool {
        // Two frames of margin: a cut or a freeze starts at the frame before the change.
        if audio {
            self.audio_damage.near(start, end, 0.02)
        } else {
            self.video_damage.near(start, end, 2.0 * frame_s)
        }
    }

    /// Report a detection: tagged, counted, kept. A still shot that ended waits with the
    /// jumps: one that ends in a leap of the same picture was a freeze (see `release_jumps`).
    pub fn emit(&mut self, d: Detection, frame_s: f64, out: &mut Vec<Record>) {
        if d.kind == EventKind::StaticShot && !d.ongoing {
            self.open.retain(|o| o.kind != d.kind);
            self.pending.push(d);
            return;
        }
        self.emit_now(d, frame_s, out);
    }

    fn emit_now(&mut self, mut d: Detection, frame_s: f64, out: &mut Vec<Record>) {
        if d.kind != EventKind::Discontinuity && !d.transport {
            let audio = matches!(
                d.kind,
                EventKind::Silence
                    | EventKind::Quiet
                    | EventKind::Clipping
                    | EventKind::Dropout
                    | EventKind::LoudnessJump
            );
            d.transport = self.damaged_near(audio, d.start, d.end, frame_s);
        }
        self.open.retain(|o| o.kind != d.kind);
        if d.ongoing {
            if self.live {
                out.push(Record::Event(EventRecord::new(&self.stream, &d)));
            }
            self.open.push(d);
        } else {
            out.push(Record::Event(EventRecord::new(&self.stream, &d)));
            if let Some(i) = EventKind::ALL.iter().position(|k| *k == d.kind) {
                self.counts[i] += 1;
            }
            self.closed.push(d);
        }
    }

    /// Hold a camera or loudness jump until the cut detector has seen past it.
    pub fn hold(&mut self, d: Detection) {
        self.pending.push(d);
    }

    pub fn held(&self) -> usize {
        self.pending.len()
    }

    /// Start of the oldest jump held.
    pub fn oldest_held(&self) -> Option<f64> {
        self.pending.iter().map(|d| d.start).reduce(f64::min)
    }

    /// Jumps placed against the shots once the cut detector has seen past them (`upto`): a
    /// camera jump is reported unless a shot boundary is within two frames (then it was the
    /// cut); a loudness jump says whether a cut is within [`LEVEL_CUT_S`] of it (a scene's new
    /// level) or none is (a gain step inside a shot). `video_to`: how far the pictures reach.
    pub fn release_jumps(
        &mut self,
        upto: f64,
        pacing: &Pacing,
        video_to: Option<f64>,
        frame_s: f64,
        out: &mut Vec<Record>,
    ) {
        // How far the cut detector must have seen for a jump: a loudness jump looks for cuts
        // up to LEVEL_CUT_S after it.
        let reach = |d: &Detection| {
            d.end
                + if d.kind == EventKind::LoudnessJump {
                    LEVEL_CUT_S
                } else {
                    0.0
                }
        };
        let (mut ready, wait): (Vec<Detection>, Vec<Detection>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|d| reach(d) < upto);
        self.pending = wait;
        ready.sort_by(|a, b| a.start.total_cmp(&b.start));
        let margin = 2.0 * frame_s;
        // The jumps known now (ready or still waiting): where a still shot ends in one.
        let leaps: Vec<(f64, f64)> = ready
            .iter()
            .chain(&self.pending)
            .filter(|j| j.kind == EventKind::CameraJump)
            .map(|j| {
                (
                    j.start,
                    j.values
                        .iter()
                        .find(|v| v.0 == "jump_pct")
                        .map_or(0.0, |v| v.1),
                )
            })
            .collect();
        // In time order: a still shot turned freeze is closed before the jump at its end is
        // placed, which `resumes_from_freeze` then drops.
        for mut d in ready {
            if d.kind == EventKind::StaticShot {
                // A shot held still that moves on with a leap of the same picture (the scene
                // went on while it was held) was frozen, not composed still: a freeze, the
                // leap its end. A still opening eases into motion, or cuts away.
                if let Some((_, pct)) = leaps.iter().find(|(t, _)| (t - d.end).abs() <= margin) {
                    d.kind = EventKind::Freeze;
                    d.values.push(("resumed_with_jump_pct", *pct));
                }
                self.emit_now(d, frame_s, out);
                continue;
            }
            if d.kind == EventKind::LoudnessJump {
                // Placed only where the pictures reach past it (`at_cut` absent where a release
                // without waiting — pictures 5 s behind — finds them short of it).
                if video_to.is_some_and(|v| v >= reach(&d)) {
                    let near = pacing.cuts_between(d.start - LEVEL_CUT_S, d.end + LEVEL_CUT_S);
                    d.values.push(("at_cut", (!near.is_empty()) as u8 as f64));
                }
                self.emit_now(d, frame_s, out);
            } else if pacing
                .cuts_between(d.start - margin, d.end + margin)
                .is_empty()
                && !self.resumes_from_freeze(&d, margin)
                && whole_picture(&d)
            {
                self.emit_now(d, frame_s, out);
            }
        }
    }

    /// Share of `[s, e)` inside events of `kind` (content only), open ones to `e`.
    pub fn coverage(&self, kind: EventKind, s: f64, e: f64) -> f64 {
        let len = (e - s).max(1e-9);
        let overlap = |a: f64, b: f64| (b.min(e) - a.max(s)).max(0.0);
        let closed: f64 = self
            .closed
            .iter()
            .filter(|d| d.kind == kind && !d.transport)
            .map(|d| overlap(d.start, d.end))
            .sum();
        let open: f64 = self
            .open
            .iter()
            .filter(|d| d.kind == kind && !d.transport)
            .map(|d| overlap(d.start, e))
            .sum();
        ((closed + open) / len).min(1.0)
    }

    /// Closed content events of `kind` starting in `[s, e)`.
    /// A picture that moves on after a freeze leaps to where the scene got meanwhile: that
    /// leap is the freeze's end, not a camera jump of its own.
    fn resumes_from_freeze(&self, d: &Detection, margin: f64) -> bool {
        let freeze = |f: &&Detection| f.kind == EventKind::Freeze && !f.transport;
        d.kind == EventKind::CameraJump
            && (self
                .closed
                .iter()
                .filter(freeze)
                .any(|f| (f.end - d.start).abs() <= margin)
                // Still open: its end is decided after the jump is (the leap ends it).
                || self
                    .open
                    .iter()
                    .filter(freeze)
                    .any(|f| f.start < d.start && f.end + margin >= d.start))
    }

    pub fn count(&self, kind: EventKind, s: f64, e: f64) -> usize {
        self.closed
            .iter()
            .filter(|d| d.kind == kind && !d.transport && d.start >= s && d.start < e)
            .count()
    }

    /// Events overlapping the window, by kind, each with its diagnosis (flashes only when a
    /// few: a strobe sequence is one note, not dozens).
    pub fn window_events(
        &self,
        s: f64,
        e: f64,
        flashes: usize,
        diagnosis: &mut Vec<Diagnosis>,
    ) -> BTreeMap<Cow<'static, str>, usize> {
        let mut events = BTreeMap::new();
        // Open events are still going: they overlap every window after their start.
        let open = self.open.iter().map(|d| (d, f64::INFINITY));
        for (d, end) in self.closed.iter().map(|d| (d, d.end)).chain(open) {
            if d.start < e && end > s {
                *events.entry(Cow::Borrowed(d.kind.as_str())).or_insert(0) += 1;
                if d.kind != EventKind::Flash || flashes <= 3 {
                    diagnosis.push(taxonomy::event(d));
                }
            }
        }
        events
    }

    /// Transport health of a live window: damaged shares and transport events.
    pub fn transport_window(&self, s: f64, e: f64, media: Media) -> Option<TransportWindow> {
        self.live.then(|| {
            let v = self.video_damage.share(s, e);
            let a = if media.audio {
                self.audio_damage.share(s, e)
            } else {
                0.0
            };
            let events = self
                .closed
                .iter()
                .chain(self.open.iter())
                .filter(|d| d.transport && d.start < e && d.end >= s)
                .count();
            TransportWindow {
                damaged_video_ratio: rounded(v),
                damaged_audio_ratio: rounded(a),
                events,
                score: rounded(100.0 * (1.0 - v.max(a))),
            }
        })
    }

    /// Forget closed events that end before `from`.
    pub fn forget_before(&mut self, from: f64) {
        self.closed.retain(|d| d.end >= from);
    }

    /// End of input: open events were closed by their detectors' `finish`.
    pub fn close_open(&mut self) {
        self.open.clear();
    }

    /// Closed events of each kind over the whole stream.
    pub fn totals(&self) -> BTreeMap<Cow<'static, str>, usize> {
        EventKind::ALL
            .iter()
            .zip(self.counts)
            .map(|(k, n)| (Cow::Borrowed(k.as_str()), n))
            .collect()
    }

    pub fn sizes(&self) -> [(&'static str, usize); 2] {
        [
            ("detections", self.closed.len()),
            ("open_ongoing", self.open.len()),
        ]
    }
}
