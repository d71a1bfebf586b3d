//! `evalverse report`: one self-contained HTML page (inline SVG and CSS, no network fetches)
//! that shows a run at a glance (drawn by [`super::run_page`], the renderer the live page uses
//! too) or, for a `score` results file, a sortable table of clips with a distribution per
//! dimension. Built from the JSON-lines records, so a past run can be drawn again.
pub use super::markup::{esc, page};
use super::run_page::{DIMS, Frame, render};
pub use super::run_page::{RunView, Thumbs};
use serde_json::Value;
use std::fmt::Write;

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// The report of one run (the records of `eval --json`, or of one stream of `serve --json`),
/// with thumbnails where `thumbs` has them.
pub fn run_report(view: &RunView, thumbs: &Thumbs) -> String {
    page(
        &format!("evalverse — {}", view.stream()),
        &render(view, &Frame::Report(thumbs)),
        "",
    )
}

/// The report of a `score` results file: a sortable table and a distribution per dimension.
/// A clip links to `<clip>.html` beside the report when `linked(clip)` says it exists.
pub fn batch_report(rows: &[Value], linked: impl Fn(&str) -> Option<String>) -> String {
    // In the clips' order (a results file is in the order they finished).
    let mut clips: Vec<&Value> = rows.iter().filter(|r| r["type"] == "clip").collect();
    clips.sort_by(|a, b| a["clip"].as_str().cmp(&b["clip"].as_str()));
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
            let _ = match num(&c["scores"][d]) {
                Some(v) => write!(b, "<td>{v:.1}</td>"),
                // No score: say why (sync declined, no sound, no picture).
                None => {
                    let why = match d {
                        "sync" => c["sync"]["declined"].as_str().unwrap_or("no evidence"),
                        "sound" => "no sound",
                        _ => "not measured",
                    };
                    write!(b, "<td class=\"na\" title=\"no score\">– {}</td>", esc(why))
                }
            };
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
    let mut sorted = v.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let _ = write!(
        b,
        "<h2>{dim}</h2><p class=\"histogram-note\">{} clips · median {median:.1} · {:.1}–{:.1}</p>\
         <svg class=\"histogram\" data-dimension=\"{dim}\" width=\"440\" height=\"100\">",
        v.len(),
        sorted[0],
        sorted[sorted.len() - 1]
    );
    for (i, n) in bins.iter().enumerate() {
        let h = *n as f64 / most.max(1.0) * 60.0;
        let x = 20 + i * 40;
        let _ = write!(
            b,
            "<rect x=\"{x}\" y=\"{:.1}\" width=\"38\" height=\"{h:.1}\" fill=\"{colour}\"><title>{}–{}: {n} clips</title></rect><text x=\"{}\" y=\"94\">{}</text>",
            80.0 - h,
            i * 10,
            i * 10 + 10,
            x + 4,
            i * 10
        );
        if *n > 0 {
            let _ = write!(
                b,
                "<text class=\"count\" x=\"{}\" y=\"{:.1}\">{n}</text>",
                x + 14,
                76.0 - h
            );
        }
    }
    let _ = write!(b, "</svg>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_batch_page_orders_clips_counts_its_bars_and_says_why_a_score_is_missing() {
        let clip = |name: &str, overall: f64, sync: Value| {
            json!({"type": "clip", "clip": name, "system": "s",
                "scores": {"overall": overall, "sync": null, "continuity": 90.0, "rhythm": 80.0,
                           "sound": null, "picture": 70.0},
                "sync": sync, "events": {}, "cuts": {}, "verdict": {"verdict": "continue"}})
        };
        let rows = vec![
            clip("b.mp4", 91.0, json!({"declined": "too_few_events"})),
            clip("a.mp4", 95.0, json!({"declined": "static_picture"})),
            clip("c.mp4", 42.0, json!({})),
        ];
        let html = batch_report(&rows, |_| None);
        let at = |s: &str| html.find(s).unwrap_or_else(|| panic!("{s} missing"));
        assert!(at(">a.mp4<") < at(">b.mp4<") && at(">b.mp4<") < at(">c.mp4<"));
        assert!(html.contains("– too_few_events") && html.contains("– static_picture"));
        assert!(html.contains("– no sound"));
        assert!(html.contains("3 clips · median 91.0 · 42.0–95.0"), "{html}");
        // The overall histogram: two clips in 90–100, one in 40–50, each bar with its count.
        assert!(
            html.contains("<text class=\"count\" x=\"394\" y=\"16.0\">2</text>"),
            "{html}"
        );
        assert!(html.contains(">1</text>"));
    }
}
