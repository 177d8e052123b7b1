//! Label prototypes: the embeddings of each label's description and example statements from the
//! taxonomy. A chunk scores high for a label when it is close to that label's closest examples and
//! far from the off-topic ones. Needs no training.

use ndarray::{Array2, ArrayView2, Axis};

use super::cache::EmbeddingCache;
use super::{sigmoid, softmax, top_k_mean, ChunkScores, Scorer};
use crate::batch;
use crate::encoder::Encoder;
use crate::error::Error;
use crate::taxonomy::{Scoring, Taxonomy};
use crate::tokenize::WordPieces;

/// Label prototypes: the embeddings of each label's description and examples.
pub struct Prototypes {
    on: Array2<f32>,
    off: Array2<f32>,
    topics: Vec<Array2<f32>>,
    stances: Vec<Array2<f32>>,
    scoring: Scoring,
}

impl Prototypes {
    /// Embeds every label text of the taxonomy with the run's tokenizer and encoder: each distinct
    /// text once, read from `cache` when it holds them.
    pub fn build(
        taxonomy: &Taxonomy,
        words: &WordPieces,
        encoder: &dyn Encoder,
        cache: Option<&EmbeddingCache>,
    ) -> Result<Self, Error> {
        let mut on_texts: Vec<&str> = taxonomy.on_topic.texts().collect();
        for topic in &taxonomy.topics {
            on_texts.extend(topic.examples.iter().map(String::as_str));
        }
        let pools: Vec<Vec<&str>> = [on_texts, taxonomy.off_topic.texts().collect()]
            .into_iter()
            .chain(taxonomy.topics.iter().map(|l| l.texts().collect()))
            .chain(taxonomy.stances.iter().map(|l| l.texts().collect()))
            .collect();
        let mut distinct: Vec<&str> = pools.iter().flatten().copied().collect();
        distinct.sort_unstable();
        distinct.dedup();
        let ids: Vec<Vec<u32>> = distinct.iter().map(|t| words.encode_one(t)).collect::<Result<_, _>>()?;
        let embeddings = match cache.and_then(|c| c.load(&ids, encoder.dim())) {
            Some(e) => e,
            None => {
                let seqs: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
                let e = batch::embed_all(encoder, &seqs)?;
                if let Some(c) = cache {
                    c.store(&ids, &e);
                }
                e
            }
        };
        let mut pools = pools.into_iter().map(|pool| {
            let rows: Vec<usize> = pool.iter().map(|t| distinct.binary_search(t).expect("every text is listed")).collect();
            embeddings.select(Axis(0), &rows)
        });
        let mut next = || pools.next().expect("one pool per label");
        Ok(Prototypes {
            on: next(),
            off: next(),
            topics: taxonomy.topics.iter().map(|_| next()).collect(),
            stances: taxonomy.stances.iter().map(|_| next()).collect(),
            scoring: taxonomy.scoring.clone(),
        })
    }
}

/// A chunk's raw similarities: to the on-topic pool, the off-topic pool, each topic and each
/// stance class (mean of the `top_k` closest prototypes each).
#[derive(Debug, Clone)]
pub struct Similarities {
    pub on: Vec<f64>,
    pub off: Vec<f64>,
    /// `topics[t][i]`: topic `t`, chunk `i`.
    pub topics: Vec<Vec<f64>>,
    pub stances: Vec<Vec<f64>>,
}

impl Similarities {
    /// Chunk `i`'s similarities as one feature row: on, off, topics…, stances….
    pub fn row(&self, i: usize) -> Vec<f64> {
        let mut v = vec![self.on[i], self.off[i]];
        v.extend(self.topics.iter().map(|t| t[i]));
        v.extend(self.stances.iter().map(|t| t[i]));
        v
    }

    pub fn width(&self) -> usize {
        2 + self.topics.len() + self.stances.len()
    }
}

impl Prototypes {
    pub fn similarities(&self, embeddings: ArrayView2<'_, f32>) -> Similarities {
        let sim = |pool: &Array2<f32>| top_k_mean(&embeddings.dot(&pool.t()), self.scoring.top_k);
        Similarities {
            on: sim(&self.on),
            off: sim(&self.off),
            topics: self.topics.iter().map(sim).collect(),
            stances: self.stances.iter().map(sim).collect(),
        }
    }
}

impl Scorer for Prototypes {
    fn score(&self, embeddings: ArrayView2<'_, f32>) -> Vec<ChunkScores> {
        let s = &self.scoring;
        let Similarities { on, off, topics, stances } = self.similarities(embeddings);
        (0..embeddings.nrows())
            .map(|i| ChunkScores {
                on_topic: sigmoid(s.slope * (on[i] - off[i]) + s.on_topic_offset),
                topics: topics.iter().map(|t| sigmoid(s.slope * (t[i] - off[i]) + s.topic_offset)).collect(),
                stance: softmax(&stances.iter().map(|t| s.stance_sharpness * t[i]).collect::<Vec<_>>()),
            })
            .collect()
    }
}

