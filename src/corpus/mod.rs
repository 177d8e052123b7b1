//! The source stage: reads speeches from input files into [`Speech`] records, keeping every
//! input column for passthrough and the file and line each speech came from.
//!
//! One file per input format, each a [`Reader`] of raw rows: `csv` (CSV and TSV), `jsonl`,
//! `parlamint` (ParlaMint `.txt` with its `-meta.tsv`), `parlparse` (TheyWorkForYou debate XML);
//! `open` picks one by [`InputFormat`], name or content, decompresses gzip and expands folders.
//! [`Corpus`] strings the inputs together, unions their columns, finds the text and id, and
//! checks the text is UTF-8. A row that cannot be used is not an error here: it becomes a
//! `Speech` whose `text` says why ([`RowProblem`]), so it keeps its place in the output. An input
//! that fails part-way (a truncated file, malformed XML) keeps the rows read before the failure;
//! the run goes on with the other inputs and the summary names what was skipped.

pub mod csv;
pub mod jsonl;
mod open;
pub mod parlamint;
pub mod parlparse;

pub use open::{count_rows, count_rows_as, expand_inputs, open_input, open_input_as, InputFormat};

use std::path::PathBuf;

use crate::error::Error;

/// Where a speech came from, for messages and the `source_file` column.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    /// How users named it (`-` for stdin).
    pub name: String,
}

/// One input row.
#[derive(Debug, Clone)]
pub struct Speech {
    /// Index into [`Corpus::sources`].
    pub source: usize,
    /// 1-based line where the record starts in its file.
    pub line: u64,
    pub id: String,
    /// Values of the passthrough columns, aligned with [`Corpus::columns`].
    pub fields: Vec<String>,
    /// The speech text, or why this row has none that can be scored.
    pub text: Result<String, RowProblem>,
    /// For a row that could not be parsed: its fields as read, re-joined (for the rejects file).
    pub raw: Vec<u8>,
}

/// Why a row that was read cannot be scored. Its `status` column says this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowProblem {
    /// The text field is not valid UTF-8.
    InvalidUtf8,
    /// The record does not match the header (field count).
    Malformed(String),
}

impl RowProblem {
    /// The value of the `status` column.
    pub fn status(&self) -> String {
        match self {
            RowProblem::InvalidUtf8 => "invalid_utf8".into(),
            RowProblem::Malformed(why) => format!("malformed: {why}"),
        }
    }
}

/// Which columns hold the text and the id.
#[derive(Debug, Clone)]
pub struct Columns {
    pub text: String,
    pub id: String,
}

/// One row as an input format gives it: fields aligned with the reader's columns.
#[derive(Debug, Clone, Default)]
pub struct RawRow {
    /// 1-based line (or record number) where the row starts in its file.
    pub line: u64,
    pub fields: Vec<Vec<u8>>,
    /// Set when the row could not be parsed into the columns (kept, with a status, and rejected).
    pub problem: Option<RowProblem>,
    /// For a problem row: its bytes as read, for the rejects file.
    pub raw: Vec<u8>,
}

/// An input format: the columns of one input, then its rows in order.
pub trait Reader: Send {
    fn columns(&self) -> &[String];
    /// The next row, `None` at the end, or an error that ends this input (what was read stays).
    fn next_row(&mut self) -> Result<Option<RawRow>, Error>;
    /// Records passed over so far because they hold no text at all (ParlParse speeches with no
    /// paragraphs); they are not rows, so only this count tells of them.
    fn skipped_empty(&self) -> u64 {
        0
    }
}

struct Input {
    reader: Box<dyn Reader>,
    /// For each of this input's columns, its position in the corpus columns.
    to_corpus: Vec<usize>,
    text_at: usize,
    id_at: Option<usize>,
}

/// Open inputs whose columns have been read and checked; iterate with [`Corpus::next_speech`].
pub struct Corpus {
    pub sources: Vec<Source>,
    /// Passthrough columns, in output order.
    pub columns: Vec<String>,
    inputs: Vec<Input>,
    current: usize,
    rows_read: u64,
    /// Inputs that failed part-way, with why (file and place).
    pub skipped: Vec<String>,
}

impl Corpus {
    /// Opens every input and reads its columns. An input that cannot be used (no text column, a
    /// ParlaMint text without its metadata, an unreadable header) is an error naming the file when
    /// it is the only one; among several, it is skipped and noted in [`Corpus::skipped`], and the
    /// others are read.
    pub fn open(paths: &[PathBuf], cols: &Columns) -> Result<Self, Error> {
        Self::open_as(paths, cols, InputFormat::Auto, None)
    }

    /// [`Corpus::open`] reading every input as `format` (with `delimiter` for CSV and TSV; see
    /// [`open_input_as`]).
    pub fn open_as(paths: &[PathBuf], cols: &Columns, format: InputFormat, delimiter: Option<u8>) -> Result<Self, Error> {
        let mut columns: Vec<String> = Vec::new();
        let mut inputs = Vec::new();
        let mut sources = Vec::new();
        let mut failed = Vec::new();
        for path in paths {
            let reader = match open_input_as(path, format, delimiter) {
                Ok(r) => r,
                Err(e) => {
                    failed.push(e);
                    continue;
                }
            };
            let names = reader.columns().to_vec();
            let Some(text_at) = names.iter().position(|n| *n == cols.text) else {
                failed.push(Error::Input {
                    path: path.clone(),
                    what: format!(
                        "no text column `{}`; the columns are: {}\n  (name the text column with --text-col)",
                        cols.text,
                        if names.is_empty() { "(none)".to_string() } else { names.join(", ") }
                    ),
                });
                continue;
            };
            let id_at = names.iter().position(|n| *n == cols.id);
            let to_corpus = names
                .iter()
                .map(|n| match columns.iter().position(|c| c == n) {
                    Some(i) => i,
                    None => {
                        columns.push(n.clone());
                        columns.len() - 1
                    }
                })
                .collect();
            sources.push(Source { path: path.clone(), name: path.display().to_string() });
            inputs.push(Input { reader, to_corpus, text_at, id_at });
        }
        if inputs.is_empty() {
            return Err(Error::many(failed));
        }
        let skipped = failed.iter().map(|e| format!("{e} (input skipped)")).collect();
        Ok(Corpus { sources, columns, inputs, current: 0, rows_read: 0, skipped })
    }

    /// Records with no text at all that the inputs passed over so far, not as rows (see
    /// [`Reader::skipped_empty`]); for the summary.
    pub fn skipped_empty(&self) -> u64 {
        self.inputs.iter().map(|i| i.reader.skipped_empty()).sum()
    }

    /// The next row of the corpus, in input order, or `None` at the end. An input that fails
    /// part-way is noted in [`Corpus::skipped`] and the next input continues.
    pub fn next_speech(&mut self) -> Result<Option<Speech>, Error> {
        while self.current < self.inputs.len() {
            let input = &mut self.inputs[self.current];
            let row = match input.reader.next_row() {
                Ok(Some(row)) => row,
                Ok(None) => {
                    self.current += 1;
                    continue;
                }
                Err(e) => {
                    self.skipped.push(e.to_string());
                    self.current += 1;
                    continue;
                }
            };
            self.rows_read += 1;
            let mut fields = vec![String::new(); self.columns.len()];
            for (i, value) in row.fields.iter().enumerate().take(input.to_corpus.len()) {
                fields[input.to_corpus[i]] = String::from_utf8_lossy(value).into_owned();
            }
            let id = match input.id_at.and_then(|i| row.fields.get(i)) {
                Some(raw) => String::from_utf8_lossy(raw).into_owned(),
                None => self.rows_read.to_string(),
            };
            let text = match row.problem {
                Some(p) => Err(p),
                None => match std::str::from_utf8(row.fields.get(input.text_at).map_or(&[][..], Vec::as_slice)) {
                    Ok(t) => Ok(t.to_string()),
                    Err(_) => Err(RowProblem::InvalidUtf8),
                },
            };
            let raw = if text.is_err() && row.raw.is_empty() { join_fields(&row.fields) } else { row.raw };
            let raw = if text.is_err() { raw } else { Vec::new() };
            return Ok(Some(Speech { source: self.current, line: row.line, id, fields, text, raw }));
        }
        Ok(None)
    }
}

/// A row's fields as one CSV line, for the rejects file of readers that keep no raw bytes.
fn join_fields(fields: &[Vec<u8>]) -> Vec<u8> {
    let mut w = ::csv::WriterBuilder::new().terminator(::csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    let _ = w.write_record(fields);
    let mut bytes = w.into_inner().unwrap_or_default();
    bytes.pop();
    bytes
}
