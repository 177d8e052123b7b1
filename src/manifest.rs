//! What a run was made of and what it did: fingerprints of its inputs, model, head and taxonomy,
//! and the `OUTPUT.manifest.json` written beside every output file.
//!
//! The fingerprints decide whether a checkpoint may be resumed (everything that shapes the output
//! must match) and whether a previous output's rows may be reused by `--incremental` (everything
//! that shapes the labels must match).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::fingerprint::{sha256_file, sha256_hex};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InputFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fingerprints {
    pub inputs: Vec<InputFile>,
    pub model: String,
    pub model_sha256: String,
    /// The head file and its SHA-256, or `None` when scoring with prototypes alone.
    pub head: Option<(String, String)>,
    pub taxonomy: String,
    pub taxonomy_sha256: String,
    /// What ran the model: engine, device or precision, and the ONNX file's SHA-256 (e.g.
    /// `torch cpu eager`, `onnx int8 onnx/model-int8.onnx sha256 …`). Empty in older manifests.
    #[serde(default)]
    pub encoder: String,
}

impl Fingerprints {
    /// Hashes every input file (stdin cannot be hashed ahead: it gets a one-off value, so a run
    /// reading stdin never resumes).
    pub fn compute(
        inputs: &[PathBuf],
        model_dir: &Path,
        model_sha256: &str,
        head: Option<&Path>,
        taxonomy_path: &Path,
        taxonomy_sha256: &str,
    ) -> Result<Self, Error> {
        let inputs = inputs
            .iter()
            .map(|p| {
                if p.as_os_str() == "-" {
                    let nonce = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
                    return Ok(InputFile { path: "-".into(), size: 0, sha256: format!("stdin:{}", sha256_hex(nonce.as_bytes())) });
                }
                let size = std::fs::metadata(p).map_err(|e| Error::io(p, e))?.len();
                Ok(InputFile { path: p.display().to_string(), size, sha256: sha256_file(p)? })
            })
            .collect::<Result<_, Error>>()?;
        let head = match head {
            Some(h) => Some((h.display().to_string(), sha256_file(h)?)),
            None => None,
        };
        Ok(Fingerprints {
            inputs,
            model: model_dir.display().to_string(),
            model_sha256: model_sha256.to_string(),
            head,
            taxonomy: taxonomy_path.display().to_string(),
            taxonomy_sha256: taxonomy_sha256.to_string(),
            encoder: String::new(),
        })
    }

    /// What the labels of a speech depend on besides its text: tool version, model, head, taxonomy,
    /// and the engine that ran the model.
    pub fn labels_key(&self) -> String {
        let head = self.head.as_ref().map_or("prototypes", |(_, sha)| sha.as_str());
        let text = format!("{}|{}|{}|{}|{}", env!("CARGO_PKG_VERSION"), self.model_sha256, head, self.taxonomy_sha256, self.encoder);
        sha256_hex(text.as_bytes())
    }

    /// What the whole output depends on: the labels key, every input's content, and the settings
    /// that shape rows (`settings`, e.g. the column names and the header).
    pub fn run_key(&self, settings: &str) -> String {
        let inputs: Vec<&str> = self.inputs.iter().map(|i| i.sha256.as_str()).collect();
        sha256_hex(format!("{}|{}|{settings}", self.labels_key(), inputs.join(",")).as_bytes())
    }
}

/// Counts the manifest reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Counts {
    /// Rows read from the inputs.
    pub read: usize,
    /// Rows scored by the model in this run.
    pub scored: usize,
    /// Rows whose labels were taken from the previous output (`--incremental`).
    pub reused: usize,
    /// Rows taken from a checkpoint of an interrupted run.
    pub resumed: usize,
    /// Rows that could not be parsed (also in `OUTPUT.rejects.csv`).
    pub rejected: usize,
    /// Rows kept with a status other than `ok`, by status.
    pub not_scored: std::collections::BTreeMap<String, usize>,
    /// ParlParse speeches with no text, which are not rows.
    #[serde(default)]
    pub skipped_empty: usize,
    /// Of the rows scored, those `--fast` found near a decision boundary and scored again at full
    /// precision.
    #[serde(default)]
    pub rescored: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub tool: String,
    pub version: String,
    pub command_line: Vec<String>,
    pub output: String,
    pub rejects: Option<String>,
    pub fingerprints: Fingerprints,
    /// Which engine ran the model and why: `--engine auto`'s calibration, or a flag.
    #[serde(default)]
    pub engine: String,
    pub labels_key: String,
    /// What the whole output depends on (inputs, labels, settings); parts of one sharded run share it.
    pub run_key: String,
    /// `I/N` for a part file of a sharded run.
    pub shard: Option<String>,
    pub counts: Counts,
    pub timings: Timings,
    pub exit_status: i32,
    /// Inputs that failed part-way, with why; their rows before the fault are in the output.
    #[serde(default)]
    pub skipped_inputs: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Timings {
    pub started_unix: u64,
    /// Loading the model, label prototypes and head.
    #[serde(default)]
    pub startup_seconds: f64,
    /// Labelling, after start-up.
    pub wall_seconds: f64,
    pub speeches_per_second: f64,
}

/// `OUTPUT.manifest.json`.
pub fn manifest_path(output: &Path) -> PathBuf {
    let mut name = output.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".manifest.json");
    output.with_file_name(name)
}

/// `OUTPUT.rejects.csv`.
pub fn rejects_path(output: &Path) -> PathBuf {
    let mut name = output.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".rejects.csv");
    output.with_file_name(name)
}

/// A row of the rejects file: a row that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reject {
    /// The input file, as named on the command line (or inside a folder).
    pub file: String,
    /// Its 1-based line.
    pub line: u64,
    /// Why it could not be parsed (its `status`).
    pub reason: String,
    /// The raw bytes of the row, invalid UTF-8 as `\xNN`.
    pub raw: String,
}

/// Writes `OUTPUT.rejects.csv` (`file`, `line`, `reason`, `raw`) when some rows could not be
/// parsed, and removes a stale one when none could not; returns its path if written.
pub fn write_rejects(output: &Path, rejects: &[Reject]) -> Result<Option<PathBuf>, Error> {
    let path = rejects_path(output);
    if rejects.is_empty() {
        let _ = std::fs::remove_file(&path);
        return Ok(None);
    }
    let io = |e: ::csv::Error| Error::csv_write(&path, e);
    let mut w = ::csv::Writer::from_writer(Vec::new());
    for r in rejects {
        w.serialize(r).map_err(io)?;
    }
    let bytes = w.into_inner().map_err(|e| Error::write(&path, std::io::Error::other(e.to_string())))?;
    crate::files::write_atomically(&path, &bytes)?;
    Ok(Some(path))
}

impl Manifest {
    pub fn read(path: &Path) -> Option<Manifest> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let json = serde_json::to_string_pretty(self).expect("a manifest serialises") + "\n";
        crate::files::write_atomically(path, json.as_bytes())
    }
}
