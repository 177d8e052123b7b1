//! Wires the stages: read → clean and segment → tokenize → batch → encode → score → aggregate →
//! write. Speeches flow in blocks, so memory stays flat however large the corpus; within a block
//! segmentation runs on rayon threads and encoding on libtorch's. Counts what passed, what was
//! not scored and why, and how fast; checkpoints file outputs as it goes, resumes them, reuses a
//! previous output's rows (`--incremental`), and writes the manifest and rejects beside it.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::aggregate::{self, Listing, SpeechScores};
use crate::batch::{self, SentenceEmbedding};
use crate::config::{self, HeadChoice, RunConfig};
use crate::corpus::{Corpus, Speech};
use crate::encoder::bert::Precision as TorchPrecision;
use crate::encoder::onnx::Precision;
use crate::encoder::{self, Encoder, Engine};
use crate::error::{exit, Error};
use crate::fingerprint;
use crate::incremental::Previous;
use crate::manifest::{self, Counts, Fingerprints, Manifest, Timings};
use crate::output::{self, Sink};
use crate::output_formats::{FormatContext, OutputFormat};
use crate::score::cache::EmbeddingCache;
use crate::score::head::{Head, HeadFile};
use crate::score::prototypes::Prototypes;
use crate::score::lexical::{self, Lexical};
use crate::score::Scorer;
use crate::taxonomy::Taxonomy;
use crate::tokenize::{Segmented, WordPieces};

/// Speeches read, segmented and encoded together (at most; fewer when checkpoints are more
/// frequent). Big enough to fill batches, small enough that memory does not grow with the corpus.
/// Output does not depend on it.
pub const BLOCK: usize = 256;

/// Everything needed to label speeches, loaded once.
pub struct Labeller {
    pub words: WordPieces,
    pub encoder: Box<dyn Encoder>,
    pub scorer: Box<dyn Scorer>,
    pub taxonomy: Taxonomy,
    /// Per-topic thresholds and the on-topic threshold (the head's, or the taxonomy's).
    pub thresholds: Vec<f64>,
    pub on_topic_threshold: f64,
    /// Weight of each chunk's two best sentences in its topic scores (the head's; 0 without one).
    pub sentence_weight: f64,
    /// How sentences are embedded for that mixing and for the evidence column.
    pub sentence_embedding: SentenceEmbedding,
    /// The head's lexical topic models, mixed into every chunk's topic scores.
    pub lexical: Option<Lexical>,
    /// The head's listing rules: at least an on-topic speech's strongest topic or topics, and
    /// topics listed on off-topic speeches too (`aggregate::Listing`).
    pub listing: Listing,
    /// The head file in use, if any.
    pub head: Option<PathBuf>,
    /// The engine that runs the model, in words (`encoder::Loaded::description`).
    pub engine: String,
    /// For `--fast`: the full-precision labeller that rescores speeches whose fast labels are a
    /// near tie, and what counts as one.
    pub fallback: Option<(Box<Labeller>, NearTie)>,
}

/// How close to a decision boundary `--fast` rescores a speech at full precision. A label flips
/// only where it was close, and how close depends on how far the fast engine moves scores: set
/// at about 1.3 times the largest move seen over 1,635 speeches (README, *--fast*). Topic scores
/// against their thresholds are left out (a margin on them rescored most long speeches); where a
/// head tops up an on-topic speech's topics (`Listing::min_topics`), the last topic taken and the
/// next one within the stance margin count as a near tie.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NearTie {
    /// `on_topic` within this of its threshold.
    pub on_topic: f64,
    /// An on-topic speech's two most probable stances within this of each other; also the
    /// margin between the last topic a top-up takes and the next.
    pub stance: f64,
}

impl NearTie {
    /// The margins for a fast engine; `None` for a full-precision one, which needs no rescoring.
    pub fn for_engine(engine: Engine) -> Option<NearTie> {
        match engine {
            // int8 moved stance probabilities by up to 0.23 and on_topic by up to 0.27.
            Engine::Onnx(Precision::Int8) => Some(NearTie { on_topic: 0.05, stance: 0.1 }),
            // bfloat16 moved stance probabilities by up to 0.017 and on_topic by up to 0.014.
            Engine::Torch { precision: TorchPrecision::Bf16, .. } => Some(NearTie { on_topic: 0.02, stance: 0.02 }),
            _ => None,
        }
    }

    /// Whether a speech's fast scores are this close to a decision boundary.
    pub fn holds(&self, s: &SpeechScores, on_topic_threshold: f64, thresholds: &[f64], listing: &Listing) -> bool {
        if (s.on_topic - on_topic_threshold).abs() < self.on_topic {
            return true;
        }
        if s.stance_class.is_none() {
            return false;
        }
        let descending = |xs: &[f64]| {
            let mut xs = xs.to_vec();
            xs.sort_by(|a, b| b.total_cmp(a));
            xs
        };
        let stance = descending(&s.stance);
        if stance.len() > 1 && stance[0] - stance[1] < self.stance {
            return true;
        }
        let n = listing.min_topics;
        let passing = s.topics.iter().zip(thresholds).filter(|(t, th)| t >= th).count();
        let topics = descending(&s.topics);
        passing < n && topics.len() > n && topics[n - 1] - topics[n] < self.stance
    }
}

/// What a run did, for the summary on stderr, the checkpoint, the manifest and the exit code.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub counts: Counts,
    pub chunks: usize,
    pub tokens: usize,
    #[serde(skip)]
    pub wall: Duration,
    /// Loading the tokenizer, model, label prototypes and head, before the first speech.
    #[serde(skip)]
    pub startup: Duration,
    /// What scored: "prototypes" or a head file.
    #[serde(skip)]
    pub scorer: String,
    /// Rows that could not be parsed: file, line, reason, raw bytes.
    #[serde(skip)]
    pub rejects: Vec<[String; 4]>,
    /// Inputs that failed part-way (what was read before stays), with why.
    #[serde(skip)]
    pub skipped_inputs: Vec<String>,
}

impl Summary {
    pub fn speeches_per_second(&self) -> f64 {
        self.counts.read as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// 0 when every row is labelled, 1 when some were not scored or an input was cut short.
    pub fn exit_code(&self) -> i32 {
        if self.counts.not_scored.is_empty() && self.skipped_inputs.is_empty() { exit::OK } else { exit::PARTIAL }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.counts;
        write!(f, "{} speeches ({} scored", c.read, c.scored)?;
        if c.reused > 0 {
            write!(f, ", {} reused from the previous output", c.reused)?;
        }
        if c.resumed > 0 {
            write!(f, ", {} resumed from a checkpoint", c.resumed)?;
        }
        if c.rescored > 0 {
            write!(f, ", {} near ties rescored at full precision", c.rescored)?;
        }
        write!(
            f,
            "), {} chunks, {} word-pieces in {:.1} s ({:.1} speeches/s) after a {:.2} s start-up",
            self.chunks,
            self.tokens,
            self.wall.as_secs_f64(),
            self.speeches_per_second(),
            self.startup.as_secs_f64()
        )?;
        for (status, n) in &c.not_scored {
            write!(f, "\n  not scored: {n} × {status}")?;
        }
        if c.skipped_empty > 0 {
            write!(f, "\n  skipped: {} speeches with no text (ParlParse)", c.skipped_empty)?;
        }
        for why in &self.skipped_inputs {
            write!(f, "\n  input cut short (rows before the fault kept): {why}")?;
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

/// One speech's segmentation and, when scored, its scores and evidence sentence.
type Labelled = (Prepared, Option<(SpeechScores, String)>);

impl Labeller {
    /// Scores a block of speeches; one result per speech, in order. With a fallback (`--fast`),
    /// speeches near a decision boundary are scored again by it; returns how many were.
    pub fn label_block(&self, speeches: &[&Speech]) -> Result<(Vec<Labelled>, usize), Error> {
        let mut out = self.label_once(speeches)?;
        let Some((fallback, near_tie)) = &self.fallback else { return Ok((out, 0)) };
        let close: Vec<usize> = out
            .iter()
            .enumerate()
            .filter(|(_, (_, s))| s.as_ref().is_some_and(|(s, _)| near_tie.holds(s, self.on_topic_threshold, &self.thresholds, &self.listing)))
            .map(|(i, _)| i)
            .collect();
        if !close.is_empty() {
            let again: Vec<&Speech> = close.iter().map(|&i| speeches[i]).collect();
            for (i, labelled) in close.iter().zip(fallback.label_once(&again)?) {
                out[*i] = labelled;
            }
        }
        Ok((out, close.len()))
    }

    /// Scores a block of speeches with this labeller's own encoder.
    fn label_once(&self, speeches: &[&Speech]) -> Result<Vec<Labelled>, Error> {
        let words = &self.words;
        let prepared: Vec<Prepared> = speeches.par_iter().map(|s| prepare(words, s)).collect();
        let mut owners = Vec::new();
        let mut sequences: Vec<&[u32]> = Vec::new();
        let mut spans: Vec<Vec<std::ops::Range<usize>>> = Vec::new();
        for (i, p) in prepared.iter().enumerate() {
            if let Ok(seg) = p {
                for c in &seg.chunks {
                    owners.push(i);
                    sequences.push(&c.ids);
                    // Sentences of multi-sentence chunks, for sentence-level scores and the evidence.
                    spans.push(if c.spans.len() > 1 { c.spans.clone() } else { Vec::new() });
                }
            }
        }
        let (embeddings, span_embeddings) =
            batch::embed_with_sentences(&*self.encoder, &sequences, &spans, self.sentence_embedding)?;
        let mut chunk_scores = self.scorer.score(embeddings.view());
        if self.sentence_weight > 0.0 {
            for (chunk, sentences) in chunk_scores.iter_mut().zip(&span_embeddings) {
                if sentences.nrows() > 1 {
                    crate::score::mix_sentences(chunk, &self.scorer.score(sentences.view()), self.sentence_weight);
                }
            }
        }
        if let Some(lex) = &self.lexical {
            let probs: Vec<Option<Vec<f64>>> = speeches
                .par_iter()
                .zip(&prepared)
                .map(|(s, p)| match (p, &s.text) {
                    (Ok(_), Ok(text)) => Some(lex.probs(text)),
                    _ => None,
                })
                .collect();
            for (chunk, &owner) in chunk_scores.iter_mut().zip(&owners) {
                lexical::mix(chunk, probs[owner].as_ref().expect("a chunk's speech has text"), lex.weight);
            }
        }

        let (thresholds, on_threshold) = (&self.thresholds, self.on_topic_threshold);
        let mut per_speech: Vec<Option<SpeechScores>> = vec![None; speeches.len()];
        let mut start = 0;
        while start < owners.len() {
            let owner = owners[start];
            let end = start + owners[start..].iter().take_while(|&&o| o == owner).count();
            per_speech[owner] = Some(aggregate::speech(&chunk_scores[start..end], thresholds, on_threshold, &self.listing));
            start = end;
        }
        let first_chunk: Vec<usize> = {
            let mut firsts = vec![usize::MAX; speeches.len()];
            for (k, &o) in owners.iter().enumerate().rev() {
                firsts[o] = k;
            }
            firsts
        };
        let evidence = self.evidence(&prepared, &per_speech, &first_chunk, &span_embeddings);
        Ok(prepared
            .into_iter()
            .zip(per_speech)
            .zip(evidence)
            .map(|((p, s), e)| (p, s.map(|s| (s, e))))
            .collect())
    }

    /// The sentence that most supports each speech's top topic: among the sentences of the chunk
    /// where that topic is strongest, the one whose embedding (in context, or alone as the head
    /// says) scores highest for it.
    fn evidence(
        &self,
        prepared: &[Prepared],
        scores: &[Option<SpeechScores>],
        first_chunk: &[usize],
        span_embeddings: &[ndarray::Array2<f32>],
    ) -> Vec<String> {
        prepared
            .iter()
            .zip(scores)
            .enumerate()
            .map(|(i, (p, s))| {
                let (Ok(seg), Some(s)) = (p, s) else { return String::new() };
                let (Some(chunk), Some(top)) = (s.best_chunk, s.top_topic()) else { return String::new() };
                let pieces = seg.chunks[chunk].pieces.clone();
                let best = if pieces.len() == 1 {
                    0
                } else {
                    let sentences = &span_embeddings[first_chunk[i] + chunk];
                    let values: Vec<f64> = self.scorer.score(sentences.view()).iter().map(|c| c.topics[top]).collect();
                    aggregate::argmax(&values)
                };
                seg.piece_text(pieces.start + best).to_string()
            })
            .collect()
    }

    /// Labels a whole corpus into a sink, in input order. The first `skip` rows are already in
    /// the sink (resumed); `previous` offers labels to reuse. `progress` is told after each block.
    pub fn run(
        &self,
        corpus: &mut Corpus,
        sink: &mut Sink,
        options: RunOptions<'_>,
        mut progress: impl FnMut(&Summary),
    ) -> Result<Summary, Error> {
        let started = Instant::now();
        let mut summary = match &options.resumed_summary {
            Some(json) => serde_json::from_value(json.clone()).unwrap_or_default(),
            None => Summary::default(),
        };
        summary.scorer = self.head.as_ref().map_or("prototypes".into(), |p| p.display().to_string());
        let multi = corpus.sources.len() > 1;
        let block_size = options.checkpoint_every.clamp(1, BLOCK);
        let mut skipped = 0;
        let mut position = 0usize;
        let mut block: Vec<(usize, Speech)> = Vec::with_capacity(block_size);
        loop {
            block.clear();
            while block.len() < block_size {
                let Some(speech) = corpus.next_speech()? else { break };
                position += 1;
                if options.shard.is_some_and(|s| !s.owns(&speech.id)) {
                    continue;
                }
                if let Err(problem) = &speech.text {
                    summary.rejects.push(reject(corpus, &speech, &problem.status()));
                }
                if skipped < options.skip {
                    skipped += 1;
                    continue;
                }
                block.push((position - 1, speech));
            }
            if block.is_empty() {
                break;
            }
            let reused: Vec<Option<&[String]>> = block
                .iter()
                .map(|(_, s)| match (&options.previous, &s.text) {
                    (Some(p), Ok(text)) => p.get(&s.id, text),
                    _ => None,
                })
                .collect();
            let to_score: Vec<&Speech> = block.iter().zip(&reused).filter(|(_, r)| r.is_none()).map(|((_, s), _)| s).collect();
            let (labelled, rescored) = self.label_block(&to_score)?;
            summary.counts.rescored += rescored;
            let mut labelled = labelled.into_iter();
            for ((at, speech), reuse) in block.iter().zip(reused) {
                let mut row: Vec<String> = Vec::with_capacity(speech.fields.len() + 32);
                if options.shard.is_some() {
                    row.push(at.to_string());
                }
                row.extend(speech.fields.iter().cloned());
                if multi {
                    row.push(corpus.sources[speech.source].name.clone());
                }
                summary.counts.read += 1;
                if let Some(labels) = reuse {
                    summary.counts.reused += 1;
                    row.extend(labels.iter().cloned());
                    sink.write_row(&row)?;
                    continue;
                }
                match labelled.next().expect("one result per speech scored") {
                    (Ok(seg), Some((scores, evidence))) => {
                        summary.counts.scored += 1;
                        summary.chunks += seg.chunks.len();
                        summary.tokens += seg.n_tokens();
                        row.extend(output::scored_fields(&scores, &self.taxonomy, &evidence, seg.n_words, seg.chunks.len()));
                    }
                    (Err(status), _) => {
                        let n_words = speech.text.as_ref().map_or(0, |t| t.split_whitespace().count());
                        *summary.counts.not_scored.entry(status_kind(&status)).or_default() += 1;
                        if speech.text.is_err() {
                            summary.counts.rejected += 1;
                        }
                        row.extend(output::unscored_fields(&self.taxonomy, n_words, &status));
                    }
                    (Ok(_), None) => unreachable!("every segmented speech is scored"),
                }
                sink.write_row(&row)?;
            }
            sink.checkpoint(serde_json::to_value(&summary).expect("serialises"), false)?;
            summary.wall = started.elapsed();
            progress(&summary);
        }
        summary.counts.resumed = options.skip;
        summary.wall = started.elapsed();
        Ok(summary)
    }
}

/// How a run continues earlier work.
#[derive(Default)]
pub struct RunOptions<'a> {
    /// Rows already in the output, from a checkpoint.
    pub skip: usize,
    /// The counts the checkpoint recorded for them.
    pub resumed_summary: Option<serde_json::Value>,
    /// A previous output whose rows may be reused.
    pub previous: Option<&'a Previous>,
    /// Rows between checkpoints.
    pub checkpoint_every: usize,
    /// Label only this shard's speeches, each row led by its input position.
    pub shard: Option<crate::shard::Shard>,
}

/// A rejects-file row: file, line, reason, the raw bytes (invalid UTF-8 as `\xNN`).
fn reject(corpus: &Corpus, speech: &Speech, reason: &str) -> [String; 4] {
    let mut raw = String::new();
    for chunk in speech.raw.utf8_chunks() {
        raw.push_str(chunk.valid());
        for b in chunk.invalid() {
            raw.push_str(&format!("\\x{b:02X}"));
        }
    }
    [corpus.sources[speech.source].name.clone(), speech.line.to_string(), reason.to_string(), raw]
}

/// The status without its details, for counting (`malformed: 3 fields…` → `malformed`).
fn status_kind(status: &str) -> String {
    status.split(':').next().unwrap_or(status).to_string()
}

/// The column that leads a part file's rows: the row's position in the whole input.
pub const PART_ROW_COLUMN: &str = "parlscan_row";

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
    /// `encoder_sha256` is the model weights' SHA-256, which a head must have been fitted on.
    /// With `--fast` (bf16 or int8), also loads the default full-precision engine to rescore near
    /// ties (unless `--no-rescore`).
    pub fn load(config: &RunConfig, encoder_sha256: &str) -> Result<Self, Error> {
        let mut labeller = Self::load_engine(config, config.engine, encoder_sha256)?;
        if let Some(near_tie) = NearTie::for_engine(config.engine).filter(|_| config.rescore_near_ties) {
            let full = Self::load_engine(config, Engine::DEFAULT, encoder_sha256)?;
            labeller.engine = format!(
                "{}; near ties (on-topic within {} of the threshold, or stances within {}) rescored by {}",
                labeller.engine, near_tie.on_topic, near_tie.stance, full.engine
            );
            labeller.fallback = Some((Box::new(full), near_tie));
        }
        Ok(labeller)
    }

    fn load_engine(config: &RunConfig, engine: Engine, encoder_sha256: &str) -> Result<Self, Error> {
        let words = WordPieces::load(&config.model_dir)?;
        let loaded = encoder::load(&config.model_dir, engine, config.threads, encoder_sha256)?;
        let cache = EmbeddingCache::from_env(loaded.cache_key);
        let prototypes = Prototypes::build(&config.taxonomy, &words, &*loaded.encoder, cache.as_ref())?;
        let head = match &config.head {
            HeadChoice::None => None,
            HeadChoice::Named(path) => Some((path.clone(), load_head(path, encoder_sha256, config)?)),
            HeadChoice::Default(path) if !path.is_file() => None,
            HeadChoice::Default(path) | HeadChoice::Installed(path) => match load_head(path, encoder_sha256, config) {
                Ok(file) => Some((path.clone(), file)),
                Err(e) => {
                    if let HeadChoice::Installed(_) = config.head {
                        crate::integrity::check_default_head(path, &config.model_dir, encoder_sha256)?;
                    }
                    eprintln!("parlscan: note: not using the default head: {e}");
                    None
                }
            },
        };
        let taxonomy = config.taxonomy.clone();
        let (lexical, listing) = head.as_ref().map_or((None, Listing::default()), |(_, f)| (f.lexical.clone(), f.listing()));
        let (scorer, thresholds, on_topic_threshold, (sentence_weight, sentence_embedding), head): (Box<dyn Scorer>, _, _, _, _) =
            match head {
                Some((path, file)) => {
                    let thresholds = file.topic_heads.iter().map(|t| t.threshold).collect();
                    let (on, sentences) = (file.on_topic_threshold, (file.sentence_weight, file.sentence_embedding));
                    (Box::new(Head { file, prototypes }), thresholds, on, sentences, Some(path))
                }
                None => {
                    let thresholds = taxonomy.topics.iter().map(|t| t.threshold()).collect();
                    let on = taxonomy.scoring.on_topic_threshold;
                    (Box::new(prototypes), thresholds, on, (0.0, SentenceEmbedding::Context), None)
                }
            };
        Ok(Labeller {
            words,
            encoder: loaded.encoder,
            scorer,
            taxonomy,
            thresholds,
            on_topic_threshold,
            sentence_weight,
            sentence_embedding,
            lexical,
            listing,
            head,
            engine: loaded.description,
            fallback: None,
        })
    }
}

/// Loads a head file and checks it against the model weights and taxonomy in use.
fn load_head(path: &std::path::Path, encoder_sha256: &str, config: &RunConfig) -> Result<HeadFile, Error> {
    let file = HeadFile::load(path)?;
    file.check(path, encoder_sha256, &config.taxonomy)?;
    Ok(file)
}

/// Where the canonical CSV of a converted output is journalled: hidden, beside the output.
fn canonical_path(dest: &Path) -> PathBuf {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dest.with_file_name(format!(".{name}.canonical.csv"))
}

/// Writes the requested format from the canonical CSV: to the output file (atomically) or stdout.
fn write_format(config: &RunConfig, canonical: &Path, labeller: &Labeller) -> Result<(), Error> {
    let ctx = FormatContext {
        text_col: config.columns.text.clone(),
        id_col: config.columns.id.clone(),
        topics: labeller.taxonomy.topics.iter().map(|t| t.name.clone()).collect(),
        thresholds: labeller.thresholds.clone(),
        model_version: format!(
            "parlscan {} {} {}",
            env!("CARGO_PKG_VERSION"),
            config.model_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            labeller.head.as_ref().map_or("prototypes".into(), |h| h.display().to_string())
        ),
        excel_bom: config.excel,
        output: config.output.clone().unwrap_or_else(|| PathBuf::from("-")),
    };
    match &config.output {
        Some(dest) => {
            let mut bytes = Vec::new();
            crate::output_formats::convert(config.format, canonical, &mut bytes, &ctx)?;
            output::write_atomically(dest, &bytes)
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = std::io::BufWriter::new(stdout.lock());
            crate::output_formats::convert(config.format, canonical, &mut lock, &ctx)?;
            std::io::Write::flush(&mut lock).map_err(|e| Error::write(Path::new("-"), e))
        }
    }
}

/// The `classify` command: label every input into the output, with a progress bar on stderr when
/// it is a terminal. A file output appears only if the whole run succeeds, with its manifest (and
/// rejects) beside it; an interrupted run resumes from its last checkpoint when rerun.
pub fn classify(config: &RunConfig) -> Result<Summary, Error> {
    let started_unix = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    config::set_threads(config.threads);
    let mut corpus = Corpus::open_as(&config.inputs, &config.columns, config.input_format, config.delimiter)?;
    let loading = Instant::now();
    let model_sha256 = fingerprint::sha256_file(&config.model_dir.join("model.safetensors"))?;
    let labeller = Labeller::load(config, &model_sha256)?;
    let startup = loading.elapsed();
    let mut fingerprints = Fingerprints::compute(
        &config.inputs,
        &config.model_dir,
        &model_sha256,
        labeller.head.as_deref(),
        &config.taxonomy.path,
        &config.taxonomy.fingerprint,
    )?;
    // Another engine or precision gives other labels: part of the labels key, so of the run key.
    fingerprints.encoder = labeller.engine.clone();
    let single_header = header(&corpus, &config.taxonomy);
    let shard = config.shard.as_ref().map(|(s, _)| *s);
    let header = match shard {
        Some(_) => [vec![PART_ROW_COLUMN.to_string()], single_header.clone()].concat(),
        None => single_header.clone(),
    };
    let note = |msg: String| {
        if !config.quiet {
            eprintln!("parlscan: {msg}");
        }
    };
    if let Some((s, from)) = &config.shard {
        note(format!("labelling shard {s} (from {from})"));
    }
    // The model's thread count moves last bits, so a checkpoint from a run with another one is not
    // resumed (its rows would not match the rest byte for byte).
    let settings = format!(
        "{}|{}|{}|threads {}",
        config.columns.text,
        config.columns.id,
        single_header.join(","),
        tch::get_num_threads()
    );
    let run_key = fingerprints.run_key(&settings);
    let previous = match (&config.output, config.incremental) {
        (Some(out), true) if out.is_file() => {
            let labels = output::label_columns(&config.taxonomy).len();
            match Previous::load(out, &fingerprints.labels_key(), &header, labels, &config.columns.id, &config.columns.text) {
                Ok(p) => Some(p),
                Err(why) => {
                    note(format!("--incremental: scoring everything: {why}"));
                    None
                }
            }
        }
        (_, true) => {
            note("--incremental: no previous output to reuse: scoring everything".into());
            None
        }
        _ => None,
    };
    // Other formats than plain CSV are written from the canonical CSV at the end; the canonical
    // CSV is the checkpointed journal meanwhile.
    let converted = config.format != OutputFormat::Csv || config.excel;
    let stdout_canonical = match (&config.output, converted) {
        (None, true) => Some(tempfile::Builder::new().prefix("parlscan-").suffix(".csv").tempfile().map_err(|e| Error::write(Path::new("-"), e))?.into_temp_path()),
        _ => None,
    };
    let journal: Option<PathBuf> = match (&config.output, &stdout_canonical) {
        (Some(dest), _) if converted => Some(canonical_path(dest)),
        (Some(dest), _) => Some(dest.clone()),
        (None, Some(temp)) => Some(temp.to_path_buf()),
        (None, None) => None,
    };
    let (mut sink, resume) = match &journal {
        Some(dest) => {
            let checkpoint_key = format!("{run_key}|{}", shard.map(|s| s.to_string()).unwrap_or_default());
            Sink::file(dest, &header, &checkpoint_key, config.checkpoint_every, config.restart)?
        }
        None => (Sink::stdout(&header)?, Default::default()),
    };
    if let Some(why) = &resume.discarded {
        note(format!("not resuming the checkpoint beside the output: {why}; starting over"));
    }
    if resume.rows > 0 {
        note(format!("resuming after {} rows from the checkpoint beside the output", resume.rows));
    }
    let bar = progress_bar(config);
    let options = RunOptions {
        skip: resume.rows,
        resumed_summary: resume.summary,
        previous: previous.as_ref(),
        checkpoint_every: config.checkpoint_every,
        shard,
    };
    let result = labeller.run(&mut corpus, &mut sink, options, |s| {
        if let Some(bar) = &bar {
            bar.set_position(s.counts.read as u64);
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut summary = match result {
        Ok(summary) => summary,
        Err(e) => {
            sink.abandon();
            return Err(e);
        }
    };
    sink.finish()?;
    if let Some(canonical) = journal.as_ref().filter(|_| converted) {
        write_format(config, canonical, &labeller)?;
        let _ = std::fs::remove_file(canonical);
    }
    summary.startup = startup;
    if !corpus.skipped.is_empty() {
        summary.skipped_inputs = corpus.skipped.clone();
    }
    summary.counts.skipped_empty = corpus.skipped_empty() as usize;
    if let Some(out) = &config.output {
        let rejects = manifest::write_rejects(out, &summary.rejects)?;
        let manifest = Manifest {
            tool: "parlscan".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            command_line: std::env::args().collect(),
            output: out.display().to_string(),
            rejects: rejects.map(|p| p.display().to_string()),
            labels_key: fingerprints.labels_key(),
            run_key,
            shard: shard.map(|s| s.to_string()),
            fingerprints,
            counts: summary.counts.clone(),
            timings: Timings {
                started_unix,
                startup_seconds: summary.startup.as_secs_f64(),
                wall_seconds: summary.wall.as_secs_f64(),
                speeches_per_second: summary.speeches_per_second(),
            },
            exit_status: crate::max_not_scored::exit_code(summary.exit_code(), &summary.counts, config.max_not_scored),
            skipped_inputs: summary.skipped_inputs.clone(),
        };
        manifest.write(&manifest::manifest_path(out))?;
    }
    Ok(summary)
}

fn progress_bar(config: &RunConfig) -> Option<ProgressBar> {
    if config.quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let total = crate::corpus::count_rows_as(&config.inputs, config.input_format, config.delimiter);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(on_topic: f64, topics: &[f64], stance: &[f64]) -> SpeechScores {
        let class = (on_topic >= 0.5).then(|| aggregate::argmax(stance));
        SpeechScores { on_topic, topics: topics.to_vec(), listed: Vec::new(), stance: stance.to_vec(), stance_class: class, best_chunk: None }
    }

    #[test]
    fn near_ties_are_on_topic_stance_and_the_last_topic_a_top_up_takes() {
        let tie = NearTie { on_topic: 0.05, stance: 0.1 };
        let two = Listing { min_topics: 2, off_topic: Vec::new() };
        let clear = [0.6, 0.2, 0.1];
        let half = [0.5; 3];
        let holds = |s: &SpeechScores, listing: &Listing| tie.holds(s, 0.5, &half, listing);
        assert!(holds(&scores(0.52, &[0.9, 0.1, 0.0], &clear), &two), "on_topic near its threshold");
        assert!(holds(&scores(0.9, &[0.9, 0.1, 0.0], &[0.45, 0.4, 0.15]), &two), "two stances close");
        assert!(!holds(&scores(0.9, &[0.9, 0.3, 0.0], &clear), &two), "second topic clear of the third");
        let close = scores(0.9, &[0.9, 0.3, 0.25], &clear);
        assert!(holds(&close, &two), "second and third topics close: which one the top-up takes");
        assert!(!holds(&close, &Listing::default()), "no top-up, no tie");
        assert!(!holds(&scores(0.9, &[0.9, 0.6, 0.55], &clear), &two), "both pass: no top-up");
        assert!(!holds(&scores(0.2, &[0.9, 0.3, 0.25], &clear), &two), "off topic: no top-up");
    }
}
