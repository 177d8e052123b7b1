//! The model boundary: turns token-id sequences into sentence embeddings.
//!
//! The rest of the pipeline sees only the narrow [`Encoder`] trait. [`bert::BertEncoder`] runs a
//! real BERT through rust-bert and libtorch; [`fake::FakeEncoder`] is a deterministic stand-in so
//! most tests run without the model. Batching policy lives in `batch.rs`, not here.

pub mod bert;
pub mod fake;

use std::ops::Range;

use ndarray::Array2;

use crate::error::Error;

/// A batch of token sequences, each already wrapped in the model's special tokens.
pub struct TokenBatch<'a> {
    /// One slice of token ids per sequence; lengths may differ.
    pub sequences: Vec<&'a [u32]>,
    /// Every sequence is padded to this length (at least the longest one).
    pub padded_len: usize,
}

/// Anything that maps token sequences to L2-normalised embeddings, one row per sequence.
pub trait Encoder: Send {
    /// Embedding width.
    fn dim(&self) -> usize;
    /// Embeds a batch. Row `i` of the result belongs to `batch.sequences[i]`, and must not depend
    /// on the other sequences in the batch (the attention mask sees to that).
    fn embed(&self, batch: &TokenBatch<'_>) -> Result<Array2<f32>, Error> {
        Ok(self.embed_spans(batch, &[])?.0)
    }

    /// Embeds a batch and also mean-pools (then L2-normalises) token spans of its sequences:
    /// `spans[i]` are ranges into `batch.sequences[i]` (none when `spans` is shorter). Gives
    /// sentence embeddings in the context of their chunk from the same forward pass.
    fn embed_spans(&self, batch: &TokenBatch<'_>, spans: &[&[Range<usize>]]) -> Result<(Array2<f32>, Vec<Array2<f32>>), Error>;
}

/// Mean of rows `range` of a `t × dim` block of `hidden` (row-major), L2-normalised.
pub fn pool_span(hidden: &[f32], dim: usize, range: Range<usize>) -> Vec<f32> {
    let mut out = vec![0f32; dim];
    for row in range.clone() {
        for (o, v) in out.iter_mut().zip(&hidden[row * dim..(row + 1) * dim]) {
            *o += v;
        }
    }
    let n = range.len().max(1) as f32;
    out.iter_mut().for_each(|v| *v /= n);
    let norm = out.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
    out.iter_mut().for_each(|v| *v /= norm);
    out
}
