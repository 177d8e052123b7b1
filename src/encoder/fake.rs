//! A deterministic stand-in encoder for fast tests: hashes word-piece ids into a fixed-width
//! bag-of-ids vector. Sequences sharing ids get similar vectors, so scoring logic can be tested
//! without libtorch work; it knows nothing about meaning.

use std::ops::Range;

use ndarray::Array2;

use super::{Encoder, TokenBatch};
use crate::error::Error;

/// Bag-of-ids encoder: each id adds 1 to a few hashed dimensions; rows are L2-normalised.
pub struct FakeEncoder {
    dim: usize,
}

impl FakeEncoder {
    pub fn new(dim: usize) -> Self {
        FakeEncoder { dim }
    }
}

impl Encoder for FakeEncoder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn embed_spans(&self, batch: &TokenBatch<'_>, spans: &[&[Range<usize>]]) -> Result<(Array2<f32>, Vec<Array2<f32>>), Error> {
        let bag = |ids: &[u32]| -> Vec<f32> {
            let mut v = vec![0f32; self.dim];
            for &id in ids {
                let h = u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                v[(h % self.dim as u64) as usize] += 1.0;
                v[((h >> 32) % self.dim as u64) as usize] += 0.5;
            }
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            v.into_iter().map(|x| x / norm).collect()
        };
        let mut out = Array2::<f32>::zeros((batch.sequences.len(), self.dim));
        let mut span_out = Vec::new();
        for (row, seq) in batch.sequences.iter().enumerate() {
            out.row_mut(row).assign(&ndarray::ArrayView1::from(&bag(seq)));
            if let Some(ranges) = spans.get(row) {
                let mut m = Array2::<f32>::zeros((ranges.len(), self.dim));
                for (k, r) in ranges.iter().enumerate() {
                    m.row_mut(k).assign(&ndarray::ArrayView1::from(&bag(&seq[r.clone()])));
                }
                span_out.push(m);
            }
        }
        Ok((out, span_out))
    }
}
