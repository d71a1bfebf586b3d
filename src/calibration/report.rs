//! The readable report of a calibration study (Markdown).
use super::study::{StudyReport, headline};
use super::validate::Spread;
use std::fmt::Write;

fn ci(s: &Spread) -> String {
    format!("{:.3} [{:.3}, {:.3}]", s.value, s.lo, s.hi)
}

pub fn markdown(r: &StudyReport) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# evalverse calibration report\n");
    let _ = writeln!(
        o,
        "Feature vector `{}` ({} features), seed {}; {} clips labelled, {} with features.\n",
        r.extractor_version,
        r.features.len(),
        r.seed,
        r.clips_labelled,
        r.clips_used
    );
    if !r.clips_missing.is_empty() {
        let _ = writeln!(
            o,
            "Clips without features (missing or undecodable): {}\n",
            r.clips_missing.join(", ")
        );
    }
    if !r.warnings.is_empty() {
        let _ = writeln!(o, "## Warnings\n");
        for w in &r.warnings {
            let _ = writeln!(o, "- {w}");
        }
        let _ = writeln!(o);
    }
    for d in &r.dimensions {
        dimension(&mut o, d);
    }
    if let Some(p) = &r.preference {
        let _ = writeln!(
            o,
            "## Pairwise preferences (Bradley–Terry on feature differences)\n"
        );
        let _ = writeln!(o, "- pairs: {} ({} ties)", p.pairs, p.ties);
        if let Some(a) = p.heldout_accuracy {
            let _ = writeln!(
                o,
                "- held-out pair accuracy (grouped 5-fold, ties left out): {:.1} %",
                a * 100.0
            );
        }
        if let Some(s) = p.srocc_with_mos {
            let _ = writeln!(
                o,
                "- SROCC of the fitted utilities with the overall MOS: {s:.3}"
            );
        }
        let _ = writeln!(o);
    }
    o
}

fn dimension(o: &mut String, d: &super::study::DimensionReport) {
    let _ = writeln!(o, "## Dimension `{}`\n", d.dimension);
    let _ = writeln!(
        o,
        "{} clips in {} groups, MOS {:.2}–{:.2}.\n",
        d.n_clips, d.n_groups, d.mos_range[0], d.mos_range[1]
    );
    raters(o, d);
    let h = headline(d);
    let _ = writeln!(o, "### Agreement after mapping\n");
    let _ = writeln!(
        o,
        "Held out, grouped splits (median): SROCC {:.3}, KROCC {:.3}, PLCC {:.3}, RMSE {:.3}, outlier ratio {:.3}.\n",
        h.srocc, h.krocc, h.plcc, h.rmse, h.outlier_ratio
    );
    let _ = writeln!(
        o,
        "| figure | split median [2.5 %, 97.5 %] | out-of-fold, bootstrap 95 % CI |\n|---|---|---|"
    );
    for k in super::validate::METRICS {
        let s = d.splits.get(k).map_or("–".into(), ci);
        let p = d.pooled.get(k).map_or("–".into(), ci);
        let _ = writeln!(o, "| {k} | {s} | {p} |");
    }
    let _ = writeln!(
        o,
        "\n### Baselines (same out-of-fold clips; Δ = calibrated − baseline SROCC)\n\n| baseline | SROCC [95 % CI] | PLCC | RMSE | Δ SROCC [95 % CI] | p |\n|---|---|---|---|---|---|"
    );
    // The eight strongest single features, and our uncalibrated score wherever it ranks.
    let unc = |b: &&super::validate::Baseline| b.name.starts_with("uncalibrated");
    let top: Vec<&super::validate::Baseline> = d.baselines.iter().take(8).collect();
    let extra = d
        .baselines
        .iter()
        .filter(unc)
        .filter(|_| !top.iter().any(unc));
    for b in top.iter().copied().chain(extra) {
        let _ = writeln!(
            o,
            "| {} | {} | {:.3} | {:.3} | {} | {:.4} |",
            b.name,
            ci(&b.srocc),
            b.plcc,
            b.rmse,
            ci(&b.delta_srocc),
            b.p_value
        );
    }
    if let Some(s) = &d.system_level {
        let _ = writeln!(
            o,
            "\n### Systems\n\nSROCC {:.3}, PLCC {:.3} over {} systems.\n\n| system | clips | MOS | predicted |\n|---|---|---|---|",
            s.srocc,
            s.plcc,
            s.systems.len()
        );
        for r in &s.systems {
            let _ = writeln!(
                o,
                "| {} | {} | {:.3} | {:.3} |",
                r.system, r.clips, r.mos, r.predicted
            );
        }
    }
    let _ = writeln!(
        o,
        "\n### Weights (standardised features, λ = {})\n\n| feature | weight |\n|---|---|",
        d.lambda
    );
    for (f, w) in d.weights.iter().take(10) {
        let _ = writeln!(o, "| {f} | {w:+.4} |");
    }
    let _ = writeln!(o);
}

fn raters(o: &mut String, d: &super::study::DimensionReport) {
    let _ = writeln!(
        o,
        "### Raters\n\n| rater | ratings | r with others | bias | P.913 | BT.500 | excluded |\n|---|---|---|---|---|---|---|"
    );
    for r in &d.panel.raters {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.rater,
            r.ratings,
            r.corr_with_others.map_or("–".into(), |c| format!("{c:.3}")),
            r.bias.map_or("–".into(), |b| format!("{b:+.2}")),
            if r.p913_flag { "flag" } else { "ok" },
            if r.bt500_flag { "reject" } else { "ok" },
            if r.excluded { "**yes**" } else { "no" }
        );
    }
    if let Some(c) = &d.panel.ceiling {
        let _ = writeln!(
            o,
            "\nCeiling (the raters against themselves, {} raters): split-half SROCC {:.3}, Spearman–Brown {:.3}, Krippendorff's α {}.\n",
            c.raters,
            c.split_half_srocc,
            c.spearman_brown,
            c.krippendorff_alpha
                .map_or("–".into(), |a| format!("{a:.3}"))
        );
    }
}
