//! The model boundary: turns token-id sequences into sentence embeddings.
//!
//! The rest of the pipeline sees only the narrow [`Encoder`] trait. [`bert::BertEncoder`] runs a
//! real BERT through rust-bert and libtorch (the default; bfloat16 for `classify --fast`); [`onnx::OrtEncoder`] runs the same
//! weights exported to ONNX through ONNX Runtime (fp32, or int8 for `classify --fast`);
//! [`fake::FakeEncoder`] is a deterministic stand-in so most tests run without the model.
//! [`Engine`] picks one. Batching policy lives in `batch.rs`, not here.

pub mod auto;
pub mod bert;
pub mod fake;
pub mod onnx;

use std::ops::Range;
use std::path::Path;

use ndarray::Array2;

use crate::error::Error;

/// A batch of token sequences, each already wrapped in the model's special tokens.
pub struct TokenBatch<'a> {
    /// One slice of token ids per sequence; lengths may differ.
    pub sequences: Vec<&'a [u32]>,
    /// Every sequence is padded to this length (at least the longest one).
    pub padded_len: usize,
}

impl TokenBatch<'_> {
    /// Token ids and attention mask, row-major `n × padded_len`, padding with id 0 and mask 0.
    pub fn ids_and_mask(&self) -> (Vec<i64>, Vec<i64>) {
        let t = self.padded_len;
        let mut ids = vec![0i64; self.sequences.len() * t];
        let mut mask = vec![0i64; self.sequences.len() * t];
        for (row, seq) in self.sequences.iter().enumerate() {
            for (col, &id) in seq.iter().enumerate() {
                ids[row * t + col] = i64::from(id);
                mask[row * t + col] = 1;
            }
        }
        (ids, mask)
    }
}

/// Anything that maps token sequences to L2-normalised embeddings, one row per sequence.
pub trait Encoder: Send {
    /// Embedding width.
    fn dim(&self) -> usize;
    /// Word-pieces per forward pass the encoder wants: 0 (the default) runs each chunk on its own,
    /// which makes a chunk's embedding bit-for-bit independent of its batch-mates.
    fn batch_tokens(&self) -> usize {
        0
    }

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

/// [`pool_span`] for each of `ranges`, one row each.
pub fn pool_spans(hidden: &[f32], dim: usize, ranges: &[Range<usize>]) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros((ranges.len(), dim));
    for (k, r) in ranges.iter().enumerate() {
        out.row_mut(k).assign(&ndarray::ArrayView1::from(&pool_span(hidden, dim, r.clone())));
    }
    out
}

/// What runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// rust-bert on libtorch (the default), on the CPU or the first CUDA GPU, in fp32 or (for
    /// `--fast`) bfloat16.
    Torch { cuda: bool, precision: bert::Precision },
    /// ONNX Runtime on the CPU, on the fp32 or the int8 export.
    Onnx(onnx::Precision),
}

impl Engine {
    /// The default: rust-bert on libtorch, fp32, on the CPU.
    pub const DEFAULT: Engine = Engine::Torch { cuda: false, precision: bert::Precision::Fp32 };
}

/// An encoder ready to run, with what its embeddings depend on.
pub struct Loaded {
    pub encoder: Box<dyn Encoder>,
    /// Key for the prototype cache: weights, engine, precision, threads.
    pub cache_key: String,
    /// The engine in words, for the manifest and the run's identity, e.g. `torch cpu eager` or
    /// `onnx int8 onnx/model-int8.onnx sha256 …`.
    pub description: String,
}

/// Loads the model folder's weights into `engine`; ONNX Runtime gets `threads` intra-op threads
/// (libtorch's are set process-wide by `config::set_threads`).
pub fn load(dir: &Path, engine: Engine, threads: usize, weights_sha256: &str) -> Result<Loaded, Error> {
    match engine {
        Engine::Torch { cuda, precision } => {
            let device = if cuda { bert::cuda_device()? } else { tch::Device::Cpu };
            let encoder = match precision {
                bert::Precision::Fp32 => bert::BertEncoder::load(dir, device)?,
                bert::Precision::Bf16 => bert::BertEncoder::load_with(dir, device, bert::Attention::Fused, precision)?,
            };
            Ok(Loaded { cache_key: encoder.cache_key(weights_sha256), description: encoder.describe(), encoder: Box::new(encoder) })
        }
        Engine::Onnx(precision) => {
            let encoder = onnx::OrtEncoder::load(dir, precision, threads)?;
            Ok(Loaded { cache_key: encoder.cache_key(weights_sha256), description: encoder.describe(), encoder: Box::new(encoder) })
        }
    }
}
