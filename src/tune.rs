//! `parlscan tune`: contrastive fine-tuning of the encoder on pairs of labelled texts, SetFit's
//! recipe, with libtorch's autograd through tch; writes a new model folder.
//!
//! Pairs come from the labelled speeches, the `--examples` files and the taxonomy's statements,
//! as the [`Objective`] says. With `topics` (the default), two texts that share a topic (or are
//! both off-topic) should embed close (cosine 1), two with no label in common far apart (cosine
//! 0). With `stance`, two texts that share a stance should embed close, and a pro_powers text and
//! an anti_powers one far apart. With `both`, half the pairs are of each kind. The loss is the
//! squared error of the pair's cosine, as sentence-transformers' `CosineSimilarityLoss`; the
//! optimiser is AdamW with linear warm-up and decay and gradients clipped to norm 1.
//!
//! `--cross-validate` measures whether it pays, honestly: for each objective and each fold it
//! fine-tunes a fresh copy on that fold's training rows only, fits the settings `fit` chose for a
//! head (`--head`, the default head unless told) on the tuned embeddings and scores the held-out
//! speeches, then sets the out-of-fold figures beside the frozen encoder's.
//!
//! Owns pair sampling, the training loop and the model folder; heads are `fit`'s.

use std::path::Path;
use std::time::Instant;

use rust_bert::bert::{BertEmbeddings, BertModel};
use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};

use crate::encoder::bert::{build, mean_pool, BertEncoder};
use crate::encoder::{Encoder, TokenBatch};
use crate::error::Error;
use crate::fingerprint;
use crate::fit::report::Figures;
use crate::fit::{self, Candidate, Example};
use crate::score::prototypes::Prototypes;
use crate::taxonomy::Taxonomy;
use crate::tokenize::WordPieces;

/// How fine-tuning runs. The defaults are SetFit's, and those the Python experiment
/// (`experiments/setfit-experiment.py`) measured.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub pairs: usize,
    pub epochs: usize,
    /// Pairs per optimiser step.
    pub batch: usize,
    pub learning_rate: f64,
    /// Share of the steps over which the learning rate rises linearly from 0.
    pub warmup: f64,
    pub seed: u64,
    pub objective: Objective,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { pairs: 800, epochs: 1, batch: 16, learning_rate: 2e-5, warmup: 0.1, seed: 0, objective: Objective::Topics }
    }
}

/// What fine-tuning pulls together and pushes apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Texts that share a topic (or are both off topic) together; texts with no label in common apart.
    #[default]
    Topics,
    /// Texts that share a stance together; pro_powers and anti_powers texts apart.
    Stance,
    /// Half the pairs of each kind.
    Both,
}

impl Objective {
    pub const ALL: [Objective; 3] = [Objective::Topics, Objective::Stance, Objective::Both];

    pub fn name(self) -> &'static str {
        match self {
            Objective::Topics => "topics",
            Objective::Stance => "stance",
            Objective::Both => "both",
        }
    }
}

/// What a text is labelled for pairing: its topics, or "off-topic", or "on-topic but no topic".
#[derive(Debug, Clone, PartialEq, Eq)]
enum PairLabels {
    Topics(Vec<usize>),
    OffTopic,
    NoTopic,
}

impl PairLabels {
    /// `None` for rows that say nothing about topics (the taxonomy's stance statements).
    fn of(e: &Example) -> Option<PairLabels> {
        match (e.on_topic, &e.topics) {
            (Some(false), _) => Some(PairLabels::OffTopic),
            (_, Some(t)) if t.iter().any(|&x| x) => Some(PairLabels::Topics((0..t.len()).filter(|&i| t[i]).collect())),
            (Some(true), Some(_)) => Some(PairLabels::NoTopic),
            _ => None,
        }
    }

    fn shares(&self, other: &PairLabels) -> bool {
        match (self, other) {
            (PairLabels::Topics(a), PairLabels::Topics(b)) => a.iter().any(|t| b.contains(t)),
            (a, b) => a == b,
        }
    }
}

/// A small deterministic generator (xorshift64*), so the same seed gives the same pairs everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}

/// `n` pairs `(a, b, target cosine)` of indices into `rows` for an objective, alternating
/// positive and negative, anchors drawn uniformly:
/// - topics: positive pairs share a topic label, negative ones share none;
/// - stance: positive pairs share a stance class, negative ones are a pro_powers and an
///   anti_powers text;
/// - both: topic and stance pairs in turn (two of each per four), half the pairs each.
///
/// Rows without the labels an objective pairs on are left out; an empty result means there is
/// nothing to contrast.
pub fn sample_pairs(rows: &[&Example], n: usize, seed: u64, objective: Objective) -> Vec<(usize, usize, f32)> {
    let mut rng = Rng::new(seed);
    let topics: Vec<(usize, PairLabels)> = rows.iter().enumerate().filter_map(|(i, e)| PairLabels::of(e).map(|l| (i, l))).collect();
    let stances: Vec<(usize, usize)> = rows.iter().enumerate().filter_map(|(i, e)| e.stance.map(|k| (i, k))).collect();
    let by_topic = |n: usize, rng: &mut Rng| draw(&topics, n, rng, |a, b| a.shares(b), |a, b| !a.shares(b));
    // pro_powers and anti_powers are stance classes 0 and 1 (`taxonomy::STANCE_CLASSES`).
    let opposed = |a: &usize, b: &usize| (*a, *b) == (0, 1) || (*a, *b) == (1, 0);
    match objective {
        Objective::Topics => by_topic(n, &mut rng),
        Objective::Stance => draw(&stances, n, &mut rng, |a, b| a == b, opposed),
        Objective::Both => {
            let (t, st) = (by_topic(n.div_ceil(2), &mut rng), draw(&stances, n / 2, &mut rng, |a, b| a == b, opposed));
            // Two topic pairs (positive, negative), then two stance pairs, and so on.
            let mut out = Vec::with_capacity(t.len() + st.len());
            let (mut t, mut st) = (t.chunks(2), st.chunks(2));
            loop {
                match (t.next(), st.next()) {
                    (None, None) => break out,
                    (a, b) => out.extend(a.into_iter().chain(b).flatten().copied()),
                }
            }
        }
    }
}

/// `n` pairs of `labelled` rows (index, label) alternating one for which `positive` holds
/// (target 1) and one for which `negative` holds (target 0); fewer if they are too rare.
fn draw<L>(labelled: &[(usize, L)], n: usize, rng: &mut Rng, positive: impl Fn(&L, &L) -> bool, negative: impl Fn(&L, &L) -> bool) -> Vec<(usize, usize, f32)> {
    let mut pairs = Vec::with_capacity(n);
    let mut misses = 0;
    while pairs.len() < n && labelled.len() > 1 && misses < 100 * n.max(1) {
        let (a, la) = &labelled[rng.below(labelled.len())];
        let (b, lb) = &labelled[rng.below(labelled.len())];
        let want_positive = pairs.len() % 2 == 0;
        let fits = if want_positive { positive(la, lb) } else { negative(la, lb) };
        if a == b || !fits {
            misses += 1;
            continue;
        }
        pairs.push((*a, *b, if want_positive { 1.0 } else { 0.0 }));
    }
    pairs
}

/// The learning rate at `step` of `steps`: linear warm-up, then linear decay to 0.
fn learning_rate(s: &Settings, step: usize, steps: usize) -> f64 {
    let warm = ((s.warmup * steps as f64) as usize).max(1);
    let f = if step < warm { step as f64 / warm as f64 } else { (steps - step) as f64 / (steps - warm).max(1) as f64 };
    s.learning_rate * f.max(0.0)
}

/// The pooled embeddings of `seqs` (as classify pools them), with gradients.
fn pooled(model: &BertModel<BertEmbeddings>, seqs: &[&[u32]]) -> Result<Tensor, Error> {
    let padded_len = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
    let (ids, mask) = TokenBatch { sequences: seqs.to_vec(), padded_len }.ids_and_mask();
    let shape = [seqs.len() as i64, padded_len as i64];
    let ids = Tensor::from_slice(&ids).view(shape);
    let mask = Tensor::from_slice(&mask).view(shape);
    let hidden = model
        .forward_t(Some(&ids), Some(&mask), None, None, None, None, None, true)
        .map_err(|e| Error::Inference(e.to_string()))?
        .hidden_state;
    Ok(mean_pool(&hidden, &mask))
}

/// What one fine-tuning run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Trained {
    pub pairs: usize,
    pub positive: usize,
    pub steps: usize,
    /// Mean loss over the first and the last five steps.
    pub loss_first: f64,
    pub loss_last: f64,
    pub seconds: f64,
}

/// Fine-tunes the model in `base` on pairs of `rows` and writes the tuned model folder to `out`
/// (the base folder's files, with `model.safetensors` replaced).
pub fn fine_tune(base: &Path, out: &Path, words: &WordPieces, rows: &[&Example], s: &Settings) -> Result<Trained, Error> {
    let started = Instant::now();
    tch::manual_seed(s.seed as i64);
    let (_, vs, model) = build(base, Device::Cpu)?;
    // Each text is trained on as classify embeds its first chunk.
    let first_chunks: Vec<Vec<u32>> = rows
        .iter()
        .map(|e| Ok(words.segment(&e.text)?.chunks.into_iter().next().map(|c| c.ids).unwrap_or_default()))
        .collect::<Result<_, Error>>()?;
    let pairs: Vec<_> = sample_pairs(rows, s.pairs, s.seed, s.objective).into_iter().filter(|&(a, b, _)| !first_chunks[a].is_empty() && !first_chunks[b].is_empty()).collect();
    if pairs.is_empty() {
        let needs = match s.objective {
            Objective::Topics => "at least two different topic labels",
            Objective::Stance | Objective::Both => "stance labels, pro_powers and anti_powers among them",
        };
        return Err(Error::Usage(format!("no pairs to train on for --objective {}: the training rows need {needs}", s.objective.name())));
    }
    let steps = s.epochs * pairs.len().div_ceil(s.batch);
    let mut opt = nn::AdamW::default().build(&vs, s.learning_rate).map_err(|e| Error::Inference(e.to_string()))?;
    let mut losses = Vec::with_capacity(steps);
    for step in 0..steps {
        let from = (step * s.batch) % pairs.len();
        let batch = &pairs[from..(from + s.batch).min(pairs.len())];
        let seqs: Vec<&[u32]> = batch.iter().map(|p| first_chunks[p.0].as_slice()).chain(batch.iter().map(|p| first_chunks[p.1].as_slice())).collect();
        let e = pooled(&model, &seqs)?;
        let n = batch.len() as i64;
        let cosine = (e.narrow(0, 0, n) * e.narrow(0, n, n)).sum_dim_intlist(1, false, Kind::Float);
        let target = Tensor::from_slice(&batch.iter().map(|p| p.2).collect::<Vec<f32>>());
        let loss = (cosine - target).square().mean(Kind::Float);
        opt.zero_grad();
        loss.backward();
        opt.clip_grad_norm(1.0);
        opt.set_lr(learning_rate(s, step, steps));
        opt.step();
        losses.push(loss.double_value(&[]));
    }
    write_model_folder(base, out, &vs)?;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    Ok(Trained {
        pairs: pairs.len(),
        positive: pairs.iter().filter(|p| p.2 > 0.5).count(),
        steps,
        loss_first: mean(&losses[..losses.len().min(5)]),
        loss_last: mean(&losses[losses.len().saturating_sub(5)..]),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Copies the base folder's files (not its weights, nor its ONNX exports, which would be stale)
/// into `out` and saves the tuned weights there, through a temporary file.
fn write_model_folder(base: &Path, out: &Path, vs: &nn::VarStore) -> Result<(), Error> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    copy_tree(base, out)?;
    let weights = out.join("model.safetensors");
    let partial = out.join("model.partial.safetensors");
    vs.save(&partial).map_err(|e| Error::Model { dir: out.to_path_buf(), what: format!("cannot save the tuned weights: {e}") })?;
    std::fs::rename(&partial, &weights).map_err(|e| Error::io(&weights, e))
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), Error> {
    for entry in std::fs::read_dir(from).map_err(|e| Error::io(from, e))? {
        let entry = entry.map_err(|e| Error::io(from, e))?;
        let name = entry.file_name();
        let (src, dst) = (entry.path(), to.join(&name));
        if name == "model.safetensors" || name == "onnx" || name == "SHA256SUMS" || name == "tune.json" {
            continue;
        }
        if src.is_dir() {
            std::fs::create_dir_all(&dst).map_err(|e| Error::io(&dst, e))?;
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(|e| Error::io(&dst, e))?;
        }
    }
    Ok(())
}

/// What `tune --cross-validate` measured.
pub struct CrossValidated {
    /// The frozen encoder's out-of-fold figures.
    pub frozen: Figures,
    /// Each objective's, with the encoder fine-tuned per fold.
    pub tuned: Vec<(Objective, Figures)>,
    /// A printable log of the folds.
    pub log: String,
}

/// Out-of-fold figures (`fit::report::FIGURES`) of a head's settings (`head`, as `fit` chose
/// them: features, training examples, L2, sentences) on the frozen encoder and, for every
/// objective, with the encoder fine-tuned per fold, plus a printable log. The comparison changes
/// the encoder only; the head's lexical models, listing rules and stance reading do not depend on
/// the encoder and are left out of it.
#[allow(clippy::too_many_arguments)]
pub fn cross_validate(
    base: &Path,
    head: Candidate,
    taxonomy: &Taxonomy,
    words: &WordPieces,
    examples: &[Example],
    folds: usize,
    s: &Settings,
    scratch: &Path,
) -> Result<CrossValidated, Error> {
    let names = taxonomy.topic_names();
    let fold_of = fit::fold_assignment(examples, folds, 0);
    let figures = |encoder: &dyn Encoder, keep: &dyn Fn(usize) -> bool| -> Result<Vec<(usize, Vec<crate::score::ChunkScores>)>, Error> {
        let prototypes = Prototypes::build(taxonomy, words, encoder, None)?;
        let alone = head.sentence_embedding == crate::score::SentenceEmbedding::Alone;
        let features = fit::chunk_features(examples, words, encoder, &prototypes, alone)?;
        let oof = fit::cross_validate(head, examples, &features, &fold_of, folds, encoder.dim(), names.len());
        Ok(oof.into_iter().filter(|(i, _)| keep(*i)).collect())
    };
    let mut log = String::new();
    let started = Instant::now();
    let frozen = BertEncoder::load(base, Device::Cpu)?;
    let frozen_oof = figures(&frozen as &dyn Encoder, &|_| true)?;
    drop(frozen);
    log.push_str(&format!("frozen encoder: features and heads in {:.0} s\n", started.elapsed().as_secs_f64()));
    eprintln!("parlscan: {}", log.lines().last().unwrap_or_default());
    let half = vec![0.5; names.len()];
    let score = |oof: &[(usize, Vec<crate::score::ChunkScores>)]| {
        fit::headline(&fit::cv::report(oof, examples, &names, &half, &crate::aggregate::Listing::default()))
    };
    let mut tuned = Vec::new();
    for objective in Objective::ALL {
        let mut tuned_oof = Vec::new();
        for fold in 0..folds {
            let train: Vec<&Example> = examples.iter().zip(&fold_of).filter(|(_, f)| **f != Some(fold)).map(|(e, _)| e).collect();
            let dir = scratch.join(format!("{}-fold-{fold}", objective.name()));
            let trained = fine_tune(base, &dir, words, &train, &Settings { seed: s.seed + fold as u64, objective, ..*s })?;
            let encoder = BertEncoder::load(&dir, Device::Cpu)?;
            let t = Instant::now();
            tuned_oof.extend(figures(&encoder as &dyn Encoder, &|i| fold_of[i] == Some(fold))?);
            log.push_str(&format!(
                "{} fold {fold}: {} pairs ({} positive) from {} training rows, {} steps, loss {:.3} -> {:.3}, {:.0} s training, {:.0} s features and heads\n",
                objective.name(),
                trained.pairs,
                trained.positive,
                train.len(),
                trained.steps,
                trained.loss_first,
                trained.loss_last,
                trained.seconds,
                t.elapsed().as_secs_f64()
            ));
            eprintln!("parlscan: {}", log.lines().last().unwrap_or_default());
            let _ = std::fs::remove_dir_all(&dir);
        }
        tuned_oof.sort_by_key(|(i, _)| *i);
        tuned.push((objective, score(&tuned_oof)));
    }
    Ok(CrossValidated { frozen: score(&frozen_oof), tuned, log })
}

/// The `tune` command.
pub fn run(args: &crate::cli::TuneArgs) -> Result<(), Error> {
    use crate::config::{check_model_dir, set_threads};
    use crate::files::{project_path, DEFAULT_MODEL};
    set_threads(args.threads);
    let base = args.model.clone().unwrap_or_else(|| project_path(DEFAULT_MODEL));
    check_model_dir(&base)?;
    if args.output.is_none() && !args.cross_validate {
        return Err(Error::Usage("nothing to do: pass -o DIR to write a tuned model, or --cross-validate to measure one".into()));
    }
    if let Some(out) = &args.output {
        if out.exists() && std::fs::canonicalize(out).ok() == std::fs::canonicalize(&base).ok() {
            return Err(Error::Usage(format!("-o {} is the base model folder; write the tuned model to a new folder", out.display())));
        }
    }
    // The head's settings are checked before the training data is read: a refusal comes first.
    let head = if args.cross_validate {
        let path = args.head.clone().unwrap_or_else(crate::score::head::default_path);
        Some((Candidate::of_head(&crate::score::head::HeadFile::load(&path)?, &path)?, path))
    } else {
        None
    };
    let inputs = fit::load_inputs(&args.data)?;
    let words = WordPieces::load(&base)?;
    let settings = Settings { pairs: args.pairs, epochs: args.epochs, seed: args.seed, objective: args.objective, ..Settings::default() };
    let examples = inputs.rows();
    if let Some((head, head_path)) = head {
        let scratch = tempfile::tempdir().map_err(|e| Error::io(Path::new("."), e))?;
        let CrossValidated { frozen, tuned, log } =
            cross_validate(&base, head, &inputs.taxonomy, &words, &examples, args.data.folds, &settings, scratch.path())?;
        print!("{log}");
        println!(
            "\n{}-fold cross-validation by debate, the settings of {} ({}; {} pairs per fold, seed {})",
            args.data.folds,
            head_path.display(),
            head.name(),
            settings.pairs,
            settings.seed
        );
        println!("{:<40} {:>9} {:>9} {:>9} {:>9}", "encoder", "on-topic", "topic", "stance", "stance");
        println!("{:<40} {:>9} {:>9} {:>9} {:>9}", "", "F1", "micro-F1", "macro-F1", "accuracy");
        let rows = std::iter::once(("frozen".to_string(), frozen))
            .chain(tuned.into_iter().map(|(o, f)| (format!("fine-tuned per fold, --objective {}", o.name()), f)));
        for (name, [a, b, c, d]) in rows {
            println!("{name:<40} {a:>9.3} {b:>9.3} {c:>9.3} {d:>9.3}");
        }
        println!("(stance read as the chunk average; fit's stance readings are not part of this comparison)");
    }
    if let Some(out) = &args.output {
        let rows: Vec<&Example> = examples.iter().collect();
        let trained = fine_tune(&base, out, &words, &rows, &settings)?;
        let provenance = serde_json::json!({
            "tool_version": env!("CARGO_PKG_VERSION"),
            "base_model": base.display().to_string(),
            "base_weights_sha256": fingerprint::sha256_file(&base.join("model.safetensors"))?,
            "training_files": inputs.files,
            "rows": rows.len(),
            "settings": {"pairs": settings.pairs, "epochs": settings.epochs, "batch": settings.batch,
                         "learning_rate": settings.learning_rate, "warmup": settings.warmup, "seed": settings.seed,
                         "objective": settings.objective,
                         "loss": "cosine similarity, squared error", "optimiser": "AdamW, weight decay 0.01, gradient norm 1"},
            "trained": trained,
        });
        let path = out.join("tune.json");
        std::fs::write(&path, serde_json::to_string_pretty(&provenance).expect("json") + "\n").map_err(|e| Error::io(&path, e))?;
        eprintln!(
            "parlscan: wrote {} ({} pairs, {} steps, loss {:.3} -> {:.3}, {:.0} s). Fit a head on it: parlscan fit --model {} ...",
            out.display(),
            trained.pairs,
            trained.steps,
            trained.loss_first,
            trained.loss_last,
            trained.seconds,
            out.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(on: bool, topics: &[usize]) -> Example {
        let mut t = vec![false; 4];
        topics.iter().for_each(|&i| t[i] = true);
        Example { text: String::new(), on_topic: Some(on), topics: Some(t), stance: None, group: None }
    }

    #[test]
    fn positive_pairs_share_a_label_and_negative_pairs_share_none() {
        let rows = [example(true, &[0]), example(true, &[0, 1]), example(true, &[2]), example(false, &[]), example(false, &[]), example(true, &[])];
        let stance_only = Example { topics: None, ..example(true, &[]) };
        let mut all: Vec<&Example> = rows.iter().collect();
        all.push(&stance_only);
        let pairs = sample_pairs(&all, 200, 7, Objective::Topics);
        assert_eq!(pairs.len(), 200);
        assert_eq!(pairs.iter().filter(|p| p.2 > 0.5).count(), 100, "alternating positive and negative");
        for &(a, b, target) in &pairs {
            assert_ne!(a, b);
            assert!(a < rows.len() && b < rows.len(), "a row without topic labels is never paired");
            let (la, lb) = (PairLabels::of(all[a]).unwrap(), PairLabels::of(all[b]).unwrap());
            assert_eq!(la.shares(&lb), target > 0.5, "{la:?} {lb:?}");
        }
        assert_eq!(sample_pairs(&all, 200, 7, Objective::Topics), pairs, "the same seed gives the same pairs");
        assert_ne!(sample_pairs(&all, 200, 8, Objective::Topics), pairs);
    }

    #[test]
    fn stance_pairs_share_a_stance_or_set_pro_against_anti() {
        let with_stance = |k: Option<usize>| Example { stance: k, ..example(k.is_some(), &[0]) };
        let rows = [with_stance(Some(0)), with_stance(Some(0)), with_stance(Some(1)), with_stance(Some(1)), with_stance(Some(2)), with_stance(Some(3)), with_stance(None)];
        let all: Vec<&Example> = rows.iter().collect();
        let pairs = sample_pairs(&all, 100, 3, Objective::Stance);
        assert_eq!((pairs.len(), pairs.iter().filter(|p| p.2 > 0.5).count()), (100, 50));
        for &(a, b, target) in &pairs {
            let (ka, kb) = (rows[a].stance.unwrap(), rows[b].stance.unwrap());
            if target > 0.5 {
                assert_eq!(ka, kb);
            } else {
                assert!(matches!((ka, kb), (0, 1) | (1, 0)), "negatives are pro against anti: {ka} {kb}");
            }
        }
        let both = sample_pairs(&all, 100, 3, Objective::Both);
        assert_eq!(both.len(), 100);
        let stance_pair = |&(a, b, t): &(usize, usize, f32)| {
            let (ka, kb) = (rows[a].stance, rows[b].stance);
            ka.is_some() && kb.is_some() && if t > 0.5 { ka == kb } else { matches!((ka, kb), (Some(0), Some(1)) | (Some(1), Some(0))) }
        };
        assert!(both.chunks(4).all(|c| c.len() < 4 || (stance_pair(&c[2]) && stance_pair(&c[3]))), "two stance pairs in every four");
    }

    #[test]
    fn no_pairs_without_two_kinds_of_label() {
        let rows = [example(true, &[1]), example(true, &[1])];
        let all: Vec<&Example> = rows.iter().collect();
        assert!(sample_pairs(&all, 10, 0, Objective::Topics).iter().all(|p| p.2 > 0.5), "no negative exists");
        assert!(sample_pairs(&all, 10, 0, Objective::Topics).len() < 10);
    }

    #[test]
    fn cross_validation_fits_the_settings_a_head_records() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/heads/default.json");
        let file = crate::score::head::HeadFile::load(&path).unwrap();
        let head = Candidate::of_head(&file, &path).unwrap();
        let s = &file.settings;
        assert_eq!(s["features"], head.features.name());
        assert_eq!(s["taxonomy_examples"], head.taxonomy_examples);
        assert_eq!(s["l2"], head.l2);
        assert_eq!(s["sentence_weight"], head.sentence_weight, "the settings and the field agree");
        assert_eq!(s["sentence_embedding"], serde_json::to_value(head.sentence_embedding).unwrap());

        let mut old = file.clone();
        old.settings.as_object_mut().unwrap().remove("l2");
        let refused = Candidate::of_head(&old, &path).unwrap_err().to_string();
        assert!(refused.contains("`l2`") && refused.contains("default.json"), "{refused}");
    }

    #[test]
    fn learning_rate_warms_up_then_decays_to_zero() {
        let s = Settings::default();
        assert_eq!(learning_rate(&s, 0, 50), 0.0);
        assert!((learning_rate(&s, 5, 50) - s.learning_rate).abs() < 1e-12);
        assert!(learning_rate(&s, 30, 50) < s.learning_rate);
        assert!(learning_rate(&s, 49, 50) > 0.0 && learning_rate(&s, 50, 50) == 0.0);
    }
}
