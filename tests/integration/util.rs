//! A temp-dir workspace that runs the real binary (after ripgrep's `tests/util.rs`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn project() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The default model folder; panics with the set-up command when it is missing.
pub fn model_dir() -> PathBuf {
    let dir = project().join("models/all-MiniLM-L6-v2");
    assert!(
        dir.join("model.safetensors").is_file(),
        "the real model is missing at {}: run scripts/setup.sh (tests never skip for this)",
        dir.display()
    );
    dir
}

/// `../shared/data/dev.csv`, read in place; panics when it is not there.
pub fn dev_csv() -> PathBuf {
    let p = project().join("../shared/data/dev.csv");
    assert!(p.is_file(), "{} is missing: the tests read the shared dev speeches in place", p.display());
    p
}

pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Self {
        Workdir { dir: tempfile::tempdir().expect("a temp dir") }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).expect("write a fixture");
        p
    }

    pub fn command(&self) -> Command {
        model_dir();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_parlscan"));
        cmd.current_dir(self.dir.path());
        cmd.env_remove("LD_LIBRARY_PATH");
        cmd
    }

    /// Runs `parlscan ARGS` (stdin closed) and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).stdin(Stdio::null()).output().expect("run parlscan")
    }

    /// Runs with `stdin` piped in.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        use std::io::Write;
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn parlscan");
        child.stdin.take().expect("stdin").write_all(stdin).expect("feed stdin");
        child.wait_with_output().expect("wait for parlscan")
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Parses a labelled CSV into its header and rows.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    parse_csv(&bytes)
}

pub fn parse_csv(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new().from_reader(bytes);
    let header = r.headers().expect("a header").iter().map(String::from).collect();
    let rows = r.records().map(|rec| rec.expect("a valid row").iter().map(String::from).collect()).collect();
    (header, rows)
}

/// The value of the last column called `name` (label columns come after passthrough ones).
pub fn col<'a>(header: &[String], row: &'a [String], name: &str) -> &'a str {
    let i = header.iter().rposition(|h| h == name).unwrap_or_else(|| panic!("no column {name} in {header:?}"));
    &row[i]
}
