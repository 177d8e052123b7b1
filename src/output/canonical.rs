//! The canonical labelled CSV read back for conversion: its header, where each label column
//! is, what each column holds (which decides its type in typed formats), and one reused record.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::{label_columns_of, FormatContext};
use crate::error::Error;

/// What a canonical column holds, which decides its type in typed formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// An input column: text, always present.
    Passthrough,
    /// A 0-1 (or -1..1) score; empty when the row was not scored.
    Score,
    /// `n_words`, `n_chunks`.
    Count,
    /// The `;`-joined listed topics.
    Topics,
    /// `top_topic`, `stance`, `evidence`, `stance_evidence`: text, empty meaning none.
    Label,
    /// `status`: always present.
    Status,
}

/// The canonical CSV being read: header, where each label column is, one reused record.
pub(super) struct Canonical {
    pub(super) path: PathBuf,
    pub(super) reader: ::csv::Reader<File>,
    pub(super) record: ::csv::StringRecord,
    pub(super) header: Vec<String>,
    pub(super) kinds: Vec<Kind>,
    /// Column names unique across the row (passthrough renamed where it collides with a label).
    pub(super) names: Vec<String>,
    pub(super) n_pass: usize,
    pub(super) n_topics: usize,
    pub(super) text: Option<usize>,
    pub(super) id: Option<usize>,
    pub(super) rows: u64,
}

fn label_kind(name: &str) -> Kind {
    match name {
        "topics" => Kind::Topics,
        "top_topic" | "stance" | "evidence" | "stance_evidence" => Kind::Label,
        "n_words" | "n_chunks" => Kind::Count,
        "status" => Kind::Status,
        _ => Kind::Score,
    }
}

/// `name`, or `input_name` (`input_input_name`...) while it is taken.
pub(super) fn unique_name(name: &str, taken: &[&str]) -> String {
    let mut out = name.to_string();
    while taken.contains(&out.as_str()) {
        out = format!("input_{out}");
    }
    out
}

impl Canonical {
    pub(super) fn open(path: &Path, ctx: &FormatContext) -> Result<Self, Error> {
        if ctx.thresholds.len() != ctx.topics.len() {
            return Err(Error::Usage(format!(
                "output formats: {} thresholds for {} topics",
                ctx.thresholds.len(),
                ctx.topics.len()
            )));
        }
        let mut reader = ::csv::ReaderBuilder::new().from_path(path).map_err(|e| Error::csv_read(path, e))?;
        let header: Vec<String> = reader.headers().map_err(|e| Error::csv_read(path, e))?.iter().map(String::from).collect();
        let labels = label_columns_of(&ctx.topics);
        if header.len() < labels.len() || header[header.len() - labels.len()..] != labels[..] {
            return Err(Error::Input {
                path: path.to_path_buf(),
                what: format!("the header does not end with this taxonomy's label columns ({})", labels.join(", ")),
            });
        }
        let n_pass = header.len() - labels.len();
        let mut kinds = vec![Kind::Passthrough; n_pass];
        kinds.extend(labels.iter().map(|l| label_kind(l)));
        let label_names: Vec<&str> = labels.iter().map(String::as_str).collect();
        let mut names: Vec<String> = Vec::with_capacity(header.len());
        for name in &header[..n_pass] {
            let taken: Vec<&str> = label_names.iter().copied().chain(names.iter().map(String::as_str)).collect();
            names.push(unique_name(name, &taken));
        }
        names.extend(labels.iter().cloned());
        let text = header[..n_pass].iter().position(|h| *h == ctx.text_col);
        let id = header[..n_pass].iter().position(|h| *h == ctx.id_col);
        Ok(Canonical {
            path: path.to_path_buf(),
            reader,
            record: ::csv::StringRecord::new(),
            header,
            kinds,
            names,
            n_pass,
            n_topics: ctx.topics.len(),
            text,
            id,
            rows: 0,
        })
    }

    /// Reads the next row into the reused record; false at the end.
    pub(super) fn next(&mut self) -> Result<bool, Error> {
        let more = self.reader.read_record(&mut self.record).map_err(|e| Error::csv_read(&self.path, e))?;
        if more {
            self.rows += 1;
        }
        Ok(more)
    }

    /// The text column, which the annotation formats need.
    pub(super) fn require_text(&self, ctx: &FormatContext) -> Result<usize, Error> {
        self.text.ok_or_else(|| Error::Input {
            path: self.path.clone(),
            what: format!("no text column `{}` among the passthrough columns", ctx.text_col),
        })
    }

    pub(super) fn field(&self, i: usize) -> &str {
        self.record.get(i).unwrap_or("")
    }

    pub(super) fn label(&self, offset: usize) -> usize {
        self.n_pass + offset
    }

    pub(super) fn on_topic_at(&self) -> usize {
        self.label(0)
    }
    pub(super) fn topics_at(&self) -> usize {
        self.label(1)
    }
    pub(super) fn top_topic_at(&self) -> usize {
        self.label(2)
    }
    pub(super) fn topic_score_at(&self, t: usize) -> usize {
        self.label(3 + t)
    }
    pub(super) fn stance_at(&self) -> usize {
        self.label(3 + self.n_topics)
    }
    pub(super) fn stance_score_at(&self) -> usize {
        self.label(4 + self.n_topics)
    }
    pub(super) fn stance_class_at(&self, k: usize) -> usize {
        self.label(5 + self.n_topics + k)
    }
    pub(super) fn stance_evidence_at(&self) -> usize {
        self.header.len() - 4
    }
    pub(super) fn status_at(&self) -> usize {
        self.header.len() - 1
    }

    pub(super) fn scored(&self) -> bool {
        self.field(self.status_at()) == "ok"
    }

    /// The listed topics, strongest first.
    pub(super) fn listed(&self) -> impl Iterator<Item = &str> {
        self.field(self.topics_at()).split(';').filter(|t| !t.is_empty())
    }

    pub(super) fn float(&self, i: usize) -> Result<Option<f64>, Error> {
        let v = self.field(i);
        if v.is_empty() {
            return Ok(None);
        }
        v.parse::<f64>().map(Some).map_err(|_| self.not_a_number(i, v))
    }

    pub(super) fn int(&self, i: usize) -> Result<Option<i64>, Error> {
        let v = self.field(i);
        if v.is_empty() {
            return Ok(None);
        }
        v.parse::<i64>().map(Some).map_err(|_| self.not_a_number(i, v))
    }

    pub(super) fn not_a_number(&self, i: usize, v: &str) -> Error {
        let line = self.record.position().map_or(0, |p| p.line());
        Error::Input { path: self.path.clone(), what: format!("line {line}: `{}` is `{v}`, not a number", self.header[i]) }
    }

    /// The id to show: the id column, or the row number when there is none.
    pub(super) fn id_value(&self) -> serde_json::Value {
        match self.id {
            Some(i) => self.field(i).into(),
            None => self.rows.into(),
        }
    }

    /// Passthrough columns other than the text and id, with names unique among `reserved`.
    pub(super) fn other_fields(&self, reserved: &[&str]) -> Vec<(usize, String)> {
        let mut taken: Vec<String> = reserved.iter().map(|s| s.to_string()).collect();
        let mut out = Vec::new();
        for i in 0..self.n_pass {
            if Some(i) == self.text || Some(i) == self.id {
                continue;
            }
            let refs: Vec<&str> = taken.iter().map(String::as_str).collect();
            let name = unique_name(&self.header[i], &refs);
            taken.push(name.clone());
            out.push((i, name));
        }
        out
    }
}


