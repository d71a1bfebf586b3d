//! The receivers of a stream's branches, handed to its [`StreamEvaluator`] one item at a time.
//!
//! Live, items go to the evaluator as they arrive. A file is read in timestamp order instead:
//! the branches decode on threads of their own and run ahead of each other by whatever the
//! scheduler gave them, and a window scored while the picture ran ahead of the sound would read
//! other figures than the same window scored while the sound ran ahead. In timestamp order the
//! evaluator sees one sequence per file, so a file's records are the same on every run.
//!
//! ```text
//! video ─┐
//! detail ┤  one item held per branch ─▶ the earliest, once every branch still going has
//! audio ─┤                              one (or has kept the others waiting PATIENCE)
//! sound ─┘
//! ```
use super::stream::StreamEvaluator;
use crate::score::record::Record;
use crate::types::{AudioChunk, DetailFrame, IngestEvent, Media, SoundChunk, VideoFrame};
use crate::window::timeline::Medium;
use crossbeam::channel::{Receiver, Select, TryRecvError, never};
use std::time::{Duration, Instant};

/// How long a file's earliest item waits for a branch that has nothing yet (a decoder starved
/// of the CPU for a moment). Past it, the branch no longer holds the others back until it
/// delivers again: order gives way to progress.
const PATIENCE: Duration = Duration::from_secs(2);

/// What one wait brought.
pub(super) enum Step {
    /// Media, handed to the evaluator.
    Data,
    /// An event from the pipeline (`None`: the pipeline went away).
    Event(Option<IngestEvent>),
    /// Nothing within the timeout.
    Idle,
}

enum Item {
    Video(VideoFrame),
    Detail(DetailFrame),
    Audio(AudioChunk),
    Sound(SoundChunk),
}

impl Item {
    fn pts(&self) -> f64 {
        let t = match self {
            Item::Video(f) => f.pts,
            Item::Detail(d) => d.pts,
            Item::Audio(c) => c.pts,
            Item::Sound(c) => c.pts,
        };
        if t.is_finite() { t } else { f64::NEG_INFINITY }
    }

    fn give(self, ev: &mut StreamEvaluator, out: &mut Vec<Record>) {
        match self {
            Item::Video(f) => ev.push_video(f, out),
            Item::Detail(d) => ev.push_detail(d, out),
            Item::Audio(c) => ev.push_audio(c, out),
            Item::Sound(c) => ev.push_sound(c, out),
        }
    }
}

/// Branch indices, in the order items of equal timestamps are given.
const VIDEO: usize = 0;
const DETAIL: usize = 1;
const AUDIO: usize = 2;
const SOUND: usize = 3;

#[derive(Clone, Copy, Default, PartialEq)]
enum Branch {
    /// Delivering, or may still: holds the others back while it has nothing.
    #[default]
    Going,
    /// Kept the others waiting past [`PATIENCE`]: holds nothing back until it delivers.
    Late,
    /// Not in this input, or its end was seen: holds nothing back.
    Done,
}

pub(super) struct MediaRx {
    video: Receiver<VideoFrame>,
    detail: Receiver<DetailFrame>,
    audio: Receiver<AudioChunk>,
    sound: Receiver<SoundChunk>,
    pub events: Receiver<IngestEvent>,
    /// Timestamp order (files) or arrival order (live).
    ordered: bool,
    held: [Option<Item>; 4],
    branch: [Branch; 4],
    /// Video and audio whose end was seen: [`StreamEvaluator::end_medium`] is called once the
    /// items queued before it have gone in.
    ending: [Option<Medium>; 2],
    /// The branch's end was seen: once it holds nothing and nothing is queued, it is done.
    eos: [bool; 4],
    waiting_since: Option<Instant>,
}

impl MediaRx {
    pub fn new(ingest: &crate::ingest::Ingest, ordered: bool) -> Self {
        let mut rx = Self {
            video: ingest.video.clone(),
            detail: ingest.detail.clone(),
            audio: ingest.audio.clone(),
            sound: ingest.sound.clone(),
            events: ingest.events.clone(),
            ordered,
            held: Default::default(),
            branch: Default::default(),
            ending: [None, None],
            eos: [false; 4],
            waiting_since: None,
        };
        // Branches the pipeline does not have hold nothing back.
        if !ingest.has_sound {
            rx.branch[SOUND] = Branch::Done;
        }
        if !ingest.has_detail {
            rx.branch[DETAIL] = Branch::Done;
        }
        rx
    }

    /// The media the input has: the branches of the others hold nothing back.
    pub fn set_media(&mut self, m: Media) {
        for (i, present) in [
            (VIDEO, m.video),
            (DETAIL, m.video),
            (AUDIO, m.audio),
            (SOUND, m.audio),
        ] {
            if !present {
                self.branch[i] = Branch::Done;
            }
        }
    }

    /// A branch's end was seen. Video and audio end in the evaluator once what they queued
    /// before it has been given (files), or at once (live).
    pub fn branch_ended(
        &mut self,
        medium: Medium,
        ev: &mut StreamEvaluator,
        out: &mut Vec<Record>,
    ) {
        let (i, m) = match medium {
            Medium::Video => (VIDEO, Some(Medium::Video)),
            Medium::Audio => (AUDIO, Some(Medium::Audio)),
            Medium::Sound => (SOUND, None),
            Medium::Detail => (DETAIL, None),
        };
        self.eos[i] = true;
        if let Some(m) = m {
            self.ending[(i == AUDIO) as usize] = Some(m);
        }
        if !self.ordered {
            self.drain_branch(i, ev, out);
            self.settle(ev, out);
        }
    }

    /// Whether every end seen has reached the evaluator.
    pub fn settled(&self) -> bool {
        self.ending.iter().all(Option::is_none)
    }

    /// Video or audio whose end was seen and whose items have all gone in: ended now.
    fn settle(&mut self, ev: &mut StreamEvaluator, out: &mut Vec<Record>) {
        for k in 0..2 {
            let i = if k == 0 { VIDEO } else { AUDIO };
            if let Some(m) = self.ending[k]
                && self.held[i].is_none()
                && self.is_empty(i)
            {
                self.ending[k] = None;
                self.branch[i] = Branch::Done;
                ev.end_medium(m, out);
            }
        }
    }

    fn is_empty(&self, i: usize) -> bool {
        match i {
            VIDEO => self.video.is_empty(),
            DETAIL => self.detail.is_empty(),
            AUDIO => self.audio.is_empty(),
            _ => self.sound.is_empty(),
        }
    }

    fn try_take(&mut self, i: usize) -> Result<Item, TryRecvError> {
        match i {
            VIDEO => self.video.try_recv().map(Item::Video),
            DETAIL => self.detail.try_recv().map(Item::Detail),
            AUDIO => self.audio.try_recv().map(Item::Audio),
            _ => self.sound.try_recv().map(Item::Sound),
        }
    }

    /// A branch whose sender is gone (its thread ended) leaves the select for good, or the
    /// select would return at once forever.
    fn close(&mut self, i: usize) {
        match i {
            VIDEO => self.video = never(),
            DETAIL => self.detail = never(),
            AUDIO => self.audio = never(),
            _ => self.sound = never(),
        }
        self.branch[i] = Branch::Done;
    }

    fn drain_branch(&mut self, i: usize, ev: &mut StreamEvaluator, out: &mut Vec<Record>) {
        if let Some(x) = self.held[i].take() {
            x.give(ev, out);
        }
        while let Ok(x) = self.try_take(i) {
            x.give(ev, out);
        }
    }

    /// Hold one item of every branch that has one queued.
    fn refill(&mut self) {
        for i in 0..4 {
            if self.held[i].is_some() {
                continue;
            }
            match self.try_take(i) {
                Ok(x) => {
                    self.held[i] = Some(x);
                    if self.branch[i] == Branch::Late && !self.eos[i] {
                        self.branch[i] = Branch::Going;
                    }
                }
                Err(TryRecvError::Disconnected) => self.close(i),
                Err(TryRecvError::Empty) if self.eos[i] => self.branch[i] = Branch::Done,
                Err(TryRecvError::Empty) => {}
            }
        }
    }

    /// The branch holding the earliest item (the first in branch order among equal times).
    fn earliest(&self) -> Option<usize> {
        (0..4)
            .filter_map(|i| Some((i, self.held[i].as_ref()?.pts())))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    }

    /// Give the earliest held item, if no branch still going is empty-handed (or every such
    /// branch has kept the others waiting past [`PATIENCE`]).
    fn give_earliest(&mut self, ev: &mut StreamEvaluator, out: &mut Vec<Record>) -> bool {
        let Some(i) = self.earliest() else {
            return false;
        };
        let blocking = |rx: &Self, b: usize| rx.held[b].is_none() && rx.branch[b] == Branch::Going;
        if (0..4).any(|b| blocking(self, b)) {
            let since = *self.waiting_since.get_or_insert_with(Instant::now);
            if since.elapsed() < PATIENCE {
                return false;
            }
            for b in 0..4 {
                if blocking(self, b) {
                    self.branch[b] = Branch::Late;
                }
            }
        }
        self.waiting_since = None;
        if let Some(x) = self.held[i].take() {
            x.give(ev, out);
        }
        self.settle(ev, out);
        true
    }

    /// Wait up to `timeout` for media (given to `ev`) or an event.
    pub fn next(
        &mut self,
        ev: &mut StreamEvaluator,
        out: &mut Vec<Record>,
        timeout: Duration,
    ) -> Step {
        if !self.ordered {
            return self.next_arrived(ev, out, timeout);
        }
        let until = Instant::now() + timeout;
        loop {
            if let Ok(e) = self.events.try_recv() {
                return Step::Event(Some(e));
            }
            self.refill();
            self.settle(ev, out);
            if self.give_earliest(ev, out) {
                return Step::Data;
            }
            let now = Instant::now();
            if now >= until {
                return Step::Idle;
            }
            // Wait for a branch that holds nothing, an event, or the patience to run out.
            let mut wait = until - now;
            if let Some(since) = self.waiting_since {
                wait = wait.min(
                    PATIENCE
                        .saturating_sub(since.elapsed())
                        .max(Duration::from_millis(1)),
                );
            }
            let mut sel = Select::new();
            let ev_op = sel.recv(&self.events);
            let mut ops = vec![];
            for i in (0..4).filter(|&i| self.held[i].is_none()) {
                let op = match i {
                    VIDEO => sel.recv(&self.video),
                    DETAIL => sel.recv(&self.detail),
                    AUDIO => sel.recv(&self.audio),
                    _ => sel.recv(&self.sound),
                };
                ops.push((op, i));
            }
            let Ok(ready) = sel.ready_timeout(wait) else {
                continue;
            };
            if ready == ev_op {
                return match self.events.try_recv() {
                    Ok(e) => Step::Event(Some(e)),
                    Err(TryRecvError::Disconnected) => Step::Event(None),
                    Err(TryRecvError::Empty) => continue,
                };
            }
            // A branch is ready: the next turn of the loop takes it (or sees it closed).
        }
    }

    /// Live: whatever arrives first goes in first.
    fn next_arrived(
        &mut self,
        ev: &mut StreamEvaluator,
        out: &mut Vec<Record>,
        timeout: Duration,
    ) -> Step {
        crossbeam::select! {
            recv(self.video) -> f => match f { Ok(f) => ev.push_video(f, out), Err(_) => self.video = never() },
            recv(self.audio) -> c => match c { Ok(c) => ev.push_audio(c, out), Err(_) => self.audio = never() },
            recv(self.sound) -> c => match c { Ok(c) => ev.push_sound(c, out), Err(_) => self.sound = never() },
            recv(self.detail) -> d => match d { Ok(d) => ev.push_detail(d, out), Err(_) => self.detail = never() },
            recv(self.events) -> e => return Step::Event(e.ok()),
            default(timeout) => return Step::Idle,
        }
        Step::Data
    }

    /// Give `ev` everything queued (in timestamp order for a file), and end the media whose
    /// end was seen.
    pub fn flush(&mut self, ev: &mut StreamEvaluator, out: &mut Vec<Record>) {
        loop {
            self.refill();
            let Some(i) = self.earliest() else { break };
            if let Some(x) = self.held[i].take() {
                x.give(ev, out);
            }
        }
        self.settle(ev, out);
    }
}
