//! Whether the installed default model is still the one `scripts/setup.sh` installed: each file
//! `SHA256SUMS` lists against the SHA-256 recorded there, and the default head against the
//! weights it was fitted on. A damaged install is an error (exit 78): scoring on with other
//! weights, or with the label prototypes instead of the head, would silently change every label.
//!
//! Only the default model folder is checked; a folder passed with `--model` has no recorded sums.
//! A verdict is cached per file by its size, modification and change times in the cache folder
//! of `score::cache`, so only the first run after set-up (or after a file changed) reads the
//! weights; without a writable cache folder every run checks. The check catches damage (a
//! flipped bit, a cut-short copy, an edited file), not tampering: whoever can rewrite the weights
//! can rewrite `SHA256SUMS`.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::Error;
use crate::fingerprint::{sha256_file, sha256_hex};
use crate::score::head::HeadFile;

/// The checksum file set-up writes into the default model folder (`sha256sum` format).
pub const SUMS_FILE: &str = "SHA256SUMS";

/// Checks the default model folder `dir` against its `SHA256SUMS`, caching verdicts in the
/// cache folder the environment names (`PARLSCAN_CACHE`, ...).
pub fn check_default_model(dir: &Path) -> Result<(), Error> {
    check_model_files(dir, crate::score::cache::dir_from_env().as_deref())
}

/// Checks every file `dir/SHA256SUMS` lists; verdicts are cached in `cache` when given.
pub fn check_model_files(dir: &Path, cache: Option<&Path>) -> Result<(), Error> {
    let sums_path = dir.join(SUMS_FILE);
    let text = std::fs::read_to_string(&sums_path)
        .map_err(|e| damaged(dir, &[format!("`{SUMS_FILE}`, the checksums set-up records, cannot be read: {e}")]))?;
    let sums = parse_sums(&text).map_err(|line| damaged(dir, &[format!("`{SUMS_FILE}` line {line} is not `SHA256  FILE`")]))?;
    let cache_file = cache.map(|c| c.join(format!("verified-{}.txt", folder_key(dir))));
    let cached: BTreeSet<String> = cache_file
        .as_ref()
        .and_then(|f| std::fs::read_to_string(f).ok())
        .map(|t| t.lines().map(String::from).collect())
        .unwrap_or_default();
    let mut verified = BTreeSet::new();
    let mut problems = Vec::new();
    for (sum, name) in &sums {
        let path = dir.join(name);
        let meta = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m,
            _ => {
                problems.push(format!("`{name}` is missing"));
                continue;
            }
        };
        // What a change to the file's content changes; ctime cannot be set back by hand.
        let stamp = format!("{sum} {} {}.{:09} {}.{:09} {name}", meta.len(), meta.mtime(), meta.mtime_nsec(), meta.ctime(), meta.ctime_nsec());
        if cached.contains(&stamp) {
            verified.insert(stamp);
            continue;
        }
        match sha256_file(&path) {
            Ok(actual) if actual == *sum => {
                verified.insert(stamp);
            }
            Ok(_) => problems.push(format!("`{name}` does not match its SHA-256 in `{SUMS_FILE}` (damaged or changed since set-up)")),
            Err(e) => problems.push(format!("`{name}`: {e}")),
        }
    }
    if let Some(file) = cache_file.filter(|_| verified != cached) {
        store(&file, &verified);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(damaged(dir, &problems))
    }
}

/// The default head must have been fitted on the default model's weights (`encoder_sha256`) and
/// be readable: anything else is an inconsistent install. A head made for another taxonomy is
/// not this check's business (`classify` sets it aside with a note).
pub fn check_default_head(head: &Path, model_dir: &Path, encoder_sha256: &str) -> Result<(), Error> {
    let fix = format!(
        "restore the head with `git checkout -- {}` and the model with `scripts/setup.sh`; --no-head scores with the label prototypes alone",
        head.display()
    );
    let file = HeadFile::load(head).map_err(|e| Error::Setup(format!("the default head cannot be used: {e}\n  ({fix})")))?;
    let fitted_on = &file.provenance.encoder_sha256;
    if fitted_on != encoder_sha256 {
        return Err(Error::Setup(format!(
            "the default head `{}` was fitted on encoder weights {} but the default model `{}` has {}: the install is inconsistent\n  ({fix})",
            head.display(),
            &fitted_on[..fitted_on.len().min(12)],
            model_dir.display(),
            &encoder_sha256[..encoder_sha256.len().min(12)]
        )));
    }
    Ok(())
}

fn damaged(dir: &Path, problems: &[String]) -> Error {
    Error::Setup(format!(
        "the default model `{}` is damaged:\n  {}\n  (rerun `scripts/setup.sh` to restore it, or pass --model DIR to use another model folder)",
        dir.display(),
        problems.join("\n  ")
    ))
}

/// `sha256sum` lines: 64 hex digits, a space, a space or `*` (binary mode), the file name.
/// Returns the 1-based number of the first line that is not one.
fn parse_sums(text: &str) -> Result<Vec<(String, String)>, usize> {
    let mut sums = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let parsed = line.split_at_checked(64).and_then(|(sum, rest)| {
            let name = rest.strip_prefix("  ").or_else(|| rest.strip_prefix(" *"))?;
            let hex = sum.bytes().all(|b| b.is_ascii_hexdigit());
            (hex && !name.is_empty()).then(|| (sum.to_ascii_lowercase(), name.to_string()))
        });
        sums.push(parsed.ok_or(n + 1)?);
    }
    if sums.is_empty() { Err(1) } else { Ok(sums) }
}

/// Names a model folder's verdict file: its canonical path, hashed.
fn folder_key(dir: &Path) -> String {
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    sha256_hex(canonical.as_os_str().as_encoded_bytes())[..16].to_string()
}

/// Writes the verdicts; a cache that cannot be written only means checking again next time.
fn store(file: &Path, verified: &BTreeSet<String>) {
    let text: String = verified.iter().map(|line| format!("{line}\n")).collect();
    if let Some(dir) = file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = crate::files::write_atomically(file, text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model folder with two listed files and their sums, as set-up writes them.
    fn installed() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("1_Pooling")).unwrap();
        std::fs::write(dir.path().join("model.safetensors"), b"weights weights weights").unwrap();
        std::fs::write(dir.path().join("1_Pooling/config.json"), b"{}").unwrap();
        let sums = format!(
            "{}  model.safetensors\n{}  1_Pooling/config.json\n",
            sha256_hex(b"weights weights weights"),
            sha256_hex(b"{}")
        );
        std::fs::write(dir.path().join(SUMS_FILE), sums).unwrap();
        dir
    }

    fn message(r: Result<(), Error>) -> String {
        let e = r.expect_err("a damaged install");
        assert_eq!(e.exit_code(), crate::error::exit::CONFIG);
        e.to_string()
    }

    #[test]
    fn an_intact_install_passes_and_its_verdict_is_cached() {
        let (model, cache) = (installed(), tempfile::tempdir().unwrap());
        check_model_files(model.path(), Some(cache.path())).unwrap();
        let entries: Vec<_> = std::fs::read_dir(cache.path()).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(entries.len(), 1, "{entries:?}");
        let verdicts = std::fs::read_to_string(&entries[0]).unwrap();
        assert_eq!(verdicts.lines().count(), 2, "{verdicts}");
        assert!(verdicts.contains(" model.safetensors\n") && verdicts.contains(&sha256_hex(b"{}")), "{verdicts}");
        check_model_files(model.path(), Some(cache.path())).unwrap();
        check_model_files(model.path(), None).unwrap();
    }

    #[test]
    fn a_flipped_byte_is_caught_even_after_a_cached_pass() {
        let (model, cache) = (installed(), tempfile::tempdir().unwrap());
        check_model_files(model.path(), Some(cache.path())).unwrap();
        let weights = model.path().join("model.safetensors");
        let mut bytes = std::fs::read(&weights).unwrap();
        bytes[3] ^= 0x01;
        std::fs::write(&weights, &bytes).unwrap();
        let msg = message(check_model_files(model.path(), Some(cache.path())));
        assert!(msg.contains("`model.safetensors` does not match") && msg.contains("rerun `scripts/setup.sh`"), "{msg}");
        assert!(!msg.contains("1_Pooling"), "only the damaged file is named: {msg}");
    }

    #[test]
    fn missing_files_and_a_missing_or_garbled_sums_file_are_damage() {
        let model = installed();
        std::fs::remove_file(model.path().join("1_Pooling/config.json")).unwrap();
        let msg = message(check_model_files(model.path(), None));
        assert!(msg.contains("`1_Pooling/config.json` is missing"), "{msg}");
        std::fs::write(model.path().join(SUMS_FILE), "not a checksum line\n").unwrap();
        assert!(message(check_model_files(model.path(), None)).contains("line 1 is not"));
        std::fs::remove_file(model.path().join(SUMS_FILE)).unwrap();
        assert!(message(check_model_files(model.path(), None)).contains("`SHA256SUMS`, the checksums set-up records, cannot be read"));
    }

    #[test]
    fn sums_lines_in_text_and_binary_mode() {
        let sum = "a".repeat(64);
        let parsed = parse_sums(&format!("{sum}  config.json\n\n{} *1_Pooling/config.json\n", "B".repeat(64))).unwrap();
        assert_eq!(parsed, [(sum.clone(), "config.json".into()), ("b".repeat(64), "1_Pooling/config.json".into())]);
        for bad in [format!("{sum} config.json"), format!("{}  x", "g".repeat(64)), format!("{sum}  "), String::new()] {
            assert!(parse_sums(&bad).is_err(), "{bad:?}");
        }
    }
}
