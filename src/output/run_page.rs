//! The run page: one renderer for a run's picture — the score timeline per dimension, cuts and
//! events on the same time axis with their diagnoses, the sync figure and its correlation curve,
//! shot lengths against film norms, alerts and the verdict. `evalverse report` draws it from the
//! records of a finished run (with thumbnails); `serve`'s live page asks the server for it as
//! the records of a stream arrive ([`Pages`], `GET /v1/streams/{id}/page`). Every text goes
//! through [`esc`].
use super::markup::esc;
use crate::alert::{Decision, Verdict};
use crate::evaluator::sink::RecordSink;
use crate::score::Scores;
use crate::score::record::{
    AlertRecord, CutRecord, EventRecord, Record, StateRecord, SummaryRecord, SyncFigures,
    WindowRecord,
};
use crate::vocab::{Cause, CutKind};
use std::collections::{HashMap, VecDeque};
use std::fmt::Write;

/// The dimensions in the order the page draws them, with their colours.
pub const DIMS: [(&str, &str); 6] = [
    ("overall", "#222"),
    ("continuity", "#1f77b4"),
    ("sync", "#d62728"),
    ("rhythm", "#2ca02c"),
    ("sound", "#9467bd"),
    ("picture", "#ff7f0e"),
];

/// Thumbnails by time in milliseconds, as `data:` URIs.
pub type Thumbs = std::collections::BTreeMap<i64, String>;

/// What a run page shows, gathered from one stream's records in the order they came.
#[derive(Clone, Debug, Default)]
pub struct RunView {
    stream: String,
    windows: VecDeque<WindowRecord>,
    cuts: VecDeque<CutRecord>,
    /// Final reports, and ongoing ones until the later report of their kind replaces them.
    events: VecDeque<EventRecord>,
    alerts: VecDeque<AlertRecord>,
    state: Option<StateRecord>,
    /// The last verdict record (a live stream's turn to `stop`).
    verdict: Option<Verdict>,
    summary: Option<SummaryRecord>,
    records: u64,
}

/// How many of each a view keeps at most (a live stream's page holds its recent past).
const MAX_WINDOWS: usize = 4000;
const MAX_CUTS: usize = 4000;
const MAX_EVENTS: usize = 2000;
const MAX_ALERTS: usize = 200;

fn capped<T>(q: &mut VecDeque<T>, max: usize) {
    while q.len() > max {
        q.pop_front();
    }
}

impl RunView {
    /// A view of the records `records` (of one stream).
    pub fn of<'a>(records: impl IntoIterator<Item = &'a Record>) -> Self {
        let mut v = Self::default();
        for r in records {
            v.push(r);
        }
        v
    }

    /// An empty view of stream `stream`.
    pub fn named(stream: &str) -> Self {
        Self {
            stream: stream.to_string(),
            ..Self::default()
        }
    }

    pub fn push(&mut self, r: &Record) {
        if self.stream.is_empty() {
            self.stream = r.stream().to_string();
        }
        self.records += 1;
        match r {
            Record::Window(w) => {
                self.windows.push_back((**w).clone());
                capped(&mut self.windows, MAX_WINDOWS);
            }
            Record::Cut(c) => {
                self.cuts.push_back(c.clone());
                capped(&mut self.cuts, MAX_CUTS);
            }
            Record::Event(e) => {
                // An event is reported when it starts (ongoing) and again when it ends.
                self.events.retain(|o| !(o.ongoing && o.kind == e.kind));
                self.events.push_back(e.clone());
                capped(&mut self.events, MAX_EVENTS);
            }
            Record::Alert(a) => {
                self.alerts.push_back(a.clone());
                capped(&mut self.alerts, MAX_ALERTS);
            }
            Record::State(s) => self.state = Some(s.clone()),
            Record::Verdict(v) => self.verdict = Some(v.verdict.clone()),
            Record::Summary(s) => self.summary = Some((**s).clone()),
        }
    }

    /// The latest stream time the view knows of.
    pub fn latest(&self) -> f64 {
        let w = self.windows.iter().map(|w| w.end);
        let c = self.cuts.iter().map(|c| c.pts);
        let e = self.events.iter().map(|e| e.end);
        let s = self.summary.iter().map(|s| s.duration_s);
        w.chain(c).chain(e).chain(s).fold(0.0, f64::max)
    }

    /// Forget what ended more than `span_s` before the latest time.
    pub fn trim(&mut self, span_s: f64) {
        let from = self.latest() - span_s;
        self.windows.retain(|w| w.end >= from);
        self.cuts.retain(|c| c.pts >= from);
        self.events.retain(|e| e.end >= from);
    }

    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The times the page shows a frame of: each shot's start (0 and every content cut) and
    /// each event's start.
    pub fn thumbnail_times(&self) -> Vec<f64> {
        let mut t = vec![0.0];
        t.extend(self.content_cuts());
        t.extend(self.events.iter().map(|e| e.start));
        t
    }

    fn content_cuts(&self) -> impl Iterator<Item = f64> + '_ {
        self.cuts
            .iter()
            .filter(|c| c.cause != Cause::Transport)
            .map(|c| c.pts)
    }
}

/// What the page is drawn for.
pub enum Frame<'a> {
    /// A finished run, with the frames `Thumbs` holds.
    Report(&'a Thumbs),
    /// A live stream: its last `span_s` seconds, with the verdict and state it has now (when it
    /// is still running).
    Live {
        span_s: f64,
        now: Option<(Verdict, String)>,
    },
}

/// The page's body for `view`.
pub fn render(view: &RunView, frame: &Frame) -> String {
    let thumbs = match frame {
        Frame::Report(t) => Some(*t),
        Frame::Live { .. } => None,
    };
    let end = view.latest().max(0.1);
    let start = match frame {
        Frame::Report(_) => 0.0,
        Frame::Live { span_s, .. } => {
            let first = view.windows.iter().map(|w| w.start).fold(end, f64::min);
            first.max(end - span_s).max(0.0)
        }
    };
    let ax = Axis {
        start,
        end,
        left: 40.0,
        width: 940.0,
    };
    let mut b = String::new();
    let _ = write!(
        b,
        "<div id=\"run\" data-records=\"{}\"><h1>evalverse — {}</h1>",
        view.records,
        esc(&view.stream)
    );
    header(&mut b, view, frame);
    let _ = write!(b, "<h2>Scores, cuts and events over time</h2>");
    timeline(&mut b, &ax, view);
    if let Some(t) = thumbs {
        shot_strip(&mut b, view, t);
    }
    event_table(&mut b, view, thumbs);
    sync_section(&mut b, view);
    shots(&mut b, view, start, end);
    alert_list(&mut b, view);
    ended(&mut b, view);
    b.push_str("</div>");
    b
}

/// `v` with `d` decimals, or a dash.
fn fixed(v: Option<f64>, d: usize) -> String {
    v.filter(|v| v.is_finite())
        .map_or("–".into(), |v| format!("{v:.d$}"))
}

/// Time axis: x in pixels for a time in seconds.
struct Axis {
    start: f64,
    end: f64,
    left: f64,
    width: f64,
}

impl Axis {
    fn x(&self, t: f64) -> f64 {
        let span = (self.end - self.start).max(1e-6);
        self.left + ((t - self.start) / span).clamp(0.0, 1.0) * self.width
    }
    fn ticks(&self, o: &mut String, y: f64) {
        let span = self.end - self.start;
        let step = [1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0]
            .into_iter()
            .find(|s| span / s <= 12.0)
            .unwrap_or(3600.0);
        let mut t = (self.start / step).ceil() * step;
        while t <= self.end + 1e-9 {
            let _ = write!(
                o,
                "<text x=\"{:.1}\" y=\"{y}\">{t}s</text>",
                self.x(t) - 6.0
            );
            t += step;
        }
    }
}

fn verdict_line(v: &Verdict) -> String {
    let mut s = format!("Verdict: {}", v.verdict.as_str());
    if !v.reasons.is_empty() {
        let why: Vec<&str> = v.reasons.iter().map(|r| r.message.as_str()).collect();
        let _ = write!(s, " — {}", why.join("; "));
    }
    s
}

fn header(b: &mut String, view: &RunView, frame: &Frame) {
    let now = match frame {
        Frame::Live { now, .. } => now.as_ref(),
        Frame::Report(_) => None,
    };
    let verdict = now
        .map(|(v, _)| v)
        .or(view.summary.as_ref().map(|s| &s.verdict))
        .or(view.verdict.as_ref());
    match verdict {
        Some(v) => {
            let class = if v.verdict == Decision::Stop {
                "stop"
            } else {
                "ok"
            };
            let _ = write!(
                b,
                "<p id=\"verdict\" class=\"{class}\">{}</p>",
                esc(&verdict_line(v))
            );
        }
        None => {
            let _ = write!(b, "<p id=\"verdict\">Verdict: …</p>");
        }
    }
    let state = now.map(|(_, s)| s.clone()).or_else(|| {
        view.state.as_ref().map(|s| match s.message.as_str() {
            "" => s.state.as_str().to_string(),
            m => format!("{}: {m}", s.state.as_str()),
        })
    });
    if let Some(s) = state {
        let _ = write!(b, "<p id=\"state\">State: {}</p>", esc(&s));
    }
    match (&view.summary, frame) {
        (Some(s), _) => {
            let _ = write!(
                b,
                "<p>{:.1} s, {} frames, backend {}.</p>",
                s.duration_s,
                s.frames,
                esc(&s.backend)
            );
        }
        (None, Frame::Report(_)) => {
            let _ = write!(b, "<p>No summary record: the run did not finish.</p>");
        }
        (None, Frame::Live { .. }) => {}
    }
    let scores = view
        .summary
        .as_ref()
        .map(|s| &s.scores)
        .or(view.windows.back().map(|w| &w.scores));
    score_table(b, scores);
    let calibrated = view.summary.as_ref().and_then(|s| s.calibrated.as_ref());
    if let Some(c) = calibrated {
        let parts: Vec<String> = c.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = write!(
            b,
            "<p>Calibrated (raters' scale): {}</p>",
            esc(&parts.join(", "))
        );
    }
}

fn score(s: &Scores, dim: &str) -> Option<f64> {
    s.named().into_iter().find(|(n, _)| *n == dim)?.1
}

fn score_table(b: &mut String, scores: Option<&Scores>) {
    let _ = write!(b, "<table id=\"scores\"><tr>");
    for (d, _) in DIMS {
        let _ = write!(b, "<th>{d}</th>");
    }
    let _ = write!(b, "</tr><tr>");
    for (d, _) in DIMS {
        let _ = write!(b, "<td>{}</td>", fixed(scores.and_then(|s| score(s, d)), 1));
    }
    let _ = write!(b, "</tr></table>");
}

fn timeline(b: &mut String, ax: &Axis, view: &RunView) {
    let (top, h) = (10.0, 200.0);
    let lanes = top + h + 20.0;
    let y = |v: f64| top + h - v.clamp(0.0, 100.0) / 100.0 * h;
    let _ = write!(
        b,
        "<svg id=\"timeline\" width=\"1000\" height=\"{}\" role=\"img\">",
        lanes + 60.0
    );
    for v in [0.0, 50.0, 100.0] {
        let _ = write!(
            b,
            "<line x1=\"{}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#eee\"/><text x=\"4\" y=\"{}\">{v}</text>",
            ax.left,
            ax.left + ax.width,
            y(v) + 4.0,
            y = y(v)
        );
    }
    // Each dimension's line a little apart from the others (2.5 px a line, the middle one on
    // its value), so that scores that agree (all at 100) stay visible side by side.
    let spread = |i: usize| (i as f64 - (DIMS.len() - 1) as f64 / 2.0) * 2.5;
    for (i, (d, colour)) in DIMS.iter().enumerate() {
        let pts: Vec<String> = view
            .windows
            .iter()
            .filter_map(|w| {
                let v = y(score(&w.scores, d)?) + spread(i);
                Some(format!("{:.1},{v:.1}", ax.x(w.end)))
            })
            .collect();
        if !pts.is_empty() {
            let _ = write!(
                b,
                "<polyline class=\"score\" data-dimension=\"{d}\" data-points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"><title>{d}</title></polyline>",
                pts.len(),
                pts.join(" ")
            );
        }
    }
    for c in &view.cuts {
        let kind = match c.kind {
            CutKind::Hard => "hard",
            CutKind::Gradual => "gradual",
        };
        let _ = write!(
            b,
            "<line class=\"cut {kind}\" data-t=\"{t}\" data-kind=\"{kind}\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{top}\" y2=\"{}\"><title>{kind} cut at {t:.2} s</title></line>",
            lanes + 12.0,
            t = c.pts,
            x = ax.x(c.pts)
        );
    }
    for e in &view.events {
        let kind = e.kind.as_str();
        let class = if e.fault { "fault" } else { "info" };
        let d = &e.diagnosis;
        let tip = format!(
            "{kind} {:.2}–{:.2} s{}: {} — {} Fix: {}",
            e.start,
            e.end,
            if e.ongoing { " (ongoing)" } else { "" },
            d.observed,
            d.problem,
            d.fix
        );
        let _ = write!(
            b,
            "<rect class=\"event {class}\" data-kind=\"{}\" data-start=\"{}\" data-end=\"{}\" x=\"{:.1}\" y=\"{lanes}\" width=\"{:.1}\" height=\"12\"><title>{}</title></rect>",
            esc(kind),
            e.start,
            e.end,
            ax.x(e.start),
            (ax.x(e.end) - ax.x(e.start)).max(2.0),
            esc(&tip)
        );
    }
    ax.ticks(b, lanes + 34.0);
    legend(b, ax.left, lanes + 52.0);
    b.push_str("</svg>");
}

/// The colours of the lines and the marks, as drawn.
fn legend(b: &mut String, left: f64, y: f64) {
    let mut lx = left;
    for (d, colour) in DIMS {
        let _ = write!(
            b,
            "<text x=\"{lx}\" y=\"{y}\" style=\"fill:{colour}\">— {d}</text>"
        );
        lx += 90.0;
    }
    let _ = write!(
        b,
        "<line class=\"legend-cut\" x1=\"{lx}\" x2=\"{lx}\" y1=\"{}\" y2=\"{}\" stroke=\"#555\"/><text x=\"{}\" y=\"{y}\">cut</text>\
         <rect class=\"fault\" x=\"{}\" y=\"{}\" width=\"10\" height=\"10\"/><text x=\"{}\" y=\"{y}\">fault</text>\
         <rect class=\"info\" x=\"{}\" y=\"{}\" width=\"10\" height=\"10\"/><text x=\"{}\" y=\"{y}\">informative event</text>",
        y - 10.0,
        y + 2.0,
        lx + 5.0,
        lx + 40.0,
        y - 9.0,
        lx + 54.0,
        lx + 100.0,
        y - 9.0,
        lx + 114.0
    );
}

fn thumb(thumbs: &Thumbs, t: f64, class: &str) -> String {
    thumbs
        .get(&((t * 1000.0).round() as i64))
        .map(|uri| {
            format!(
                "<img class=\"{class}\" data-t=\"{t}\" src=\"{}\" alt=\"frame at {t:.2} s\">",
                esc(uri)
            )
        })
        .unwrap_or_default()
}

/// The first frame of every shot, in order.
fn shot_strip(b: &mut String, view: &RunView, thumbs: &Thumbs) {
    if thumbs.is_empty() {
        return;
    }
    let starts = std::iter::once(0.0).chain(view.content_cuts());
    let _ = write!(b, "<h2>Shots (first frames)</h2><div id=\"shots-strip\">");
    for (i, t) in starts.enumerate() {
        let _ = write!(
            b,
            "<figure style=\"display:inline-block;margin:4px\">{}<figcaption>shot {} · {t:.2} s</figcaption></figure>",
            thumb(thumbs, t, "shot-thumb"),
            i + 1
        );
    }
    b.push_str("</div>");
}

fn event_table(b: &mut String, view: &RunView, thumbs: Option<&Thumbs>) {
    let _ = write!(b, "<h2>Events and what to do</h2>");
    if view.events.is_empty() {
        let _ = write!(b, "<p>No events.</p>");
        return;
    }
    let framed = thumbs.is_some_and(|t| !t.is_empty());
    let _ = write!(
        b,
        "<table id=\"events\"><tr>{}<th>event</th><th>time</th><th>dimension</th><th>observed</th><th>problem</th><th>fix</th></tr>",
        if framed { "<th>frame</th>" } else { "" }
    );
    for e in &view.events {
        let d = &e.diagnosis;
        let cell = match thumbs.filter(|_| framed) {
            Some(t) => format!("<td>{}</td>", thumb(t, e.start, "event-thumb")),
            None => String::new(),
        };
        let _ = write!(
            b,
            "<tr>{cell}<td>{}</td><td>{:.2}–{:.2} s{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(e.kind.as_str()),
            e.start,
            e.end,
            if e.ongoing { " …" } else { "" },
            esc(d.dimension.as_str()),
            esc(&d.observed),
            esc(&d.problem),
            esc(&d.fix)
        );
    }
    b.push_str("</table>");
}

/// The stream's sync figure: the summary's once the run has ended, else the latest window's.
fn sync_section(b: &mut String, view: &RunView) {
    let (s, within) = match (&view.summary, view.windows.back()) {
        (Some(s), _) => (&s.sync, String::new()),
        (None, Some(w)) => match &w.sync {
            Some(s) => (s, format!(", window ending {:.1} s", w.end)),
            None => {
                let _ = write!(b, "<h2>Sync</h2><p id=\"sync\">No sync figure yet.</p>");
                return;
            }
        },
        (None, None) => {
            let _ = write!(b, "<h2>Sync</h2><p id=\"sync\">No sync figure yet.</p>");
            return;
        }
    };
    let _ = write!(b, "<h2>Sync</h2><p id=\"sync\">");
    match s.audio_delay_ms {
        Some(d) => {
            let _ = write!(
                b,
                "Audio {} by {:.1} ms (confidence {:.2}{within}).",
                if d >= 0.0 { "late" } else { "early" },
                d.abs(),
                s.confidence
            );
            if let Some(local) = s
                .local
                .as_ref()
                .filter(|_| s.source == Some(crate::model::local_sync::SyncSource::LocalMotion))
            {
                let _ = write!(
                    b,
                    " From local motion that makes sound (z {}, over {:.1} s): cuts and flashes gave too little to go by.",
                    fixed(local.z, 1),
                    local.span_s
                );
            }
        }
        None => {
            let _ = write!(
                b,
                "Declined: {}{within}.",
                esc(s.reason.as_deref().unwrap_or("no evidence"))
            );
        }
    }
    if s.audio_delay_ms.is_some() && s.source == Some(crate::model::local_sync::SyncSource::Lips) {
        let evidence = crate::score::taxonomy::sync_evidence(s.source, 0, None, s.lips.as_ref());
        let _ = write!(
            b,
            " {}{}: cuts and flashes gave too little to go by.",
            evidence[..1].to_uppercase(),
            esc(&evidence[1..])
        );
    }
    let _ = write!(
        b,
        " Evidence: {} visual events, {} audio onsets, {} matched; best lag {} ms, second peak ratio {}.</p>",
        s.visual_events,
        s.audio_onsets,
        s.matched_events,
        fixed(s.best_lag_ms, 1),
        fixed(s.second_peak_ratio, 2)
    );
    sync_curve(b, s);
}

/// The correlation against lag, with the best lag, the committed delay and the level a second
/// peak must stay under (0.75 of the best, more than 60 ms away) for a commitment.
fn sync_curve(b: &mut String, s: &SyncFigures) {
    let Some(c) = s.correlation.as_ref().filter(|c| c.values.len() >= 2) else {
        return;
    };
    let (from, step) = (c.from_ms, c.step_ms);
    let to = from + step * (c.values.len() - 1) as f64;
    let (left, width, top, h) = (40.0, 900.0, 10.0, 120.0);
    let x = |ms: f64| left + (ms - from) / (to - from).max(1e-9) * width;
    let y = |c: f64| top + h - c.clamp(0.0, 1.0) * h;
    let pts: Vec<String> = c
        .values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .map(|(i, v)| format!("{:.1},{:.1}", x(from + step * i as f64), y(*v)))
        .collect();
    let _ = write!(
        b,
        "<svg id=\"sync-curve\" width=\"1000\" height=\"{}\" role=\"img\">\
         <line x1=\"{left}\" x2=\"{}\" y1=\"{y75:.1}\" y2=\"{y75:.1}\" stroke=\"#f0b\" stroke-dasharray=\"4 3\"><title>a second peak at or above this (0.75 of the best) makes the lag ambiguous</title></line>\
         <polyline class=\"sync-correlation\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"1.5\" points=\"{}\"/>",
        top + h + 40.0,
        left + width,
        pts.join(" "),
        y75 = y(0.75),
    );
    let marks = [
        ("best-lag", s.best_lag_ms, "#555", "best lag"),
        ("committed", s.audio_delay_ms, "#070", "committed delay"),
    ];
    for (class, ms, colour, what) in marks {
        if let Some(ms) = ms.filter(|m| (from..=to).contains(m)) {
            let _ = write!(
                b,
                "<line class=\"{class}\" data-ms=\"{ms}\" x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{top}\" y2=\"{}\" stroke=\"{colour}\"><title>{what} {ms:.1} ms</title></line>",
                top + h,
                px = x(ms)
            );
        }
    }
    let tick = if to - from > 1200.0 { 200.0 } else { 100.0 };
    let mut ms = (from / 100.0).ceil() * 100.0;
    while ms <= to + 1e-9 {
        let _ = write!(
            b,
            "<text x=\"{:.1}\" y=\"{}\">{ms}</text>",
            x(ms) - 10.0,
            top + h + 16.0
        );
        ms += tick;
    }
    let _ = write!(
        b,
        "<text x=\"{left}\" y=\"{}\">correlation of picture events with sound onsets against audio lag (ms, positive = audio late); — best lag, — committed, - - ambiguity level</text></svg>",
        top + h + 34.0
    );
}

/// Shot lengths as bars (between `start` and `end`), with the film-norm figures.
fn shots(b: &mut String, view: &RunView, start: f64, end: f64) {
    let mut bounds = vec![start];
    bounds.extend(view.content_cuts().filter(|t| *t > start));
    bounds.push(end);
    let lens: Vec<f64> = bounds
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|l| *l > 0.0)
        .collect();
    let _ = write!(
        b,
        "<h2>Shot lengths</h2><svg id=\"shots\" width=\"1000\" height=\"104\">"
    );
    let longest = lens.iter().copied().fold(1.0, f64::max);
    // Axes: seconds up the left (0, half and the longest), shots along the bottom.
    for f in [0.0, 0.5, 1.0] {
        let yy = 70.0 - f * 60.0;
        let _ = write!(
            b,
            "<line class=\"axis\" x1=\"36\" x2=\"980\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#eee\"/><text x=\"2\" y=\"{:.1}\">{:.1} s</text>",
            yy + 4.0,
            f * longest
        );
    }
    let bw = (940.0 / lens.len().max(1) as f64).min(40.0);
    for (i, l) in lens.iter().enumerate() {
        let h = l / longest * 60.0;
        let _ = write!(
            b,
            "<rect class=\"shot\" data-length=\"{l:.3}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#8da0cb\"><title>shot {}: {l:.2} s</title></rect>",
            40.0 + i as f64 * bw,
            70.0 - h,
            (bw - 2.0).max(1.0),
            i + 1
        );
    }
    let _ = write!(
        b,
        "<text x=\"40\" y=\"84\">shot 1</text><text x=\"{:.1}\" y=\"84\" text-anchor=\"end\">shot {}</text>\
         <text x=\"40\" y=\"99\">{} shots; longest {longest:.1} s. Feature films: median shot 2–8 s.</text></svg>",
        40.0 + lens.len() as f64 * bw,
        lens.len(),
        lens.len()
    );
    let rhythm = view
        .summary
        .as_ref()
        .map(|s| &s.rhythm)
        .or(view.windows.back().map(|w| &w.rhythm));
    if let Some(r) = rhythm {
        let _ = write!(
            b,
            "<p>Median shot {} s, log-sd {}, distance from film norms {} (≤ 1 is like feature films).</p>",
            fixed(r.shot_length_median_s, 2),
            fixed(r.shot_length_log_sd, 2),
            fixed(r.film_norm_distance, 2)
        );
    }
}

fn alert_list(b: &mut String, view: &RunView) {
    let _ = write!(b, "<h2>Alerts</h2>");
    if view.alerts.is_empty() {
        let _ = write!(b, "<p>None fired.</p>");
        return;
    }
    let _ = write!(b, "<ul id=\"alerts\">");
    for a in view.alerts.iter().rev() {
        let _ = write!(
            b,
            "<li class=\"alert\" data-rule=\"{}\">{:.1} s · {} · {}</li>",
            esc(&a.rule),
            a.at,
            a.state.as_str(),
            esc(&a.message)
        );
    }
    b.push_str("</ul>");
}

fn ended(b: &mut String, view: &RunView) {
    let Some(s) = &view.summary else {
        return;
    };
    let _ = write!(
        b,
        "<h2>Ended</h2><p id=\"ended\">{:.1} s, {} frames; verdict {}; overall {}.</p>",
        s.duration_s,
        s.frames,
        s.verdict.verdict.as_str(),
        fixed(s.scores.overall, 1)
    );
}

/// The run pages of a live evaluator: every stream's recent records (a window of `KEEP_S`
/// seconds and at most a few thousand of each), and the last pages of streams that are gone.
#[derive(Default)]
pub struct Pages {
    live: parking_lot::Mutex<HashMap<String, RunView>>,
    gone: parking_lot::Mutex<VecDeque<RunView>>,
}

/// How far back a live page can look, in stream seconds.
pub const KEEP_S: f64 = 900.0;
/// How many pages of streams that are gone are kept (the oldest leaves first).
const GONE_KEPT: usize = 32;

impl Pages {
    /// The page of stream `id` over its last `span_s` seconds, with `now` (its verdict and
    /// state while it runs); `None` when no record of it is held.
    pub fn render(&self, id: &str, span_s: f64, now: Option<(Verdict, String)>) -> Option<String> {
        let view = {
            let live = self.live.lock();
            match live.get(id) {
                Some(v) => v.clone(),
                None => self
                    .gone
                    .lock()
                    .iter()
                    .rev()
                    .find(|v| v.stream == id)?
                    .clone(),
            }
        };
        let span_s = span_s.clamp(5.0, KEEP_S);
        let mut view = view;
        view.trim(span_s);
        Some(render(&view, &Frame::Live { span_s, now }))
    }
}

impl RecordSink for Pages {
    fn record(&self, r: &Record) {
        let mut live = self.live.lock();
        let v = live.entry(r.stream().to_string()).or_default();
        v.push(r);
        if matches!(r, Record::Window(_)) {
            v.trim(KEEP_S);
        }
    }

    fn stream_gone(&self, stream: &str) {
        let Some(v) = self.live.lock().remove(stream) else {
            return;
        };
        let mut gone = self.gone.lock();
        gone.retain(|o| o.stream != stream);
        gone.push_back(v);
        capped(&mut gone, GONE_KEPT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed golden run (a 12-s clip with cuts, flashes, a freeze, black and silence).
    fn golden() -> Vec<Record> {
        include_str!("../../tests/data/golden.jsonl")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn attr_values(html: &str, class: &str, attr: &str) -> Vec<String> {
        html.split('<')
            .filter(|t| {
                t.starts_with(&format!("line class=\"{class}"))
                    || t.starts_with(&format!("rect class=\"{class}"))
            })
            .filter_map(|t| {
                let key = format!("{attr}=\"");
                let rest = &t[t.find(&key)? + key.len()..];
                Some(rest[..rest.find('"')?].to_string())
            })
            .collect()
    }

    #[test]
    fn the_report_and_the_live_page_are_one_drawing() {
        let records = golden();
        let view = RunView::of(&records);
        let report = render(&view, &Frame::Report(&Thumbs::new()));
        let live = render(
            &view,
            &Frame::Live {
                span_s: 300.0,
                now: None,
            },
        );
        let cuts: Vec<String> = records
            .iter()
            .filter_map(|r| match r {
                Record::Cut(c) => Some(c.pts.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(cuts.len(), 5);
        for page in [&report, &live] {
            assert_eq!(attr_values(page, "cut", "data-t"), cuts);
            assert_eq!(attr_values(page, "event", "data-start").len(), 5);
            assert!(page.contains("id=\"ended\""), "the summary is drawn");
            assert!(page.contains("data-points=\"9\""), "a point per window");
        }
        // A run that starts at 0 s is drawn on the same axis either way: the pages differ only
        // in what a report says about a missing summary (none here) and thumbnails (none).
        assert_eq!(report, live, "same records, same page");
    }

    /// Scores that agree are drawn side by side, not on top of each other; the shot lengths
    /// have their axes.
    #[test]
    fn equal_scores_stay_visible_and_shot_lengths_have_axes() {
        let mut records = golden();
        for r in &mut records {
            if let Record::Window(w) = r {
                let all = Some(100.0);
                w.scores.sync = all;
                w.scores.continuity = all;
                w.scores.rhythm = all;
                w.scores.sound = all;
                w.scores.picture = all;
                w.scores.overall = all;
            }
        }
        let page = render(&RunView::of(&records), &Frame::Report(&Thumbs::new()));
        let firsts: Vec<String> = page
            .split("<polyline class=\"score\"")
            .skip(1)
            .filter_map(|t| {
                let p = &t[t.find(" points=\"")? + 9..];
                let first = p.split(' ').next()?;
                Some(first.split(',').nth(1)?.to_string())
            })
            .collect();
        assert_eq!(firsts.len(), 6, "{firsts:?}");
        let distinct: std::collections::BTreeSet<&String> = firsts.iter().collect();
        assert_eq!(
            distinct.len(),
            6,
            "six lines at 100, each visible: {firsts:?}"
        );
        let shots = &page[page.find("id=\"shots\"").unwrap()..];
        assert!(shots.contains("0.0 s</text>") && shots.contains(">shot 1</text>"));
    }

    #[test]
    fn every_text_is_escaped() {
        let mut records = golden();
        for r in &mut records {
            if let Record::Event(e) = r {
                e.diagnosis.observed = "<script>alert('x')</script> \"q\" & co".into();
            }
            if let Record::Summary(s) = r {
                s.backend = "<b onload='x'>".into();
            }
        }
        let page = render(&RunView::of(&records), &Frame::Report(&Thumbs::new()));
        assert!(!page.contains("<script>") && !page.contains("<b onload"));
        assert!(
            page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &quot;q&quot; &amp; co")
        );
    }

    #[test]
    fn a_live_page_holds_its_span_and_outlives_its_stream() {
        let pages = Pages::default();
        for r in golden() {
            pages.record(&r);
        }
        let all = pages.render("golden.mp4", 300.0, None).unwrap();
        let recent = pages.render("golden.mp4", 5.0, None).unwrap();
        // 12 s of stream: the last 5 s hold fewer cuts than the whole.
        assert!(
            attr_values(&recent, "cut", "data-t").len() < attr_values(&all, "cut", "data-t").len()
        );
        assert!(pages.render("other", 300.0, None).is_none());
        pages.stream_gone("golden.mp4");
        let after = pages
            .render("golden.mp4", 300.0, None)
            .expect("kept after it is gone");
        assert_eq!(after, all);
        // A page never holds more than its caps, whatever a stream sends.
        let mut v = RunView::default();
        let cut = golden()
            .into_iter()
            .find(|r| matches!(r, Record::Cut(_)))
            .unwrap();
        for _ in 0..MAX_CUTS + 10 {
            v.push(&cut);
        }
        assert_eq!(v.cuts.len(), MAX_CUTS);
    }
}
