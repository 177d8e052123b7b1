//! The library's error type and the process exit codes it maps to.
//!
//! Errors carry what a user needs to act: the file, the line or row, what was wrong. Row-level
//! problems that do not stop a run are not errors: they become a row `status` (see `corpus`).

use std::path::{Path, PathBuf};

/// Exit codes, sysexits-style, documented in the README and `--help`.
pub mod exit {
    /// Every row was read and scored.
    pub const OK: i32 = 0;
    /// The run finished and wrote its output, but some rows could not be scored (see `status`).
    pub const PARTIAL: i32 = 1;
    /// Bad command line or configuration (flags, taxonomy, head) (EX_USAGE).
    pub const USAGE: i32 = 64;
    /// An input could not be used: missing text column, unreadable file (EX_DATAERR).
    pub const DATA: i32 = 65;
    /// An input file does not exist or cannot be opened (EX_NOINPUT).
    pub const NO_INPUT: i32 = 66;
    /// Internal failure: the model failed at run time (EX_SOFTWARE).
    pub const SOFTWARE: i32 = 70;
    /// Writing the output failed (disk full, permissions) (EX_IOERR).
    pub const IO: i32 = 74;
    /// The model, libtorch or ONNX Runtime is missing or incomplete, or `--device cuda` finds no
    /// GPU: run the set-up (EX_CONFIG).
    pub const CONFIG: i32 = 78;
}

/// An I/O error as a person reads it: "No such file or directory", not "entity not found" nor
/// "(os error 2)".
pub fn plain(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    if let Some(code) = e.raw_os_error() {
        let text = std::io::Error::from_raw_os_error(code).to_string();
        return text.split(" (os error").next().unwrap_or(&text).to_string();
    }
    match e.kind() {
        ErrorKind::NotFound if e.get_ref().is_none() => "No such file or directory".into(),
        ErrorKind::PermissionDenied if e.get_ref().is_none() => "Permission denied".into(),
        _ => e.to_string(),
    }
}

/// What went wrong in a CSV reader or writer: the I/O error, or a sentence with the line.
fn csv_problem(e: ::csv::Error) -> Result<std::io::Error, String> {
    let line = e.position().map(|p| format!("line {}: ", p.line())).unwrap_or_default();
    let text = e.to_string();
    Err(match e.into_kind() {
        ::csv::ErrorKind::Io(io) => return Ok(io),
        ::csv::ErrorKind::Utf8 { err, .. } => format!(
            "{line}field {} is not valid UTF-8 (save the file as UTF-8, or check its encoding)",
            err.field() + 1
        ),
        ::csv::ErrorKind::UnequalLengths { expected_len, len, .. } => format!(
            "{line}{len} fields where the header has {expected_len} (a stray quote or delimiter?)"
        ),
        ::csv::ErrorKind::Deserialize { err, .. } => format!("{line}{err}"),
        ::csv::ErrorKind::Serialize(what) => format!("{line}{what}"),
        ::csv::ErrorKind::Seek => format!("{line}the input cannot be read again from the start"),
        _ => text,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read `{}`: {}", path.display(), plain(source))]
    Read { path: PathBuf, #[source] source: std::io::Error },

    #[error("cannot write `{}`: {}", path.display(), plain(source))]
    Write { path: PathBuf, #[source] source: std::io::Error },

    #[error("{}: {what}", path.display())]
    Input { path: PathBuf, what: String },

    #[error("model folder `{}`: {what}\n  (run `scripts/setup.sh` to install the default model, or pass --model DIR)", dir.display())]
    Model { dir: PathBuf, what: String },

    #[error("taxonomy `{}`: {what}", path.display())]
    Taxonomy { path: PathBuf, what: String },

    #[error("head `{}`: {what}", path.display())]
    Head { path: PathBuf, what: String },

    #[error("{0}")]
    Usage(String),

    /// Something the set-up provides is missing: ONNX Runtime, or a GPU libtorch can use.
    #[error("{0}")]
    Setup(String),

    #[error("model inference failed: {0}")]
    Inference(String),

    #[error("{0}")]
    Tokenizer(String),

    /// Several problems found together (configuration is checked as a whole).
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Many(Vec<Error>),
}

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Read { path: path.to_path_buf(), source }
    }

    pub fn write(path: &Path, source: std::io::Error) -> Self {
        Error::Write { path: path.to_path_buf(), source }
    }

    /// A CSV reader's error on `path`, in words: an I/O error stays one, anything else is an input
    /// problem with its line.
    pub fn csv_read(path: &Path, e: ::csv::Error) -> Self {
        match csv_problem(e) {
            Ok(io) => Error::io(path, io),
            Err(what) => Error::Input { path: path.to_path_buf(), what },
        }
    }

    /// A CSV writer's error on `path` (an output): always a write error.
    pub fn csv_write(path: &Path, e: ::csv::Error) -> Self {
        let source = csv_problem(e).unwrap_or_else(std::io::Error::other);
        Error::write(path, source)
    }

    /// One error, or all of them together.
    pub fn many(mut errors: Vec<Error>) -> Self {
        if errors.len() == 1 {
            errors.pop().expect("one error")
        } else {
            Error::Many(errors)
        }
    }

    /// The exit code this error ends the process with.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => exit::NO_INPUT,
            Error::Read { .. } | Error::Input { .. } => exit::DATA,
            Error::Write { .. } => exit::IO,
            Error::Model { .. } | Error::Setup(_) => exit::CONFIG,
            Error::Taxonomy { .. } | Error::Head { .. } | Error::Usage(_) => exit::USAGE,
            Error::Inference(_) | Error::Tokenizer(_) => exit::SOFTWARE,
            // The model missing trumps the rest: the fix is the set-up command.
            Error::Many(all) => all
                .iter()
                .map(Error::exit_code)
                .find(|&c| c == exit::CONFIG)
                .unwrap_or_else(|| all[0].exit_code()),
        }
    }
}
