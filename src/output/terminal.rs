//! Human-readable output: one line per record for live runs, a summary block for files.
use crate::score::record::{Record, SummaryRecord};

fn opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:5.1}"))
        .unwrap_or_else(|| "  n/a".into())
}

/// A compact line for a record (live terminal view).
pub fn line(r: &Record) -> Option<String> {
    Some(match r {
        // A transport cut (the picture healed at a keyframe after damage) says so: it is not
        // counted as editing, and a bare "cut" line read as one.
        Record::Cut(c) => format!(
            "[{}] {:8.3}s  cut ({:?}{}) at frame {}",
            c.stream,
            c.pts,
            c.kind,
            if c.cause == crate::vocab::Cause::Content {
                String::new()
            } else {
                format!(", {}: not counted as editing", c.cause.as_str())
            },
            c.frame
        )
        .to_lowercase(),
        Record::Event(e) => format!(
            "[{}] {:8.3}s  {} {:.3}–{:.3}s{}  → {}",
            e.stream,
            e.start,
            e.kind.as_str().to_uppercase(),
            e.start,
            e.end,
            if e.ongoing { " (ongoing)" } else { "" },
            e.diagnosis.fix
        ),
        Record::Window(w) => {
            let sync = match &w.sync {
                Some(s) => match s.audio_delay_ms {
                    Some(d) => format!("audio {d:+.0} ms (conf {:.2})", s.confidence),
                    None => format!(
                        "sync declined: {}",
                        s.declined.map(|d| format!("{d:?}")).unwrap_or_default()
                    ),
                },
                None => "no sync (one medium)".into(),
            };
            format!(
                "[{}] {:6.1}–{:6.1}s  overall {}  sync {}  continuity {}  rhythm {}  | {sync} | cuts/min {:.1}{}",
                w.stream,
                w.start,
                w.end,
                opt(w.scores.overall),
                opt(w.scores.sync),
                opt(w.scores.continuity),
                opt(w.scores.rhythm),
                w.rhythm.cuts_per_minute,
                if w.diagnosis.is_empty() {
                    String::new()
                } else {
                    format!(" | ⚠ {}", w.diagnosis[0].observed)
                }
            )
        }
        Record::Alert(a) => format!(
            "[{}] ALERT {} ({}, {}): {}",
            a.stream,
            a.state.as_str().to_uppercase(),
            a.severity.as_str(),
            a.rule,
            a.message
        ),
        Record::State(s) => {
            format!("[{}] state {:?}: {}", s.stream, s.state, s.message).to_lowercase()
        }
        Record::Verdict(v) => format!(
            "[{}] VERDICT {}: {}",
            v.stream,
            v.verdict.verdict.as_str().to_uppercase(),
            v.verdict
                .reasons
                .iter()
                .map(|r| r.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ),
        Record::Summary(s) => summary_text(s),
    })
}

/// A readable summary of a whole input.
pub fn summary_text(s: &SummaryRecord) -> String {
    let mut t = String::new();
    t += &format!(
        "{}: {:.2} s, {} frames, {} windows ({}; {:.1}× real time)\n",
        s.stream, s.duration_s, s.frames, s.windows, s.backend, s.speed_x
    );
    t += &format!(
        "  scores   overall {}  sync {}  continuity {}  rhythm {}  sound {}  picture {}\n",
        opt(s.scores.overall),
        opt(s.scores.sync),
        opt(s.scores.continuity),
        opt(s.scores.rhythm),
        opt(s.scores.sound),
        opt(s.scores.picture)
    );
    t += &match s.sync.audio_delay_ms {
        Some(d) => format!(
            "  sync     audio {} by {:.1} ms (confidence {:.2}, {})\n",
            if d >= 0.0 { "late" } else { "early" },
            d.abs(),
            s.sync.confidence,
            crate::score::taxonomy::sync_evidence(
                s.sync.source,
                s.sync.matched_events,
                s.sync.local.as_ref(),
                s.sync.lips.as_ref()
            )
        ),
        None => format!(
            "  sync     no estimate: {}\n",
            s.sync.reason.as_deref().unwrap_or("no evidence")
        ),
    };
    t += &format!(
        "  rhythm   {} hard cuts, {} gradual; {:.1} cuts/min; average shot {}\n",
        s.cuts.get("hard").unwrap_or(&0),
        s.cuts.get("gradual").unwrap_or(&0),
        s.rhythm.cuts_per_minute,
        s.rhythm
            .average_shot_length_s
            .map(|a| format!("{a:.2} s"))
            .unwrap_or_else(|| "n/a (no cuts)".into())
    );
    if let Some(snd) = &s.sound {
        let db = |v: Option<f64>, unit: &str| v.map_or("n/a".into(), |v| format!("{v:.1} {unit}"));
        t += &format!(
            "  sound    {} integrated, true peak {}, {:.1} ms clipped ({} ch, {} Hz)\n",
            db(snd.integrated_lufs, "LUFS"),
            db(snd.true_peak_dbtp, "dBTP"),
            snd.clipped_ms,
            snd.channels,
            snd.rate
        );
    }
    let ev: Vec<String> = s
        .events
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    t += &format!(
        "  events   {}\n",
        if ev.is_empty() {
            "none".to_string()
        } else {
            ev.join(", ")
        }
    );
    t
}
