//! `parlscan fit`: learns heads on top of the frozen encoder from labelled speeches (and, unless
//! told otherwise, the taxonomy's example statements), chooses regularisation, features and
//! per-topic thresholds by grouped cross-validation (repeated over several fold assignments on
//! request), tries lexical topic models and a minimum number of listed topics on the chosen
//! head, lists the topics the labels give to off-topic speeches on them too, and writes a head
//! file.
//!
//! Owns the logistic solvers (class-weighted, L2, Nesterov-accelerated gradient descent with
//! ndarray, on dense or sparse rows), fitting the lexical models, and the cross-validation.
//! Applying a head is `score/head.rs`'s job.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, ArrayBase, ArrayView2, Axis};
use rayon::prelude::*;

use crate::aggregate::{self, Listing};
use crate::batch;
use crate::score::SentenceEmbedding;
use crate::error::Error;
use crate::evaluate::{self, Labels, Report};
use crate::fingerprint;
use crate::score::head::{standardise, Head, HeadFile, Provenance, TopicHead, TrainingFile};
use crate::score::linear::{Logistic, Multinomial};
use crate::score::lexical::{self, Lexical};
use crate::score::prototypes::Prototypes;
use crate::score::{mix_sentences, ChunkScores, Scorer};
use crate::taxonomy::{Taxonomy, STANCE_CLASSES};
use crate::tokenize::WordPieces;
use crate::encoder::Encoder;

/// One training row. `None` means "not labelled for this head" (a taxonomy topic example says
/// nothing about stance, a stance example nothing about topics).
#[derive(Debug, Clone)]
pub struct Example {
    pub text: String,
    pub on_topic: Option<bool>,
    pub topics: Option<Vec<bool>>,
    /// Index into `STANCE_CLASSES`, for on-topic rows.
    pub stance: Option<usize>,
    /// Cross-validation group (the debate) for rows from training files; `None` for taxonomy rows,
    /// which are always trained on and never scored.
    pub group: Option<String>,
}

/// Reads labelled speeches: `text`, `topics` (`;`-joined), `stance`, and a group column.
pub fn read_training(path: &Path, text_col: &str, group_col: &str, taxonomy: &Taxonomy) -> Result<Vec<Example>, Error> {
    let bad = |what: String| Error::Input { path: path.to_path_buf(), what };
    let mut reader = ::csv::Reader::from_path(path).map_err(|e| Error::csv_read(path, e))?;
    let header: Vec<String> = reader.headers().map_err(|e| Error::csv_read(path, e))?.iter().map(String::from).collect();
    let need = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| bad(format!("no `{name}` column; the columns are: {}", header.join(", "))))
    };
    let (text_at, topics_at, stance_at) = (need(text_col)?, need("topics")?, need("stance")?);
    let group_at = header.iter().position(|h| h == group_col);
    let names = taxonomy.topic_names();
    let mut out = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let record = record.map_err(|e| Error::csv_read(path, e))?;
        let line = record.position().map_or(0, |p| p.line());
        let stance = record.get(stance_at).unwrap_or("").trim();
        let stance_ix = match stance {
            "none" => None,
            s => Some(STANCE_CLASSES.iter().position(|&c| c == s).ok_or_else(|| {
                bad(format!("line {line}: stance `{s}` is not one of {}, none", STANCE_CLASSES.join(", ")))
            })?),
        };
        let mut topics = vec![false; names.len()];
        for t in record.get(topics_at).unwrap_or("").split(';').map(str::trim).filter(|t| !t.is_empty()) {
            let i = names.iter().position(|n| *n == t).ok_or_else(|| {
                bad(format!("line {line}: topic `{t}` is not in the taxonomy ({})", names.join(", ")))
            })?;
            topics[i] = true;
        }
        let group = group_at.map_or_else(|| format!("row {row}"), |i| debate_key(record.get(i).unwrap_or("")));
        out.push(Example {
            text: record.get(text_at).unwrap_or("").to_string(),
            on_topic: Some(stance_ix.is_some()),
            topics: Some(topics),
            stance: stance_ix,
            group: Some(group),
        });
    }
    Ok(out)
}

/// The debate a source points at, so speeches of one debate land in one fold: HanDeSeT's
/// "debate id N", a Hansard `/debates/<ID>/` path, else the source without its `#fragment`.
pub fn debate_key(source: &str) -> String {
    if let Some(at) = source.find("debate id ") {
        let digits: String = source[at + 10..].chars().take_while(char::is_ascii_digit).collect();
        return format!("debate id {digits}");
    }
    if let Some(at) = source.find("/debates/") {
        let rest = &source[at + 9..];
        return rest.split(['/', '?', '#']).next().unwrap_or(rest).to_string();
    }
    source.split('#').next().unwrap_or(source).to_string()
}

/// The taxonomy's example statements as training rows.
pub fn taxonomy_examples(taxonomy: &Taxonomy) -> Vec<Example> {
    let n = taxonomy.topics.len();
    let row = |text: &str, on, topics, stance| Example { text: text.to_string(), on_topic: Some(on), topics, stance, group: None };
    let mut out = Vec::new();
    for (t, topic) in taxonomy.topics.iter().enumerate() {
        let mut one_hot = vec![false; n];
        one_hot[t] = true;
        out.extend(topic.examples.iter().map(|e| row(e, true, Some(one_hot.clone()), None)));
    }
    for (k, stance) in taxonomy.stances.iter().enumerate() {
        out.extend(stance.examples.iter().map(|e| row(e, true, None, Some(k))));
    }
    out.extend(taxonomy.on_topic.examples.iter().map(|e| row(e, true, None, None)));
    out.extend(taxonomy.off_topic.examples.iter().map(|e| row(e, false, Some(vec![false; n]), None)));
    out
}

/// Raw feature rows (embedding, then prototype similarities) of one example: per chunk, the
/// chunk's row and its sentences' rows, pooled in context and embedded alone (none for
/// one-sentence chunks).
#[derive(Debug, Clone, Default)]
pub struct ExampleFeatures {
    pub chunks: Vec<Vec<f64>>,
    pub sentences: Vec<Vec<Vec<f64>>>,
    pub sentences_alone: Vec<Vec<Vec<f64>>>,
}

impl ExampleFeatures {
    fn sentences(&self, mode: SentenceEmbedding) -> &[Vec<Vec<f64>>] {
        match mode {
            SentenceEmbedding::Context => &self.sentences,
            SentenceEmbedding::Alone => &self.sentences_alone,
        }
    }
}

/// Feature rows of every example, embedded the way `classify` embeds speeches; sentences are
/// also embedded alone when `alone` says so (about twice the model work).
pub fn chunk_features(
    examples: &[Example],
    words: &WordPieces,
    encoder: &dyn Encoder,
    prototypes: &Prototypes,
    alone: bool,
) -> Result<Vec<ExampleFeatures>, Error> {
    let segmented: Vec<_> = examples.iter().map(|e| words.segment(&e.text)).collect::<Result<_, _>>()?;
    let mut owners = Vec::new();
    let mut seqs: Vec<&[u32]> = Vec::new();
    let mut spans = Vec::new();
    for (i, seg) in segmented.iter().enumerate() {
        for c in &seg.chunks {
            owners.push(i);
            seqs.push(&c.ids);
            spans.push(if c.spans.len() > 1 { c.spans.clone() } else { Vec::new() });
        }
    }
    let (emb, span_emb) = batch::embed_all_with_spans(encoder, &seqs, &spans)?;
    let no_spans = vec![Vec::new(); seqs.len()];
    let alone_emb = batch::embed_sentences_alone(encoder, &seqs, if alone { &spans } else { &no_spans })?;
    let rows = Head::raw_features(prototypes, emb.view());
    let mut out = vec![ExampleFeatures::default(); examples.len()];
    for (((owner, row), sentences), alone) in owners.into_iter().zip(rows).zip(span_emb).zip(alone_emb) {
        out[owner].chunks.push(row);
        out[owner].sentences.push(Head::raw_features(prototypes, sentences.view()));
        out[owner].sentences_alone.push(Head::raw_features(prototypes, alone.view()));
    }
    Ok(out)
}

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
    pub fn name(self) -> &'static str {
        match self {
            Features::Embedding => "embedding",
            Features::Prototypes => "prototypes",
            Features::Both => "embedding+prototypes",
        }
    }

    /// Keeps the selected part of a raw row (`dim` = embedding width); zeroes the rest, so every
    /// head has the same width and applies to raw rows unchanged.
    fn mask(self, row: &[f64], dim: usize) -> Vec<f64> {
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
const L2_GRID: [f64; 4] = [1e-3, 1e-2, 1e-1, 1.0];

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
    fn name(&self) -> String {
        format!(
            "head: {}{}{}, l2 {}",
            self.features.name(),
            if self.taxonomy_examples { " + training examples" } else { "" },
            if self.sentence_weight > 0.0 {
                format!(" + sentences {} {}", self.sentence_embedding.name(), self.sentence_weight)
            } else {
                String::new()
            },
            self.l2
        )
    }
}

/// Sentence weights tried on the best head of each kind of features (0: chunk scores alone), with
/// each way of embedding sentences.
const SENTENCE_WEIGHTS: [f64; 2] = [0.3, 0.5];
const SENTENCE_EMBEDDINGS: [SentenceEmbedding; 2] = [SentenceEmbedding::Context, SentenceEmbedding::Alone];

/// The solver stops when no gradient component is larger than this, or after this many steps.
const GRADIENT_TOLERANCE: f64 = 1e-6;
const MAX_ITERATIONS: usize = 5000;

/// A design matrix the solvers multiply with: dense rows (embedding features) or sparse rows
/// (TF-IDF, `score::lexical`).
pub trait Design {
    fn dim(&self) -> (usize, usize);
    /// X · B, for B with one row per column of X.
    fn times(&self, b: ArrayView2<'_, f64>) -> Array2<f64>;
    /// Xᵀ · R, for R with one row per row of X.
    fn t_times(&self, r: ArrayView2<'_, f64>) -> Array2<f64>;
}

impl Design for ArrayView2<'_, f64> {
    fn dim(&self) -> (usize, usize) {
        ArrayBase::dim(self)
    }
    fn times(&self, b: ArrayView2<'_, f64>) -> Array2<f64> {
        self.dot(&b)
    }
    fn t_times(&self, r: ArrayView2<'_, f64>) -> Array2<f64> {
        self.t().dot(&r)
    }
}

impl Design for sprs::CsMat<f64> {
    fn dim(&self) -> (usize, usize) {
        self.shape()
    }
    fn times(&self, b: ArrayView2<'_, f64>) -> Array2<f64> {
        self * &b
    }
    fn t_times(&self, r: ArrayView2<'_, f64>) -> Array2<f64> {
        &self.transpose_view() * &r
    }
}

/// Class-weighted, L2-regularised binary logistic regression. Rows are standardised features;
/// `weights` are per-row sample weights.
pub fn fit_logistic(x: &impl Design, y: &[f64], weights: &[f64], l2: f64) -> Logistic {
    let yk: Vec<usize> = y.iter().map(|&v| usize::from(v > 0.5)).collect();
    let m = fit_softmax(x, &yk, 2, weights, l2);
    // A two-class softmax is a logistic on the difference of the class scores.
    let w: Vec<f64> = m.weights[1].iter().zip(&m.weights[0]).map(|(a, b)| a - b).collect();
    Logistic { weights: w, bias: m.bias[1] - m.bias[0] }
}

/// Class-weighted, L2-regularised multinomial logistic regression (bias not penalised), by
/// Nesterov-accelerated gradient descent with a step from the data's largest curvature.
pub fn fit_softmax(x: &impl Design, y: &[usize], k: usize, weights: &[f64], l2: f64) -> Multinomial {
    let (n, d) = x.dim();
    let w = Array1::from(weights.to_vec());
    let total = w.sum().max(1e-12);
    // Largest eigenvalue of Xᵀ diag(w) X / total (with a bias column), by power iteration.
    let mut v = Array1::from_elem(d + 1, 1.0 / ((d + 1) as f64).sqrt());
    let mut lambda = 1.0;
    for _ in 0..50 {
        let head = v.slice(ndarray::s![..d]).to_owned().insert_axis(Axis(1));
        let xv = x.times(head.view()).remove_axis(Axis(1)) + v[d];
        let wxv = (&xv * &w).insert_axis(Axis(1));
        let mut next = Array1::zeros(d + 1);
        next.slice_mut(ndarray::s![..d]).assign(&x.t_times(wxv.view()).remove_axis(Axis(1)));
        next[d] = wxv.sum();
        next /= total;
        lambda = next.dot(&next).sqrt().max(1e-12);
        v = next / lambda;
    }
    let step = 1.0 / (0.5 * lambda + l2);
    let mut theta = Array2::<f64>::zeros((k, d));
    let mut bias = Array1::<f64>::zeros(k);
    let (mut prev_t, mut prev_b) = (theta.clone(), bias.clone());
    let mut onehot = Array2::<f64>::zeros((n, k));
    for (i, &c) in y.iter().enumerate() {
        onehot[[i, c]] = 1.0;
    }
    // Momentum restarts whenever it points uphill (O'Donoghue and Candès), which keeps the
    // accelerated method fast on these well-regularised problems.
    let mut momentum_age = 0usize;
    for it in 0..MAX_ITERATIONS {
        let beta = momentum_age as f64 / (momentum_age as f64 + 3.0);
        momentum_age += 1;
        let look_t = &theta + &((&theta - &prev_t) * beta);
        let look_b = &bias + &((&bias - &prev_b) * beta);
        // Probabilities at the look-ahead point.
        let mut z = x.times(look_t.t()) + &look_b;
        for mut row in z.axis_iter_mut(Axis(0)) {
            let max = row.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
            row.mapv_inplace(|v| (v - max).exp());
            let s = row.sum();
            row /= s;
        }
        let mut resid = z - &onehot;
        for (mut row, &wi) in resid.axis_iter_mut(Axis(0)).zip(w.iter()) {
            row *= wi / total;
        }
        let grad_t = x.t_times(resid.view()).reversed_axes() + &look_t * l2;
        let grad_b = resid.sum_axis(Axis(0));
        let next_t = &look_t - &(&grad_t * step);
        let next_b = &look_b - &(&grad_b * step);
        let uphill = (&grad_t * &(&next_t - &theta)).sum() + (&grad_b * &(&next_b - &bias)).sum() > 0.0;
        if uphill {
            momentum_age = 0;
        }
        prev_t = std::mem::replace(&mut theta, next_t);
        prev_b = std::mem::replace(&mut bias, next_b);
        let largest_gradient = grad_t.iter().chain(grad_b.iter()).fold(0.0f64, |a, &b| a.max(b.abs()));
        if it > 10 && largest_gradient < GRADIENT_TOLERANCE {
            break;
        }
    }
    Multinomial { weights: theta.outer_iter().map(|r| r.to_vec()).collect(), bias: bias.to_vec() }
}

/// Sample weights that give each class the same total weight.
fn balanced(y: &[usize], k: usize) -> Vec<f64> {
    let mut counts = vec![0usize; k];
    for &c in y {
        counts[c] += 1;
    }
    let present = counts.iter().filter(|&&c| c > 0).count().max(1);
    y.iter().map(|&c| y.len() as f64 / (present as f64 * counts[c] as f64)).collect()
}

/// Heads fitted on some rows (features already masked and standardised).
struct Fitted {
    on_topic: Logistic,
    topics: Vec<Logistic>,
    stance: Multinomial,
}

fn fit_heads(x: &Array2<f64>, examples: &[&Example], n_topics: usize, l2: f64) -> Fitted {
    let select = |rows: &[usize]| x.select(Axis(0), rows);
    let binary = |rows: Vec<usize>, label: &dyn Fn(usize) -> bool| {
        let y: Vec<usize> = rows.iter().map(|&i| usize::from(label(i))).collect();
        let w = balanced(&y, 2);
        let yf: Vec<f64> = y.iter().map(|&c| c as f64).collect();
        fit_logistic(&select(&rows).view(), &yf, &w, l2)
    };
    let on_rows: Vec<usize> = (0..examples.len()).filter(|&i| examples[i].on_topic.is_some()).collect();
    let on_topic = binary(on_rows, &|i| examples[i].on_topic == Some(true));
    let topic_rows: Vec<usize> = (0..examples.len()).filter(|&i| examples[i].topics.is_some()).collect();
    let topics = (0..n_topics)
        .map(|t| binary(topic_rows.clone(), &|i| examples[i].topics.as_ref().is_some_and(|v| v[t])))
        .collect();
    let stance_rows: Vec<usize> = (0..examples.len()).filter(|&i| examples[i].stance.is_some()).collect();
    let y: Vec<usize> = stance_rows.iter().map(|&i| examples[i].stance.expect("filtered")).collect();
    let stance = fit_softmax(&select(&stance_rows).view(), &y, STANCE_CLASSES.len(), &balanced(&y, STANCE_CLASSES.len()), l2);
    Fitted { on_topic, topics, stance }
}

/// Mean and scale of each feature column (scale at least 1e-6).
fn moments(x: &Array2<f64>) -> (Vec<f64>, Vec<f64>) {
    let mean = x.mean_axis(Axis(0)).expect("rows");
    let scale = x.std_axis(Axis(0), 0.0).mapv(|s| s.max(1e-6));
    (mean.to_vec(), scale.to_vec())
}

/// Speech scores as labels in `evaluate`'s terms.
pub fn to_labels(s: &aggregate::SpeechScores, names: &[&str]) -> Labels {
    Labels {
        topics: s.listed.iter().map(|&t| names[t].to_string()).collect(),
        stance: s.stance_class.map_or("none", |k| STANCE_CLASSES[k]).to_string(),
        on_topic: Some(s.on_topic),
    }
}

pub fn gold_labels(e: &Example, names: &[&str]) -> Labels {
    let topics = e.topics.as_ref().map_or_else(Vec::new, |v| {
        v.iter().enumerate().filter(|(_, &b)| b).map(|(t, _)| names[t].to_string()).collect()
    });
    Labels { topics, stance: e.stance.map_or("none", |k| STANCE_CLASSES[k]).to_string(), on_topic: None }
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
    let fold_of: BTreeMap<&String, usize> = names.iter().enumerate().map(|(i, g)| (*g, i % k)).collect();
    groups.iter().map(|g| fold_of[g]).collect()
}

/// Each example's fold under assignment `repeat`: `None` for rows without a group (training
/// only, never scored).
pub fn fold_assignment(examples: &[Example], k: usize, repeat: u64) -> Vec<Option<usize>> {
    let groups: Vec<String> = examples.iter().filter_map(|e| e.group.clone()).collect();
    let mut assigned = folds(&groups, k, repeat).into_iter();
    examples.iter().map(|e| e.group.as_ref().map(|_| assigned.next().expect("one per group"))).collect()
}

/// Out-of-fold speech scores of the scored rows (those with a group), for one candidate.
pub(crate) fn cross_validate(
    cand: Candidate,
    examples: &[Example],
    features: &[ExampleFeatures],
    fold_of: &[Option<usize>],
    k: usize,
    dim: usize,
    n_topics: usize,
) -> Vec<(usize, Vec<ChunkScores>)> {
    let mut out = Vec::new();
    for fold in 0..k {
        let train = training_rows(fold_of, fold, cand.taxonomy_examples);
        let (fitted, mean, scale) = fit_on(cand, &train, examples, features, dim, n_topics);
        let score = |row: &[f64]| {
            let mut x = cand.features.mask(row, dim);
            standardise(&mut x, &mean, &scale);
            ChunkScores {
                on_topic: fitted.on_topic.prob(&x),
                topics: fitted.topics.iter().map(|m| m.prob(&x)).collect(),
                stance: fitted.stance.probs(&x),
            }
        };
        for i in (0..examples.len()).filter(|&i| fold_of[i] == Some(fold)) {
            let f = &features[i];
            let scores = f
                .chunks
                .iter()
                .zip(f.sentences(cand.sentence_embedding))
                .map(|(row, sentences)| {
                    let mut chunk = score(row);
                    if cand.sentence_weight > 0.0 {
                        let sentences: Vec<ChunkScores> = sentences.iter().map(|r| score(r)).collect();
                        mix_sentences(&mut chunk, &sentences, cand.sentence_weight);
                    }
                    chunk
                })
                .collect();
            out.push((i, scores));
        }
    }
    out
}

/// The rows a fold trains on: the other folds' scored rows, and the training-only rows (those
/// without a fold) when `with_extra` says so.
fn training_rows(fold_of: &[Option<usize>], fold: usize, with_extra: bool) -> Vec<usize> {
    (0..fold_of.len())
        .filter(|&i| match fold_of[i] {
            Some(f) => f != fold,
            None => with_extra,
        })
        .collect()
}

/// Lexical settings cross-validation chooses from: the models' L2 strength (about scikit-learn's
/// C 100, 30 and 10 at this data's size) and their weight in the topic scores.
const LEXICAL_L2: [f64; 3] = [3e-5, 1e-4, 3e-4];
const LEXICAL_WEIGHTS: [f64; 2] = [0.3, 0.5];

/// Fits lexical topic models (`score::lexical`) on the given rows that are labelled for topics:
/// vocabulary and idf from those rows' `terms`, then one class-weighted logistic per topic.
pub fn fit_lexical(terms: &[Vec<String>], examples: &[Example], rows: &[usize], n_topics: usize, l2: f64, weight: f64) -> Lexical {
    let rows: Vec<usize> = rows.iter().copied().filter(|&i| examples[i].topics.is_some()).collect();
    let docs: Vec<&[String]> = rows.iter().map(|&i| terms[i].as_slice()).collect();
    let (vocabulary, idf) = lexical::vocabulary(&docs);
    let mut lex = Lexical::new(weight, vocabulary, idf, Vec::new());
    let x = lex.matrix(&docs);
    lex.topics = (0..n_topics)
        .into_par_iter()
        .map(|t| {
            let y: Vec<usize> = rows.iter().map(|&i| usize::from(examples[i].topics.as_ref().is_some_and(|v| v[t]))).collect();
            let yf: Vec<f64> = y.iter().map(|&c| c as f64).collect();
            fit_logistic(&x, &yf, &balanced(&y, 2), l2)
        })
        .collect();
    lex
}

/// Out-of-fold lexical topic probabilities under one fold assignment, per row (`None` for rows
/// never scored).
fn lexical_oof(
    terms: &[Vec<String>],
    examples: &[Example],
    fold_of: &[Option<usize>],
    k: usize,
    with_extra: bool,
    n_topics: usize,
    l2: f64,
) -> Vec<Option<Vec<f64>>> {
    let mut out = vec![None; examples.len()];
    for fold in 0..k {
        let lex = fit_lexical(terms, examples, &training_rows(fold_of, fold, with_extra), n_topics, l2, 0.0);
        for i in (0..examples.len()).filter(|&i| fold_of[i] == Some(fold)) {
            out[i] = Some(lex.probs_of_terms(&terms[i]));
        }
    }
    out
}

/// Out-of-fold chunk scores with each speech's out-of-fold lexical probabilities mixed in.
fn with_lexical(oof: &OutOfFold, lex: &[Option<Vec<f64>>], weight: f64) -> OutOfFold {
    oof.iter()
        .map(|(i, chunks)| {
            let p = lex[*i].as_ref().expect("every scored row has lexical scores");
            let mut chunks = chunks.clone();
            chunks.iter_mut().for_each(|c| lexical::mix(c, p, weight));
            (*i, chunks)
        })
        .collect()
}

/// How a head's chunk scores become labels beyond the chosen variant: lexical models mixed into
/// the topic scores (`(l2, weight)`), and how many topics an on-topic speech lists at least, its
/// strongest, whatever their thresholds (`aggregate::Listing::min_topics`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Decoding {
    lexical: Option<(f64, f64)>,
    min_topics: usize,
}

/// The `min_topics` cross-validation chooses from. Most labelled on-topic speeches carry two or
/// more topics (dev.csv: 36 of 45), more than a head's thresholds alone tend to list.
const MIN_TOPICS: [usize; 4] = [0, 1, 2, 3];

impl Decoding {
    fn listing(&self, off_topic: &[bool]) -> Listing {
        Listing { min_topics: self.min_topics, off_topic: off_topic.to_vec() }
    }

    fn name(&self) -> String {
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
fn fit_on(
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
    let (mean, scale) = moments(&x);
    for mut row in x.axis_iter_mut(Axis(0)) {
        standardise(row.as_slice_mut().expect("contiguous"), &mean, &scale);
    }
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

/// The three headline figures: on-topic F1, topic micro-F1, stance macro-F1.
pub fn headline(r: &Report) -> [f64; 3] {
    [r.on_topic.f1, r.topic_micro_f1, r.stance_macro_f1]
}

/// How per-topic thresholds are set after fitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdRule {
    /// 0.5 for every topic.
    Half,
    /// One threshold for all topics, the one that maximises topic micro-F1.
    Shared,
    /// Each topic its own, maximising its F1 (0.5 where it has fewer than 3 positives).
    PerTopic,
}

impl ThresholdRule {
    pub fn name(self) -> &'static str {
        match self {
            ThresholdRule::Half => "0.5 for every topic",
            ThresholdRule::Shared => "one threshold for all topics",
            ThresholdRule::PerTopic => "per-topic thresholds",
        }
    }
}

/// Candidate thresholds: 0.20, 0.25, …, 0.80.
fn threshold_grid() -> impl Iterator<Item = f64> {
    (4..=16).map(|step| step as f64 * 0.05)
}

/// Per speech and topic: (strongest chunk's score, on topic at 0.5, gold).
fn topic_evidence(oof: &[(usize, Vec<ChunkScores>)], examples: &[Example], t: usize) -> Vec<(f64, bool, bool)> {
    oof.iter()
        .map(|(i, chunks)| {
            let score = chunks.iter().map(|c| c.topics[t]).fold(0.0, f64::max);
            let on = chunks.iter().map(|c| c.on_topic).fold(0.0, f64::max) >= 0.5;
            (score, on, examples[*i].topics.as_ref().is_some_and(|v| v[t]))
        })
        .collect()
}

/// True positives, false positives and false negatives at threshold `th`.
fn counts_at(evidence: &[(f64, bool, bool)], th: f64) -> (usize, usize, usize) {
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for &(s, on, y) in evidence {
        let p = on && s >= th;
        tp += usize::from(p && y);
        fp += usize::from(p && !y);
        fn_ += usize::from(!p && y);
    }
    (tp, fp, fn_)
}

/// The grid threshold with the best F1 for these counts; the one nearest 0.5 among equals.
fn best_threshold(f1_at: impl Fn(f64) -> f64) -> f64 {
    let mut best = (f64::NEG_INFINITY, 0.5);
    for th in threshold_grid() {
        let f1 = f1_at(th);
        if f1 > best.0 + 1e-12 || ((f1 - best.0).abs() <= 1e-12 && (th - 0.5).abs() < (best.1 - 0.5f64).abs()) {
            best = (f1, th);
        }
    }
    best.1
}

fn f1_of((tp, fp, fn_): (usize, usize, usize)) -> f64 {
    2.0 * tp as f64 / (2 * tp + fp + fn_).max(1) as f64
}

/// Thresholds chosen on these out-of-fold scores by `rule`.
fn tune_thresholds(rule: ThresholdRule, oof: &[(usize, Vec<ChunkScores>)], examples: &[Example], n_topics: usize) -> Vec<f64> {
    let evidence: Vec<Vec<(f64, bool, bool)>> = (0..n_topics).map(|t| topic_evidence(oof, examples, t)).collect();
    match rule {
        ThresholdRule::Half => vec![0.5; n_topics],
        ThresholdRule::Shared => {
            let th = best_threshold(|th| {
                let (mut tp, mut fp, mut fn_) = (0, 0, 0);
                for e in &evidence {
                    let c = counts_at(e, th);
                    (tp, fp, fn_) = (tp + c.0, fp + c.1, fn_ + c.2);
                }
                f1_of((tp, fp, fn_))
            });
            vec![th; n_topics]
        }
        ThresholdRule::PerTopic => evidence
            .iter()
            .map(|e| if e.iter().filter(|p| p.2).count() < 3 { 0.5 } else { best_threshold(|th| f1_of(counts_at(e, th))) })
            .collect(),
    }
}

/// Figures with thresholds tuned by `rule` on the other folds' out-of-fold scores only, then
/// applied to the held-out fold: an honest estimate of what tuning gains on unseen speeches.
/// (Tuning counts thresholds alone; the figures apply `listing` too.)
fn nested_threshold_figures(
    rule: ThresholdRule,
    oof: &[(usize, Vec<ChunkScores>)],
    examples: &[Example],
    names: &[&str],
    fold_of: &[Option<usize>],
    k: usize,
    listing: &Listing,
) -> [f64; 3] {
    let (mut gold, mut pred) = (Vec::new(), Vec::new());
    for fold in 0..k {
        let (held, rest): (Vec<_>, Vec<_>) = oof.iter().cloned().partition(|(i, _)| fold_of[*i] == Some(fold));
        let thresholds = tune_thresholds(rule, &rest, examples, names.len());
        for (i, chunks) in &held {
            gold.push(gold_labels(&examples[*i], names));
            pred.push(to_labels(&aggregate::speech(chunks, &thresholds, 0.5, listing), names));
        }
    }
    headline(&evaluate::compare(&gold, &pred))
}

/// What makes a topic listed on off-topic speeches too: at least this many labelled off-topic
/// speeches carry it, and at least this share of the labelled speeches that carry it are off topic.
const OFF_TOPIC_MIN: usize = 2;
const OFF_TOPIC_SHARE: f64 = 0.1;

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
type OutOfFold = Vec<(usize, Vec<ChunkScores>)>;

/// Figures when the decoding (lexical models, minimum number of topics) is itself chosen on the
/// other folds' out-of-fold scores (best topic micro-F1 there; the earlier among equals) and
/// applied to the held-out fold: an honest estimate of what choosing it by cross-validation gains.
fn nested_decoding_figures(
    candidates: &[(Decoding, &OutOfFold)],
    off_topic: &[bool],
    examples: &[Example],
    names: &[&str],
    fold_of: &[Option<usize>],
    k: usize,
) -> [f64; 3] {
    let half = vec![0.5; names.len()];
    let (mut gold, mut pred) = (Vec::new(), Vec::new());
    for fold in 0..k {
        let held = |i: usize| fold_of[i] == Some(fold);
        let (decoding, oof, _) = candidates
            .iter()
            .map(|(d, oof)| {
                let rest: Vec<(usize, Vec<ChunkScores>)> = oof.iter().filter(|(i, _)| !held(*i)).cloned().collect();
                (d, oof, report(&rest, examples, names, &half, &d.listing(off_topic)).topic_micro_f1)
            })
            .reduce(|best, x| if x.2 > best.2 + 1e-12 { x } else { best })
            .expect("at least one decoding");
        for (i, chunks) in oof.iter().filter(|(i, _)| held(*i)) {
            gold.push(gold_labels(&examples[*i], names));
            pred.push(to_labels(&aggregate::speech(chunks, &half, 0.5, &decoding.listing(off_topic)), names));
        }
    }
    headline(&evaluate::compare(&gold, &pred))
}

/// One candidate's out-of-fold scores under each fold assignment, and its figures.
struct Repeated {
    oofs: Vec<Vec<(usize, Vec<ChunkScores>)>>,
    per_repeat: Vec<[f64; 3]>,
    /// Means over the assignments.
    figures: [f64; 3],
}

impl Repeated {
    fn new(oofs: Vec<Vec<(usize, Vec<ChunkScores>)>>, figures_of: impl Fn(&[(usize, Vec<ChunkScores>)]) -> [f64; 3]) -> Self {
        let per_repeat: Vec<[f64; 3]> = oofs.iter().map(|o| figures_of(o)).collect();
        Repeated { figures: mean_figures(&per_repeat), per_repeat, oofs }
    }

    /// Figures computed from each assignment's out-of-fold scores; keeps no scores.
    fn per_assignment(
        oofs: &[Vec<(usize, Vec<ChunkScores>)>],
        assignments: &[Vec<Option<usize>>],
        figures_of: impl Fn(&[(usize, Vec<ChunkScores>)], &[Option<usize>]) -> [f64; 3],
    ) -> Self {
        let per_repeat: Vec<[f64; 3]> = oofs.iter().zip(assignments).map(|(o, a)| figures_of(o, a)).collect();
        Repeated { figures: mean_figures(&per_repeat), per_repeat, oofs: Vec::new() }
    }

    /// Whether this candidate ranks above `best`: a higher mean of the three figures. Among
    /// equals the earlier (simpler) candidate stays.
    fn beats(&self, best: &Repeated) -> bool {
        let mean = |r: &Repeated| r.figures.iter().sum::<f64>() / 3.0;
        mean(self) > mean(best) + 1e-12
    }
}

fn mean_figures(per_repeat: &[[f64; 3]]) -> [f64; 3] {
    let n = per_repeat.len().max(1) as f64;
    std::array::from_fn(|k| per_repeat.iter().map(|f| f[k]).sum::<f64>() / n)
}

/// Everything `fit` needs, loaded.
pub struct FitInputs<'a> {
    /// The taxonomy and the labelled files.
    pub data: &'a TrainingInputs,
    pub words: &'a WordPieces,
    pub encoder: &'a dyn Encoder,
    pub prototypes: Prototypes,
    pub encoder_sha256: String,
    pub use_taxonomy_examples: Option<bool>,
    pub folds: usize,
    /// Fold assignments to cross-validate over (repeated cross-validation); 1 = the first only.
    pub repeats: usize,
}

/// Fits, cross-validates and returns the head file plus a printable report of every variant.
pub fn fit(inputs: FitInputs<'_>) -> Result<(HeadFile, String), Error> {
    let taxonomy = &inputs.data.taxonomy;
    let names = taxonomy.topic_names();
    let n_topics = names.len();
    let training_rows = inputs.data.labelled_rows();
    if training_rows < inputs.folds * 2 {
        return Err(Error::Usage(format!("{training_rows} training rows are too few for {} folds", inputs.folds)));
    }
    let training_files = inputs.data.files.clone();
    let extra_files_rows = inputs.data.example_rows();
    let examples = inputs.data.rows();
    let features = chunk_features(&examples, inputs.words, inputs.encoder, &inputs.prototypes, true)?;
    let dim = inputs.encoder.dim();
    let assignments: Vec<Vec<Option<usize>>> =
        (0..inputs.repeats as u64).map(|r| fold_assignment(&examples, inputs.folds, r)).collect();
    let cv_started = std::time::Instant::now();

    let mut text = String::new();
    let mut table = Vec::new();
    // The label prototypes alone, as classify scores them without a head.
    let proto_thresholds: Vec<f64> = taxonomy.topics.iter().map(|t| t.threshold()).collect();
    let scored: Vec<usize> = (0..training_rows).collect();
    let proto_oof: Vec<(usize, Vec<ChunkScores>)> = scored
        .iter()
        .map(|&i| {
            let seg = inputs.words.segment(&examples[i].text)?;
            let seqs: Vec<&[u32]> = seg.chunks.iter().map(|c| c.ids.as_slice()).collect();
            let emb = batch::embed_all(inputs.encoder, &seqs)?;
            Ok((i, inputs.prototypes.score(emb.view())))
        })
        .collect::<Result<_, Error>>()?;
    let proto = headline(&report(&proto_oof, &examples, &names, &proto_thresholds, &Listing::default()));
    // Topics the labels give to off-topic speeches too: from every labelled file row for the head,
    // and checked to come out the same from each fold's training rows alone.
    let file_rows: Vec<usize> = (0..training_rows + extra_files_rows).collect();
    let off_topic = off_topic_topics(&examples, &file_rows, n_topics);
    let per_fold_differs = assignments.iter().any(|fold_of| {
        (0..inputs.folds).any(|f| {
            let rows: Vec<usize> = file_rows.iter().copied().filter(|&i| fold_of[i] != Some(f)).collect();
            off_topic_topics(&examples, &rows, n_topics) != off_topic
        })
    });
    let plain = Decoding::default().listing(&off_topic);
    text.push_str(&format!(
        "{}-fold cross-validation by debate on {training_rows} labelled speeches{}; \"training examples\": {} rows of --examples files and {} taxonomy statements added to every training fold, never scored\n\n",
        inputs.folds,
        if inputs.repeats > 1 {
            format!(", repeated over {} fold assignments (figures are their means)", inputs.repeats)
        } else {
            String::new()
        },
        extra_files_rows,
        examples.len() - training_rows - extra_files_rows
    ));
    let off_topic_names: Vec<&str> = names.iter().zip(&off_topic).filter(|(_, &b)| b).map(|(n, _)| *n).collect();
    if !off_topic_names.is_empty() {
        text.push_str(&format!(
            "listed on off-topic speeches too, as the labels do: {}{}\n\n",
            off_topic_names.join(", "),
            if per_fold_differs { " (some training folds alone would not; every figure lists them)" } else { "" }
        ));
    }
    let repeated = inputs.repeats > 1;
    text.push_str(&format!("{:<46} {:>9} {:>9} {:>9}{}\n", "variant", "on-topic", "topic", "stance", if repeated { "  topic micro-F1" } else { "" }));
    text.push_str(&format!("{:<46} {:>9} {:>9} {:>9}{}\n", "", "F1", "micro-F1", "macro-F1", if repeated { "  per assignment" } else { "" }));
    let line = |name: &str, r: &Repeated| {
        let f = r.figures;
        let spread = if repeated {
            format!("  {}", r.per_repeat.iter().map(|f| format!("{:.3}", f[1])).collect::<Vec<_>>().join(" "))
        } else {
            String::new()
        };
        format!("{name:<46} {:>9.3} {:>9.3} {:>9.3}{spread}\n", f[0], f[1], f[2])
    };
    let row = |name: &str, r: &Repeated| {
        let mut v = serde_json::json!({"variant": name, "figures": r.figures});
        if repeated {
            v["per_assignment"] = serde_json::json!(r.per_repeat);
        }
        v
    };
    text.push_str(&format!("{:<46} {:>9.3} {:>9.3} {:>9.3}\n", "label prototypes alone (no fitting)", proto[0], proto[1], proto[2]));
    table.push(serde_json::json!({"variant": "prototypes alone", "figures": proto}));

    let half = vec![0.5; n_topics];
    let evaluate = |cand: Candidate| -> Repeated {
        let oofs: Vec<_> = assignments
            .iter()
            .map(|fold_of| cross_validate(cand, &examples, &features, fold_of, inputs.folds, dim, n_topics))
            .collect();
        Repeated::new(oofs, |oof| headline(&report(oof, &examples, &names, &half, &plain)))
    };
    let taxonomy_choices: Vec<bool> = match inputs.use_taxonomy_examples {
        Some(v) => vec![v],
        None => vec![false, true],
    };
    let mut candidates = Vec::new();
    for features_kind in [Features::Embedding, Features::Prototypes, Features::Both] {
        for &with_taxonomy in &taxonomy_choices {
            for l2 in L2_GRID {
                candidates.push(Candidate {
                    features: features_kind,
                    taxonomy_examples: with_taxonomy,
                    l2,
                    sentence_weight: 0.0,
                    sentence_embedding: SentenceEmbedding::Context,
                });
            }
        }
    }
    let mut results: Vec<(Candidate, Repeated)> = candidates.par_iter().map(|&cand| (cand, evaluate(cand))).collect();
    for (cand, r) in &results {
        text.push_str(&line(&cand.name(), r));
        table.push(row(&cand.name(), r));
    }
    // Sentence-level topic scoring on top of the best head of each kind of features.
    let best_of = |kind: Features| {
        results
            .iter()
            .filter(|(c, _)| c.features == kind)
            .reduce(|best, x| if x.1.beats(&best.1) { x } else { best })
            .map(|(c, _)| *c)
    };
    let bases: Vec<Candidate> = [Features::Embedding, Features::Prototypes, Features::Both].into_iter().filter_map(best_of).collect();
    let sentence_candidates: Vec<Candidate> = bases
        .iter()
        .flat_map(|&base| {
            SENTENCE_EMBEDDINGS.iter().flat_map(move |&m| {
                SENTENCE_WEIGHTS.map(|w| Candidate { sentence_weight: w, sentence_embedding: m, ..base })
            })
        })
        .collect();
    let sentence_results: Vec<(Candidate, Repeated)> =
        sentence_candidates.par_iter().map(|&cand| (cand, evaluate(cand))).collect();
    for (cand, r) in &sentence_results {
        text.push_str(&line(&cand.name(), r));
        table.push(row(&cand.name(), r));
    }
    results.extend(sentence_results);
    let (chosen, chosen_r) = results
        .into_iter()
        .reduce(|best, x| if x.1.beats(&best.1) { x } else { best })
        .expect("at least one candidate");
    text.push_str(&format!("\nchosen: {}\n", chosen.name()));
    // On the chosen head: lexical topic models mixed into its topic scores, and listing at least
    // an on-topic speech's strongest topic or topics.
    let terms: Vec<Vec<String>> = examples.par_iter().map(|e| lexical::terms(&e.text)).collect();
    let mut decoded = vec![(None, chosen_r.oofs.clone())];
    for l2 in LEXICAL_L2 {
        let lex: Vec<Vec<Option<Vec<f64>>>> = assignments
            .iter()
            .map(|fold_of| lexical_oof(&terms, &examples, fold_of, inputs.folds, chosen.taxonomy_examples, n_topics, l2))
            .collect();
        for weight in LEXICAL_WEIGHTS {
            let oofs = chosen_r.oofs.iter().zip(&lex).map(|(oof, lex)| with_lexical(oof, lex, weight)).collect();
            decoded.push((Some((l2, weight)), oofs));
        }
    }
    let mut variants = vec![(Decoding::default(), chosen_r)];
    for (lexical, oofs) in decoded {
        for min_topics in MIN_TOPICS {
            let decoding = Decoding { lexical, min_topics };
            if decoding == Decoding::default() {
                continue;
            }
            let listing = decoding.listing(&off_topic);
            let r = Repeated::new(oofs.clone(), |oof| headline(&report(oof, &examples, &names, &half, &listing)));
            text.push_str(&line(&decoding.name(), &r));
            table.push(row(&format!("{} {}", chosen.name(), decoding.name().trim_start()), &r));
            variants.push((decoding, r));
        }
    }
    // What choosing among these on the other folds gains on the held-out one.
    let per_repeat: Vec<[f64; 3]> = assignments
        .iter()
        .enumerate()
        .map(|(a, fold_of)| {
            let candidates: Vec<(Decoding, &OutOfFold)> = variants.iter().map(|(d, r)| (*d, &r.oofs[a])).collect();
            nested_decoding_figures(&candidates, &off_topic, &examples, &names, fold_of, inputs.folds)
        })
        .collect();
    let decoding_nested = Repeated { figures: mean_figures(&per_repeat), per_repeat, oofs: Vec::new() };
    text.push_str(&line("  the best of these chosen on the other folds", &decoding_nested));
    let (decoding, chosen_r) =
        variants.into_iter().reduce(|best, x| if x.1.beats(&best.1) { x } else { best }).expect("the plain decoding");
    if decoding != Decoding::default() {
        text.push_str(&format!("chosen: the same {}\n", decoding.name().trim_start()));
    }
    // Threshold rules, each judged with thresholds tuned on the other folds only (nested).
    let mut rule_figures = Vec::new();
    let mut rule = ThresholdRule::Half;
    let mut rule_best = f64::NEG_INFINITY;
    for r in [ThresholdRule::Half, ThresholdRule::Shared, ThresholdRule::PerTopic] {
        let nested = Repeated::per_assignment(&chosen_r.oofs, &assignments, |oof, fold_of| {
            nested_threshold_figures(r, oof, &examples, &names, fold_of, inputs.folds, &decoding.listing(&off_topic))
        });
        text.push_str(&line(&format!("  {}, tuned on the other folds", r.name()), &nested));
        rule_figures.push(serde_json::json!({"rule": r.name(), "figures": nested.figures}));
        if nested.figures[1] > rule_best + 1e-12 {
            (rule, rule_best) = (r, nested.figures[1]);
        }
    }
    // Every assignment's out-of-fold scores together: each speech once per assignment.
    let pooled: Vec<(usize, Vec<ChunkScores>)> = chosen_r.oofs.iter().flatten().cloned().collect();
    let thresholds = tune_thresholds(rule, &pooled, &examples, n_topics);
    let tuned = Repeated::per_assignment(&chosen_r.oofs, &assignments, |oof, _| {
        headline(&report(oof, &examples, &names, &thresholds, &decoding.listing(&off_topic)))
    });
    text.push_str(&format!("kept: {} (best topic micro-F1 above); tuned on all folds for the head\n", rule.name()));
    text.push_str(&line("  the same, tuned and scored on the same folds", &tuned));
    text.push_str("(the variant was chosen on these folds, so even the nested figures lean optimistic)\n");
    text.push_str(&format!("cross-validation took {:.0} s\n", cv_started.elapsed().as_secs_f64()));
    let tuned = tuned.figures;

    let rows: Vec<usize> = (0..examples.len()).filter(|&i| examples[i].group.is_some() || chosen.taxonomy_examples).collect();
    let (fitted, mean, scale) = fit_on(chosen, &rows, &examples, &features, dim, n_topics);
    let lexical = decoding.lexical.map(|(l2, weight)| fit_lexical(&terms, &examples, &rows, n_topics, l2, weight));
    // Fold the feature mask into the weights: masked-out columns get weight 0.
    let unmask = |m: Logistic| Logistic { weights: chosen.features.mask(&m.weights, dim), bias: m.bias };
    let head = HeadFile {
        format: 1,
        provenance: Provenance {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            encoder_sha256: inputs.encoder_sha256.clone(),
            taxonomy_sha256: taxonomy.fingerprint.clone(),
            training_files,
            training_rows,
            extra_rows: if chosen.taxonomy_examples { examples.len() - training_rows } else { 0 },
        },
        topics: names.iter().map(|s| s.to_string()).collect(),
        stances: STANCE_CLASSES.iter().map(|s| s.to_string()).collect(),
        settings: serde_json::json!({
            "features": chosen.features.name(),
            "taxonomy_examples": chosen.taxonomy_examples,
            "l2": chosen.l2,
            "sentence_weight": chosen.sentence_weight,
            "sentence_embedding": chosen.sentence_embedding,
            "lexical": decoding.lexical.map(|(l2, weight)| serde_json::json!({
                "l2": l2,
                "weight": weight,
                "terms": "words and neighbouring pairs, stop words dropped",
                "min_document_frequency": lexical::MIN_DOCUMENT_FREQUENCY,
            })),
            "min_topics": decoding.min_topics,
            "listed_off_topic": {
                "rule": format!("at least {OFF_TOPIC_MIN} labelled off-topic speeches and {OFF_TOPIC_SHARE} of the topic's labelled speeches"),
                "same_in_every_training_fold": !per_fold_differs,
            },
            "folds": inputs.folds,
            "grouping": "debate",
            "class_weights": "balanced",
        }),
        cross_validation: serde_json::json!({
            "figures": ["on_topic_f1", "topic_micro_f1", "stance_macro_f1"],
            "variants": table,
            "threshold_rules_nested": rule_figures,
            "decoding_chosen_on_other_folds": decoding_nested.figures,
            "threshold_rule": rule.name(),
            "chosen_tuned_thresholds": tuned,
        }),
        sentence_weight: chosen.sentence_weight,
        sentence_embedding: chosen.sentence_embedding,
        lexical,
        at_least_one_topic: decoding.min_topics >= 1,
        min_topics: decoding.min_topics,
        listed_off_topic: off_topic_names.iter().map(|n| n.to_string()).collect(),
        feature_mean: mean,
        feature_scale: scale,
        on_topic: unmask(fitted.on_topic),
        on_topic_threshold: 0.5,
        topic_heads: fitted
            .topics
            .into_iter()
            .zip(&thresholds)
            .zip(&names)
            .map(|((m, &threshold), name)| TopicHead { name: name.to_string(), model: unmask(m), threshold })
            .collect(),
        stance: Multinomial {
            weights: fitted.stance.weights.iter().map(|w| chosen.features.mask(w, dim)).collect(),
            bias: fitted.stance.bias,
        },
    };
    Ok((head, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn a_separable_toy_set_is_separated_perfectly() {
        let x = array![[2.0, 0.1], [1.5, -0.3], [1.8, 0.4], [-2.0, 0.2], [-1.4, -0.1], [-1.9, 0.3]];
        let y = [1.0, 1.0, 1.0, 0.0, 0.0, 0.0];
        let m = fit_logistic(&x.view(), &y, &[1.0; 6], 1e-3);
        for (row, &label) in x.outer_iter().zip(&y) {
            let p = m.prob(row.as_slice().unwrap());
            assert_eq!(p >= 0.5, label > 0.5, "p {p} for {row}");
        }
        let classes = [0usize, 0, 1, 1, 2, 2];
        let x3 = array![[3.0, 0.0], [2.5, 0.5], [0.0, 3.0], [0.5, 2.6], [-3.0, -3.0], [-2.5, -2.0]];
        let m = fit_softmax(&x3.view(), &classes, 3, &[1.0; 6], 1e-3);
        for (row, &c) in x3.outer_iter().zip(&classes) {
            let p = m.probs(row.as_slice().unwrap());
            assert_eq!(crate::aggregate::argmax(&p), c, "{p:?}");
        }
    }

    #[test]
    fn sparse_rows_give_the_same_model_as_dense_rows() {
        let x = array![[0.5, 0.0, 0.2], [0.0, 1.0, 0.0], [0.7, 0.1, 0.0], [0.0, 0.8, 0.3], [0.4, 0.0, 0.0]];
        let y = [1.0, 0.0, 1.0, 0.0, 1.0];
        let w = [1.0, 1.5, 1.0, 1.5, 1.0];
        let dense = fit_logistic(&x.view(), &y, &w, 1e-2);
        let sparse = fit_logistic(&sprs::CsMat::csr_from_dense(x.view(), 0.0), &y, &w, 1e-2);
        assert!((dense.bias - sparse.bias).abs() < 1e-9, "{dense:?} {sparse:?}");
        assert!(dense.weights.iter().zip(&sparse.weights).all(|(a, b)| (a - b).abs() < 1e-9), "{dense:?} {sparse:?}");
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
            example("Bulk interception sweeps up everyone's messages.", false, true),
            example("The bulk interception regime lacks safeguards.", false, true),
            example("Hospital waiting lists keep growing.", false, false),
            example("Waiting lists for hospital beds are too long.", false, false),
        ];
        let terms: Vec<Vec<String>> = examples.iter().map(|e| lexical::terms(&e.text)).collect();
        let lex = fit_lexical(&terms, &examples, &[0, 1, 2, 3, 4, 5], 2, 1e-3, 0.5);
        assert!(lex.terms.contains(&"bulk interception".to_string()) && !lex.terms.contains(&"safeguards".to_string()), "{:?}", lex.terms);
        let p = lex.probs("Will the Minister rule out an encryption backdoor?");
        assert!(p[0] > 0.5 && p[1] < 0.5, "{p:?}");
        let p = lex.probs("Bulk interception must end.");
        assert!(p[0] < 0.5 && p[1] > 0.5, "{p:?}");
        let p = lex.probs("The hospital waiting lists.");
        assert!(p[0] < 0.5 && p[1] < 0.5, "{p:?}");
    }

    #[test]
    fn thresholds_are_tuned_per_topic_or_shared_and_nested_tuning_never_sees_the_held_out_fold() {
        // Topic 0's positives score 0.7 and negatives 0.3; topic 1's positives 0.42, negatives 0.1.
        let example = |t0: bool, t1: bool| Example {
            text: String::new(),
            on_topic: Some(true),
            topics: Some(vec![t0, t1]),
            stance: Some(0),
            group: Some(String::new()),
        };
        let chunk = |s0: f64, s1: f64| vec![ChunkScores { on_topic: 0.9, topics: vec![s0, s1], stance: vec![1.0, 0.0, 0.0, 0.0] }];
        let mut examples = Vec::new();
        let mut oof = Vec::new();
        for i in 0..12 {
            let (t0, t1) = (i % 2 == 0, i % 3 == 0);
            examples.push(example(t0, t1));
            oof.push((i, chunk(if t0 { 0.7 } else { 0.3 }, if t1 { 0.42 } else { 0.1 })));
        }
        let per_topic = tune_thresholds(ThresholdRule::PerTopic, &oof, &examples, 2);
        assert!(per_topic[0] > 0.3 && per_topic[0] <= 0.7 && per_topic[1] > 0.1 && per_topic[1] <= 0.42, "{per_topic:?}");
        assert_eq!(tune_thresholds(ThresholdRule::Half, &oof, &examples, 2), vec![0.5, 0.5]);
        let shared = tune_thresholds(ThresholdRule::Shared, &oof, &examples, 2);
        assert_eq!(shared[0], shared[1]);
        // Four folds, so every fold's complement still holds three positives of each topic.
        let fold_of: Vec<Option<usize>> = (0..12).map(|i| Some(i % 4)).collect();
        let f = nested_threshold_figures(ThresholdRule::PerTopic, &oof, &examples, &["a", "b"], &fold_of, 4, &Listing::default());
        assert!((f[1] - 1.0).abs() < 1e-12, "separable at every fold: {f:?}");
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
        rows.extend([example(false, true, false), example(false, true, true), example(true, false, true), example(true, false, true)]);
        rows.push(Example { on_topic: None, topics: None, stance: None, ..example(false, false, false) });
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
    fn balanced_weights_equalise_classes() {
        let w = balanced(&[0, 0, 0, 1], 2);
        assert!((w[0] * 3.0 - w[3]).abs() < 1e-12);
    }

    #[test]
    fn debates_are_recognised() {
        let cases = [
            ("github:x/HanDeSeT.csv@abc (HanDeSeT debate id 67, 'Energy')", "debate id 67"),
            ("https://parallelparliament.co.uk/mp/x/debate/Lords/2023-11-20/debates/F933A59A/InvestigatoryPowers", "F933A59A"),
            ("https://irp.fas.org/congress/2012_cr/wyden-fisa.html#p3", "https://irp.fas.org/congress/2012_cr/wyden-fisa.html"),
        ];
        for (source, want) in cases {
            assert_eq!(debate_key(source), want);
        }
    }

    #[test]
    fn a_group_never_spans_two_folds() {
        let groups: Vec<String> = ["a", "b", "a", "c", "d", "b", "e"].iter().map(|s| s.to_string()).collect();
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
        assert!(others.iter().all(|f| *f != first) && others[0] != others[1], "each repeat deals differently");
        for f in std::iter::once(&first).chain(&others) {
            for fold in 0..5 {
                assert_eq!(f.iter().filter(|&&x| x == fold).count(), 8, "balanced folds");
            }
        }
        // The assignment every earlier figure was measured on (repeat 0) is unchanged.
        assert_eq!(&first[..8], &[3, 1, 0, 3, 0, 2, 3, 2]);
    }
}

/// The labelled data of `fit` and `tune`, read and checked: every problem is reported at once.
pub struct TrainingInputs {
    pub taxonomy: Taxonomy,
    pub train: Vec<(PathBuf, Vec<Example>)>,
    pub examples: Vec<(PathBuf, Vec<Example>)>,
    /// Every file read, with its SHA-256 and row count.
    pub files: Vec<TrainingFile>,
}

impl TrainingInputs {
    /// Rows of the `--train` files: the labelled speeches cross-validation scores.
    pub fn labelled_rows(&self) -> usize {
        self.train.iter().map(|(_, rows)| rows.len()).sum()
    }

    /// Rows of the `--examples` files.
    pub fn example_rows(&self) -> usize {
        self.examples.iter().map(|(_, rows)| rows.len()).sum()
    }

    /// Every training row, in this order: the labelled speeches; the `--examples` rows, their
    /// `group` cleared (trained on, never scored); the taxonomy's statements.
    pub fn rows(&self) -> Vec<Example> {
        let mut rows: Vec<Example> = self.train.iter().flat_map(|(_, rows)| rows.iter().cloned()).collect();
        rows.extend(self.examples.iter().flat_map(|(_, rows)| rows.iter().cloned()).map(|e| Example { group: None, ..e }));
        rows.extend(taxonomy_examples(&self.taxonomy));
        rows
    }
}

/// Reads `--train`, `--examples` and the taxonomy.
pub fn load_inputs(data: &crate::cli::TrainingData) -> Result<TrainingInputs, Error> {
    use crate::files::{project_path, DEFAULT_TAXONOMY};
    let mut problems = Vec::new();
    if data.folds < 2 {
        problems.push(Error::Usage(format!("--folds {} is too few (at least 2)", data.folds)));
    }
    let taxonomy = Taxonomy::load(&data.taxonomy.clone().unwrap_or_else(|| project_path(DEFAULT_TAXONOMY)))
        .map_err(|e| problems.push(e))
        .ok();
    let (mut train, mut extra) = (Vec::new(), Vec::new());
    if let Some(taxonomy) = &taxonomy {
        for (paths, into) in [(&data.train, &mut train), (&data.examples, &mut extra)] {
            for path in paths {
                match read_training(path, &data.text_col, &data.group_col, taxonomy) {
                    Ok(rows) => into.push((path.clone(), rows)),
                    Err(e) => problems.push(e),
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(Error::many(problems));
    }
    let mut files = Vec::new();
    for (path, rows) in train.iter().chain(&extra) {
        files.push(TrainingFile { path: path.display().to_string(), sha256: fingerprint::sha256_file(path)?, rows: rows.len() });
    }
    Ok(TrainingInputs { taxonomy: taxonomy.expect("loaded"), train, examples: extra, files })
}

/// The `fit` command: loads what it needs, fits, prints the cross-validation table, writes the head.
pub fn run(args: &crate::cli::FitArgs) -> Result<(), Error> {
    use crate::config::{check_model_dir, set_threads};
    use crate::files::{project_path, DEFAULT_MODEL};
    set_threads(args.threads);
    let model_dir = args.model.clone().unwrap_or_else(|| project_path(DEFAULT_MODEL));
    let inputs = match (check_model_dir(&model_dir), load_inputs(&args.data)) {
        (Ok(()), Ok(inputs)) => inputs,
        (Err(a), Err(b)) => return Err(Error::many(vec![a, b])),
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    let words = WordPieces::load(&model_dir)?;
    let encoder = crate::encoder::bert::BertEncoder::load(&model_dir, tch::Device::Cpu)?;
    let encoder_sha256 = fingerprint::sha256_file(&model_dir.join("model.safetensors"))?;
    let cache = crate::score::cache::EmbeddingCache::from_env(encoder.cache_key(&encoder_sha256));
    let prototypes = Prototypes::build(&inputs.taxonomy, &words, &encoder, cache.as_ref())?;
    let (head, text) = fit(FitInputs {
        data: &inputs,
        words: &words,
        encoder: &encoder,
        prototypes,
        encoder_sha256,
        use_taxonomy_examples: match args.taxonomy_examples {
            crate::cli::When::Yes => Some(true),
            crate::cli::When::No => Some(false),
            crate::cli::When::Auto => None,
        },
        folds: args.data.folds,
        repeats: usize::from(args.repeats),
    })?;
    print!("{text}");
    head.save(&args.output)?;
    eprintln!("parlscan: wrote {}", args.output.display());
    Ok(())
}
