//! The output stage: the labelled CSV's columns and rows, the sink that writes and checkpoints
//! them (`sink`), and the other formats, each a streamed conversion of that canonical CSV at the
//! end of a run (`canonical` reads it; one file per format).
//!
//! Fixed column order: passthrough columns, then the label columns of [`label_columns`]. Every
//! format carries the same labels as the CSV: the listed topics are always the canonical `topics`
//! column. A passthrough column of the same name as a label column (`topics`, `stance` in a gold
//! file) is renamed `input_<name>` where names must be unique.

mod canonical;
mod delimited;
mod doccano;
mod jsonl;
mod labelstudio;
mod parquet;
mod prodigy;
pub mod sink;

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::aggregate::SpeechScores;
use crate::error::Error;
use crate::taxonomy::{Taxonomy, STANCE_CLASSES};

use canonical::Canonical;
pub use sink::{Checkpoint, Resume, Sink};

/// The label columns after the passthrough ones, in order.
pub fn label_columns(taxonomy: &Taxonomy) -> Vec<String> {
    let topics: Vec<String> = taxonomy.topics.iter().map(|t| t.name.clone()).collect();
    label_columns_of(&topics)
}

/// The label columns for these topic names, in order.
pub fn label_columns_of(topics: &[String]) -> Vec<String> {
    let mut cols = vec!["on_topic".to_string(), "topics".into(), "top_topic".into()];
    cols.extend(topics.iter().map(|t| format!("topic_{t}")));
    cols.extend(["stance".to_string(), "stance_score".into()]);
    cols.extend(STANCE_CLASSES.iter().map(|s| format!("stance_{s}")));
    cols.extend(["evidence".to_string(), "stance_evidence".into(), "n_words".into(), "n_chunks".into(), "status".into()]);
    cols
}

fn score(x: f64) -> String {
    // Avoid "-0.0000" for tiny negatives.
    let s = format!("{x:.4}");
    if s == "-0.0000" { "0.0000".into() } else { s }
}

/// The label columns of a scored speech; `evidence` is the top topic's sentence and the stance's.
pub fn scored_fields(s: &SpeechScores, taxonomy: &Taxonomy, evidence: [&str; 2], n_words: usize, n_chunks: usize) -> Vec<String> {
    let names: Vec<&str> = taxonomy.topics.iter().map(|t| t.name.as_str()).collect();
    let mut out = vec![
        score(s.on_topic),
        s.listed.iter().map(|&t| names[t]).collect::<Vec<_>>().join(";"),
        s.top_topic().map(|t| names[t].to_string()).unwrap_or_default(),
    ];
    out.extend(s.topics.iter().map(|&x| score(x)));
    out.push(s.stance_class.map_or("none", |k| STANCE_CLASSES[k]).to_string());
    out.push(score(s.stance[0] - s.stance[1]));
    out.extend(s.stance.iter().map(|&x| score(x)));
    out.extend([evidence[0].to_string(), evidence[1].to_string(), n_words.to_string(), n_chunks.to_string(), "ok".into()]);
    out
}

/// The label columns of a row that could not be scored: empty scores and a status saying why.
pub fn unscored_fields(taxonomy: &Taxonomy, n_words: usize, status: &str) -> Vec<String> {
    let mut out = vec![String::new(); label_columns(taxonomy).len() - 3];
    out.extend([n_words.to_string(), "0".into(), status.to_string()]);
    out
}

/// How the labelled speeches are written (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// The canonical labelled CSV.
    #[default]
    Csv,
    /// The same fields, tab-separated.
    Tsv,
    /// One JSON object per speech, typed: numbers, `null`, `topics` as an array.
    #[value(alias = "ndjson")]
    Jsonl,
    /// Apache Parquet, typed columns (for pandas, polars, R arrow, DuckDB).
    Parquet,
    /// A Label Studio task list (JSON array) with the labels as predictions.
    #[value(alias = "label-studio")]
    Labelstudio,
    /// Prodigy tasks (JSON Lines) for choice interfaces: options with scores, accepted topics.
    Prodigy,
    /// doccano text-classification import (JSON Lines with a `label` list).
    Doccano,
}

impl OutputFormat {
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Csv => "csv",
            OutputFormat::Tsv => "tsv",
            OutputFormat::Jsonl => "jsonl",
            OutputFormat::Parquet => "parquet",
            OutputFormat::Labelstudio => "labelstudio",
            OutputFormat::Prodigy => "prodigy",
            OutputFormat::Doccano => "doccano",
        }
    }

    /// The usual file extension of the format.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Csv => "csv",
            OutputFormat::Tsv => "tsv",
            OutputFormat::Jsonl | OutputFormat::Prodigy | OutputFormat::Doccano => "jsonl",
            OutputFormat::Parquet => "parquet",
            OutputFormat::Labelstudio => "json",
        }
    }
}


impl std::fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a conversion needs to know besides the canonical CSV.
#[derive(Debug, Clone, Default)]
pub struct FormatContext {
    /// The passthrough column with the speech text (`--text-col`).
    pub text_col: String,
    /// The passthrough column with the speech id (`--id-col`); without it, 1-based row numbers.
    pub id_col: String,
    /// The taxonomy's topic names, in order (the `topic_<name>` columns).
    pub topics: Vec<String>,
    /// Each topic's threshold, same order (kept for formats and readers that show them).
    pub thresholds: Vec<f64>,
    /// Names the labeller in Label Studio predictions and Parquet metadata.
    pub model_version: String,
    /// Start CSV and TSV with a UTF-8 byte order mark, so Excel reads them as UTF-8.
    pub excel_bom: bool,
    /// Where `out` goes (`-` for stdout), for messages.
    pub output: PathBuf,
}

/// Converts the canonical labelled CSV into `format`, streaming, into `out` (flushed at the end).
pub fn convert(format: OutputFormat, canonical_csv: &Path, out: &mut dyn Write, ctx: &FormatContext) -> Result<(), Error> {
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let written = match format {
        OutputFormat::Csv => delimited::copy_csv(canonical_csv, &mut out, ctx),
        OutputFormat::Tsv => delimited::write_tsv(&mut Canonical::open(canonical_csv, ctx)?, &mut out, ctx),
        OutputFormat::Jsonl => jsonl::write(&mut Canonical::open(canonical_csv, ctx)?, &mut out, ctx),
        OutputFormat::Parquet => parquet::write(&mut Canonical::open(canonical_csv, ctx)?, &mut out, ctx),
        OutputFormat::Labelstudio => labelstudio::write(&mut Canonical::open(canonical_csv, ctx)?, &mut out, ctx),
        OutputFormat::Prodigy => prodigy::write(&mut Canonical::open(canonical_csv, ctx)?, &mut out, ctx),
        OutputFormat::Doccano => doccano::write(&mut Canonical::open(canonical_csv, ctx)?, &mut out, ctx),
    };
    written?;
    out.flush().map_err(|e| Error::write(&ctx.output, e))
}


/// A UTF-8 byte order mark, for Excel (`--excel`).
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Where a format is written: buffered, to a file or stdout.
type Out<'a> = BufWriter<&'a mut dyn Write>;

/// A JSON line (object, then `\n`) into `out`.
fn write_json_line(out: &mut Out, value: &serde_json::Value, ctx: &FormatContext) -> Result<(), Error> {
    serde_json::to_writer(&mut *out, value).map_err(|e| Error::write(&ctx.output, e.into()))?;
    out.write_all(b"\n").map_err(|e| Error::write(&ctx.output, e))
}

#[cfg(test)]
mod tests;
