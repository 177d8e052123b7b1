//! Batching: every chunk runs through the model on its own, unpadded (unless the encoder asks for
//! batches, see [`Encoder::batch_tokens`]), and results are routed back to the chunk's position.
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

/// Splits the planned order (longest first) into forward passes: one sequence each when `budget`
/// is 0, else runs of sequences whose padded size (count × the first one's length) stays within
/// `budget` word-pieces.
fn groups(order: &[usize], lengths: &[usize], budget: usize) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    for &i in order {
        match out.last_mut() {
            Some(g) if budget > 0 && (g.len() + 1) * lengths[g[0]].max(1) <= budget => g.push(i),
            _ => out.push(vec![i]),
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
    for group in groups(&plan(&lengths), &lengths, encoder.batch_tokens()) {
        let padded_len = lengths[group[0]].max(1);
        let batch = TokenBatch { sequences: group.iter().map(|&i| sequences[i]).collect(), padded_len };
        let group_spans: Vec<&[Range<usize>]> = group.iter().map(|&i| spans.get(i).map_or(no_spans, Vec::as_slice)).collect();
        let (rows, pooled) = encoder.embed_spans(&batch, &group_spans)?;
        for (k, &i) in group.iter().enumerate() {
            out.row_mut(i).assign(&rows.row(k));
        }
        for (&i, p) in group.iter().zip(pooled) {
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
    fn passes_hold_one_sequence_or_fill_a_token_budget_with_the_longest_first() {
        let lengths = [3, 10, 4, 10, 1];
        let order = plan(&lengths);
        assert_eq!(groups(&order, &lengths, 0), vec![vec![1], vec![3], vec![2], vec![0], vec![4]]);
        assert_eq!(groups(&order, &lengths, 20), vec![vec![1, 3], vec![2, 0, 4]]);
        assert_eq!(groups(&order, &lengths, 6), vec![vec![1], vec![3], vec![2], vec![0, 4]], "a long one goes alone");
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
