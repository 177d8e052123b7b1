//! Wires the stages: read → clean and segment → tokenize → batch → encode → score → aggregate →
//! write. Speeches flow in blocks, so memory stays flat however large the corpus; within a block
//! segmentation runs on rayon threads and encoding on libtorch's. Counts what passed, what was
//! not scored and why, and how fast.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::aggregate::{self, SpeechScores};
use crate::config::{self, HeadChoice, RunConfig};
use crate::encoder::bert::BertEncoder;
use crate::fingerprint;
use crate::score::head::{Head, HeadFile};
use crate::score::prototypes::Prototypes;
use crate::batch;
use crate::corpus::{Corpus, Speech};
use crate::encoder::Encoder;
use crate::error::Error;
use crate::output::{self, Sink};
use crate::score::Scorer;
use crate::taxonomy::Taxonomy;
use crate::tokenize::{Segmented, WordPieces};

/// Speeches read, segmented and encoded together. Big enough to fill batches, small enough that
/// memory does not grow with the corpus.
pub const BLOCK: usize = 256;

/// Everything needed to label speeches, loaded once.
pub struct Labeller {
    pub words: WordPieces,
    pub encoder: Box<dyn Encoder>,
    pub scorer: Box<dyn Scorer>,
    pub taxonomy: Taxonomy,
    pub batch_tokens: usize,
    /// Per-topic thresholds and the on-topic threshold (the head's, or the taxonomy's).
    pub thresholds: Vec<f64>,
    pub on_topic_threshold: f64,
    /// What scores: "prototypes" or the head file's path.
    pub scorer_name: String,
}

/// What a run did, for the summary on stderr and the exit code.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub speeches: usize,
    pub scored: usize,
    /// Rows not scored, by status.
    pub not_scored: BTreeMap<String, usize>,
    pub chunks: usize,
    pub tokens: usize,
    pub wall: Duration,
    /// What scored: "prototypes" or a head file.
    pub scorer: String,
}

impl Summary {
    pub fn speeches_per_second(&self) -> f64 {
        self.speeches as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} speeches ({} scored), {} chunks, {} word-pieces in {:.1} s ({:.1} speeches/s)",
            self.speeches,
            self.scored,
            self.chunks,
            self.tokens,
            self.wall.as_secs_f64(),
            self.speeches_per_second()
        )?;
        for (status, n) in &self.not_scored {
            write!(f, "\n  not scored: {n} × {status}")?;
        }
        Ok(())
    }
}

/// A speech after segmentation: its pieces and chunks, or why it cannot be scored.
type Prepared = Result<Segmented, String>;

fn prepare(words: &WordPieces, speech: &Speech) -> Prepared {
    let text = speech.text.as_ref().map_err(|p| p.status())?;
    match words.segment(text) {
        Ok(seg) if seg.chunks.is_empty() => Err("empty".into()),
        Ok(seg) => Ok(seg),
        Err(e) => Err(format!("tokenizer_error: {e}")),
    }
}

impl Labeller {
    /// Scores a block of speeches; one result per speech, in order.
    pub fn label_block(&self, speeches: &[Speech]) -> Result<Vec<(Prepared, Option<(SpeechScores, String)>)>, Error> {
        let words = &self.words;
        let prepared: Vec<Prepared> = speeches.par_iter().map(|s| prepare(words, s)).collect();
        let mut owners = Vec::new();
        let mut sequences: Vec<&[u32]> = Vec::new();
        for (i, p) in prepared.iter().enumerate() {
            if let Ok(seg) = p {
                for c in &seg.chunks {
                    owners.push(i);
                    sequences.push(&c.ids);
                }
            }
        }
        let embeddings = batch::embed_all(&*self.encoder, &sequences, self.words.max_len(), self.batch_tokens)?;
        let chunk_scores = self.scorer.score(embeddings.view());

        let (thresholds, on_threshold) = (&self.thresholds, self.on_topic_threshold);
        let mut per_speech: Vec<Option<SpeechScores>> = vec![None; speeches.len()];
        let mut start = 0;
        while start < owners.len() {
            let owner = owners[start];
            let end = start + owners[start..].iter().take_while(|&&o| o == owner).count();
            per_speech[owner] = Some(aggregate::speech(&chunk_scores[start..end], thresholds, on_threshold));
            start = end;
        }
        let evidence = self.evidence(&prepared, &per_speech)?;
        Ok(prepared
            .into_iter()
            .zip(per_speech)
            .zip(evidence)
            .map(|((p, s), e)| (p, s.map(|s| (s, e))))
            .collect())
    }

    /// The sentence that most supports each speech's top topic: the best-scoring piece of the
    /// chunk where that topic is strongest (pieces of one-piece chunks need no extra encoding).
    fn evidence(&self, prepared: &[Prepared], scores: &[Option<SpeechScores>]) -> Result<Vec<String>, Error> {
        let mut out = vec![String::new(); prepared.len()];
        let mut candidates: Vec<(usize, usize)> = Vec::new();
        for (i, (p, s)) in prepared.iter().zip(scores).enumerate() {
            let (Ok(seg), Some(s)) = (p, s) else { continue };
            let Some(chunk) = s.best_chunk else { continue };
            let pieces = seg.chunks[chunk].pieces.clone();
            if pieces.len() == 1 {
                out[i] = seg.piece_text(pieces.start).to_string();
            } else {
                candidates.extend(pieces.map(|k| (i, k)));
            }
        }
        if candidates.is_empty() {
            return Ok(out);
        }
        let wrapped: Vec<Vec<u32>> = candidates
            .iter()
            .map(|&(i, k)| self.words.wrap(&prepared[i].as_ref().expect("scored").pieces[k].ids))
            .collect();
        let seqs: Vec<&[u32]> = wrapped.iter().map(Vec::as_slice).collect();
        let embeddings = batch::embed_all(&*self.encoder, &seqs, self.words.max_len(), self.batch_tokens)?;
        let piece_scores = self.scorer.score(embeddings.view());
        let mut best: Vec<Option<(f64, usize)>> = vec![None; prepared.len()];
        for (&(i, k), ps) in candidates.iter().zip(&piece_scores) {
            let top = scores[i].as_ref().and_then(SpeechScores::top_topic).expect("has a top topic");
            let value = ps.topics[top];
            if best[i].is_none_or(|(v, _)| value > v) {
                best[i] = Some((value, k));
            }
        }
        for (i, b) in best.into_iter().enumerate() {
            if let (Some((_, k)), Ok(seg)) = (b, &prepared[i]) {
                out[i] = seg.piece_text(k).to_string();
            }
        }
        Ok(out)
    }

    /// Labels a whole corpus into a sink, in input order. `progress` is told after each block.
    pub fn run(&self, corpus: &mut Corpus, sink: &mut Sink, mut progress: impl FnMut(&Summary)) -> Result<Summary, Error> {
        let started = Instant::now();
        let mut summary = Summary { scorer: self.scorer_name.clone(), ..Summary::default() };
        let multi = corpus.sources.len() > 1;
        let mut block = Vec::with_capacity(BLOCK);
        loop {
            block.clear();
            while block.len() < BLOCK {
                match corpus.next_speech()? {
                    Some(s) => block.push(s),
                    None => break,
                }
            }
            if block.is_empty() {
                break;
            }
            for (speech, (prepared, scored)) in block.iter().zip(self.label_block(&block)?) {
                let mut row: Vec<String> = speech.fields.clone();
                if multi {
                    row.push(corpus.sources[speech.source].name.clone());
                }
                summary.speeches += 1;
                match (&prepared, scored) {
                    (Ok(seg), Some((scores, evidence))) => {
                        summary.scored += 1;
                        summary.chunks += seg.chunks.len();
                        summary.tokens += seg.n_tokens();
                        row.extend(output::scored_fields(&scores, &self.taxonomy, &evidence, seg.n_words, seg.chunks.len()));
                    }
                    (Err(status), _) => {
                        let n_words = speech.text.as_ref().map_or(0, |t| t.split_whitespace().count());
                        *summary.not_scored.entry(status_kind(status)).or_default() += 1;
                        row.extend(output::unscored_fields(&self.taxonomy, n_words, status));
                    }
                    (Ok(_), None) => unreachable!("every segmented speech is scored"),
                }
                sink.write(row.iter().map(String::as_str))?;
            }
            summary.wall = started.elapsed();
            progress(&summary);
        }
        summary.wall = started.elapsed();
        Ok(summary)
    }
}

/// The status without its details, for counting (`malformed: 3 fields…` → `malformed`).
fn status_kind(status: &str) -> String {
    status.split(':').next().unwrap_or(status).to_string()
}

/// The output header: passthrough columns, `source_file` when several inputs, then the labels.
pub fn header(corpus: &Corpus, taxonomy: &Taxonomy) -> Vec<String> {
    let mut cols = corpus.columns.clone();
    if corpus.sources.len() > 1 {
        cols.push("source_file".into());
    }
    cols.extend(output::label_columns(taxonomy));
    cols
}

impl Labeller {
    /// Loads the tokenizer, the model, the label prototypes and the head a configuration names.
    pub fn load(config: &RunConfig) -> Result<Self, Error> {
        let words = WordPieces::load(&config.model_dir)?;
        let encoder = BertEncoder::load(&config.model_dir, tch::Device::Cpu)?;
        let prototypes = Prototypes::build(&config.taxonomy, &words, &encoder)?;
        let head = match &config.head {
            HeadChoice::None => None,
            HeadChoice::Named(path) => Some((path.clone(), load_head(path, config)?)),
            HeadChoice::Default(path) if !path.is_file() => None,
            HeadChoice::Default(path) => match load_head(path, config) {
                Ok(file) => Some((path.clone(), file)),
                Err(e) => {
                    eprintln!("parlscan: note: not using the default head: {e}");
                    None
                }
            },
        };
        let taxonomy = config.taxonomy.clone();
        let (scorer, thresholds, on_topic_threshold, scorer_name): (Box<dyn Scorer>, _, _, _) = match head {
            Some((path, file)) => {
                let thresholds = file.topic_heads.iter().map(|t| t.threshold).collect();
                let on = file.on_topic_threshold;
                (Box::new(Head { file, prototypes }), thresholds, on, path.display().to_string())
            }
            None => {
                let thresholds = taxonomy.topics.iter().map(|t| t.threshold()).collect();
                let on = taxonomy.scoring.on_topic_threshold;
                (Box::new(prototypes), thresholds, on, "prototypes".to_string())
            }
        };
        Ok(Labeller {
            words,
            encoder: Box::new(encoder),
            scorer,
            taxonomy,
            batch_tokens: config.batch_tokens,
            thresholds,
            on_topic_threshold,
            scorer_name,
        })
    }
}

/// Loads a head file and checks it against the model weights and taxonomy in use.
fn load_head(path: &std::path::Path, config: &RunConfig) -> Result<HeadFile, Error> {
    let file = HeadFile::load(path)?;
    let encoder_sha256 = fingerprint::sha256_file(&config.model_dir.join("model.safetensors"))?;
    file.check(path, &encoder_sha256, &config.taxonomy)?;
    Ok(file)
}

/// The `classify` command: label every input into the output, with a progress bar on stderr when
/// it is a terminal. The output file appears only if the whole run succeeds.
pub fn classify(config: &RunConfig) -> Result<Summary, Error> {
    config::set_threads(config.threads);
    let mut corpus = Corpus::open(&config.inputs, &config.columns)?;
    let labeller = Labeller::load(config)?;
    let mut sink = Sink::create(config.output.as_deref(), &header(&corpus, &config.taxonomy))?;
    let bar = progress_bar(config);
    let summary = labeller.run(&mut corpus, &mut sink, |s| {
        if let Some(bar) = &bar {
            bar.set_position(s.speeches as u64);
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    sink.finish()?;
    Ok(summary)
}

fn progress_bar(config: &RunConfig) -> Option<ProgressBar> {
    if config.quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let total = crate::corpus::csv::count_rows(&config.inputs);
    let bar = match total {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::no_length(),
    };
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} speeches ({per_sec}, ETA {eta})",
    )
    .expect("a valid template");
    bar.set_style(style);
    Some(bar)
}
