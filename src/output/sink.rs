//! The sink and its journal: the labelled CSV as it is written. One row per input row in input
//! order, UTF-8, RFC 4180.
//!
//! A file output is written to a hidden partial file in the same folder, checkpointed as it grows
//! (`.NAME.checkpoint.json` says how many rows and bytes are durable, and for which run), then
//! fsynced and renamed into place, so the output path only ever shows a complete file; a failed
//! run leaves any previous output untouched, and a rerun resumes from the last checkpoint.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::files::{hidden_beside, sync_folder, write_atomically};

/// Where rows go: stdout, or (for a file) a hidden partial file beside it that is checkpointed as
/// it grows and renamed into place by [`Sink::finish`].
pub struct Sink {
    writer: ::csv::Writer<Box<dyn Write>>,
    journal: Option<Journal>,
}

/// A file output in progress: `.NAME.partial` holds the rows so far; `.NAME.checkpoint.json`
/// says how many rows and bytes of it are durable, and for which run.
struct Journal {
    dest: PathBuf,
    partial: PathBuf,
    checkpoint: PathBuf,
    /// A second handle on the partial file, for fsync and length.
    file: File,
    fingerprint: String,
    every: usize,
    rows: usize,
    rows_at_checkpoint: usize,
    bytes_at_checkpoint: u64,
}

/// What a checkpoint records.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub fingerprint: String,
    /// Output rows (after the header) that are durable.
    pub rows: usize,
    /// Bytes of the partial file that are durable (header included).
    pub bytes: u64,
    /// The run's counts up to there, so the summary and manifest stay whole across resumes.
    pub summary: serde_json::Value,
}

/// Where a run starts: from scratch, or after the rows a checkpoint made durable.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    pub rows: usize,
    pub summary: Option<serde_json::Value>,
    /// Why an existing checkpoint was not used, to tell the user.
    pub discarded: Option<String>,
}

/// The checkpoint file of an output path.
pub fn checkpoint_path(dest: &Path) -> PathBuf {
    hidden_beside(dest, "checkpoint.json")
}

/// The partial file of an output path.
pub fn partial_path(dest: &Path) -> PathBuf {
    hidden_beside(dest, "partial")
}

impl Sink {
    /// Rows to stdout, header first.
    pub fn stdout(header: &[String]) -> Result<Self, Error> {
        let mut sink = Sink { writer: ::csv::Writer::from_writer(Box::new(io::stdout().lock())), journal: None };
        sink.write(header.iter().map(String::as_str))?;
        Ok(sink)
    }

    /// Rows to `dest`, resuming from a checkpoint of the same run (`fingerprint`) if one is there
    /// and `restart` is off. A checkpoint of another run is discarded (and the reason returned).
    /// Commits a checkpoint every `every` rows.
    pub fn file(dest: &Path, header: &[String], fingerprint: &str, every: usize, restart: bool) -> Result<(Self, Resume), Error> {
        let partial = partial_path(dest);
        let checkpoint = checkpoint_path(dest);
        let mut resume = Resume::default();
        let previous: Option<Checkpoint> = match std::fs::read(&checkpoint) {
            Ok(bytes) if !restart => serde_json::from_slice(&bytes).ok(),
            _ => None,
        };
        let usable = previous.filter(|c| {
            let why = if c.fingerprint != fingerprint {
                Some("it is from a different input, model, head, taxonomy or settings")
            } else if std::fs::metadata(&partial).map_or(true, |m| m.len() < c.bytes) {
                Some("its partial output is missing or shorter than recorded")
            } else {
                None
            };
            resume.discarded = why.map(String::from);
            why.is_none()
        });
        let mode = std::os::unix::fs::PermissionsExt::from_mode(0o644);
        let (file, rows, bytes) = match usable {
            Some(c) => {
                let file = std::fs::OpenOptions::new().write(true).open(&partial).map_err(|e| Error::write(&partial, e))?;
                file.set_len(c.bytes).map_err(|e| Error::write(&partial, e))?;
                resume.rows = c.rows;
                resume.summary = Some(c.summary);
                (file, c.rows, c.bytes)
            }
            None => {
                let file = File::create(&partial).map_err(|e| Error::write(&partial, e))?;
                file.set_permissions(mode).map_err(|e| Error::write(&partial, e))?;
                (file, 0, 0)
            }
        };
        let mut appender = file.try_clone().map_err(|e| Error::write(&partial, e))?;
        io::Seek::seek(&mut appender, io::SeekFrom::End(0)).map_err(|e| Error::write(&partial, e))?;
        let writer = ::csv::Writer::from_writer(Box::new(BufWriter::with_capacity(1 << 16, appender)) as Box<dyn Write>);
        let journal = Journal {
            dest: dest.to_path_buf(),
            partial,
            checkpoint,
            file,
            fingerprint: fingerprint.to_string(),
            every: every.max(1),
            rows,
            rows_at_checkpoint: rows,
            bytes_at_checkpoint: bytes,
        };
        let mut sink = Sink { writer, journal: Some(journal) };
        if bytes == 0 {
            sink.write(header.iter().map(String::as_str))?;
        }
        Ok((sink, resume))
    }

    fn target(&self) -> PathBuf {
        self.journal.as_ref().map_or_else(|| PathBuf::from("-"), |j| j.dest.clone())
    }

    pub fn write<'a>(&mut self, fields: impl IntoIterator<Item = &'a str>) -> Result<(), Error> {
        self.writer.write_record(fields).map_err(|e| self.csv_error(e))
    }

    /// Writes one output row and counts it towards the next checkpoint.
    pub fn write_row(&mut self, fields: &[String]) -> Result<(), Error> {
        self.write(fields.iter().map(String::as_str))?;
        if let Some(j) = &mut self.journal {
            j.rows += 1;
        }
        Ok(())
    }

    /// Makes the rows so far durable if a checkpoint is due (or `force`): flush, fsync, then record
    /// rows, bytes and `summary` in the checkpoint file (atomically).
    pub fn checkpoint(&mut self, summary: serde_json::Value, force: bool) -> Result<(), Error> {
        let Some(j) = &self.journal else { return Ok(()) };
        if !force && j.rows - j.rows_at_checkpoint < j.every {
            return Ok(());
        }
        self.writer.flush().map_err(|e| Error::write(&self.target(), e))?;
        let j = self.journal.as_mut().expect("checked");
        j.file.sync_data().map_err(|e| Error::write(&j.partial, e))?;
        let bytes = j.file.metadata().map_err(|e| Error::write(&j.partial, e))?.len();
        let record = Checkpoint { fingerprint: j.fingerprint.clone(), rows: j.rows, bytes, summary };
        write_atomically(&j.checkpoint, &serde_json::to_vec(&record).expect("serialises"))?;
        j.rows_at_checkpoint = j.rows;
        j.bytes_at_checkpoint = bytes;
        Ok(())
    }

    fn csv_error(&self, e: ::csv::Error) -> Error {
        Error::csv_write(&self.target(), e)
    }

    /// Flushes; for a file, fsyncs it, renames it into place, fsyncs the folder and drops the
    /// checkpoint.
    pub fn finish(mut self) -> Result<(), Error> {
        self.writer.flush().map_err(|e| Error::write(&self.target(), e))?;
        if let Some(j) = self.journal.take() {
            drop(self.writer);
            j.file.sync_all().map_err(|e| Error::write(&j.dest, e))?;
            std::fs::rename(&j.partial, &j.dest).map_err(|e| Error::write(&j.dest, e))?;
            sync_folder(&j.dest);
            let _ = std::fs::remove_file(&j.checkpoint);
        }
        Ok(())
    }

    /// After a failure: cuts the partial file back to its last checkpoint (freeing what a full
    /// disk took), or removes it when nothing was checkpointed.
    pub fn abandon(self) {
        if let Some(j) = &self.journal {
            if j.rows_at_checkpoint == 0 {
                let _ = std::fs::remove_file(&j.partial);
            } else {
                let _ = j.file.set_len(j.bytes_at_checkpoint);
            }
        }
        // Dropping the writer may try to flush into a full disk; the cut above already decided.
        std::mem::forget(self.writer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::score;

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
        let (mut sink, resume) = Sink::file(&dest, &["a".into(), "b".into()], "f", 100, false).unwrap();
        assert_eq!(resume.rows, 0);
        sink.write_row(&["1".into(), "x,y".into()]).unwrap();
        assert!(!dest.exists());
        sink.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "a,b\n1,\"x,y\"\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no partial or checkpoint left");
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&dest).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o644, "readable by others, like any file a tool writes");
        write_atomically(&dir.path().join("small.json"), b"{}").unwrap();
        assert_eq!(std::fs::read(dir.path().join("small.json")).unwrap(), b"{}");
    }

    #[test]
    fn a_checkpoint_is_resumed_only_by_the_same_run() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.csv");
        let header = ["h".to_string()];
        let (mut sink, _) = Sink::file(&dest, &header, "run-1", 2, false).unwrap();
        for row in ["r1", "r2", "r3"] {
            sink.write_row(&[row.into()]).unwrap();
            sink.checkpoint(serde_json::json!({"n": row}), false).unwrap();
        }
        drop(sink); // a crash: r3 was written but not checkpointed
        let (mut sink, resume) = Sink::file(&dest, &header, "run-1", 2, false).unwrap();
        assert_eq!((resume.rows, resume.summary), (2, Some(serde_json::json!({"n": "r2"}))));
        sink.write_row(&["r3".into()]).unwrap();
        sink.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "h\nr1\nr2\nr3\n");

        let (mut sink, _) = Sink::file(&dest, &header, "run-1", 1, false).unwrap();
        sink.write_row(&["x".into()]).unwrap();
        sink.checkpoint(serde_json::json!({}), false).unwrap();
        drop(sink);
        let (_, resume) = Sink::file(&dest, &header, "run-2", 1, false).unwrap();
        assert_eq!(resume.rows, 0);
        assert!(resume.discarded.unwrap().contains("different input"));
    }

    #[test]
    fn an_unfinished_sink_leaves_the_previous_output() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.csv");
        std::fs::write(&dest, "old\n").unwrap();
        let (mut sink, _) = Sink::file(&dest, &["a".into()], "f", 100, false).unwrap();
        sink.write_row(&["new".into()]).unwrap();
        sink.abandon();
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "old\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "nothing checkpointed: partial removed");
    }
}
