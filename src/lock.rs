//! The output lock: one parlscan run at a time writes a given output file.
//!
//! `classify -o FILE` (with or without `--incremental`) and `merge -o FILE` hold an exclusive
//! advisory lock, the kernel's `flock`, on `.FILE.lock` beside the output, from before any work
//! until the process has written everything. The kernel drops the lock when the process ends,
//! however it ends, so a run killed with `kill -9` leaves only a stale file, which the next run
//! takes over. The file records the holder's pid, host, start time and command line for the
//! message a second run gives. It stays in place after a run: deleting it would let a run that
//! waits on the old file and a run that creates a new one both hold "the" lock.
//!
//! Owns taking the lock and naming its holder; what is written under it belongs to `output`,
//! `pipeline` and `merge`.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::Error;

/// `.FILE.lock` beside an output `FILE`.
pub fn lock_path(output: &Path) -> PathBuf {
    crate::files::hidden_beside(output, "lock")
}

/// The run that holds (or last held) an output's lock, as its lock file records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    /// Local date and time the run took the lock: `2025-03-01 02:00:13`.
    pub since: String,
    pub command: String,
}

impl Holder {
    /// This process.
    pub fn this_process() -> Holder {
        let command: Vec<String> = std::env::args().map(|a| shell_word(&a)).collect();
        Holder { pid: std::process::id(), host: host_name(), since: local_now(), command: command.join(" ") }
    }

    /// The lock file's text: one `key: value` line each, newline-terminated.
    pub fn record(&self) -> String {
        let one_line = |s: &str| s.replace(['\n', '\r'], " ");
        format!(
            "pid: {}\nhost: {}\nsince: {}\ncommand: {}\n",
            self.pid,
            one_line(&self.host),
            one_line(&self.since),
            one_line(&self.command)
        )
    }

    /// Reads a record back; `None` while it is incomplete (being written) or not one.
    pub fn parse(text: &str) -> Option<Holder> {
        if !text.ends_with('\n') {
            return None;
        }
        let field = |key: &str| text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(": ").map(String::from));
        Some(Holder { pid: field("pid")?.parse().ok()?, host: field("host")?, since: field("since")?, command: field("command")? })
    }

    /// `pid 1234 on HOST, since 02:00:13`; the date too when the run did not start `today`.
    pub fn describe(&self, today: &str) -> String {
        let since = match self.since.split_once(' ') {
            Some((date, time)) if date == today => time,
            _ => self.since.as_str(),
        };
        format!("pid {} on {}, since {since}", self.pid, self.host)
    }
}

/// An exclusive lock on one output, held until dropped or the process ends.
#[derive(Debug)]
pub struct OutputLock {
    _file: File,
}

impl OutputLock {
    /// Takes the lock of `output`. When another run holds it: with `wait`, says so in one line on
    /// stderr and blocks until that run ends; without, fails at once with [`Error::Busy`].
    pub fn acquire(output: &Path, wait: bool) -> Result<OutputLock, Error> {
        let path = lock_path(output);
        // Opened without truncating: the holder's record must survive until we hold the lock.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(&path)
            .map_err(|e| Error::write(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let who = holder_of(&path).map_or("its pid and host are not recorded".to_string(), |h| h.describe(&today()));
                if !wait {
                    return Err(Error::Busy(format!(
                        "another parlscan run ({who}) is writing {}; wait for it or choose another -o",
                        output.display()
                    )));
                }
                eprintln!("parlscan: waiting for another parlscan run ({who}) to finish writing {}", output.display());
                file.lock().map_err(|e| Error::write(&path, e))?;
            }
            Err(TryLockError::Error(e)) => return Err(Error::write(&path, e)),
        }
        let record = Holder::this_process().record();
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(record.as_bytes()))
            .map_err(|e| Error::write(&path, e))?;
        Ok(OutputLock { _file: file })
    }
}

/// The holder's record. A run that has just taken the lock may not have written it yet: look
/// again for a moment before giving up.
fn holder_of(path: &Path) -> Option<Holder> {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        if let Some(holder) = std::fs::read_to_string(path).ok().as_deref().and_then(Holder::parse) {
            return Some(holder);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An argument as a shell would need it, so the recorded command line can be rerun.
fn shell_word(arg: &str) -> String {
    let plain = !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,%+@".contains(c));
    if plain { arg.to_string() } else { format!("'{}'", arg.replace('\'', r"'\''")) }
}

fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer outlives the call and its length is passed; the name is cut at the first NUL.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    if ok && end > 0 { String::from_utf8_lossy(&buf[..end]).into_owned() } else { "an unknown host".into() }
}

/// The local date and time, `YYYY-MM-DD HH:MM:SS`.
fn local_now() -> String {
    // SAFETY: localtime_r writes only into the `tm` we own; a null pointer from it is handled.
    let tm = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return "an unknown time".into();
        }
        tm
    };
    format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)
}

fn today() -> String {
    local_now().split(' ').next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_file_is_hidden_beside_the_output() {
        assert_eq!(lock_path(Path::new("dir/out.csv")), PathBuf::from("dir/.out.csv.lock"));
        assert_eq!(lock_path(Path::new("out.csv")), PathBuf::from(".out.csv.lock"));
        assert_eq!(lock_path(Path::new("/a/b/part-1.parquet")), PathBuf::from("/a/b/.part-1.parquet.lock"));
    }

    #[test]
    fn a_record_reads_back_and_names_its_run() {
        let h = Holder { pid: 1234, host: "hpc-07".into(), since: "2025-03-01 02:00:13".into(), command: "parlscan classify 'my big.csv' -o out.csv".into() };
        assert_eq!(h.record(), "pid: 1234\nhost: hpc-07\nsince: 2025-03-01 02:00:13\ncommand: parlscan classify 'my big.csv' -o out.csv\n");
        assert_eq!(Holder::parse(&h.record()), Some(h.clone()));
        assert_eq!(h.describe("2025-03-01"), "pid 1234 on hpc-07, since 02:00:13");
        assert_eq!(h.describe("2025-03-02"), "pid 1234 on hpc-07, since 2025-03-01 02:00:13", "an older run gives its date");
        let odd = Holder { command: "a\nb".into(), ..h.clone() };
        assert_eq!(Holder::parse(&odd.record()).unwrap().command, "a b", "one line per field");
        let full = h.record();
        for cut in [0, 10, full.len() - 1] {
            assert_eq!(Holder::parse(&full[..cut]), None, "a record being written is not read: {cut}");
        }
        assert_eq!(Holder::parse("pid: x\nhost: h\nsince: s\ncommand: c\n"), None);
    }

    #[test]
    fn this_process_is_recorded_with_a_shell_ready_command() {
        let me = Holder::this_process();
        assert_eq!(me.pid, std::process::id());
        assert!(!me.host.is_empty());
        assert_eq!(me.since.len(), "2025-03-01 02:00:13".len(), "{}", me.since);
        assert_eq!(shell_word("-o"), "-o");
        assert_eq!(shell_word("my file.csv"), "'my file.csv'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn a_second_lock_on_the_same_output_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.csv");
        let first = OutputLock::acquire(&out, false).unwrap();
        let record = std::fs::read_to_string(lock_path(&out)).unwrap();
        assert_eq!(Holder::parse(&record).unwrap().pid, std::process::id());
        let Err(Error::Busy(msg)) = OutputLock::acquire(&out, false) else { panic!("a second lock was granted") };
        let expected = format!("another parlscan run (pid {} on ", std::process::id());
        assert!(msg.starts_with(&expected), "{msg}");
        assert!(msg.ends_with(&format!(") is writing {}; wait for it or choose another -o", out.display())), "{msg}");
        assert_eq!(Error::Busy(msg).exit_code(), crate::error::exit::TEMPFAIL);
        let other = OutputLock::acquire(&dir.path().join("other.csv"), false);
        assert!(other.is_ok(), "another output is not blocked");
        drop(first);
        assert!(OutputLock::acquire(&out, false).is_ok(), "a stale lock file is reused");
    }
}
