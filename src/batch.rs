//! Batching: groups chunks of similar length into batches under a token budget, so little compute
//! goes to padding, and remembers each chunk's original position so results are routed back.
//!
//! Every chunk is padded to a length that depends on its own length only (the next multiple of
//! [`PAD_MULTIPLE`]), and a batch holds chunks of one padded length. A chunk's embedding then does
//! not depend on which other chunks share its batch, which keeps output identical whatever the
//! batch budget or thread count.

use std::ops::Range;

use ndarray::Array2;

use crate::encoder::{Encoder, TokenBatch};
use crate::error::Error;

/// Chunks are padded up to a multiple of this many word-pieces.
pub const PAD_MULTIPLE: usize = 16;

/// One batch: positions into the caller's chunk list, and the length all are padded to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub members: Vec<usize>,
    pub padded_len: usize,
}

/// The padded length of a chunk of `len` word-pieces, never more than `max_len`.
pub fn padded_len(len: usize, max_len: usize) -> usize {
    len.div_ceil(PAD_MULTIPLE).max(1).saturating_mul(PAD_MULTIPLE).min(max_len.max(len))
}

/// Groups chunks (given by their lengths) into batches: same padded length within a batch, at most
/// `budget_tokens` padded word-pieces per batch (at least one chunk each). Longest batches come
/// first, so a memory problem shows early. Every chunk is in exactly one batch.
pub fn plan(lengths: &[usize], max_len: usize, budget_tokens: usize) -> Vec<Batch> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    // Stable sort by padded length, longest first; ties keep input order, so plans are repeatable.
    order.sort_by_key(|&i| std::cmp::Reverse(padded_len(lengths[i], max_len)));
    let mut batches = Vec::new();
    for group in runs(&order, |&i| padded_len(lengths[i], max_len)) {
        let padded = padded_len(lengths[order[group.start]], max_len);
        let per_batch = (budget_tokens / padded).max(1);
        for members in order[group].chunks(per_batch) {
            batches.push(Batch { members: members.to_vec(), padded_len: padded });
        }
    }
    batches
}

/// Embeds sequences (each within the model window) in planned batches; row `i` of the result
/// belongs to `sequences[i]`.
pub fn embed_all(
    encoder: &dyn Encoder,
    sequences: &[&[u32]],
    max_len: usize,
    budget_tokens: usize,
) -> Result<Array2<f32>, Error> {
    let lengths: Vec<usize> = sequences.iter().map(|s| s.len()).collect();
    let mut out = Array2::<f32>::zeros((sequences.len(), encoder.dim()));
    for b in plan(&lengths, max_len, budget_tokens) {
        let batch = TokenBatch {
            sequences: b.members.iter().map(|&i| sequences[i]).collect(),
            padded_len: b.padded_len,
        };
        let rows = encoder.embed(&batch)?;
        for (k, &i) in b.members.iter().enumerate() {
            out.row_mut(i).assign(&rows.row(k));
        }
    }
    Ok(out)
}

/// Like [`embed_all`], also pooling token spans of each sequence (`spans[i]` for sequence `i`):
/// returns the sequence embeddings and, per sequence, its span embeddings.
pub fn embed_all_with_spans(
    encoder: &dyn Encoder,
    sequences: &[&[u32]],
    spans: &[Vec<Range<usize>>],
    max_len: usize,
    budget_tokens: usize,
) -> Result<(Array2<f32>, Vec<Array2<f32>>), Error> {
    let lengths: Vec<usize> = sequences.iter().map(|s| s.len()).collect();
    let mut out = Array2::<f32>::zeros((sequences.len(), encoder.dim()));
    let mut span_out = vec![Array2::<f32>::zeros((0, encoder.dim())); sequences.len()];
    for b in plan(&lengths, max_len, budget_tokens) {
        let batch = TokenBatch {
            sequences: b.members.iter().map(|&i| sequences[i]).collect(),
            padded_len: b.padded_len,
        };
        let batch_spans: Vec<&[Range<usize>]> = b.members.iter().map(|&i| spans[i].as_slice()).collect();
        let (rows, pooled) = encoder.embed_spans(&batch, &batch_spans)?;
        for (k, &i) in b.members.iter().enumerate() {
            out.row_mut(i).assign(&rows.row(k));
        }
        for (k, p) in pooled.into_iter().enumerate() {
            span_out[b.members[k]] = p;
        }
    }
    Ok((out, span_out))
}

/// Ranges of consecutive items with the same key.
fn runs<T, K: PartialEq>(items: &[T], key: impl Fn(&T) -> K) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=items.len() {
        if i == items.len() || key(&items[i]) != key(&items[start]) {
            if start < i {
                out.push(start..i);
            }
            start = i;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_lengths() {
        for (len, max, want) in [(1, 256, 16), (16, 256, 16), (17, 256, 32), (250, 256, 256), (256, 256, 256), (0, 256, 16)] {
            assert_eq!(padded_len(len, max), want, "len {len}");
        }
    }

    #[test]
    fn every_chunk_lands_in_one_batch_of_its_own_padded_length() {
        let lengths = [5, 200, 17, 30, 256, 3, 100, 18];
        let plan = plan(&lengths, 256, 64);
        let mut seen: Vec<usize> = plan.iter().flat_map(|b| b.members.clone()).collect();
        seen.sort();
        assert_eq!(seen, (0..lengths.len()).collect::<Vec<_>>());
        for b in &plan {
            assert!(b.members.iter().all(|&i| padded_len(lengths[i], 256) == b.padded_len));
            assert!(b.members.len() == 1 || b.members.len() * b.padded_len <= 64);
        }
        assert_eq!(plan[0].padded_len, 256);
    }

    #[test]
    fn budget_groups_same_length_chunks() {
        let plan = plan(&[10, 12, 14, 9], 256, 32);
        assert_eq!(plan, vec![
            Batch { members: vec![0, 1], padded_len: 16 },
            Batch { members: vec![2, 3], padded_len: 16 },
        ]);
    }
}
