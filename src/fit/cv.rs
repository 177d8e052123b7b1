//! Cross-validation by debate: fold assignments (repeated on request), the candidate heads and
//! how each is fitted on a fold's training rows and scores its held-out rows, the lexical models
//! and decodings tried on the chosen head, the off-topic listing rule read from the labels, and
//! the nested estimates of choosing among them.

use std::collections::BTreeMap;

use ndarray::{Array2, Axis};
use rayon::prelude::*;

use crate::aggregate::{self, Listing};
use crate::evaluate::{self, Labels, Report};
use crate::score::head::{self, standardise};
use crate::score::lexical::{Lexical, Vocabulary};
use crate::score::linear::{Logistic, Multinomial};
use crate::score::stance::{self, Pool, Sentence, StanceReading};
use crate::score::{finish_chunk, ChunkScores, SentenceEmbedding};
use crate::taxonomy::STANCE_CLASSES;

use super::data::{gold_labels, to_labels, Example, ExampleFeatures};
use super::report::Figures;
use super::solver::{balanced, fit_logistic, fit_softmax, standardise_columns};

/// Which features a head sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Features {
    /// The chunk embedding alone (what a notebook would do).
    Embedding,
    /// The similarities to the label prototypes alone.
    Prototypes,
    /// Both.
    Both,
}

impl Features {
    pub const ALL: [Features; 3] = [Features::Embedding, Features::Prototypes, Features::Both];

    pub fn name(self) -> &'static str {
        match self {
            Features::Embedding => "embedding",
            Features::Prototypes => "prototypes",
            Features::Both => "embedding+prototypes",
        }
    }

    /// Keeps the selected part of a raw row (`dim` = embedding width); zeroes the rest, so every
    /// head has the same width and applies to raw rows unchanged.
    pub(crate) fn mask(self, row: &[f64], dim: usize) -> Vec<f64> {
        row.iter()
            .enumerate()
            .map(|(i, &v)| match self {
                Features::Embedding if i >= dim => 0.0,
                Features::Prototypes if i < dim => 0.0,
                _ => v,
            })
            .collect()
    }
}

/// Regularisation strengths cross-validation chooses from.
pub(crate) const L2_GRID: [f64; 4] = [1e-3, 1e-2, 1e-1, 1.0];

/// Settings of one candidate head.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub features: Features,
    pub taxonomy_examples: bool,
    pub l2: f64,
    /// Weight of the two best sentences in a chunk's topic scores (`score::mix_sentences`).
    pub sentence_weight: f64,
    /// How those sentences are embedded.
    pub sentence_embedding: SentenceEmbedding,
}

impl Candidate {
    /// The settings `fit` chose for a head, as its file records them (`settings` and the
    /// sentence fields), so a head's choices can be fitted again on other features (`tune
    /// --cross-validate`). Heads whose settings lack a field are refused, naming it.
    pub fn of_head(file: &head::HeadFile, path: &std::path::Path) -> Result<Candidate, crate::error::Error> {
        let missing = |what: &str| crate::error::Error::Head {
            path: path.to_path_buf(),
            what: format!("its settings carry no `{what}` (a head written by `parlscan fit` records it); refit it with `parlscan fit`"),
        };
        let s = &file.settings;
        let name = s["features"].as_str().ok_or_else(|| missing("features"))?;
        let features = Features::ALL.into_iter().find(|f| f.name() == name).ok_or_else(|| missing("features"))?;
        Ok(Candidate {
            features,
            taxonomy_examples: s["taxonomy_examples"].as_bool().ok_or_else(|| missing("taxonomy_examples"))?,
            l2: s["l2"].as_f64().ok_or_else(|| missing("l2"))?,
            sentence_weight: file.sentence_weight,
            sentence_embedding: file.sentence_embedding,
        })
    }

    pub(crate) fn name(&self) -> String {
        format!(
            "head: {}{}{}, l2 {}",
            self.features.name(),
            if self.taxonomy_examples {
                " + training examples"
            } else {
                ""
            },
            if self.sentence_weight > 0.0 {
                format!(
                    " + sentences {} {}",
                    self.sentence_embedding.name(),
                    self.sentence_weight
                )
            } else {
                String::new()
            },
            self.l2
        )
    }
}

/// Sentence weights tried on the best head of each kind of features (0: chunk scores alone), with
/// each way of embedding sentences.
pub(crate) const SENTENCE_WEIGHTS: [f64; 2] = [0.3, 0.5];
pub(crate) const SENTENCE_EMBEDDINGS: [SentenceEmbedding; 2] =
    [SentenceEmbedding::Context, SentenceEmbedding::Alone];

/// Heads fitted on some rows (features already masked and standardised).
pub(crate) struct Fitted {
    pub(crate) on_topic: Logistic,
    pub(crate) topics: Vec<Logistic>,
    pub(crate) stance: Multinomial,
}

pub(crate) fn fit_heads(
    x: &Array2<f64>,
    examples: &[&Example],
    n_topics: usize,
    l2: f64,
) -> Fitted {
    let select = |rows: &[usize]| x.select(Axis(0), rows);
    let binary = |rows: Vec<usize>, label: &dyn Fn(usize) -> bool| {
        let y: Vec<usize> = rows.iter().map(|&i| usize::from(label(i))).collect();
        let w = balanced(&y, 2);
        let yf: Vec<f64> = y.iter().map(|&c| c as f64).collect();
        fit_logistic(&select(&rows).view(), &yf, &w, l2)
    };
    let on_rows: Vec<usize> = (0..examples.len())
        .filter(|&i| examples[i].on_topic.is_some())
        .collect();
    let on_topic = binary(on_rows, &|i| examples[i].on_topic == Some(true));
    let topic_rows: Vec<usize> = (0..examples.len())
        .filter(|&i| examples[i].topics.is_some())
        .collect();
    let topics = (0..n_topics)
        .map(|t| {
            binary(topic_rows.clone(), &|i| {
                examples[i].topics.as_ref().is_some_and(|v| v[t])
            })
        })
        .collect();
    let stance_rows: Vec<usize> = (0..examples.len())
        .filter(|&i| examples[i].stance.is_some())
        .collect();
    let y: Vec<usize> = stance_rows
        .iter()
        .map(|&i| examples[i].stance.expect("filtered"))
        .collect();
    let stance = fit_softmax(
        &select(&stance_rows).view(),
        &y,
        STANCE_CLASSES.len(),
        &balanced(&y, STANCE_CLASSES.len()),
        l2,
    );
    Fitted {
        on_topic,
        topics,
        stance,
    }
}

/// Assigns groups to folds: groups sorted by name, shuffled with a seed, dealt round-robin.
/// `repeat` 0 is the assignment every figure so far was measured on; each other `repeat` gives
/// another, fixed, assignment (repeated cross-validation).
pub fn folds(groups: &[String], k: usize, repeat: u64) -> Vec<usize> {
    let mut names: Vec<&String> = groups.iter().collect();
    names.sort();
    names.dedup();
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    if repeat > 0 {
        // splitmix64 of the repeat: a well-mixed, never-zero xorshift state.
        let mut z = repeat.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        state = (z ^ (z >> 31)) | 1;
    }
    for i in (1..names.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        names.swap(i, (state % (i as u64 + 1)) as usize);
    }
    let fold_of: BTreeMap<&String, usize> =
        names.iter().enumerate().map(|(i, g)| (*g, i % k)).collect();
    groups.iter().map(|g| fold_of[g]).collect()
}

/// Each example's fold under assignment `repeat`: `None` for rows without a group (training
/// only, never scored).
pub fn fold_assignment(examples: &[Example], k: usize, repeat: u64) -> Vec<Option<usize>> {
    let groups: Vec<String> = examples.iter().filter_map(|e| e.group.clone()).collect();
    let mut assigned = folds(&groups, k, repeat).into_iter();
    examples
        .iter()
        .map(|e| {
            e.group
                .as_ref()
                .map(|_| assigned.next().expect("one per group"))
        })
        .collect()
}

/// Out-of-fold speech scores of the scored rows (those with a group), for one candidate.
pub fn cross_validate(
    cand: Candidate,
    examples: &[Example],
    features: &[ExampleFeatures],
    fold_of: &[Option<usize>],
    k: usize,
    dim: usize,
    n_topics: usize,
) -> Vec<(usize, Vec<ChunkScores>)> {
    held_out(cand, examples, features, fold_of, k, dim, n_topics, StanceModel::Texts, |score, f| {
        score_example(score, f, cand.sentence_embedding, cand.sentence_weight)
    })
}

/// Which stance model scores the held-out rows: the head's (fitted on texts), or one fitted on
/// sentences ([`fit_sentence_stance`]).
#[derive(Clone, Copy, PartialEq)]
enum StanceModel {
    Texts,
    Sentences,
}

/// Out-of-fold scores of each scored row's sentences, in order (a one-sentence chunk is its
/// own sentence), embedded as the candidate embeds them, their stance from a sentence stance
/// model fitted on the same folds ([`fit_sentence_stance`]): what a stance reading pools.
pub(crate) fn sentence_oof(
    cand: Candidate,
    examples: &[Example],
    features: &[ExampleFeatures],
    fold_of: &[Option<usize>],
    k: usize,
    dim: usize,
    n_topics: usize,
) -> Vec<(usize, Vec<ChunkScores>)> {
    held_out(cand, examples, features, fold_of, k, dim, n_topics, StanceModel::Sentences, |score, f| {
        score_sentences(score, f, cand.sentence_embedding)
    })
}

/// A stance model on sentences (`head::SentenceStance`), fitted on the sentences of `rows` that
/// carry a stance label, each sentence in the speaker's own voice (`voice::reported`) taking its
/// text's stance, embedded as the candidate embeds sentences (a one-sentence chunk is its own
/// sentence); the weights of the candidate's masked-out features are 0. `None` if no row has a
/// stance label.
pub(crate) fn fit_sentence_stance(
    cand: Candidate,
    rows: &[usize],
    examples: &[Example],
    features: &[ExampleFeatures],
    dim: usize,
) -> Option<head::SentenceStance> {
    let mut x_rows: Vec<Vec<f64>> = Vec::new();
    let mut y = Vec::new();
    for &i in rows {
        let Some(stance) = examples[i].stance else { continue };
        let f = &features[i];
        for (row, &reported) in sentence_rows(f, cand.sentence_embedding).zip(f.reported.iter().flatten()) {
            if !reported {
                x_rows.push(cand.features.mask(row, dim));
                y.push(stance);
            }
        }
    }
    let width = x_rows.first()?.len();
    let mut x = Array2::from_shape_vec((x_rows.len(), width), x_rows.concat()).expect("rows of one width");
    let (mean, scale) = standardise_columns(&mut x);
    let k = STANCE_CLASSES.len();
    let model = fit_softmax(&x.view(), &y, k, &balanced(&y, k), cand.l2);
    let model = Multinomial { weights: model.weights.iter().map(|w| cand.features.mask(w, dim)).collect(), bias: model.bias };
    Some(head::SentenceStance { feature_mean: mean, feature_scale: scale, model })
}

/// One example's sentence scores, in order, under a head's models (`score` maps a raw feature row
/// to its scores): each multi-sentence chunk's sentences, embedded as `sentence_embedding` says,
/// and each one-sentence chunk as its own sentence, as `classify` takes them for a stance reading.
pub fn score_sentences(score: &dyn Fn(&[f64]) -> ChunkScores, f: &ExampleFeatures, sentence_embedding: SentenceEmbedding) -> Vec<ChunkScores> {
    sentence_rows(f, sentence_embedding).map(|row| score(row)).collect()
}

/// An example's sentence feature rows, in order: each multi-sentence chunk's sentences, embedded
/// as `sentence_embedding` says, and each one-sentence chunk as its own sentence (in step with
/// `ExampleFeatures::reported`, flattened).
fn sentence_rows(f: &ExampleFeatures, sentence_embedding: SentenceEmbedding) -> impl Iterator<Item = &Vec<f64>> {
    f.chunks
        .iter()
        .zip(f.sentences(sentence_embedding))
        .flat_map(|(chunk, sentences)| if sentences.is_empty() { std::slice::from_ref(chunk) } else { &sentences[..] })
}

/// For each fold, fits the candidate on the other folds and calls `each` on every held-out row
/// with the fitted models' scoring of a raw feature row (its stance from `stance`'s model).
#[allow(clippy::too_many_arguments)]
fn held_out<T>(
    cand: Candidate,
    examples: &[Example],
    features: &[ExampleFeatures],
    fold_of: &[Option<usize>],
    k: usize,
    dim: usize,
    n_topics: usize,
    stance: StanceModel,
    each: impl Fn(&dyn Fn(&[f64]) -> ChunkScores, &ExampleFeatures) -> T,
) -> Vec<(usize, T)> {
    let mut out = Vec::new();
    for fold in 0..k {
        let train = training_rows(fold_of, fold, cand.taxonomy_examples);
        let (fitted, mean, scale) = fit_on(cand, &train, examples, features, dim, n_topics);
        let sentence_stance = (stance == StanceModel::Sentences)
            .then(|| fit_sentence_stance(cand, &train, examples, features, dim))
            .flatten();
        let score = |row: &[f64]| {
            let mut x = cand.features.mask(row, dim);
            standardise(&mut x, &mean, &scale);
            let mut scores = head::apply(&x, &fitted.on_topic, fitted.topics.iter(), &fitted.stance);
            if let Some(m) = &sentence_stance {
                scores.stance = m.probs(row);
            }
            scores
        };
        for i in (0..examples.len()).filter(|&i| fold_of[i] == Some(fold)) {
            out.push((i, each(&score, &features[i])));
        }
    }
    out
}

/// Out-of-fold chunk scores with each speech's stance read under `reading` by
/// `score::stance::apply`, as `classify` reads it: from its out-of-fold sentence scores
/// (`sentences`, as [`sentence_oof`] gives them, in the same row order), which of its sentences
/// are reported (`features`), and its out-of-fold lexical stance (`lexical`, per row; a row
/// without one, where a fold had no stance rows to fit it on, is read without it).
pub fn with_stance(
    oof: &OutOfFold,
    sentences: &OutOfFold,
    features: &[ExampleFeatures],
    lexical: Option<&[Option<Vec<f64>>]>,
    reading: &StanceReading,
) -> OutOfFold {
    oof.iter()
        .zip(sentences)
        .map(|((i, chunks), (j, sentences))| {
            debug_assert_eq!(i, j, "the same rows in the same order");
            let reported = features[*i].reported.iter().flatten();
            let sentences: Vec<Sentence<'_>> =
                sentences.iter().zip(reported).map(|(scores, &reported)| Sentence { scores, reported }).collect();
            let lexical = lexical.and_then(|l| l[*i].as_deref());
            (*i, stance::apply(chunks, &sentences, lexical, reading))
        })
        .collect()
}

/// One example's chunk scores under a head's models (`score` maps a raw feature row to its
/// scores): each chunk finished with its sentences' scores by `score::finish_chunk`, as `classify`
/// finishes it (lexical probabilities are mixed in later, by [`with_lexical`], through the same
/// function).
pub fn score_example(
    score: &dyn Fn(&[f64]) -> ChunkScores,
    f: &ExampleFeatures,
    sentence_embedding: SentenceEmbedding,
    sentence_weight: f64,
) -> Vec<ChunkScores> {
    f.chunks
        .iter()
        .zip(f.sentences(sentence_embedding))
        .map(|(row, sentences)| {
            let sentences: Vec<ChunkScores> = if sentence_weight > 0.0 { sentences.iter().map(|r| score(r)).collect() } else { Vec::new() };
            finish_chunk(score(row), &sentences, sentence_weight, None)
        })
        .collect()
}

/// The rows a fold trains on: the other folds' scored rows, and the training-only rows (those
/// without a fold) when `with_extra` says so.
pub(crate) fn training_rows(
    fold_of: &[Option<usize>],
    fold: usize,
    with_extra: bool,
) -> Vec<usize> {
    (0..fold_of.len())
        .filter(|&i| match fold_of[i] {
            Some(f) => f != fold,
            None => with_extra,
        })
        .collect()
}

/// Lexical settings cross-validation chooses from: the models' L2 strength (about scikit-learn's
/// C 100, 30 and 10 at this data's size) and their weight in the topic scores.
pub(crate) const LEXICAL_L2: [f64; 3] = [3e-5, 1e-4, 3e-4];
pub(crate) const LEXICAL_WEIGHTS: [f64; 2] = [0.3, 0.5];

/// Fits lexical topic models (`score::lexical`) on the given rows that are labelled for topics:
/// vocabulary and idf from those rows' `terms`, then one class-weighted logistic per topic.
pub fn fit_lexical(
    terms: &[Vec<String>],
    examples: &[Example],
    rows: &[usize],
    n_topics: usize,
    l2: f64,
    weight: f64,
) -> Lexical {
    let rows: Vec<usize> = rows
        .iter()
        .copied()
        .filter(|&i| examples[i].topics.is_some())
        .collect();
    let docs: Vec<&[String]> = rows.iter().map(|&i| terms[i].as_slice()).collect();
    let mut lex = Lexical::new(weight, Vocabulary::of(&docs), Vec::new());
    let x = lex.vocabulary.matrix(&docs);
    lex.topics = (0..n_topics)
        .into_par_iter()
        .map(|t| {
            let y: Vec<usize> = rows
                .iter()
                .map(|&i| usize::from(examples[i].topics.as_ref().is_some_and(|v| v[t])))
                .collect();
            let yf: Vec<f64> = y.iter().map(|&c| c as f64).collect();
            fit_logistic(&x, &yf, &balanced(&y, 2), l2)
        })
        .collect();
    lex
}

/// Fits `lex`'s lexical stance model on the given rows: a vocabulary of their `stance_terms`
/// (`lexical::stance_terms`; built on the rows labelled for topics, on-topic or stance),
/// then a class-weighted multinomial logistic model on the TF-IDF vectors of the rows that carry
/// a stance (none without such rows).
pub fn fit_lexical_stance(lex: &mut Lexical, stance_terms: &[Vec<String>], examples: &[Example], rows: &[usize], l2: f64) {
    let stance_rows: Vec<usize> = rows.iter().copied().filter(|&i| examples[i].stance.is_some()).collect();
    if stance_rows.is_empty() {
        (lex.stance, lex.stance_vocabulary) = (None, None);
        return;
    }
    let docs: Vec<&[String]> = rows
        .iter()
        .filter(|&&i| examples[i].topics.is_some() || examples[i].on_topic.is_some() || examples[i].stance.is_some())
        .map(|&i| stance_terms[i].as_slice())
        .collect();
    let vocabulary = Vocabulary::of(&docs);
    let docs: Vec<&[String]> = stance_rows.iter().map(|&i| stance_terms[i].as_slice()).collect();
    let y: Vec<usize> = stance_rows.iter().map(|&i| examples[i].stance.expect("filtered")).collect();
    let x = vocabulary.matrix(&docs);
    lex.stance_vocabulary = Some(vocabulary);
    lex.stance = Some(fit_softmax(&x, &y, STANCE_CLASSES.len(), &balanced(&y, STANCE_CLASSES.len()), l2));
}

/// Per row, its out-of-fold lexical probabilities (`None` for rows never scored).
pub type LexicalOof = Vec<Option<Vec<f64>>>;

/// Out-of-fold lexical stance distributions under one fold assignment, per row (`None` for rows
/// never scored): per fold, a stance model `fit_lexical_stance` fits on its training rows.
pub(crate) fn lexical_stance_oof(
    stance_terms: &[Vec<String>],
    examples: &[Example],
    fold_of: &[Option<usize>],
    k: usize,
    with_extra: bool,
    l2: f64,
) -> LexicalOof {
    let fit = |train: &[usize]| {
        let mut lex = Lexical::new(0.0, Vocabulary::default(), Vec::new());
        fit_lexical_stance(&mut lex, stance_terms, examples, train, l2);
        lex
    };
    lexical_folds(fold_of, k, with_extra, fit, |lex, i| lex.stance_of_terms(&stance_terms[i]))
}

/// Out-of-fold lexical topic probabilities under one fold assignment, per row (`None` for rows
/// never scored).
pub(crate) fn lexical_oof(
    terms: &[Vec<String>],
    examples: &[Example],
    fold_of: &[Option<usize>],
    k: usize,
    with_extra: bool,
    n_topics: usize,
    l2: f64,
) -> LexicalOof {
    let fit = |train: &[usize]| fit_lexical(terms, examples, train, n_topics, l2, 0.0);
    lexical_folds(fold_of, k, with_extra, fit, |lex, i| Some(lex.probs_of_terms(&terms[i])))
}

/// For each fold, lexical models fitted (`fit`) on its training rows score (`score`) its held-out
/// rows; one entry per row, `None` for rows never scored.
fn lexical_folds(
    fold_of: &[Option<usize>],
    k: usize,
    with_extra: bool,
    fit: impl Fn(&[usize]) -> Lexical,
    score: impl Fn(&Lexical, usize) -> Option<Vec<f64>>,
) -> LexicalOof {
    let mut out = vec![None; fold_of.len()];
    for fold in 0..k {
        let lex = fit(&training_rows(fold_of, fold, with_extra));
        for i in (0..fold_of.len()).filter(|&i| fold_of[i] == Some(fold)) {
            out[i] = score(&lex, i);
        }
    }
    out
}

/// Out-of-fold chunk scores with each speech's out-of-fold lexical probabilities mixed in.
pub fn with_lexical(oof: &OutOfFold, lex: &[Option<Vec<f64>>], weight: f64) -> OutOfFold {
    oof.iter()
        .map(|(i, chunks)| {
            let p = lex[*i]
                .as_ref()
                .expect("every scored row has lexical scores");
            (*i, chunks.iter().map(|c| finish_chunk(c.clone(), &[], 0.0, Some((p, weight)))).collect())
        })
        .collect()
}

/// Stance readings cross-validation chooses from (`score::stance::StanceReading`): the share of
/// the most stance-bearing sentences and how many (pooled by their mean or geometric mean), how
/// much a reported sentence counts, and the
/// share of a lexical stance model (fitted at one of `LEXICAL_L2`). Shares that add up to more
/// than 1 are skipped. Among readings that score the same, the earlier wins, so the reported
/// weights run from the speaker's own voice alone to reported speech counted in full.
pub(crate) const STANCE_SENTENCE_WEIGHTS: [f64; 4] = [0.25, 0.5, 0.75, 1.0];
pub(crate) const STANCE_SENTENCES: [usize; 3] = [1, 2, 4];
pub(crate) const REPORTED_WEIGHTS: [f64; 3] = [0.0, 0.25, 1.0];
pub(crate) const STANCE_LEXICAL_WEIGHTS: [f64; 3] = [0.2, 0.35, 0.5];

/// Every stance reading tried, the plain one (chunk average) first, with the lexical L2 of those
/// that mix in a lexical stance model.
pub(crate) fn stance_readings() -> Vec<(StanceReading, Option<f64>)> {
    let plain = StanceReading { sentence_weight: 0.0, sentences: 1, reported_weight: 1.0, lexical_weight: 0.0, pool: Pool::Mean };
    let mut sentence = vec![plain];
    for sentence_weight in STANCE_SENTENCE_WEIGHTS {
        for sentences in STANCE_SENTENCES {
            for reported_weight in REPORTED_WEIGHTS {
                // One sentence pools the same either way.
                let pools: &[Pool] = if sentences == 1 { &[Pool::Mean] } else { &[Pool::Mean, Pool::Geometric] };
                for &pool in pools {
                    sentence.push(StanceReading { sentence_weight, sentences, reported_weight, pool, ..plain });
                }
            }
        }
    }
    let mut lexical = vec![(0.0, None)];
    for l2 in LEXICAL_L2 {
        lexical.extend(STANCE_LEXICAL_WEIGHTS.map(|w| (w, Some(l2))));
    }
    let mut out = Vec::new();
    for (lexical_weight, l2) in lexical {
        for r in &sentence {
            if r.sentence_weight + lexical_weight <= 1.0 + 1e-12 {
                out.push((StanceReading { lexical_weight, ..*r }, l2));
            }
        }
    }
    out
}

/// How a head's chunk scores become labels beyond the chosen variant: lexical models mixed into
/// the topic scores (`(l2, weight)`), and how many topics an on-topic speech lists at least, its
/// strongest, whatever their thresholds (`aggregate::Listing::min_topics`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Decoding {
    pub(crate) lexical: Option<(f64, f64)>,
    pub(crate) min_topics: usize,
}

/// The `min_topics` cross-validation chooses from. Most labelled on-topic speeches carry two or
/// more topics (dev.csv: 36 of 45), more than a head's thresholds alone tend to list.
pub(crate) const MIN_TOPICS: [usize; 4] = [0, 1, 2, 3];

impl Decoding {
    pub(crate) fn listing(&self, off_topic: &[bool]) -> Listing {
        Listing {
            min_topics: self.min_topics,
            off_topic: off_topic.to_vec(),
        }
    }

    pub(crate) fn name(&self) -> String {
        let mut parts = Vec::new();
        if let Some((l2, weight)) = self.lexical {
            parts.push(format!("lexical {weight} (l2 {l2})"));
        }
        match self.min_topics {
            0 => {}
            1 => parts.push("at least one topic".to_string()),
            n => parts.push(format!("at least {n} topics")),
        }
        format!("  + {}", parts.join(" + "))
    }
}

/// Fits heads on the given rows; returns them with the standardisation used.
pub(crate) fn fit_on(
    cand: Candidate,
    rows: &[usize],
    examples: &[Example],
    features: &[ExampleFeatures],
    dim: usize,
    n_topics: usize,
) -> (Fitted, Vec<f64>, Vec<f64>) {
    let width = features[rows[0]].chunks[0].len();
    let mut x = Array2::<f64>::zeros((rows.len(), width));
    for (r, &i) in rows.iter().enumerate() {
        let chunks = &features[i].chunks;
        for row in chunks {
            let masked = cand.features.mask(row, dim);
            for (c, v) in masked.iter().enumerate() {
                x[[r, c]] += v / chunks.len() as f64;
            }
        }
    }
    let (mean, scale) = standardise_columns(&mut x);
    let picked: Vec<&Example> = rows.iter().map(|&i| &examples[i]).collect();
    (fit_heads(&x, &picked, n_topics, cand.l2), mean, scale)
}

/// Evaluates out-of-fold chunk scores at the given thresholds.
pub(crate) fn report(
    oof: &[(usize, Vec<ChunkScores>)],
    examples: &[Example],
    names: &[&str],
    thresholds: &[f64],
    listing: &Listing,
) -> Report {
    let (gold, pred): (Vec<Labels>, Vec<Labels>) = oof
        .iter()
        .map(|(i, chunks)| {
            let labels = to_labels(&aggregate::speech(chunks, thresholds, 0.5, listing), names);
            (gold_labels(&examples[*i], names), labels)
        })
        .unzip();
    evaluate::compare(&gold, &pred)
}

/// The headline figures: on-topic F1, topic micro-F1, stance macro-F1, stance accuracy.
pub fn headline(r: &Report) -> Figures {
    [r.on_topic.f1, r.topic_micro_f1, r.stance_macro_f1, r.stance_accuracy]
}

/// What makes a topic listed on off-topic speeches too: at least this many labelled off-topic
/// speeches carry it, and at least this share of the labelled speeches that carry it are off topic.
pub(crate) const OFF_TOPIC_MIN: usize = 2;
pub(crate) const OFF_TOPIC_SHARE: f64 = 0.1;

/// Per topic: do the labels of `rows` give it to off-topic speeches (stance `none`) often enough
/// to be a convention rather than a slip (`OFF_TOPIC_MIN`, `OFF_TOPIC_SHARE`)? Gold labels in
/// ../shared/data/dev.csv do so for online safety: a speech on online-safety duties with no
/// surveillance in it is `online_safety`, stance `none`.
pub(crate) fn off_topic_topics(examples: &[Example], rows: &[usize], n_topics: usize) -> Vec<bool> {
    (0..n_topics)
        .map(|t| {
            let (mut off, mut all) = (0, 0);
            for e in rows.iter().map(|&i| &examples[i]) {
                if let (Some(on), Some(topics)) = (e.on_topic, &e.topics) {
                    if topics[t] {
                        all += 1;
                        off += usize::from(!on);
                    }
                }
            }
            off >= OFF_TOPIC_MIN && off as f64 >= OFF_TOPIC_SHARE * all as f64
        })
        .collect()
}

/// Out-of-fold scores: each scored row with its chunks' scores.
pub type OutOfFold = Vec<(usize, Vec<ChunkScores>)>;

/// Figures when a variant (a decoding: lexical models, minimum number of topics; or a stance
/// reading), each given as its listing and out-of-fold scores, is itself chosen on the other
/// folds' out-of-fold scores (the best `criterion` there; the earlier among equals) and applied
/// to the held-out fold: an honest estimate of what choosing it by cross-validation gains.
pub(crate) fn nested_choice_figures(
    candidates: &[(Listing, &OutOfFold)],
    criterion: impl Fn(&Report) -> f64,
    examples: &[Example],
    names: &[&str],
    fold_of: &[Option<usize>],
    k: usize,
) -> Figures {
    let half = vec![0.5; names.len()];
    let (mut gold, mut pred) = (Vec::new(), Vec::new());
    for fold in 0..k {
        let held = |i: usize| fold_of[i] == Some(fold);
        let (listing, oof, _) = candidates
            .iter()
            .map(|(listing, oof)| {
                let rest: Vec<(usize, Vec<ChunkScores>)> =
                    oof.iter().filter(|(i, _)| !held(*i)).cloned().collect();
                (listing, oof, criterion(&report(&rest, examples, names, &half, listing)))
            })
            .reduce(|best, x| if x.2 > best.2 + 1e-12 { x } else { best })
            .expect("at least one variant");
        for (i, chunks) in oof.iter().filter(|(i, _)| held(*i)) {
            gold.push(gold_labels(&examples[*i], names));
            pred.push(to_labels(&aggregate::speech(chunks, &half, 0.5, listing), names));
        }
    }
    headline(&evaluate::compare(&gold, &pred))
}

/// One candidate's out-of-fold scores under each fold assignment, and its figures.
pub(crate) struct Repeated {
    pub(crate) oofs: Vec<Vec<(usize, Vec<ChunkScores>)>>,
    pub(crate) per_repeat: Vec<Figures>,
    /// Means over the assignments.
    pub(crate) figures: Figures,
}

impl Repeated {
    pub(crate) fn new(
        oofs: Vec<Vec<(usize, Vec<ChunkScores>)>>,
        figures_of: impl Fn(&[(usize, Vec<ChunkScores>)]) -> Figures,
    ) -> Self {
        let per_repeat: Vec<Figures> = oofs.iter().map(|o| figures_of(o)).collect();
        Repeated {
            figures: mean_figures(&per_repeat),
            per_repeat,
            oofs,
        }
    }

    /// Figures computed from each assignment's out-of-fold scores; keeps no scores.
    pub(crate) fn per_assignment(
        oofs: &[Vec<(usize, Vec<ChunkScores>)>],
        assignments: &[Vec<Option<usize>>],
        figures_of: impl Fn(&[(usize, Vec<ChunkScores>)], &[Option<usize>]) -> Figures,
    ) -> Self {
        let per_repeat: Vec<Figures> = oofs
            .iter()
            .zip(assignments)
            .map(|(o, a)| figures_of(o, a))
            .collect();
        Repeated {
            figures: mean_figures(&per_repeat),
            per_repeat,
            oofs: Vec::new(),
        }
    }

    /// Whether this candidate ranks above `best`: a higher mean of the first three figures
    /// (on-topic F1, topic micro-F1, stance macro-F1). Among equals the earlier (simpler)
    /// candidate stays.
    pub(crate) fn beats(&self, best: &Repeated) -> bool {
        let mean = |r: &Repeated| r.figures[..3].iter().sum::<f64>() / 3.0;
        mean(self) > mean(best) + 1e-12
    }
}

pub(crate) fn mean_figures(per_repeat: &[Figures]) -> Figures {
    let n = per_repeat.len().max(1) as f64;
    std::array::from_fn(|k| per_repeat.iter().map(|f| f[k]).sum::<f64>() / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sentence_stance_model_learns_from_the_speakers_own_sentences_not_from_quotations() {
        // Texts of one chunk with two sentences: the speaker's own, whose first feature says the
        // text's stance (+ pro_powers, − anti_powers), then a quotation saying the opposite.
        let example = |stance| Example { text: String::new(), on_topic: Some(true), topics: Some(Vec::new()), stance: Some(stance), group: None };
        let features = |x: f64| ExampleFeatures {
            chunks: vec![vec![0.0, 0.0]],
            sentences: vec![vec![vec![x, 0.0], vec![-x, 0.0]]],
            sentences_alone: vec![Vec::new()],
            reported: vec![vec![false, true]],
        };
        let examples = vec![example(0), example(1), example(0), example(1)];
        let rows = vec![features(1.0), features(-1.0), features(1.2), features(-0.8)];
        let cand = Candidate { features: Features::Both, taxonomy_examples: true, l2: 0.01, sentence_weight: 0.0, sentence_embedding: SentenceEmbedding::Context };
        let m = fit_sentence_stance(cand, &[0, 1, 2, 3], &examples, &rows, 1).expect("stance-labelled rows");
        let (pro, anti) = (m.probs(&[1.0, 0.0]), m.probs(&[-1.0, 0.0]));
        assert!(pro[0] > 0.5 && pro[1] < 0.2, "{pro:?}");
        assert!(anti[1] > 0.5 && anti[0] < 0.2, "{anti:?}");
        // Rows without a stance label train no model.
        let unlabelled = vec![Example { stance: None, ..example(0) }];
        assert!(fit_sentence_stance(cand, &[0], &unlabelled, &rows, 1).is_none());
    }

    #[test]
    fn lexical_models_learn_each_topics_terms() {
        let example = |text: &str, t0: bool, t1: bool| Example {
            text: text.to_string(),
            on_topic: Some(t0 || t1),
            topics: Some(vec![t0, t1]),
            stance: None,
            group: None,
        };
        let examples = vec![
            example("Encryption backdoors weaken every phone.", true, false),
            example("A backdoor in encryption helps criminals too.", true, false),
            example(
                "Bulk interception sweeps up everyone's messages.",
                false,
                true,
            ),
            example(
                "The bulk interception regime lacks safeguards.",
                false,
                true,
            ),
            example("Hospital waiting lists keep growing.", false, false),
            example(
                "Waiting lists for hospital beds are too long.",
                false,
                false,
            ),
        ];
        let terms: Vec<Vec<String>> = examples.iter().map(|e| crate::score::lexical::terms(&e.text)).collect();
        let lex = fit_lexical(&terms, &examples, &[0, 1, 2, 3, 4, 5], 2, 1e-3, 0.5);
        assert!(
            lex.vocabulary.terms.contains(&"bulk interception".to_string())
                && !lex.vocabulary.terms.contains(&"safeguards".to_string()),
            "{:?}",
            lex.vocabulary.terms
        );
        let p = lex.probs("Will the Minister rule out an encryption backdoor?");
        assert!(p[0] > 0.5 && p[1] < 0.5, "{p:?}");
        let p = lex.probs("Bulk interception must end.");
        assert!(p[0] < 0.5 && p[1] > 0.5, "{p:?}");
        let p = lex.probs("The hospital waiting lists.");
        assert!(p[0] < 0.5 && p[1] < 0.5, "{p:?}");
    }

    #[test]
    fn a_topic_is_listed_off_topic_when_its_labels_often_put_it_on_off_topic_speeches() {
        let example = |on: bool, t0: bool, t1: bool| Example {
            text: String::new(),
            on_topic: Some(on),
            topics: Some(vec![t0, t1]),
            stance: on.then_some(0),
            group: None,
        };
        // Topic 0: 2 of its 10 speeches off topic (20%). Topic 1: 1 of 3 (one slip is not a convention).
        let mut rows: Vec<Example> = (0..8).map(|_| example(true, true, false)).collect();
        rows.extend([
            example(false, true, false),
            example(false, true, true),
            example(true, false, true),
            example(true, false, true),
        ]);
        rows.push(Example {
            on_topic: None,
            topics: None,
            stance: None,
            ..example(false, false, false)
        });
        let all: Vec<usize> = (0..rows.len()).collect();
        assert_eq!(off_topic_topics(&rows, &all, 2), vec![true, false]);
        // Without one of topic 0's off-topic speeches it is a slip again.
        let some: Vec<usize> = all.iter().copied().filter(|&i| i != 8).collect();
        assert_eq!(off_topic_topics(&rows, &some, 2), vec![false, false]);
        // 2 of 21 is under 10%.
        rows.extend((0..11).map(|_| example(true, true, false)));
        let all: Vec<usize> = (0..rows.len()).collect();
        assert_eq!(off_topic_topics(&rows, &all, 2), vec![false, false]);
    }

    #[test]
    fn a_group_never_spans_two_folds() {
        let groups: Vec<String> = ["a", "b", "a", "c", "d", "b", "e"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for repeat in 0..4 {
            let f = folds(&groups, 3, repeat);
            assert_eq!(f[0], f[2]);
            assert_eq!(f[1], f[5]);
            assert!(f.iter().all(|&x| x < 3));
        }
    }

    #[test]
    fn repeats_give_other_fold_assignments_and_repeat_zero_stays_put() {
        let groups: Vec<String> = (0..40).map(|i| format!("debate {i}")).collect();
        let first = folds(&groups, 5, 0);
        assert_eq!(first, folds(&groups, 5, 0), "fixed");
        let others: Vec<Vec<usize>> = (1..4).map(|r| folds(&groups, 5, r)).collect();
        assert!(
            others.iter().all(|f| *f != first) && others[0] != others[1],
            "each repeat deals differently"
        );
        for f in std::iter::once(&first).chain(&others) {
            for fold in 0..5 {
                assert_eq!(
                    f.iter().filter(|&&x| x == fold).count(),
                    8,
                    "balanced folds"
                );
            }
        }
        // The assignment every earlier figure was measured on (repeat 0) is unchanged.
        assert_eq!(&first[..8], &[3, 1, 0, 3, 0, 2, 3, 2]);
    }
}
