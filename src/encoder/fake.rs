//! A deterministic stand-in encoder for fast tests: hashes word-piece ids into a fixed-width
//! bag-of-ids vector. Sequences sharing ids get similar vectors, so scoring logic can be tested
//! without libtorch work; it knows nothing about meaning.

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

    fn embed(&self, batch: &TokenBatch<'_>) -> Result<Array2<f32>, Error> {
        let mut out = Array2::<f32>::zeros((batch.sequences.len(), self.dim));
        for (row, seq) in batch.sequences.iter().enumerate() {
            for &id in seq.iter() {
                let h = u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                out[[row, (h % self.dim as u64) as usize]] += 1.0;
                out[[row, ((h >> 32) % self.dim as u64) as usize]] += 0.5;
            }
            let norm = out.row(row).dot(&out.row(row)).sqrt().max(1e-12);
            out.row_mut(row).mapv_inplace(|v| v / norm);
        }
        Ok(out)
    }
}
