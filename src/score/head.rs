//! Fitted heads: logistic models on top of the frozen encoder, made by `parlscan fit` and stored
//! as JSON. Features per chunk are the embedding and its prototype similarities, standardised.
//!
//! Owns the head file (what made it, checks that it fits the running model and labels) and
//! applying it. Fitting is `fit`'s job.

use std::path::{Path, PathBuf};

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use super::prototypes::Prototypes;
use super::linear::{Logistic, Multinomial};
use super::{ChunkScores, Scorer};
use crate::error::Error;
use crate::taxonomy::{Taxonomy, STANCE_CLASSES};

/// A topic's head and the threshold cross-validation chose for it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TopicHead {
    pub name: String,
    pub model: Logistic,
    pub threshold: f64,
}

/// A stance model fitted on the sentences of the training texts in the speaker's own voice,
/// embedded as the head embeds sentences, with its own standardisation: a sentence's stance is
/// read by a model that learned from sentences, not from whole chunks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SentenceStance {
    pub feature_mean: Vec<f64>,
    pub feature_scale: Vec<f64>,
    pub model: Multinomial,
}

impl SentenceStance {
    /// The stance distribution of a raw feature row (embedding, then prototype similarities).
    pub fn probs(&self, row: &[f64]) -> Vec<f64> {
        let mut x = row.to_vec();
        standardise(&mut x, &self.feature_mean, &self.feature_scale);
        self.model.probs(&x)
    }
}

/// What a head was made from, so a mismatch can be refused and a result traced.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Provenance {
    pub tool_version: String,
    pub encoder_sha256: String,
    pub taxonomy_sha256: String,
    pub training_files: Vec<TrainingFile>,
    /// Rows from the training files.
    pub training_rows: usize,
    /// Training-only rows: --examples files and the taxonomy's example statements.
    pub extra_rows: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainingFile {
    pub path: String,
    pub sha256: String,
    pub rows: usize,
}

/// The head file's content.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HeadFile {
    pub format: u32,
    pub provenance: Provenance,
    pub topics: Vec<String>,
    pub stances: Vec<String>,
    /// Free-form settings (regularisation, features, folds) and cross-validated figures.
    pub settings: serde_json::Value,
    pub cross_validation: serde_json::Value,
    /// Weight of a chunk's two best sentences in its topic scores (`score::mix_sentences`); 0 in
    /// heads made before sentence-level scoring.
    #[serde(default)]
    pub sentence_weight: f64,
    /// How those sentences are embedded; in context in heads made before the choice existed.
    #[serde(default)]
    pub sentence_embedding: super::SentenceEmbedding,
    /// Lexical topic models mixed into the topic scores (`score::lexical`); none in heads made
    /// before them.
    #[serde(default)]
    pub lexical: Option<super::lexical::Lexical>,
    /// How the speech's stance is read from its chunks, sentences and words (`score::stance`);
    /// none in heads made before readings, which average their chunks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stance_reading: Option<super::stance::StanceReading>,
    /// The stance model that scores sentences for the stance reading's sentence pool and the
    /// stance evidence, fitted on sentences; none in heads made before it (and in heads whose
    /// reading pools no sentences), which score sentences with `stance`, as they score chunks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentence_stance: Option<SentenceStance>,
    /// Whether an on-topic speech whose topics all fall below their thresholds lists its
    /// strongest topic (`aggregate::speech`); true whenever `min_topics` is 1 or more.
    #[serde(default)]
    pub at_least_one_topic: bool,
    /// An on-topic speech lists at least this many topics, its strongest (`aggregate::Listing`);
    /// heads made before this say it with `at_least_one_topic` alone.
    #[serde(default)]
    pub min_topics: usize,
    /// Topics listed on off-topic speeches too, because the training labels give them to
    /// off-topic speeches (`fit::off_topic_topics`); none in heads made before this.
    #[serde(default)]
    pub listed_off_topic: Vec<String>,
    pub feature_mean: Vec<f64>,
    pub feature_scale: Vec<f64>,
    pub on_topic: Logistic,
    pub on_topic_threshold: f64,
    pub topic_heads: Vec<TopicHead>,
    pub stance: Multinomial,
}

impl HeadFile {
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let head: HeadFile = serde_json::from_str(&text)
            .map_err(|e| Error::Head { path: path.to_path_buf(), what: format!("not a parlscan head file: {e}") })?;
        if head.format != 1 {
            return Err(Error::Head { path: path.to_path_buf(), what: format!("format {} is not supported", head.format) });
        }
        if let Some(wrong) = head.misfit_sentence_stance() {
            return Err(Error::Head {
                path: path.to_path_buf(),
                what: format!("{wrong}\n  (refit it with `parlscan fit`)"),
            });
        }
        if let Some(missing) = head.missing_lexical_stance() {
            return Err(Error::Head {
                path: path.to_path_buf(),
                what: format!("{missing}\n  (refit it with `parlscan fit`, or use a head whose lexical model carries its stance model)"),
            });
        }
        Ok(head)
    }

    /// How a sentence stance model does not fit the head's features, if it does not.
    fn misfit_sentence_stance(&self) -> Option<String> {
        let m = self.sentence_stance.as_ref()?;
        let width = self.feature_mean.len();
        let fits = m.feature_mean.len() == width
            && m.feature_scale.len() == width
            && m.model.bias.len() == STANCE_CLASSES.len()
            && m.model.weights.len() == STANCE_CLASSES.len()
            && m.model.weights.iter().all(|w| w.len() == width);
        (!fits).then(|| {
            format!(
                "its sentence stance model does not fit its features: it needs {} classes of {width} weights, and a mean and scale of {width}",
                STANCE_CLASSES.len()
            )
        })
    }

    /// What a stance reading with a lexical weight needs and the head does not carry: the lexical
    /// terms, or a stance model over them of the right shape.
    fn missing_lexical_stance(&self) -> Option<String> {
        let weight = self.stance_reading.map_or(0.0, |r| r.lexical_weight);
        if weight <= 0.0 {
            return None;
        }
        let needs = format!("its stance reading mixes in a lexical stance model at weight {weight}");
        let Some(lexical) = &self.lexical else {
            return Some(format!("{needs}, but the head carries no lexical features (no `lexical` terms)"));
        };
        let Some(model) = &lexical.stance else {
            return Some(format!("{needs}, but its lexical features carry no stance model (no `lexical.stance`)"));
        };
        let width = lexical.stance_vocabulary().len();
        if model.weights.len() != STANCE_CLASSES.len() || model.bias.len() != STANCE_CLASSES.len() || model.weights.iter().any(|w| w.len() != width) {
            let terms = if lexical.stance_vocabulary.is_some() { "its stance terms" } else { "the lexical terms" };
            return Some(format!(
                "{needs}, but that model does not fit its features: it needs {} classes of {width} term weights ({terms})",
                STANCE_CLASSES.len()
            ));
        }
        None
    }

    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let json = serde_json::to_string(self).expect("a head serialises");
        crate::files::write_atomically(path, json.as_bytes())
    }

    /// Refuses a head made for another encoder or another label set, saying what differs.
    pub fn check(&self, path: &Path, encoder_sha256: &str, taxonomy: &Taxonomy) -> Result<(), Error> {
        let mut problems = Vec::new();
        if self.provenance.encoder_sha256 != encoder_sha256 {
            problems.push(format!(
                "it was fitted on encoder weights {} but the model in use has {}",
                short(&self.provenance.encoder_sha256),
                short(encoder_sha256)
            ));
        }
        let topics: Vec<String> = taxonomy.topics.iter().map(|t| t.name.clone()).collect();
        if self.topics != topics {
            let missing: Vec<&String> = topics.iter().filter(|t| !self.topics.contains(t)).collect();
            let extra: Vec<&String> = self.topics.iter().filter(|t| !topics.contains(t)).collect();
            problems.push(format!(
                "its topics differ from the taxonomy's (taxonomy only: {missing:?}; head only: {extra:?}; or another order)"
            ));
        }
        if self.stances != STANCE_CLASSES {
            problems.push(format!("its stance classes {:?} are not {:?}", self.stances, STANCE_CLASSES));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Head {
                path: path.to_path_buf(),
                what: format!("{}\n  (refit it with `parlscan fit`, or pass the matching --model/--taxonomy)", problems.join("; ")),
            })
        }
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// Where a head file is looked for by default.
pub fn default_path() -> PathBuf {
    crate::files::project_path(crate::files::DEFAULT_HEAD)
}

/// A head ready to score chunks: its file plus the prototypes its features need.
pub struct Head {
    pub file: HeadFile,
    pub prototypes: Prototypes,
}

impl Head {
    /// Feature rows (embedding, then prototype similarities), not yet standardised.
    pub fn raw_features(prototypes: &Prototypes, embeddings: ArrayView2<'_, f32>) -> Vec<Vec<f64>> {
        let sims = prototypes.similarities(embeddings);
        (0..embeddings.nrows())
            .map(|i| {
                let mut x: Vec<f64> = embeddings.row(i).iter().map(|&v| f64::from(v)).collect();
                x.extend(sims.row(i));
                x
            })
            .collect()
    }
}

/// Standardises a feature row in place with a head's mean and scale.
pub fn standardise(x: &mut [f64], mean: &[f64], scale: &[f64]) {
    for ((v, m), s) in x.iter_mut().zip(mean).zip(scale) {
        *v = (*v - m) / s;
    }
}

/// The scores of one standardised feature row under a head's models: the one place a head is
/// applied, by `classify` (through [`Head`]) and by `fit`'s cross-validation alike.
pub fn apply<'a>(x: &[f64], on_topic: &Logistic, topics: impl Iterator<Item = &'a Logistic>, stance: &Multinomial) -> ChunkScores {
    ChunkScores { on_topic: on_topic.prob(x), topics: topics.map(|m| m.prob(x)).collect(), stance: stance.probs(x) }
}

impl Scorer for Head {
    fn sentence_stance(&self, embeddings: ArrayView2<'_, f32>) -> Option<Vec<Vec<f64>>> {
        let m = self.file.sentence_stance.as_ref()?;
        Some(Head::raw_features(&self.prototypes, embeddings).iter().map(|x| m.probs(x)).collect())
    }

    fn score(&self, embeddings: ArrayView2<'_, f32>) -> Vec<ChunkScores> {
        let f = &self.file;
        Head::raw_features(&self.prototypes, embeddings)
            .into_iter()
            .map(|mut x| {
                standardise(&mut x, &f.feature_mean, &f.feature_scale);
                apply(&x, &f.on_topic, f.topic_heads.iter().map(|t| &t.model), &f.stance)
            })
            .collect()
    }
}
