//! Scoring: turns chunk embeddings into per-chunk topic, on-topic and stance scores.
//!
//! The scorer sits behind the [`Scorer`] trait, one file per implementation:
//! [`prototypes::Prototypes`] compares a chunk with each label's example statements from the
//! taxonomy (no training); [`head::Head`] applies logistic heads fitted by `parlscan fit` to the
//! chunk embedding and the prototype similarities. A head may also carry [`lexical::Lexical`]
//! models, which score a speech's words rather than its embedding and are mixed into its chunks'
//! topic scores, and a [`stance::StanceReading`], which reads a speech's stance from its chunks,
//! its most stance-bearing sentences and its words. Combining chunks into one row per speech is `aggregate.rs`'s job.

pub mod cache;
pub mod head;
pub mod lexical;
pub mod linear;
pub mod prototypes;
pub mod stance;

use std::ops::Range;

use ndarray::{Array2, ArrayView2, Axis};

use crate::batch;
use crate::encoder::Encoder;
use crate::error::Error;


/// Scores of one chunk (or sentence), all in [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkScores {
    pub on_topic: f64,
    /// One per taxonomy topic, in taxonomy order.
    pub topics: Vec<f64>,
    /// Distribution over the stance classes (`taxonomy::STANCE_CLASSES`), given it is on topic.
    pub stance: Vec<f64>,
}

/// How the sentences of a chunk are embedded for sentence-level scoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SentenceEmbedding {
    /// Pooled from the chunk's own forward pass: no extra model work.
    #[default]
    Context,
    /// Each sentence run through the model on its own, wrapped in the special tokens: about twice
    /// the model work, and closer to the short statements heads learn from.
    Alone,
}

impl SentenceEmbedding {
    /// Embeds each chunk and, for chunks with more than one sentence (`spans[i]`, ranges into
    /// `sequences[i]`), each sentence this way. Returns the chunk embeddings and, per chunk, its
    /// sentence embeddings (no rows where `spans[i]` is empty).
    pub fn embed(
        self,
        encoder: &dyn Encoder,
        sequences: &[&[u32]],
        spans: &[Vec<Range<usize>>],
    ) -> Result<(Array2<f32>, Vec<Array2<f32>>), Error> {
        match self {
            SentenceEmbedding::Context => batch::embed_all_with_spans(encoder, sequences, spans),
            SentenceEmbedding::Alone => {
                Ok((batch::embed_all(encoder, sequences)?, batch::embed_sentences_alone(encoder, sequences, spans)?))
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SentenceEmbedding::Context => "in context",
            SentenceEmbedding::Alone => "alone",
        }
    }
}

/// Anything that scores chunk embeddings (rows of `embeddings`).
pub trait Scorer: Send + Sync {
    fn score(&self, embeddings: ArrayView2<'_, f32>) -> Vec<ChunkScores>;

    /// Each row's stance distribution under a model fitted on sentences, for scorers that carry
    /// one (`head::SentenceStance`); `None`: sentences are scored as chunks are.
    fn sentence_stance(&self, _embeddings: ArrayView2<'_, f32>) -> Option<Vec<Vec<f64>>> {
        None
    }
}

/// A chunk's final scores under a head: its own scores, its sentences' topic scores mixed in at
/// `sentence_weight` ([`mix_sentences`]), then its speech's lexical topic probabilities at their
/// weight ([`lexical::mix`]). The one place this is done: `classify` (`Labeller`) and `fit`'s
/// cross-validation both call it, so what cross-validation measures is what `classify` does.
pub fn finish_chunk(mut chunk: ChunkScores, sentences: &[ChunkScores], sentence_weight: f64, lexical: Option<(&[f64], f64)>) -> ChunkScores {
    if sentence_weight > 0.0 {
        mix_sentences(&mut chunk, sentences, sentence_weight);
    }
    if let Some((probs, weight)) = lexical {
        lexical::mix(&mut chunk, probs, weight);
    }
    chunk
}

/// Sentence-level topic scoring: each topic's chunk score becomes `(1 - weight) × chunk score +
/// weight × mean of its two best sentences' scores` (sentences pooled in context from the chunk's
/// own forward pass). A chunk of one sentence is unchanged. On-topic and stance stay chunk-level.
pub fn mix_sentences(chunk: &mut ChunkScores, sentences: &[ChunkScores], weight: f64) {
    if sentences.len() < 2 || weight == 0.0 {
        return;
    }
    for (t, score) in chunk.topics.iter_mut().enumerate() {
        let mut best: Vec<f64> = sentences.iter().map(|s| s.topics[t]).collect();
        best.sort_by(|a, b| b.total_cmp(a));
        let top_two = (best[0] + best[1]) / 2.0;
        *score = (1.0 - weight) * *score + weight * top_two;
    }
}

/// Mean of the `k` largest values of each row.
pub fn top_k_mean(sims: &Array2<f32>, k: usize) -> Vec<f64> {
    sims.axis_iter(Axis(0))
        .map(|row| {
            let mut v: Vec<f32> = row.to_vec();
            v.sort_by(|a, b| b.total_cmp(a));
            let k = k.min(v.len()).max(1);
            v[..k].iter().map(|&x| f64::from(x)).sum::<f64>() / k as f64
        })
        .collect()
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

pub fn softmax(xs: &[f64]) -> Vec<f64> {
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = xs.iter().map(|x| (x - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn top_k_mean_takes_the_largest() {
        let sims = array![[0.1f32, 0.9, 0.5, 0.7], [0.3, 0.3, 0.3, 0.3]];
        let got = top_k_mean(&sims, 2);
        assert!((got[0] - 0.8).abs() < 1e-6 && (got[1] - 0.3).abs() < 1e-6, "{got:?}");
        assert!((top_k_mean(&sims, 10)[0] - 0.55).abs() < 1e-6);
    }

    #[test]
    fn sentences_mix_into_topic_scores_only() {
        let scores = |on: f64, topics: &[f64]| ChunkScores { on_topic: on, topics: topics.to_vec(), stance: vec![0.25; 4] };
        let mut chunk = scores(0.8, &[0.2, 0.6]);
        let sentences = [scores(0.1, &[0.9, 0.0]), scores(0.1, &[0.5, 0.2]), scores(0.1, &[0.1, 0.4])];
        mix_sentences(&mut chunk, &sentences, 0.5);
        assert!((chunk.topics[0] - (0.1 + 0.35)).abs() < 1e-12 && (chunk.topics[1] - (0.3 + 0.15)).abs() < 1e-12, "{chunk:?}");
        assert_eq!(chunk.on_topic, 0.8);
        let mut single = scores(0.8, &[0.2, 0.6]);
        mix_sentences(&mut single, &sentences[..1], 0.5);
        assert_eq!(single.topics, vec![0.2, 0.6], "one sentence: the chunk is the sentence");
    }

    #[test]
    fn softmax_and_sigmoid() {
        let p = softmax(&[1.0, 1.0, 1.0, 1.0]);
        assert!(p.iter().all(|&x| (x - 0.25).abs() < 1e-12));
        let p = softmax(&[1000.0, 0.0]);
        assert!((p[0] - 1.0).abs() < 1e-12 && p[1] >= 0.0);
        assert_eq!(sigmoid(0.0), 0.5);
    }
}
