//! Label prototypes: the embeddings of each label's description and example statements from the
//! taxonomy. A chunk scores high for a label when it is close to that label's closest examples and
//! far from the off-topic ones. Needs no training.

use ndarray::{Array2, ArrayView2};

use super::{embed_texts, sigmoid, softmax, top_k_mean, ChunkScores, Scorer};
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
    /// Embeds every label text of the taxonomy with the run's tokenizer and encoder.
    pub fn build(taxonomy: &Taxonomy, words: &WordPieces, encoder: &dyn Encoder) -> Result<Self, Error> {
        let embed = |texts: Vec<&str>| embed_texts(&texts, words, encoder);
        let mut on_texts: Vec<&str> = taxonomy.on_topic.texts().collect();
        for topic in &taxonomy.topics {
            on_texts.extend(topic.examples.iter().map(String::as_str));
        }
        Ok(Prototypes {
            on: embed(on_texts)?,
            off: embed(taxonomy.off_topic.texts().collect())?,
            topics: taxonomy.topics.iter().map(|l| embed(l.texts().collect())).collect::<Result<_, _>>()?,
            stances: taxonomy.stances.iter().map(|l| embed(l.texts().collect())).collect::<Result<_, _>>()?,
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

