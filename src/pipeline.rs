//! Wires the stages: read → clean and segment → tokenize → batch → encode → score → aggregate →
//! write. Speeches flow in blocks, so memory stays flat however large the corpus; within a block
//! segmentation runs on rayon threads and encoding on libtorch's. Counts what passed, what was
//! not scored and why, and how fast; checkpoints file outputs as it goes, resumes them, reuses a
//! previous output's rows (`--incremental`), and writes the manifest and rejects beside it.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::config::{self, RunConfig};
use crate::corpus::{Corpus, Speech};
use crate::error::{exit, Error};
use crate::fingerprint;
use crate::incremental::Previous;
use crate::labeller::{Labelled, Labeller};
use crate::manifest::{self, Counts, Fingerprints, Manifest, Reject, Timings};
use crate::output::{self, FormatContext, OutputFormat, Sink};
use crate::taxonomy::Taxonomy;

/// Speeches read, segmented and encoded together (at most; fewer when checkpoints are more
/// frequent). Big enough to fill batches, small enough that memory does not grow with the corpus.
/// Output does not depend on it.
pub const BLOCK: usize = 256;

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
    /// Which engine ran and why (`Labeller::choice`).
    #[serde(skip)]
    pub engine: String,
    /// Rows that could not be parsed.
    #[serde(skip)]
    pub rejects: Vec<Reject>,
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

/// Labels a whole corpus into a sink, in input order. The first `skip` rows are already in
/// the sink (resumed); `previous` offers labels to reuse. `progress` is told after each block.
pub fn run(
    labeller: &Labeller,
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
    summary.scorer = labeller.scoring.head.as_ref().map_or("prototypes".into(), |p| p.display().to_string());
    summary.engine = labeller.choice.clone();
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
                summary.rejects.push(Reject::of(corpus, &speech, &problem.status()));
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
        let (labelled, rescored) = labeller.label_block(&to_score)?;
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
                Labelled::Scored { segmented: seg, scores, evidence, stance_evidence } => {
                    summary.counts.scored += 1;
                    summary.chunks += seg.chunks.len();
                    summary.tokens += seg.n_tokens();
                    row.extend(output::scored_fields(&scores, &labeller.taxonomy, [&evidence, &stance_evidence], seg.n_words, seg.chunks.len()));
                }
                Labelled::NotScored(status) => {
                    let n_words = speech.text.as_ref().map_or(0, |t| t.split_whitespace().count());
                    *summary.counts.not_scored.entry(status_kind(&status)).or_default() += 1;
                    if speech.text.is_err() {
                        summary.counts.rejected += 1;
                    }
                    row.extend(output::unscored_fields(&labeller.taxonomy, n_words, &status));
                }
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

impl Reject {
    /// The rejects-file row of a speech that could not be parsed.
    fn of(corpus: &Corpus, speech: &Speech, reason: &str) -> Self {
        let mut raw = String::new();
        for chunk in speech.raw.utf8_chunks() {
            raw.push_str(chunk.valid());
            for b in chunk.invalid() {
                raw.push_str(&format!("\\x{b:02X}"));
            }
        }
        Reject { file: corpus.sources[speech.source].name.clone(), line: speech.line, reason: reason.to_string(), raw }
    }
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

/// Where the canonical CSV of a converted output is journalled: hidden, beside the output.
fn canonical_path(dest: &Path) -> PathBuf {
    crate::files::hidden_beside(dest, "canonical.csv")
}

/// Writes the requested format from the canonical CSV: to the output file (atomically) or stdout.
fn write_format(config: &RunConfig, canonical: &Path, labeller: &Labeller) -> Result<(), Error> {
    let ctx = FormatContext {
        text_col: config.columns.text.clone(),
        id_col: config.columns.id.clone(),
        topics: labeller.taxonomy.topics.iter().map(|t| t.name.clone()).collect(),
        thresholds: labeller.scoring.thresholds.clone(),
        model_version: format!(
            "parlscan {} {} {}",
            env!("CARGO_PKG_VERSION"),
            config.model_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            labeller.scoring.head.as_ref().map_or("prototypes".into(), |h| h.display().to_string())
        ),
        excel_bom: config.excel,
        output: config.output.clone().unwrap_or_else(|| PathBuf::from("-")),
    };
    match &config.output {
        Some(dest) => {
            let mut bytes = Vec::new();
            crate::output::convert(config.format, canonical, &mut bytes, &ctx)?;
            crate::files::write_atomically(dest, &bytes)
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = std::io::BufWriter::new(stdout.lock());
            crate::output::convert(config.format, canonical, &mut lock, &ctx)?;
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
        labeller.scoring.head.as_deref(),
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
    let result = run(&labeller, &mut corpus, &mut sink, options, |s| {
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
            engine: summary.engine.clone(),
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
