//! The solvers: class-weighted, L2-regularised binary and multinomial logistic regression by
//! Nesterov-accelerated gradient descent with ndarray, on dense rows (embedding features) or
//! sparse rows (TF-IDF), and the sample weights and standardisation they are used with.

use ndarray::{Array1, Array2, ArrayBase, ArrayView2, Axis};

use crate::score::linear::{Logistic, Multinomial};

/// The solver stops when no gradient component is larger than this, or after this many steps.
const GRADIENT_TOLERANCE: f64 = 1e-6;
const MAX_ITERATIONS: usize = 5000;

/// A design matrix the solvers multiply with: dense rows (embedding features) or sparse rows
/// (TF-IDF, `score::lexical`).
pub trait Design {
    fn dim(&self) -> (usize, usize);
    /// X · B, for B with one row per column of X.
    fn times(&self, b: ArrayView2<'_, f64>) -> Array2<f64>;
    /// Xᵀ · R, for R with one row per row of X.
    fn t_times(&self, r: ArrayView2<'_, f64>) -> Array2<f64>;
}

impl Design for ArrayView2<'_, f64> {
    fn dim(&self) -> (usize, usize) {
        ArrayBase::dim(self)
    }
    fn times(&self, b: ArrayView2<'_, f64>) -> Array2<f64> {
        self.dot(&b)
    }
    fn t_times(&self, r: ArrayView2<'_, f64>) -> Array2<f64> {
        self.t().dot(&r)
    }
}

impl Design for sprs::CsMat<f64> {
    fn dim(&self) -> (usize, usize) {
        self.shape()
    }
    fn times(&self, b: ArrayView2<'_, f64>) -> Array2<f64> {
        self * &b
    }
    fn t_times(&self, r: ArrayView2<'_, f64>) -> Array2<f64> {
        &self.transpose_view() * &r
    }
}

/// Class-weighted, L2-regularised binary logistic regression. Rows are standardised features;
/// `weights` are per-row sample weights.
pub fn fit_logistic(x: &impl Design, y: &[f64], weights: &[f64], l2: f64) -> Logistic {
    let yk: Vec<usize> = y.iter().map(|&v| usize::from(v > 0.5)).collect();
    let m = fit_softmax(x, &yk, 2, weights, l2);
    // A two-class softmax is a logistic on the difference of the class scores.
    let w: Vec<f64> = m.weights[1]
        .iter()
        .zip(&m.weights[0])
        .map(|(a, b)| a - b)
        .collect();
    Logistic {
        weights: w,
        bias: m.bias[1] - m.bias[0],
    }
}

/// Class-weighted, L2-regularised multinomial logistic regression (bias not penalised), by
/// Nesterov-accelerated gradient descent with a step from the data's largest curvature.
pub fn fit_softmax(
    x: &impl Design,
    y: &[usize],
    k: usize,
    weights: &[f64],
    l2: f64,
) -> Multinomial {
    let (n, d) = x.dim();
    let w = Array1::from(weights.to_vec());
    let total = w.sum().max(1e-12);
    // Largest eigenvalue of Xᵀ diag(w) X / total (with a bias column), by power iteration.
    let mut v = Array1::from_elem(d + 1, 1.0 / ((d + 1) as f64).sqrt());
    let mut lambda = 1.0;
    for _ in 0..50 {
        let head = v.slice(ndarray::s![..d]).to_owned().insert_axis(Axis(1));
        let xv = x.times(head.view()).remove_axis(Axis(1)) + v[d];
        let wxv = (&xv * &w).insert_axis(Axis(1));
        let mut next = Array1::zeros(d + 1);
        next.slice_mut(ndarray::s![..d])
            .assign(&x.t_times(wxv.view()).remove_axis(Axis(1)));
        next[d] = wxv.sum();
        next /= total;
        lambda = next.dot(&next).sqrt().max(1e-12);
        v = next / lambda;
    }
    let step = 1.0 / (0.5 * lambda + l2);
    let mut theta = Array2::<f64>::zeros((k, d));
    let mut bias = Array1::<f64>::zeros(k);
    let (mut prev_t, mut prev_b) = (theta.clone(), bias.clone());
    let mut onehot = Array2::<f64>::zeros((n, k));
    for (i, &c) in y.iter().enumerate() {
        onehot[[i, c]] = 1.0;
    }
    // Momentum restarts whenever it points uphill (O'Donoghue and Candès), which keeps the
    // accelerated method fast on these well-regularised problems.
    let mut momentum_age = 0usize;
    for it in 0..MAX_ITERATIONS {
        let beta = momentum_age as f64 / (momentum_age as f64 + 3.0);
        momentum_age += 1;
        let look_t = &theta + &((&theta - &prev_t) * beta);
        let look_b = &bias + &((&bias - &prev_b) * beta);
        // Probabilities at the look-ahead point.
        let mut z = x.times(look_t.t()) + &look_b;
        for mut row in z.axis_iter_mut(Axis(0)) {
            let max = row.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
            row.mapv_inplace(|v| (v - max).exp());
            let s = row.sum();
            row /= s;
        }
        let mut resid = z - &onehot;
        for (mut row, &wi) in resid.axis_iter_mut(Axis(0)).zip(w.iter()) {
            row *= wi / total;
        }
        let grad_t = x.t_times(resid.view()).reversed_axes() + &look_t * l2;
        let grad_b = resid.sum_axis(Axis(0));
        let next_t = &look_t - &(&grad_t * step);
        let next_b = &look_b - &(&grad_b * step);
        let uphill =
            (&grad_t * &(&next_t - &theta)).sum() + (&grad_b * &(&next_b - &bias)).sum() > 0.0;
        if uphill {
            momentum_age = 0;
        }
        prev_t = std::mem::replace(&mut theta, next_t);
        prev_b = std::mem::replace(&mut bias, next_b);
        let largest_gradient = grad_t
            .iter()
            .chain(grad_b.iter())
            .fold(0.0f64, |a, &b| a.max(b.abs()));
        if it > 10 && largest_gradient < GRADIENT_TOLERANCE {
            break;
        }
    }
    Multinomial {
        weights: theta.outer_iter().map(|r| r.to_vec()).collect(),
        bias: bias.to_vec(),
    }
}

/// Sample weights that give each class the same total weight.
pub fn balanced(y: &[usize], k: usize) -> Vec<f64> {
    let mut counts = vec![0usize; k];
    for &c in y {
        counts[c] += 1;
    }
    let present = counts.iter().filter(|&&c| c > 0).count().max(1);
    y.iter()
        .map(|&c| y.len() as f64 / (present as f64 * counts[c] as f64))
        .collect()
}

/// Standardises each feature column of `x` in place by its mean and scale (at least 1e-6), and
/// returns them, for `head::standardise` to apply to the rows the fitted model will score.
pub fn standardise_columns(x: &mut Array2<f64>) -> (Vec<f64>, Vec<f64>) {
    let mean = x.mean_axis(Axis(0)).expect("rows").to_vec();
    let scale = x.std_axis(Axis(0), 0.0).mapv(|s| s.max(1e-6)).to_vec();
    for mut row in x.axis_iter_mut(Axis(0)) {
        crate::score::head::standardise(row.as_slice_mut().expect("contiguous"), &mean, &scale);
    }
    (mean, scale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    #[test]
    fn a_separable_toy_set_is_separated_perfectly() {
        let x = array![
            [2.0, 0.1],
            [1.5, -0.3],
            [1.8, 0.4],
            [-2.0, 0.2],
            [-1.4, -0.1],
            [-1.9, 0.3]
        ];
        let y = [1.0, 1.0, 1.0, 0.0, 0.0, 0.0];
        let m = fit_logistic(&x.view(), &y, &[1.0; 6], 1e-3);
        for (row, &label) in x.outer_iter().zip(&y) {
            let p = m.prob(row.as_slice().unwrap());
            assert_eq!(p >= 0.5, label > 0.5, "p {p} for {row}");
        }
        let classes = [0usize, 0, 1, 1, 2, 2];
        let x3 = array![
            [3.0, 0.0],
            [2.5, 0.5],
            [0.0, 3.0],
            [0.5, 2.6],
            [-3.0, -3.0],
            [-2.5, -2.0]
        ];
        let m = fit_softmax(&x3.view(), &classes, 3, &[1.0; 6], 1e-3);
        for (row, &c) in x3.outer_iter().zip(&classes) {
            let p = m.probs(row.as_slice().unwrap());
            assert_eq!(crate::aggregate::argmax(&p), c, "{p:?}");
        }
    }

    #[test]
    fn sparse_rows_give_the_same_model_as_dense_rows() {
        let x = array![
            [0.5, 0.0, 0.2],
            [0.0, 1.0, 0.0],
            [0.7, 0.1, 0.0],
            [0.0, 0.8, 0.3],
            [0.4, 0.0, 0.0]
        ];
        let y = [1.0, 0.0, 1.0, 0.0, 1.0];
        let w = [1.0, 1.5, 1.0, 1.5, 1.0];
        let dense = fit_logistic(&x.view(), &y, &w, 1e-2);
        let sparse = fit_logistic(&sprs::CsMat::csr_from_dense(x.view(), 0.0), &y, &w, 1e-2);
        assert!(
            (dense.bias - sparse.bias).abs() < 1e-9,
            "{dense:?} {sparse:?}"
        );
        assert!(
            dense
                .weights
                .iter()
                .zip(&sparse.weights)
                .all(|(a, b)| (a - b).abs() < 1e-9),
            "{dense:?} {sparse:?}"
        );
    }

    #[test]
    fn balanced_weights_equalise_classes() {
        let w = balanced(&[0, 0, 0, 1], 2);
        assert!((w[0] * 3.0 - w[3]).abs() < 1e-12);
    }
}
