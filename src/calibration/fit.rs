//! Fitting the mappings: ridge weights on standardised features (nalgebra's Cholesky), the VQEG
//! 4-parameter logistic (Levenberg–Marquardt from the `levenberg-marquardt` crate), the ridge
//! penalty chosen by grouped cross-validation inside the training clips only, and a
//! Bradley–Terry model of pairwise preferences on feature differences (Newton's method).
use crate::score::calibrated::{DimensionMapping, Logistic, Normalisation};
use levenberg_marquardt::{LeastSquaresProblem, LevenbergMarquardt};
use nalgebra::{DMatrix, DVector, Dyn, OMatrix, Owned, U4, Vector4};
use std::collections::BTreeMap;

/// The ridge penalties tried (per clip: the normal equations add `λ·n·I`).
pub const LAMBDAS: [f64; 6] = [1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0];

/// Ridge regression: weights and intercept minimising Σ(y − b − w·z)² + λ·n·|w|².
pub fn ridge(z: &[Vec<f64>], y: &[f64], lambda: f64) -> (Vec<f64>, f64) {
    let n = z.len();
    let d = z.first().map_or(0, Vec::len);
    if n == 0 {
        return (vec![0.0; d], 0.0);
    }
    let zbar: Vec<f64> = (0..d)
        .map(|j| z.iter().map(|r| r[j]).sum::<f64>() / n as f64)
        .collect();
    let ybar = y.iter().sum::<f64>() / n as f64;
    let zc = DMatrix::from_fn(n, d, |i, j| z[i][j] - zbar[j]);
    let yc = DVector::from_iterator(n, y.iter().map(|v| v - ybar));
    let a = zc.transpose() * &zc + DMatrix::identity(d, d) * (lambda * n as f64).max(1e-9);
    let rhs = zc.transpose() * yc;
    let w = match a.cholesky() {
        Some(c) => c.solve(&rhs),
        None => DVector::zeros(d),
    };
    let b = ybar - w.iter().zip(&zbar).map(|(w, z)| w * z).sum::<f64>();
    (w.iter().copied().collect(), b)
}

struct LogisticProblem<'a> {
    s: &'a [f64],
    y: &'a [f64],
    p: Vector4<f64>,
}

impl LogisticProblem<'_> {
    fn parts(&self, s: f64) -> (f64, f64) {
        let t = ((s - self.p[2]) / self.p[3]).clamp(-60.0, 60.0);
        (1.0 / (1.0 + (-t).exp()), t)
    }
}

impl LeastSquaresProblem<f64, Dyn, U4> for LogisticProblem<'_> {
    type ResidualStorage = Owned<f64, Dyn>;
    type JacobianStorage = Owned<f64, Dyn, U4>;
    type ParameterStorage = Owned<f64, U4>;

    fn set_params(&mut self, x: &Vector4<f64>) {
        self.p = *x;
    }
    fn params(&self) -> Vector4<f64> {
        self.p
    }
    fn residuals(&self) -> Option<DVector<f64>> {
        let (b1, b2) = (self.p[0], self.p[1]);
        Some(DVector::from_iterator(
            self.s.len(),
            self.s
                .iter()
                .zip(self.y)
                .map(|(s, y)| (b1 - b2) * self.parts(*s).0 + b2 - y),
        ))
    }
    fn jacobian(&self) -> Option<OMatrix<f64, Dyn, U4>> {
        let (b1, b2, b4) = (self.p[0], self.p[1], self.p[3]);
        if b4.abs() < 1e-12 {
            return None;
        }
        let mut j = OMatrix::<f64, Dyn, U4>::zeros(self.s.len());
        for (i, s) in self.s.iter().enumerate() {
            let (sig, t) = self.parts(*s);
            let ds = (b1 - b2) * sig * (1.0 - sig);
            j[(i, 0)] = sig;
            j[(i, 1)] = 1.0 - sig;
            j[(i, 2)] = -ds / b4;
            j[(i, 3)] = -ds * t / b4;
        }
        Some(j)
    }
}

fn sse(l: &Logistic, s: &[f64], y: &[f64]) -> f64 {
    s.iter().zip(y).map(|(s, y)| (l.eval(*s) - y).powi(2)).sum()
}

/// The VQEG 4-parameter logistic from objective values `s` to subjective `y` (least squares).
/// Monotone by construction; increasing or decreasing as the data say. Falls back to the
/// start curve when the fit fails or does not improve on it.
pub fn logistic(s: &[f64], y: &[f64]) -> Logistic {
    let mut start = Logistic::linear_start(s, y);
    if crate::calibration::stats::pearson(s, y) < 0.0 {
        std::mem::swap(&mut start.b1, &mut start.b2);
    }
    if s.len() < 5 {
        return start;
    }
    let problem = LogisticProblem {
        s,
        y,
        p: Vector4::new(start.b1, start.b2, start.b3, start.b4),
    };
    let (fitted, _report) = LevenbergMarquardt::new().minimize(problem);
    let p = fitted.p;
    let mut l = Logistic {
        b1: p[0],
        b2: p[1],
        b3: p[2],
        b4: p[3],
    };
    if l.b4 < 0.0 {
        // (b1 − b2)·σ(−t) + b2 = (b2 − b1)·σ(t) + b1.
        std::mem::swap(&mut l.b1, &mut l.b2);
        l.b4 = -l.b4;
    }
    let ok = [l.b1, l.b2, l.b3, l.b4].iter().all(|v| v.is_finite()) && l.b4 > 1e-9;
    if ok && sse(&l, s, y) <= sse(&start, s, y) {
        l
    } else {
        start
    }
}

/// The distinct group names, sorted (the independent units of every grouped split).
pub fn distinct_groups(groups: &[String]) -> Vec<&String> {
    let set: std::collections::BTreeSet<&String> = groups.iter().collect();
    set.into_iter().collect()
}

/// Grouped k folds: each group's clips in one fold (groups shuffled by `rng`).
pub fn group_folds(groups: &[String], k: usize, rng: &mut impl rand::Rng) -> Vec<usize> {
    use rand::seq::SliceRandom;
    let mut names = distinct_groups(groups);
    names.shuffle(rng);
    let fold: BTreeMap<&String, usize> = names
        .iter()
        .enumerate()
        .map(|(i, g)| (*g, i % k.max(1)))
        .collect();
    groups.iter().map(|g| fold[g]).collect()
}

/// The ridge penalty with the lowest grouped-cross-validated squared error on these (training)
/// clips.
pub fn select_lambda(
    z: &[Vec<f64>],
    y: &[f64],
    groups: &[String],
    rng: &mut impl rand::Rng,
) -> f64 {
    let n_groups = distinct_groups(groups).len();
    if n_groups < 3 {
        return 1.0;
    }
    let k = n_groups.min(5);
    let fold = group_folds(groups, k, rng);
    let mut best = (f64::INFINITY, 1.0);
    for &lambda in &LAMBDAS {
        let mut err = 0.0;
        for f in 0..k {
            let (tz, ty): (Vec<Vec<f64>>, Vec<f64>) = (0..z.len())
                .filter(|&i| fold[i] != f)
                .map(|i| (z[i].clone(), y[i]))
                .unzip();
            let (w, b) = ridge(&tz, &ty, lambda);
            err += (0..z.len())
                .filter(|&i| fold[i] == f)
                .map(|i| (b + w.iter().zip(&z[i]).map(|(w, x)| w * x).sum::<f64>() - y[i]).powi(2))
                .sum::<f64>();
        }
        if err < best.0 {
            best = (err, lambda);
        }
    }
    best.1
}

/// A fitted multi-feature mapping with its own normalisation.
#[derive(Clone, Debug)]
pub struct Fitted {
    pub norm: Normalisation,
    pub map: DimensionMapping,
}

impl Fitted {
    pub fn predict(&self, x: &[f64]) -> f64 {
        self.map.predict(&self.norm.apply(x))
    }
}

/// Standardise, choose λ inside these clips, ridge, then the logistic on the linear predictor.
pub fn fit_mapping(
    x: &[Vec<f64>],
    y: &[f64],
    groups: &[String],
    rng: &mut impl rand::Rng,
) -> Fitted {
    let norm = Normalisation::fit(x);
    let z: Vec<Vec<f64>> = x.iter().map(|r| norm.apply(r)).collect();
    fit_on(norm, &z, y, groups, rng)
}

/// [`fit_mapping`] on features already standardised by `norm`.
pub fn fit_on(
    norm: Normalisation,
    z: &[Vec<f64>],
    y: &[f64],
    groups: &[String],
    rng: &mut impl rand::Rng,
) -> Fitted {
    let x = z;
    let lambda = select_lambda(z, y, groups, rng);
    let (weights, intercept) = ridge(z, y, lambda);
    let lin: Vec<f64> = z
        .iter()
        .map(|r| intercept + weights.iter().zip(r).map(|(w, x)| w * x).sum::<f64>())
        .collect();
    let logistic = logistic(&lin, y);
    Fitted {
        norm,
        map: DimensionMapping {
            weights,
            intercept,
            lambda,
            logistic,
            n_clips: x.len(),
            n_groups: distinct_groups(groups).len(),
            validation: BTreeMap::new(),
        },
    }
}

/// Bradley–Terry on feature differences: `outcome` 1 when a was preferred, 0 when b, 0.5 for a
/// tie; `diff` = z_a − z_b. Returns the weights of the utility w·z (L2 penalty λ·n).
pub fn bradley_terry(diff: &[Vec<f64>], outcome: &[f64], lambda: f64) -> Vec<f64> {
    let n = diff.len();
    let d = diff.first().map_or(0, Vec::len);
    let mut w = DVector::<f64>::zeros(d);
    if n == 0 {
        return vec![0.0; d];
    }
    let x = DMatrix::from_fn(n, d, |i, j| diff[i][j]);
    let reg = (lambda * n as f64).max(1e-9);
    for _ in 0..50 {
        let eta = &x * &w;
        let p: Vec<f64> = eta
            .iter()
            .map(|e| 1.0 / (1.0 + (-e.clamp(-40.0, 40.0)).exp()))
            .collect();
        let resid = DVector::from_iterator(n, outcome.iter().zip(&p).map(|(o, p)| o - p));
        let g = x.transpose() * resid - &w * reg;
        let wts = DVector::from_iterator(n, p.iter().map(|p| p * (1.0 - p)));
        let xw = DMatrix::from_fn(n, d, |i, j| x[(i, j)] * wts[i]);
        let h = x.transpose() * xw + DMatrix::identity(d, d) * reg;
        let Some(c) = h.cholesky() else { break };
        let step = c.solve(&g);
        w += &step;
        if step.norm() < 1e-9 {
            break;
        }
    }
    w.iter().copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn logistic_fit_recovers_a_known_curve() {
        let truth = Logistic {
            b1: 4.6,
            b2: 1.2,
            b3: 55.0,
            b4: 9.0,
        };
        let s: Vec<f64> = (0..60).map(|i| 10.0 + i as f64 * 1.5).collect();
        let y: Vec<f64> = s.iter().map(|s| truth.eval(*s)).collect();
        let l = logistic(&s, &y);
        for (got, want) in [
            (l.b1, truth.b1),
            (l.b2, truth.b2),
            (l.b3, truth.b3),
            (l.b4, truth.b4),
        ] {
            assert!((got - want).abs() < 1e-3 * want.abs().max(1.0), "{l:?}");
        }
        // Decreasing data give a decreasing (still monotone) curve.
        let yd: Vec<f64> = y.iter().map(|v| 6.0 - v).collect();
        let ld = logistic(&s, &yd);
        assert!(ld.eval(20.0) > ld.eval(80.0), "{ld:?}");
    }

    #[test]
    fn ridge_recovers_weights_and_shrinks_with_lambda() {
        let z: Vec<Vec<f64>> = (0..50)
            .map(|i| vec![(i as f64 * 0.37).sin(), (i as f64 * 0.11).cos()])
            .collect();
        let y: Vec<f64> = z.iter().map(|r| 3.0 + 2.0 * r[0] - 1.0 * r[1]).collect();
        let (w, b) = ridge(&z, &y, 1e-9);
        assert!((w[0] - 2.0).abs() < 1e-6 && (w[1] + 1.0).abs() < 1e-6 && (b - 3.0).abs() < 1e-6);
        let (ws, _) = ridge(&z, &y, 10.0);
        assert!(ws[0].abs() < w[0].abs());
    }

    #[test]
    fn bradley_terry_orders_by_the_hidden_utility() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        use rand::Rng;
        let clips: Vec<Vec<f64>> = (0..40)
            .map(|_| vec![rng.random::<f64>() * 2.0 - 1.0, rng.random::<f64>()])
            .collect();
        let utility = |z: &[f64]| 3.0 * z[0];
        let (mut diff, mut out) = (vec![], vec![]);
        for _ in 0..800 {
            let (a, b) = (rng.random_range(0..40), rng.random_range(0..40));
            if a == b {
                continue;
            }
            let p = 1.0 / (1.0 + (-(utility(&clips[a]) - utility(&clips[b]))).exp());
            diff.push(vec![clips[a][0] - clips[b][0], clips[a][1] - clips[b][1]]);
            out.push(if rng.random::<f64>() < p { 1.0 } else { 0.0 });
        }
        let w = bradley_terry(&diff, &out, 1e-3);
        assert!(w[0] > 2.0 && w[0] < 4.5 && w[1].abs() < 0.8, "{w:?}");
    }
}
