//! The model boundary: turns token-id sequences into sentence embeddings.
//!
//! The rest of the pipeline sees only the narrow [`Encoder`] trait. [`bert::BertEncoder`] runs a
//! real BERT through rust-bert and libtorch; [`fake::FakeEncoder`] is a deterministic stand-in so
//! most tests run without the model. Batching policy lives in `batch.rs`, not here.

pub mod bert;
pub mod fake;

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
    fn embed(&self, batch: &TokenBatch<'_>) -> Result<Array2<f32>, Error>;
}
