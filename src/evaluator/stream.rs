//! One stream's evaluation, synchronous and free of threads: media in, [`Record`]s out.
//!
//! ```text
//! VideoFrame ─▶ Clock ─▶ VideoBatcher ─▶ Model::video_features ─▶ Shots ─┐
//! AudioChunk ─▶ Clock ─▶ AudioRing ───▶ Model::audio_energy ────────────┤─▶ window heads
//! SoundChunk, DetailFrame ─▶ Clock ─────────────────────────────────────┘   (fed as they come)
//! detections ─▶ EventBook (placed, reported)      watermark ─▶ heads fill the window ─▶ Judge
//! ```
//!
//! The stream is the conductor: the [`Clock`] keeps the timeline and the watermark, [`Shots`]
//! decide the cuts, the [`EventBook`] places every detection, the heads ([`heads`]) measure,
//! and the [`Judge`] applies scores, calibration and alert rules to each finished window.
use super::clock::{Clock, ENDED_NOTE_S, Timing};
use super::events::EventBook;
use super::heads::{self, PruneCx, WindowCx, WindowHead};
use super::judge::Judge;
use super::shots::Shots;
use crate::alert::AlertRule;
use crate::config::AnalysisSettings;
use crate::model::Model;
use crate::model::rhythm::CutOutput;
use crate::score::calibrated::Calibration;
use crate::score::record::{Record, WindowRecord, rounded};
use crate::types::{AudioChunk, SoundChunk, StreamId, StreamState, VideoFrame};
use crate::vocab::{Detection, EventKind};
use crate::window::timeline::{Jump, Medium};
use crate::window::{AudioRing, VideoBatcher};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

/// How long a camera or loudness jump (and a detail frame) waits for the cut detector to
/// decide on its frames, s.
pub(super) const JUMP_WAIT_S: f64 = 1.0;

/// Evaluation state of one stream.
pub struct StreamEvaluator {
    pub(super) id: StreamId,
    pub(super) a: AnalysisSettings,
    pub(super) model: Model,
    pub(super) live: bool,
    pub timing: Timing,
    pub(super) clock: Clock,
    pub(super) book: EventBook,
    pub(super) shots: Shots,
    pub(super) heads: Vec<Box<dyn WindowHead>>,
    pub(super) judge: Judge,
    pub(super) batcher: VideoBatcher,
    pub(super) audio: AudioRing,
    pub(super) samples_per_ms: usize,
    /// Time and arrival of each picture the windows still to score may count.
    pub(super) arrivals: VecDeque<(f64, Instant)>,
    /// Sound that came before the first audio chunk placed its timeline (bounded).
    pub(super) sound_waiting: VecDeque<SoundChunk>,
    pub(super) batches: usize,
    pub frames: u64,
    pub dropped_frames: u64,
    /// Frames per model call: the configured batch live, larger for files (no latency to keep).
    pub(super) batch_frames: usize,
    pub(super) started: Instant,
    pub(super) finished: bool,
    /// Live: whether the first media since the start were announced ("receiving …").
    pub(super) receiving: bool,
    /// Flashes waiting for the sound around them, and that sound's recent level.
    pub(super) flashes_waiting: Vec<crate::vocab::Detection>,
    pub(super) levels: crate::model::transient::LevelTrail,
}

impl StreamEvaluator {
    /// `live`: report events as soon as they reach the minimum duration ("ongoing"), and
    /// schedule windows on what has arrived even when one medium stalls.
    pub fn new(
        id: StreamId,
        a: &AnalysisSettings,
        rules: &[AlertRule],
        model: Model,
        live: bool,
        timing: Timing,
    ) -> Self {
        let standard_heads = heads::standard(a, &model);
        Self {
            judge: Judge::new(&id, rules),
            book: EventBook::new(&id, a, live),
            batch_frames: if live {
                a.batch_frames
            } else {
                a.batch_frames.max(32)
            },
            id,
            a: a.clone(),
            model,
            live,
            timing,
            clock: Clock::new(a),
            shots: Shots::new(),
            heads: standard_heads,
            batcher: VideoBatcher::default(),
            audio: AudioRing::new(a.audio_rate),
            samples_per_ms: (a.audio_rate / 1000).max(1) as usize,
            arrivals: VecDeque::new(),
            sound_waiting: VecDeque::new(),
            batches: 0,
            frames: 0,
            dropped_frames: 0,
            started: Instant::now(),
            finished: false,
            receiving: false,
            flashes_waiting: vec![],
            levels: Default::default(),
        }
    }

    /// Apply this expert calibration (`evalverse calibrate`) to the windows and the summary:
    /// they gain `calibrated` scores on the raters' scale.
    pub fn with_calibration(mut self, c: Option<Arc<Calibration>>) -> Self {
        self.judge.set_calibration(c);
        self
    }

    /// Every head's detections of one step, placed.
    pub(super) fn feed(
        &mut self,
        f: impl Fn(&mut dyn WindowHead, &mut Vec<Detection>),
        out: &mut Vec<Record>,
    ) {
        let mut dets = vec![];
        for h in &mut self.heads {
            f(h.as_mut(), &mut dets);
        }
        self.emit_all(dets, out);
    }

    pub(super) fn emit_all(&mut self, dets: Vec<Detection>, out: &mut Vec<Record>) {
        let frame_s = self.clock.frame_s();
        for d in dets {
            self.book.emit(d, frame_s, out);
        }
    }

    pub fn push_video(&mut self, mut f: VideoFrame, out: &mut Vec<Record>) {
        if !f.pts.is_finite() {
            return;
        }
        self.note_receiving(out);
        let dur = f.duration.unwrap_or_else(|| self.clock.frame_s());
        let (t, jump) = self.clock.map(Medium::Video, f.pts, dur);
        self.clock.video_offset = Some(t - f.pts);
        f.pts = t;
        if let Some(j) = jump {
            self.on_discontinuity(j, out);
        }
        self.book.video_damage.push(t, t + dur, f.damaged);
        self.clock.on_picture(t);
        let mut dets = vec![];
        for h in &mut self.heads {
            h.on_picture(&f, dur, &mut dets);
        }
        for d in dets {
            if d.kind == EventKind::CameraJump {
                self.book.hold(d);
            } else {
                self.book.emit(d, self.clock.frame_s(), out);
            }
        }
        // Live: the frame that completes the next window flushes the batch (and the audio
        // waiting for its 64 ms chunk), so the window is scored now, not when a batch fills.
        let end = f.pts + f.duration.unwrap_or_else(|| self.clock.frame_s());
        let completes = self.live && self.clock.crosses_window_end(end);
        if let Some(b) = self.batcher.push(f) {
            self.process_batch(b, out);
        }
        if completes {
            self.flush_batch(out);
            self.process_audio(out);
        }
        if self.batcher.len() >= self.batch_frames {
            self.flush_batch(out);
        }
        self.schedule(out);
    }

    pub(super) fn flush_batch(&mut self, out: &mut Vec<Record>) {
        if let Some(b) = self.batcher.take() {
            self.process_batch(b, out);
        }
    }

    pub fn push_audio(&mut self, mut c: AudioChunk, out: &mut Vec<Record>) {
        if !c.pts.is_finite() || c.rate != self.a.audio_rate {
            return;
        }
        self.note_receiving(out);
        let dur = c.samples.len() as f64 / c.rate as f64;
        let raw = c.pts;
        let (t, jump) = self.clock.map(Medium::Audio, c.pts, dur);
        c.pts = t;
        if self.clock.audio_offset.is_none() {
            self.clock.audio_offset = Some(t - raw);
            while let Some(s) = self.sound_waiting.pop_front() {
                self.push_sound(s, out);
            }
        }
        self.clock.audio_offset = Some(t - raw);
        if let Some(j) = jump {
            self.on_discontinuity(j, out);
        }
        self.book.audio_damage.push(t, t + dur, c.damaged);
        let end = c.end();
        self.audio.push(&c);
        // Features in chunks of ≥ 64 ms: one model call per chunk is overhead, not information;
        // live, audio that completes the next window goes through at once.
        if self.audio.pending_samples() * 1000 >= 64 * self.a.audio_rate as usize
            || (self.live && self.clock.crosses_window_end(end))
        {
            self.process_audio(out);
            self.schedule(out);
        }
    }

    pub(super) fn release_jumps(&mut self, upto: f64, out: &mut Vec<Record>) {
        let (video_to, frame_s) = (self.clock.video_to, self.clock.frame_s());
        self.book
            .release_jumps(upto, &self.shots.pacing, video_to, frame_s, out);
    }

    /// A medium's timestamps jumped: the timeline has folded the jump away; report it, and
    /// start the video detectors afresh (frames on either side of a jump are not compared).
    pub(super) fn on_discontinuity(&mut self, j: Jump, out: &mut Vec<Record>) {
        if j.medium == Medium::Video {
            self.flush_batch(out);
            self.batcher.forget_prev();
            let mut co = CutOutput::default();
            self.shots.reset(&mut co);
            self.handle_cuts(co, out);
            self.release_jumps(f64::INFINITY, out);
            self.release_flashes(true, out);
            self.shots.reset_transitions();
            self.feed(|h, dets| h.on_video_jump(j.at, dets), out);
        } else {
            self.process_audio(out);
        }
        let d = Detection {
            kind: EventKind::Discontinuity,
            start: j.at,
            end: j.at,
            ongoing: false,
            values: vec![
                ("jump_s", j.size()),
                ("expected_s", j.expected_raw),
                ("got_s", j.raw),
                ("audio", (j.medium == Medium::Audio) as u8 as f64),
            ],
            transport: false,
        };
        tracing::warn!(stream = %self.id, medium = j.medium.as_str(), jump_s = j.size(), "timestamp discontinuity");
        self.book.emit(d, self.clock.frame_s(), out);
    }

    /// Live: process frames that have waited longer than `max_wait_s` even if the batch is not
    /// full, so scores do not lag on slow streams.
    pub fn tick(&mut self, max_wait_s: f64, out: &mut Vec<Record>) {
        let stale = self
            .batcher
            .oldest_arrival()
            .is_some_and(|t| t.elapsed().as_secs_f64() > max_wait_s);
        if stale {
            self.flush_batch(out);
        }
        self.process_audio(out);
        self.schedule(out);
    }

    pub(super) fn process_audio(&mut self, out: &mut Vec<Record>) {
        let Some((start, samples)) = self.audio.take_blocks(self.samples_per_ms) else {
            return;
        };
        let Some(origin) = self.audio.origin() else {
            return;
        };
        for h in &mut self.heads {
            h.on_samples(origin, start, &samples);
        }
        let energies = self.model.audio_energy(&samples, self.samples_per_ms);
        let first_ms = start / self.samples_per_ms as i64;
        self.feed(
            |h, dets| h.on_energies(origin, first_ms, &energies, dets),
            out,
        );
        self.levels.push(origin, first_ms, &energies);
        self.clock.audio_to = Some(origin + (first_ms + energies.len() as i64) as f64 / 1000.0);
        self.release_flashes(false, out);
        self.prune();
    }

    /// Keep only what the windows still to be scored can ask for. What the summary needs is in
    /// running aggregates.
    pub(super) fn prune(&mut self) {
        let keep = heads::keep_s(&self.a);
        if let Some(newest) = self.clock.video_to {
            while self.arrivals.front().is_some_and(|r| r.0 < newest - keep) {
                self.arrivals.pop_front();
            }
        }
        // The earliest start of a window (or of its sync horizon) still to be scored: the next
        // window, or the last one `finish` may add (it ends at most a hop later).
        let first =
            self.clock
                .sched
                .next_end()
                .zip(self.clock.newest())
                .map(|(next_end, newest)| {
                    (next_end - self.a.hop_s).max(newest - heads::MAX_WINDOW_LAG_S)
                });
        let cx = PruneCx {
            video_to: self.clock.video_to,
            audio_to: self.clock.audio_to,
            first,
        };
        for h in &mut self.heads {
            h.prune(&cx);
        }
        if let Some(first) = first {
            self.book.forget_before(first - self.a.window_s - 1.0);
            // Cuts: a minute for the cut rate, and the horizon for cut–beat alignment.
            self.shots
                .pacing
                .forget_before(first - self.a.sync_horizon_s.max(60.0) - 1.0);
        }
    }

    pub(super) fn schedule(&mut self, out: &mut Vec<Record>) {
        if self.clock.media.is_none() {
            return;
        }
        if let Some(o) = self.clock.start(self.audio.origin()) {
            for h in &mut self.heads {
                h.on_origin(o);
            }
        }
        let Some(wm) = self.clock.watermark(self.live, self.finished) else {
            return;
        };
        if self
            .clock
            .ends
            .note
            .as_ref()
            .is_some_and(|(at, _)| wm > at + ENDED_NOTE_S)
            && let Some((_, msg)) = self.clock.ends.note.take()
        {
            out.push(self.state(StreamState::Running, msg));
        }
        while let Some((s, e)) = self.clock.sched.due(wm) {
            self.window(s, e, out);
        }
    }

    /// Score the window `[s, e)`: every head fills its part, the judge the rest; pushes the
    /// window record and any alerts it triggers.
    pub(super) fn window(&mut self, s: f64, e: f64, out: &mut Vec<Record>) {
        let media = self.clock.media.unwrap_or_default();
        let in_window = self.arrivals.iter().filter(|r| r.0 >= s && r.0 < e).count();
        let newest_arrival = self.arrivals.iter().filter(|r| r.0 < e).map(|r| r.1).max();
        let mut w = WindowRecord::empty(&self.id, rounded(s), rounded(e));
        w.frames = in_window;
        let cx = WindowCx {
            s,
            e,
            origin: self.clock.sched.origin().unwrap_or(s),
            media,
            frame_s: self.clock.frame_s(),
            timing: self.timing,
            model: &self.model,
            book: &self.book,
            pacing: &self.shots.pacing,
        };
        for h in &mut self.heads {
            h.window(&cx, &mut w);
        }
        w.events = self
            .book
            .window_events(s, e, w.continuity.flashes, &mut w.diagnosis);
        w.latency_s = newest_arrival.map_or(0.0, |t| rounded(t.elapsed().as_secs_f64()));
        w.transport = self.book.transport_window(s, e, media);
        let alerts = self.judge.on_window(&mut w);
        out.push(Record::Window(Box::new(w)));
        out.extend(alerts.into_iter().map(Record::Alert));
    }
}
