//! Batching: every chunk runs through the model on its own, unpadded, and results are routed back
//! to the chunk's position.
//!
//! One chunk per forward pass makes a chunk's embedding a function of that chunk alone: batching
//! several chunks lets the matrix kernels pick other blockings for other batch shapes, which moved
//! last bits (and, rarely, a fourth decimal of a label) with the checkpoint interval. It costs no
//! speed here: the matrix products of a chunk of a hundred or more word-pieces already keep the
//! cores busy, no work goes to padding, and no batch × heads × T × T attention tensors are made.
//! On 500 synthetic speeches (`out/bench/corpus-500.csv`): 29.8 s and 404 MB peak RSS, against
//! 29.3 s and 743 MB with length-bucketed batches of up to 8,192 word-pieces.

use std::ops::Range;

use ndarray::Array2;

use crate::encoder::{Encoder, TokenBatch};
use crate::error::Error;

/// The order chunks are run in: longest first (so a memory problem shows early), ties in input
/// order.
pub fn plan(lengths: &[usize]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    order
}

/// Embeds sequences (each within the model window); row `i` of the result belongs to
/// `sequences[i]`.
pub fn embed_all(encoder: &dyn Encoder, sequences: &[&[u32]]) -> Result<Array2<f32>, Error> {
    Ok(embed_all_with_spans(encoder, sequences, &[])?.0)
}

/// Like [`embed_all`], also pooling token spans of each sequence (`spans[i]` for sequence `i`;
/// none where `spans` is shorter): returns the sequence embeddings and, per sequence, its span
/// embeddings.
pub fn embed_all_with_spans(
    encoder: &dyn Encoder,
    sequences: &[&[u32]],
    spans: &[Vec<Range<usize>>],
) -> Result<(Array2<f32>, Vec<Array2<f32>>), Error> {
    let lengths: Vec<usize> = sequences.iter().map(|s| s.len()).collect();
    let mut out = Array2::<f32>::zeros((sequences.len(), encoder.dim()));
    let mut span_out = vec![Array2::<f32>::zeros((0, encoder.dim())); sequences.len()];
    for i in plan(&lengths) {
        let batch = TokenBatch { sequences: vec![sequences[i]], padded_len: lengths[i].max(1) };
        let chunk_spans: Vec<&[Range<usize>]> = spans.get(i).map(Vec::as_slice).into_iter().collect();
        let (rows, pooled) = encoder.embed_spans(&batch, &chunk_spans)?;
        out.row_mut(i).assign(&rows.row(0));
        if let Some(p) = pooled.into_iter().next() {
            span_out[i] = p;
        }
    }
    Ok((out, span_out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::fake::FakeEncoder;

    #[test]
    fn longest_run_first_ties_in_input_order() {
        assert_eq!(plan(&[5, 200, 17, 200, 3]), vec![1, 3, 2, 0, 4]);
    }

    #[test]
    fn rows_come_back_in_input_order() {
        let enc = FakeEncoder::new(8);
        let seqs: Vec<Vec<u32>> = vec![vec![101, 5, 102], vec![101, 7, 8, 9, 102], vec![101, 102]];
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        let all = embed_all(&enc, &refs).unwrap();
        for (i, s) in refs.iter().enumerate() {
            let alone = embed_all(&enc, &[s]).unwrap();
            assert_eq!(all.row(i), alone.row(0));
        }
    }
}
