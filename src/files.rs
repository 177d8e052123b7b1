//! Where the project's own files are, and how a file is replaced whole.
//!
//! `project_path` finds a project-relative default (the model, the taxonomy, the default head)
//! from the working folder or from the checkout the binary was built in. `write_atomically` and
//! `temp_beside` write beside the destination and rename into place, so a reader only ever sees
//! a complete file; every output, manifest, checkpoint and cache goes through them.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// The default model folder, relative to the project.
pub const DEFAULT_MODEL: &str = "models/all-MiniLM-L6-v2";
/// The default taxonomy, relative to the project.
pub const DEFAULT_TAXONOMY: &str = "data/taxonomy.toml";
/// The default head, relative to the project.
pub const DEFAULT_HEAD: &str = "models/heads/default.json";

/// Resolves a project-relative default: the working folder first, then the project the binary was
/// built in (so `target/release/parlscan` works from anywhere in a checkout).
pub fn project_path(relative: &str) -> PathBuf {
    let here = PathBuf::from(relative);
    if here.exists() {
        return here;
    }
    let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    if built_in.exists() {
        return built_in;
    }
    here
}

pub fn sync_folder(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Makes a rename durable; some filesystems refuse to fsync a folder, which is fine.
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
}

/// A temporary file beside `dest` (same folder, so the rename is atomic), hidden by a leading dot.
fn temp_beside(dest: &Path) -> Result<tempfile::NamedTempFile, Error> {
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // tempfile makes 0600 files; outputs are ordinary files other tools and people read.
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o644);
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".partial")
        .permissions(mode)
        .tempfile_in(dir)
        .map_err(|e| Error::write(dest, e))
}

/// Fsyncs a finished temporary file, renames it to `dest` and fsyncs the folder.
fn persist(temp: tempfile::TempPath, dest: &Path) -> Result<(), Error> {
    File::open(&temp).and_then(|f| f.sync_all()).map_err(|e| Error::write(dest, e))?;
    temp.persist(dest).map_err(|e| Error::write(dest, e.error))?;
    sync_folder(dest);
    Ok(())
}

/// `.NAME.SUFFIX` beside `dest` (`dir/out.csv` → `dir/.out.csv.SUFFIX`): where an output's
/// partial file, checkpoint, canonical CSV and lock live, hidden.
pub fn hidden_beside(dest: &Path, suffix: &str) -> PathBuf {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dest.with_file_name(format!(".{name}.{suffix}"))
}

/// Writes a small file so that `dest` only ever shows the complete content.
pub fn write_atomically(dest: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut file = temp_beside(dest)?;
    file.write_all(bytes).map_err(|e| Error::write(dest, e))?;
    persist(file.into_temp_path(), dest)
}
