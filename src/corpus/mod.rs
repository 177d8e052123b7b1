//! The source stage: reads speeches from input files into [`Speech`] records, keeping every
//! input column for passthrough and the file and line each speech came from.
//!
//! One file per input format. A row that cannot be used is not an error here: it becomes a
//! `Speech` whose `text` says why ([`RowProblem`]), so it keeps its place in the output.

pub mod csv;

use std::path::PathBuf;

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

pub use self::csv::Corpus;
