//! The sink: the labelled CSV. Fixed column order (passthrough columns, then the label columns
//! below), one row per input row in input order, UTF-8, RFC 4180.
//!
//! A file output is written to a temporary file in the same folder, flushed, fsynced and renamed
//! into place, so the output path only ever shows a complete file; a failed run leaves any
//! previous output untouched.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::aggregate::SpeechScores;
use crate::error::Error;
use crate::taxonomy::{Taxonomy, STANCE_CLASSES};

/// The label columns after the passthrough ones, in order.
pub fn label_columns(taxonomy: &Taxonomy) -> Vec<String> {
    let mut cols = vec!["on_topic".to_string(), "topics".into(), "top_topic".into()];
    cols.extend(taxonomy.topics.iter().map(|t| format!("topic_{}", t.name)));
    cols.extend(["stance".to_string(), "stance_score".into()]);
    cols.extend(STANCE_CLASSES.iter().map(|s| format!("stance_{s}")));
    cols.extend(["evidence".to_string(), "n_words".into(), "n_chunks".into(), "status".into()]);
    cols
}

fn score(x: f64) -> String {
    // Avoid "-0.0000" for tiny negatives.
    let s = format!("{x:.4}");
    if s == "-0.0000" { "0.0000".into() } else { s }
}

/// The label columns of a scored speech.
pub fn scored_fields(s: &SpeechScores, taxonomy: &Taxonomy, evidence: &str, n_words: usize, n_chunks: usize) -> Vec<String> {
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
    out.extend([evidence.to_string(), n_words.to_string(), n_chunks.to_string(), "ok".into()]);
    out
}

/// The label columns of a row that could not be scored: empty scores and a status saying why.
pub fn unscored_fields(taxonomy: &Taxonomy, n_words: usize, status: &str) -> Vec<String> {
    let mut out = vec![String::new(); label_columns(taxonomy).len() - 3];
    out.extend([n_words.to_string(), "0".into(), status.to_string()]);
    out
}

/// Where rows go: stdout, or a temporary file renamed into place by [`Sink::finish`].
pub struct Sink {
    writer: ::csv::Writer<Box<dyn Write>>,
    temp: Option<(tempfile::TempPath, PathBuf)>,
}

impl Sink {
    /// Opens the output (`None` or `-` for stdout) and writes the header.
    pub fn create(output: Option<&Path>, header: &[String]) -> Result<Self, Error> {
        let (inner, temp): (Box<dyn Write>, _) = match output {
            None => (Box::new(io::stdout().lock()), None),
            Some(p) if p.as_os_str() == "-" => (Box::new(io::stdout().lock()), None),
            Some(path) => {
                let (file, temp_path) = temp_beside(path)?.into_parts();
                (Box::new(BufWriter::with_capacity(1 << 16, file)), Some((temp_path, path.to_path_buf())))
            }
        };
        let mut sink = Sink { writer: ::csv::WriterBuilder::new().from_writer(inner), temp };
        sink.write(header.iter().map(String::as_str))?;
        Ok(sink)
    }

    fn target(&self) -> PathBuf {
        self.temp.as_ref().map_or_else(|| PathBuf::from("-"), |(_, dest)| dest.clone())
    }

    pub fn write<'a>(&mut self, fields: impl IntoIterator<Item = &'a str>) -> Result<(), Error> {
        self.writer.write_record(fields).map_err(|e| self.csv_error(e))
    }

    fn csv_error(&self, e: ::csv::Error) -> Error {
        match e.into_kind() {
            ::csv::ErrorKind::Io(io) => Error::write(&self.target(), io),
            other => Error::write(&self.target(), io::Error::other(format!("{other:?}"))),
        }
    }

    /// Flushes, and for a file output fsyncs it, renames it into place and fsyncs the folder.
    pub fn finish(mut self) -> Result<(), Error> {
        self.writer.flush().map_err(|e| Error::write(&self.target(), e))?;
        if let Some((temp, dest)) = self.temp.take() {
            drop(self.writer);
            persist(temp, &dest)?;
        }
        Ok(())
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
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Makes the rename durable; some filesystems refuse to fsync a folder, which is fine.
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// Writes a small file so that `dest` only ever shows the complete content.
pub fn write_atomically(dest: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut file = temp_beside(dest)?;
    file.write_all(bytes).map_err(|e| Error::write(dest, e))?;
    persist(file.into_temp_path(), dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_four_decimals_and_no_negative_zero() {
        assert_eq!(score(0.123456), "0.1235");
        assert_eq!(score(-0.00001), "0.0000");
        assert_eq!(score(-0.5), "-0.5000");
        assert_eq!(score(1.0), "1.0000");
    }

    #[test]
    fn a_file_appears_only_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.csv");
        let mut sink = Sink::create(Some(&dest), &["a".into(), "b".into()]).unwrap();
        sink.write(["1", "x,y"]).unwrap();
        assert!(!dest.exists());
        sink.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "a,b\n1,\"x,y\"\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temp file left");
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&dest).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o644, "readable by others, like any file a tool writes");
    }

    #[test]
    fn an_unfinished_sink_leaves_the_previous_output() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.csv");
        std::fs::write(&dest, "old\n").unwrap();
        let mut sink = Sink::create(Some(&dest), &["a".into()]).unwrap();
        sink.write(["new"]).unwrap();
        drop(sink);
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "old\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "temp file removed");
    }
}
