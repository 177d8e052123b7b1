//! Linear models over feature rows: the binary and multinomial logistic models that heads and
//! lexical models are made of (fitted by `fit`'s solvers, stored in head files).

use serde::{Deserialize, Serialize};

use super::{sigmoid, softmax};

/// A binary logistic model: P = sigmoid(weights · x + bias).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Logistic {
    pub weights: Vec<f64>,
    pub bias: f64,
}

impl Logistic {
    pub fn prob(&self, x: &[f64]) -> f64 {
        sigmoid(dot(&self.weights, x) + self.bias)
    }
}

/// A multinomial logistic model: P = softmax(weights · x + bias), one row per class.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Multinomial {
    pub weights: Vec<Vec<f64>>,
    pub bias: Vec<f64>,
}

impl Multinomial {
    pub fn probs(&self, x: &[f64]) -> Vec<f64> {
        let z: Vec<f64> = self.weights.iter().zip(&self.bias).map(|(w, b)| dot(w, x) + b).collect();
        softmax(&z)
    }
}

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
