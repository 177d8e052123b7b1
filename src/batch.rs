//! Batching: a chunk's embedding depends only on the chunk and on the fixed shape it runs in,
//! never on its batch-mates or on where a checkpoint or shard boundary fell.
//!
//! By default every chunk runs through the model on its own, unpadded, and results are routed
//! back to the chunk's position. An encoder that asks for batches ([`Encoder::batch_tokens`], the
//! bfloat16 engine) gets fixed shapes instead: a chunk is padded to its length bucket (the next
//! multiple of [`BUCKET`] word-pieces), runs with chunks of the same bucket, and every pass of a
//! bucket has the same number of rows (filler rows fill a short one). So the matrix kernels see
//! the same shapes whatever else is in the block. `tests/integration/engines.rs` checks both ways
//! on every engine: a chunk alone and amid others gives the same bytes.
//!
//! What batching gives, measured per engine (`docs/performance.md`): on ONNX Runtime fp32 and int8
//! and libtorch fp32 one chunk per pass is fastest (a chunk of a hundred or more word-pieces
//! already keeps the cores busy, and padding is work for nothing); bfloat16 batches pay, as the
//! matrix units want more rows than one chunk gives.

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

/// Length buckets for batched encoders: a chunk is padded up to a multiple of this.
pub const BUCKET: usize = 64;

/// The padded length a chunk of `len` word-pieces runs at when batched.
fn bucket_of(len: usize) -> usize {
    len.max(1).div_ceil(BUCKET) * BUCKET
}

/// One forward pass: the sequences it holds (indices, in planned order), its padded length and
/// its row count (at least the number of sequences; the rest are filler rows).
#[derive(Debug, PartialEq)]
struct Pass {
    members: Vec<usize>,
    padded_len: usize,
    rows: usize,
}

/// Splits the planned order into forward passes: one unpadded sequence each when `budget` is 0,
/// else per length bucket passes of exactly `budget / bucket` rows (at least one).
fn passes(order: &[usize], lengths: &[usize], budget: usize) -> Vec<Pass> {
    if budget == 0 {
        return order.iter().map(|&i| Pass { members: vec![i], padded_len: lengths[i].max(1), rows: 1 }).collect();
    }
    let mut out: Vec<Pass> = Vec::new();
    for &i in order {
        let padded_len = bucket_of(lengths[i]);
        let rows = (budget / padded_len).max(1);
        match out.last_mut() {
            Some(p) if p.padded_len == padded_len && p.members.len() < rows => p.members.push(i),
            _ => out.push(Pass { members: vec![i], padded_len, rows }),
        }
    }
    out
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
    let no_spans: &[Range<usize>] = &[];
    for pass in passes(&plan(&lengths), &lengths, encoder.batch_tokens()) {
        let mut batch = TokenBatch { sequences: pass.members.iter().map(|&i| sequences[i]).collect(), padded_len: pass.padded_len };
        // Filler rows hold one padding token (a row with no real token at all would attend to
        // nothing, which some attention kernels answer with NaN).
        batch.sequences.resize(pass.rows, &[0]);
        let group_spans: Vec<&[Range<usize>]> = pass.members.iter().map(|&i| spans.get(i).map_or(no_spans, Vec::as_slice)).collect();
        let (rows, pooled) = encoder.embed_spans(&batch, &group_spans)?;
        for (k, &i) in pass.members.iter().enumerate() {
            out.row_mut(i).assign(&rows.row(k));
        }
        for (&i, p) in pass.members.iter().zip(pooled) {
            span_out[i] = p;
        }
    }
    Ok((out, span_out))
}

/// Embeds every span of every sequence as a sequence of its own, between the special tokens that
/// wrap its chunk (what comes before the first span and after the last).
pub fn embed_sentences_alone(
    encoder: &dyn Encoder,
    sequences: &[&[u32]],
    spans: &[Vec<Range<usize>>],
) -> Result<Vec<Array2<f32>>, Error> {
    let mut alone: Vec<Vec<u32>> = Vec::new();
    let mut counts = Vec::with_capacity(sequences.len());
    for (i, seq) in sequences.iter().enumerate() {
        let ranges = spans.get(i).map(Vec::as_slice).unwrap_or(&[]);
        counts.push(ranges.len());
        let (Some(first), Some(last)) = (ranges.first(), ranges.last()) else { continue };
        let (prefix, suffix) = (&seq[..first.start], &seq[last.end..]);
        alone.extend(ranges.iter().map(|r| [prefix, &seq[r.clone()], suffix].concat()));
    }
    let refs: Vec<&[u32]> = alone.iter().map(Vec::as_slice).collect();
    let embedded = embed_all(encoder, &refs)?;
    let mut at = 0;
    Ok(counts
        .into_iter()
        .map(|n| {
            at += n;
            embedded.slice(ndarray::s![at - n..at, ..]).to_owned()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::fake::FakeEncoder;

    #[test]
    fn passes_hold_one_unpadded_sequence_or_a_fixed_shape_per_length_bucket() {
        let lengths = [3, 100, 64, 120, 1];
        let order = plan(&lengths);
        let one = |i: usize, len: usize| Pass { members: vec![i], padded_len: len, rows: 1 };
        assert_eq!(passes(&order, &lengths, 0), vec![one(3, 120), one(1, 100), one(2, 64), one(0, 3), one(4, 1)]);
        // 128-long bucket: 2 rows per pass of 256 word-pieces; 64-long bucket: 4 rows.
        assert_eq!(
            passes(&order, &lengths, 256),
            vec![Pass { members: vec![3, 1], padded_len: 128, rows: 2 }, Pass { members: vec![2, 0, 4], padded_len: 64, rows: 4 }]
        );
        assert_eq!(passes(&order, &lengths, 100)[0], Pass { members: vec![3], padded_len: 128, rows: 1 }, "a long one goes alone");
    }

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

    #[test]
    fn sentences_alone_are_wrapped_like_their_chunk_and_routed_back() {
        let enc = FakeEncoder::new(8);
        let chunk: Vec<u32> = vec![101, 5, 6, 7, 8, 102];
        let short: Vec<u32> = vec![101, 9, 102];
        let spans = vec![vec![1..3, 3..5], Vec::new()];
        let (rows, sentences) = (embed_all(&enc, &[&chunk, &short]).unwrap(), embed_sentences_alone(&enc, &[&chunk, &short], &spans).unwrap());
        assert_eq!(rows.row(0), embed_all(&enc, &[&chunk]).unwrap().row(0));
        assert_eq!(sentences[0].nrows(), 2);
        assert_eq!(sentences[1].nrows(), 0);
        let second = embed_all(&enc, &[&[101, 7, 8, 102]]).unwrap();
        assert_eq!(sentences[0].row(1), second.row(0));
    }
}
