//! Agreement statistics of video-quality research: rank and linear correlations, errors after
//! mapping, outlier ratio, reliability of a rater panel. Checked against reference values in
//! the tests (computed with SciPy and by hand).
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Average ranks (1-based), ties sharing the mean of their positions.
pub fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            r[idx[k]] = avg;
        }
        i = j + 1;
    }
    r
}

pub fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len().max(1) as f64
}

/// Sample standard deviation (n − 1).
pub fn sd(x: &[f64]) -> f64 {
    if x.len() < 2 {
        return 0.0;
    }
    let m = mean(x);
    (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (x.len() - 1) as f64).sqrt()
}

/// Pearson's linear correlation (PLCC); 0 when either side is constant.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let (mx, my) = (mean(x), mean(y));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return 0.0;
    }
    sxy / (sxx * syy).sqrt()
}

/// Spearman's rank correlation (SROCC), ties by average ranks.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

/// Kendall's τ-b (KROCC), tie-corrected.
pub fn kendall(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    let (mut conc, mut disc, mut tx, mut ty) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for i in 0..n {
        for j in i + 1..n {
            let dx = (x[i] - x[j]).signum() * ((x[i] != x[j]) as i32 as f64);
            let dy = (y[i] - y[j]).signum() * ((y[i] != y[j]) as i32 as f64);
            match (dx == 0.0, dy == 0.0) {
                (true, true) => {}
                (true, false) => tx += 1.0,
                (false, true) => ty += 1.0,
                (false, false) => {
                    if dx == dy {
                        conc += 1.0
                    } else {
                        disc += 1.0
                    }
                }
            }
        }
    }
    let denom = ((conc + disc + tx) * (conc + disc + ty)).sqrt();
    if denom == 0.0 {
        0.0
    } else {
        (conc - disc) / denom
    }
}

pub fn rmse(pred: &[f64], y: &[f64]) -> f64 {
    (pred
        .iter()
        .zip(y)
        .map(|(p, t)| (p - t).powi(2))
        .sum::<f64>()
        / pred.len().max(1) as f64)
        .sqrt()
}

/// ITU-T P.1401 outlier ratio: share of clips whose prediction error exceeds the 95 %
/// confidence interval of their MOS (`ci95` half-widths).
pub fn outlier_ratio(pred: &[f64], y: &[f64], ci95: &[f64]) -> f64 {
    let out = pred
        .iter()
        .zip(y)
        .zip(ci95)
        .filter(|((p, t), c)| (*p - *t).abs() > **c)
        .count();
    out as f64 / pred.len().max(1) as f64
}

/// Spearman–Brown: the reliability of a panel `k` times as large as one with reliability `r`.
pub fn spearman_brown(r: f64, k: f64) -> f64 {
    k * r / (1.0 + (k - 1.0) * r)
}

/// Krippendorff's α with the interval metric. `units`: the ratings each clip got (any number
/// of raters per clip; clips with fewer than two ratings are not pairable and are skipped).
pub fn krippendorff_alpha_interval(units: &[Vec<f64>]) -> Option<f64> {
    let pairable: Vec<&Vec<f64>> = units.iter().filter(|u| u.len() >= 2).collect();
    let n: f64 = pairable.iter().map(|u| u.len() as f64).sum();
    if n < 2.0 {
        return None;
    }
    // Σ over ordered pairs i ≠ j of (v_i − v_j)² = 2 (m Σv² − (Σv)²).
    let pair_sq = |m: f64, s: f64, s2: f64| 2.0 * (m * s2 - s * s);
    let d_o: f64 = pairable
        .iter()
        .map(|u| {
            let m = u.len() as f64;
            let s: f64 = u.iter().sum();
            let s2: f64 = u.iter().map(|v| v * v).sum();
            pair_sq(m, s, s2) / (m - 1.0)
        })
        .sum::<f64>()
        / n;
    let all: Vec<f64> = pairable.iter().flat_map(|u| u.iter().copied()).collect();
    let s: f64 = all.iter().sum();
    let s2: f64 = all.iter().map(|v| v * v).sum();
    let d_e = pair_sq(n, s, s2) / (n * (n - 1.0));
    (d_e > 0.0).then(|| 1.0 - d_o / d_e)
}

/// The two-sided 95 % Student-t critical value for `df` degrees of freedom.
pub fn t95(df: usize) -> f64 {
    StudentsT::new(0.0, 1.0, df.max(1) as f64)
        .map(|t| t.inverse_cdf(0.975))
        .unwrap_or(1.96)
}

/// The `q`-quantile (0–1) of a sample by linear interpolation (NumPy's default).
pub fn quantile(x: &[f64], q: f64) -> f64 {
    if x.is_empty() {
        return f64::NAN;
    }
    let mut v = x.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// Share of pairs of values that are tied.
pub fn tie_share(x: &[f64]) -> f64 {
    let n = x.len();
    if n < 2 {
        return 0.0;
    }
    let mut ties = 0usize;
    for i in 0..n {
        for j in i + 1..n {
            ties += ((x[i] - x[j]).abs() < 1e-12) as usize;
        }
    }
    ties as f64 / (n * (n - 1) / 2) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values: scipy.stats 1.14 (spearmanr, kendalltau (τ-b), pearsonr) on these
    // vectors, and the worked example of Krippendorff (2011), "Computing Krippendorff's
    // alpha-reliability", interval metric.
    const X: [f64; 10] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
    const Y: [f64; 10] = [2.0, 1.0, 4.0, 3.0, 7.0, 5.0, 6.0, 9.0, 10.0, 8.0];

    #[test]
    fn correlations_match_reference_values() {
        assert!((spearman(&X, &Y) - 0.903_030_303).abs() < 1e-6);
        assert!((kendall(&X, &Y) - 0.733_333_333).abs() < 1e-6);
        assert!((pearson(&X, &Y) - 0.903_030_303).abs() < 1e-6);
        // With ties: x = [1,2,2,3], y = [1,3,2,4] → ρ = 0.9486833, τ-b = 0.9128709.
        let (a, b) = ([1.0, 2.0, 2.0, 3.0], [1.0, 3.0, 2.0, 4.0]);
        assert!((spearman(&a, &b) - 0.948_683_298).abs() < 1e-6);
        assert!((kendall(&a, &b) - 0.912_870_929).abs() < 1e-6);
        assert_eq!(ranks(&a), vec![1.0, 2.5, 2.5, 4.0]);
        // PLCC on a non-rank example: x = [1,2,3,4,5], y = [2,4,5,4,5] → 0.7745967.
        let r = pearson(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 4.0, 5.0, 4.0, 5.0]);
        assert!((r - 0.774_596_669).abs() < 1e-6);
        assert!((rmse(&[1.0, 2.0], &[2.0, 4.0]) - (2.5f64).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn krippendorff_interval_matches_the_worked_example() {
        // Krippendorff (2011), §C: 4 observers, 12 units, with missing values; interval α = 0.849.
        let units: Vec<Vec<f64>> = vec![
            vec![1.0, 1.0, 1.0],
            vec![2.0, 2.0, 3.0, 2.0],
            vec![3.0, 3.0, 3.0, 3.0],
            vec![3.0, 3.0, 3.0, 3.0],
            vec![2.0, 2.0, 2.0, 2.0],
            vec![1.0, 2.0, 3.0, 4.0],
            vec![4.0, 4.0, 4.0, 4.0],
            vec![1.0, 1.0, 2.0, 1.0],
            vec![2.0, 2.0, 2.0, 2.0],
            vec![5.0, 5.0, 5.0],
            vec![1.0, 1.0],
            vec![3.0],
        ];
        let a = krippendorff_alpha_interval(&units).unwrap();
        assert!((a - 0.849).abs() < 0.001, "alpha {a}");
        // Perfect agreement is 1.
        let same = vec![vec![1.0, 1.0], vec![3.0, 3.0], vec![5.0, 5.0]];
        assert!((krippendorff_alpha_interval(&same).unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn small_helpers() {
        assert!((t95(9) - 2.262_157).abs() < 1e-5);
        assert!((t95(1000) - 1.962_339).abs() < 1e-5);
        assert!((spearman_brown(0.6, 2.0) - 0.75).abs() < 1e-12);
        assert_eq!(quantile(&[4.0, 1.0, 3.0, 2.0], 0.5), 2.5);
        assert!((tie_share(&[1.0, 1.0, 2.0]) - 1.0 / 3.0).abs() < 1e-12);
        assert!((outlier_ratio(&[1.0, 2.0], &[1.5, 2.0], &[0.2, 0.2]) - 0.5).abs() < 1e-12);
    }
}
