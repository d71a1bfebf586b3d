//! `evalverse report`: one self-contained HTML page (inline SVG and CSS, no network fetches)
//! that shows a run at a glance — the score timeline per dimension, cuts and events on the same
//! time axis with their diagnoses, the sync figures, shot lengths against film norms, alerts and
//! the verdict — or, for a `score` results file, a sortable table of clips with a distribution
//! per dimension. Built from the JSON-lines records, so a past run can be drawn again.
use serde_json::Value;
use std::fmt::Write;

const DIMS: [(&str, &str); 6] = [
    ("overall", "#222"),
    ("continuity", "#1f77b4"),
    ("sync", "#d62728"),
    ("rhythm", "#2ca02c"),
    ("sound", "#9467bd"),
    ("picture", "#ff7f0e"),
];

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}\
h1{font-size:20px}h2{font-size:16px;margin-top:28px}table{border-collapse:collapse}\
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}th{cursor:pointer;background:#f4f4f4}\
.fault{fill:#d62728;opacity:.55}.info{fill:#999;opacity:.45}.cut{stroke:#555;stroke-width:1}\
.cut.gradual{stroke-dasharray:3 2}.stop{color:#b00;font-weight:bold}.ok{color:#070}\
svg text{font-size:11px;fill:#444}";

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

pub(crate) fn page(title: &str, body: &str, script: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>{STYLE}</style></head><body>{body}<script>{script}</script></body></html>\n",
        esc(title)
    )
}

/// Time axis of the run: x in pixels for a time in seconds.
struct Axis {
    end: f64,
    width: f64,
    left: f64,
}

impl Axis {
    fn x(&self, t: f64) -> f64 {
        self.left + (t / self.end.max(1e-6)).clamp(0.0, 1.0) * self.width
    }
    fn ticks(&self, o: &mut String, y: f64) {
        let step = [1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0]
            .into_iter()
            .find(|s| self.end / s <= 12.0)
            .unwrap_or(3600.0);
        let mut t = 0.0;
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

/// Thumbnails by time in milliseconds, as `data:` URIs.
pub type Thumbs = std::collections::BTreeMap<i64, String>;

fn thumb(thumbs: &Thumbs, t: f64, class: &str) -> String {
    thumbs
        .get(&((t * 1000.0).round() as i64))
        .map(|uri| {
            format!(
                "<img class=\"{class}\" data-t=\"{t}\" src=\"{uri}\" alt=\"frame at {t:.2} s\">"
            )
        })
        .unwrap_or_default()
}

/// The times a run's report shows a frame of: each shot's start (0 and every content cut) and
/// each event's start.
pub fn thumbnail_times(records: &[Value]) -> Vec<f64> {
    let mut t = vec![0.0];
    for r in records {
        match r["type"].as_str() {
            Some("cut") if r["cause"] != "transport" => t.extend(num(&r["pts"])),
            Some("event") => t.extend(num(&r["start"])),
            _ => {}
        }
    }
    t
}

/// The report of one run (the records of `eval --json`, or of one stream of `serve --json`),
/// with thumbnails where `thumbs` has them.
pub fn run_report(records: &[Value], thumbs: &Thumbs) -> String {
    let windows: Vec<&Value> = records.iter().filter(|r| r["type"] == "window").collect();
    let cuts: Vec<&Value> = records.iter().filter(|r| r["type"] == "cut").collect();
    let events: Vec<&Value> = records.iter().filter(|r| r["type"] == "event").collect();
    let alerts: Vec<&Value> = records.iter().filter(|r| r["type"] == "alert").collect();
    let summary = records.iter().rev().find(|r| r["type"] == "summary");
    let end = summary
        .and_then(|s| num(&s["duration_s"]))
        .or_else(|| {
            windows
                .iter()
                .filter_map(|w| num(&w["end"]))
                .reduce(f64::max)
        })
        .unwrap_or(1.0)
        .max(0.1);
    let stream = summary
        .or(windows.first().copied())
        .and_then(|r| r["stream"].as_str())
        .unwrap_or("stream");
    let ax = Axis {
        end,
        width: 940.0,
        left: 40.0,
    };
    let mut b = String::new();
    let _ = write!(b, "<h1>evalverse — {}</h1>", esc(stream));
    header(&mut b, summary);
    let _ = write!(b, "<h2>Scores, cuts and events over time</h2>");
    timeline(&mut b, &ax, &windows, &cuts, &events);
    shot_strip(&mut b, &cuts, thumbs);
    event_table(&mut b, &events, thumbs);
    sync_section(&mut b, summary);
    shots(&mut b, &cuts, end, summary);
    alert_list(&mut b, &alerts);
    page(&format!("evalverse — {stream}"), &b, "")
}

fn header(b: &mut String, summary: Option<&Value>) {
    let Some(s) = summary else {
        let _ = write!(b, "<p>No summary record: the run did not finish.</p>");
        return;
    };
    let verdict = s["verdict"]["verdict"].as_str().unwrap_or("?");
    let class = if verdict == "stop" { "stop" } else { "ok" };
    let _ = write!(
        b,
        "<p id=\"verdict\" class=\"{class}\">Verdict: {}</p><p>{:.1} s, {} frames, backend {}.</p><table id=\"scores\"><tr>",
        esc(verdict),
        num(&s["duration_s"]).unwrap_or(0.0),
        s["frames"],
        esc(s["backend"].as_str().unwrap_or("?"))
    );
    for (d, _) in DIMS {
        let _ = write!(b, "<th>{d}</th>");
    }
    let _ = write!(b, "</tr><tr>");
    for (d, _) in DIMS {
        let v = num(&s["scores"][d]).map_or("–".into(), |v| format!("{v:.1}"));
        let _ = write!(b, "<td>{v}</td>");
    }
    let _ = write!(b, "</tr></table>");
    if let Some(c) = s["calibrated"].as_object() {
        let parts: Vec<String> = c.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = write!(
            b,
            "<p>Calibrated (raters' scale): {}</p>",
            esc(&parts.join(", "))
        );
    }
}

fn timeline(b: &mut String, ax: &Axis, windows: &[&Value], cuts: &[&Value], events: &[&Value]) {
    let (top, h) = (10.0, 200.0);
    let lanes = top + h + 20.0;
    let _ = write!(
        b,
        "<svg id=\"timeline\" width=\"1000\" height=\"{}\" role=\"img\">",
        lanes + 60.0
    );
    for v in [0.0, 50.0, 100.0] {
        let y = top + h - v / 100.0 * h;
        let _ = write!(
            b,
            "<line x1=\"{}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#eee\"/><text x=\"4\" y=\"{}\">{v}</text>",
            ax.left,
            ax.left + ax.width,
            y + 4.0
        );
    }
    for (d, colour) in DIMS {
        let pts: Vec<String> = windows
            .iter()
            .filter_map(|w| {
                Some(format!(
                    "{:.1},{:.1}",
                    ax.x(num(&w["end"])?),
                    top + h - num(&w["scores"][d])? / 100.0 * h
                ))
            })
            .collect();
        if !pts.is_empty() {
            let _ = write!(
                b,
                "<polyline class=\"score\" data-dimension=\"{d}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"><title>{d}</title></polyline>",
                pts.join(" ")
            );
        }
    }
    for c in cuts {
        let t = num(&c["pts"]).unwrap_or(0.0);
        let kind = c["kind"].as_str().unwrap_or("hard");
        let _ = write!(
            b,
            "<line class=\"cut {kind}\" data-t=\"{t}\" data-kind=\"{kind}\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{top}\" y2=\"{}\"><title>{kind} cut at {t:.2} s</title></line>",
            lanes + 12.0,
            x = ax.x(t)
        );
    }
    for e in events {
        let (s, en) = (
            num(&e["start"]).unwrap_or(0.0),
            num(&e["end"]).unwrap_or(0.0),
        );
        let kind = e["kind"].as_str().unwrap_or("?");
        let class = if e["fault"] == true { "fault" } else { "info" };
        let d = &e["diagnosis"];
        let tip = format!(
            "{kind} {s:.2}–{en:.2} s: {} — {} Fix: {}",
            d["observed"].as_str().unwrap_or(""),
            d["problem"].as_str().unwrap_or(""),
            d["fix"].as_str().unwrap_or("")
        );
        let _ = write!(
            b,
            "<rect class=\"event {class}\" data-kind=\"{kind}\" data-start=\"{s}\" data-end=\"{en}\" x=\"{:.1}\" y=\"{lanes}\" width=\"{:.1}\" height=\"12\"><title>{}</title></rect>",
            ax.x(s),
            (ax.x(en) - ax.x(s)).max(2.0),
            esc(&tip)
        );
    }
    ax.ticks(b, lanes + 34.0);
    let mut lx = ax.left;
    for (d, colour) in DIMS {
        let _ = write!(
            b,
            "<text x=\"{lx}\" y=\"{}\" style=\"fill:{colour}\">— {d}</text>",
            lanes + 52.0
        );
        lx += 100.0;
    }
    let _ = write!(
        b,
        "<text x=\"{lx}\" y=\"{}\">| cut   ▮ fault   ▮ informative event</text></svg>",
        lanes + 52.0
    );
}

/// The first frame of every shot, in order.
fn shot_strip(b: &mut String, cuts: &[&Value], thumbs: &Thumbs) {
    if thumbs.is_empty() {
        return;
    }
    let mut starts = vec![0.0];
    starts.extend(
        cuts.iter()
            .filter(|c| c["cause"] != "transport")
            .filter_map(|c| num(&c["pts"])),
    );
    let _ = write!(b, "<h2>Shots (first frames)</h2><div id=\"shots-strip\">");
    for (i, t) in starts.iter().enumerate() {
        let _ = write!(
            b,
            "<figure style=\"display:inline-block;margin:4px\">{}<figcaption>shot {} · {t:.2} s</figcaption></figure>",
            thumb(thumbs, *t, "shot-thumb"),
            i + 1
        );
    }
    let _ = write!(b, "</div>");
}

fn event_table(b: &mut String, events: &[&Value], thumbs: &Thumbs) {
    if events.is_empty() {
        let _ = write!(b, "<p>No events.</p>");
        return;
    }
    let _ = write!(
        b,
        "<h2>Events and what to do</h2><table id=\"events\"><tr><th>frame</th><th>event</th><th>time</th><th>dimension</th><th>observed</th><th>problem</th><th>fix</th></tr>"
    );
    for e in events {
        let d = &e["diagnosis"];
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{:.2}–{:.2} s</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            thumb(thumbs, num(&e["start"]).unwrap_or(0.0), "event-thumb"),
            esc(e["kind"].as_str().unwrap_or("")),
            num(&e["start"]).unwrap_or(0.0),
            num(&e["end"]).unwrap_or(0.0),
            esc(d["dimension"].as_str().unwrap_or("")),
            esc(d["observed"].as_str().unwrap_or("")),
            esc(d["problem"].as_str().unwrap_or("")),
            esc(d["fix"].as_str().unwrap_or(""))
        );
    }
    let _ = write!(b, "</table>");
}

fn sync_section(b: &mut String, summary: Option<&Value>) {
    let Some(s) = summary.map(|s| &s["sync"]) else {
        return;
    };
    let _ = write!(b, "<h2>Sync</h2><p id=\"sync\">");
    match num(&s["audio_delay_ms"]) {
        Some(d) => {
            let _ = write!(
                b,
                "Audio {} by {:.1} ms (confidence {}).",
                if d >= 0.0 { "late" } else { "early" },
                d.abs(),
                s["confidence"]
            );
            if s["source"] == "local_motion" {
                let local = &s["local"];
                let _ = write!(
                    b,
                    " From local motion that makes sound (z {}, over {} s): cuts and flashes gave too little to go by.",
                    local["z"], local["span_s"]
                );
            }
        }
        None => {
            let _ = write!(
                b,
                "Declined: {}.",
                esc(s["reason"].as_str().unwrap_or("no evidence"))
            );
        }
    }
    let _ = write!(
        b,
        " Evidence: {} visual events, {} audio onsets, {} matched; best lag {} ms, second peak ratio {}.</p>",
        s["visual_events"],
        s["audio_onsets"],
        s["matched_events"],
        s["best_lag_ms"],
        s["second_peak_ratio"]
    );
    sync_curve(b, s);
}

/// The correlation against lag, with the best lag, the committed delay and the level a second
/// peak must stay under (0.75 of the best, more than 60 ms away) for a commitment.
fn sync_curve(b: &mut String, s: &Value) {
    let c = &s["correlation"];
    let (Some(from), Some(step), Some(v)) = (
        num(&c["from_ms"]),
        num(&c["step_ms"]),
        c["values"].as_array(),
    ) else {
        return;
    };
    if v.len() < 2 {
        return;
    }
    let to = from + step * (v.len() - 1) as f64;
    let (left, width, top, h) = (40.0, 900.0, 10.0, 120.0);
    let x = |ms: f64| left + (ms - from) / (to - from) * width;
    let y = |c: f64| top + h - c.clamp(0.0, 1.0) * h;
    let pts: Vec<String> = v
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            Some(format!(
                "{:.1},{:.1}",
                x(from + step * i as f64),
                y(num(c)?)
            ))
        })
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
        ("best-lag", num(&s["best_lag_ms"]), "#555", "best lag"),
        (
            "committed",
            num(&s["audio_delay_ms"]),
            "#070",
            "committed delay",
        ),
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
    let mut ms = (from / 100.0).ceil() * 100.0;
    while ms <= to + 1e-9 {
        let _ = write!(
            b,
            "<text x=\"{:.1}\" y=\"{}\">{ms}</text>",
            x(ms) - 10.0,
            top + h + 16.0
        );
        ms += if to - from > 1200.0 { 200.0 } else { 100.0 };
    }
    let _ = write!(
        b,
        "<text x=\"{left}\" y=\"{}\">correlation of picture events with sound onsets against audio lag (ms, positive = audio late); — best lag, — committed, - - ambiguity level</text></svg>",
        top + h + 34.0
    );
}

/// Shot lengths as bars, with the film-norm figures of the summary.
fn shots(b: &mut String, cuts: &[&Value], end: f64, summary: Option<&Value>) {
    let mut bounds: Vec<f64> = vec![0.0];
    bounds.extend(
        cuts.iter()
            .filter(|c| c["cause"] != "transport")
            .filter_map(|c| num(&c["pts"])),
    );
    bounds.push(end);
    let lens: Vec<f64> = bounds
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|l| *l > 0.0)
        .collect();
    let _ = write!(
        b,
        "<h2>Shot lengths</h2><svg id=\"shots\" width=\"1000\" height=\"90\">"
    );
    let longest = lens.iter().copied().fold(1.0, f64::max);
    let bw = (940.0 / lens.len().max(1) as f64).min(40.0);
    for (i, l) in lens.iter().enumerate() {
        let h = l / longest * 60.0;
        let _ = write!(
            b,
            "<rect class=\"shot\" data-length=\"{l:.3}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#8da0cb\"><title>shot {}: {l:.2} s</title></rect>",
            40.0 + i as f64 * bw,
            70.0 - h,
            bw - 2.0,
            i + 1
        );
    }
    let _ = write!(
        b,
        "<text x=\"40\" y=\"85\">{} shots; longest {longest:.1} s. Feature films: median shot 2–8 s.</text></svg>",
        lens.len()
    );
    if let Some(r) = summary.map(|s| &s["rhythm"]) {
        let f = |k: &str| num(&r[k]).map_or("–".into(), |v| format!("{v:.2}"));
        let _ = write!(
            b,
            "<p>Median shot {} s, log-sd {}, distance from film norms {} (≤ 1 is like feature films).</p>",
            f("shot_length_median_s"),
            f("shot_length_log_sd"),
            f("film_norm_distance")
        );
    }
}

fn alert_list(b: &mut String, alerts: &[&Value]) {
    let _ = write!(b, "<h2>Alerts</h2>");
    if alerts.is_empty() {
        let _ = write!(b, "<p>None fired.</p>");
        return;
    }
    let _ = write!(b, "<ul id=\"alerts\">");
    for a in alerts {
        let _ = write!(
            b,
            "<li class=\"alert\" data-rule=\"{}\">{:.1} s — {}</li>",
            esc(a["rule"].as_str().unwrap_or("")),
            num(&a["at"]).unwrap_or(0.0),
            esc(a["message"].as_str().unwrap_or(""))
        );
    }
    let _ = write!(b, "</ul>");
}

/// The report of a `score` results file: a sortable table and a distribution per dimension.
/// A clip links to `<clip>.html` beside the report when `linked(clip)` says it exists.
pub fn batch_report(rows: &[Value], linked: impl Fn(&str) -> Option<String>) -> String {
    let clips: Vec<&Value> = rows.iter().filter(|r| r["type"] == "clip").collect();
    let errors: Vec<&Value> = rows.iter().filter(|r| r["type"] == "error").collect();
    let mut b = String::new();
    let _ = write!(
        b,
        "<h1>evalverse — {} clips scored, {} failed</h1>",
        clips.len(),
        errors.len()
    );
    for (d, colour) in DIMS {
        histogram(
            &mut b,
            d,
            colour,
            &clips
                .iter()
                .filter_map(|c| num(&c["scores"][d]))
                .collect::<Vec<_>>(),
        );
    }
    let _ = write!(
        b,
        "<h2>Clips</h2><p>Click a heading to sort.</p><table id=\"clips\"><thead><tr><th>clip</th><th>system</th>"
    );
    for (d, _) in DIMS {
        let _ = write!(b, "<th>{d}</th>");
    }
    let _ = write!(
        b,
        "<th>events</th><th>cuts</th><th>verdict</th></tr></thead><tbody>"
    );
    for c in &clips {
        let name = c["clip"].as_str().unwrap_or("");
        let cell = match linked(name) {
            Some(href) => format!("<a href=\"{}\">{}</a>", esc(&href), esc(name)),
            None => esc(name),
        };
        let _ = write!(
            b,
            "<tr class=\"clip\"><td>{cell}</td><td>{}</td>",
            esc(c["system"].as_str().unwrap_or(""))
        );
        for (d, _) in DIMS {
            let _ = write!(
                b,
                "<td>{}</td>",
                num(&c["scores"][d]).map_or(String::new(), |v| format!("{v:.1}"))
            );
        }
        let faults: u64 = crate::vocab::EventKind::ALL
            .iter()
            .filter(|k| k.is_fault())
            .filter_map(|k| c["events"][k.as_str()].as_u64())
            .sum();
        let cuts: u64 = c["cuts"]
            .as_object()
            .map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
        let _ = write!(
            b,
            "<td>{faults}</td><td>{cuts}</td><td>{}</td></tr>",
            esc(c["verdict"]["verdict"].as_str().unwrap_or(""))
        );
    }
    let _ = write!(b, "</tbody></table>");
    for e in &errors {
        let _ = write!(
            b,
            "<p class=\"error\">{}: {}</p>",
            esc(e["clip"].as_str().unwrap_or("")),
            esc(e["error"].as_str().unwrap_or(""))
        );
    }
    page("evalverse — batch", &b, SORT_JS)
}

/// Sorting the clips table by a heading (numbers as numbers, empty cells last).
const SORT_JS: &str = "document.querySelectorAll('#clips th').forEach(function(th,i){th.onclick=function(){\
var tb=document.querySelector('#clips tbody');var rows=Array.from(tb.rows);var asc=th.dataset.asc!=='1';\
th.dataset.asc=asc?'1':'0';rows.sort(function(a,b){var x=a.cells[i].innerText,y=b.cells[i].innerText;\
var nx=parseFloat(x),ny=parseFloat(y);var c=(isNaN(nx)||isNaN(ny))?x.localeCompare(y):nx-ny;return asc?c:-c;});\
rows.forEach(function(r){tb.appendChild(r);});};});";

fn histogram(b: &mut String, dim: &str, colour: &str, v: &[f64]) {
    if v.is_empty() {
        return;
    }
    let mut bins = [0usize; 10];
    for x in v {
        bins[((x / 10.0).floor() as usize).min(9)] += 1;
    }
    let most = *bins.iter().max().unwrap_or(&1) as f64;
    let _ = write!(
        b,
        "<h2>{dim}</h2><svg class=\"histogram\" data-dimension=\"{dim}\" width=\"440\" height=\"90\">"
    );
    for (i, n) in bins.iter().enumerate() {
        let h = *n as f64 / most.max(1.0) * 60.0;
        let _ = write!(
            b,
            "<rect x=\"{}\" y=\"{:.1}\" width=\"38\" height=\"{h:.1}\" fill=\"{colour}\"><title>{}–{}: {n} clips</title></rect><text x=\"{}\" y=\"84\">{}</text>",
            20 + i * 40,
            70.0 - h,
            i * 10,
            i * 10 + 10,
            24 + i * 40,
            i * 10
        );
    }
    let _ = write!(b, "</svg>");
}
