//! Opening inputs: which paths are inputs (folders expanded), how their bytes are read (files,
//! stdin, gzip decompressed on the fly), and which format reads them ([`InputFormat`], chosen by
//! name or, when the name says nothing, by the first bytes).
//!
//! It owns no format: each one is a [`Reader`] in its own file, built here from a byte stream.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use super::csv::CsvReader;
use super::jsonl::JsonlReader;
use super::parlamint::ParlamintReader;
use super::parlparse::ParlparseReader;
use super::Reader;
use crate::error::Error;

/// A byte stream of one input (already decompressed).
pub type Bytes = Box<dyn Read + Send>;

/// How an input is read (`--input-format`). `Auto` picks by file name, then by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum InputFormat {
    /// From the file name, else the content.
    #[default]
    Auto,
    /// Comma-separated with a header row (another delimiter with `--delimiter`).
    Csv,
    /// Tab-separated with a header row.
    Tsv,
    /// JSON Lines: one object a line.
    #[value(alias = "ndjson")]
    Jsonl,
    /// ParlaMint plain text: `NAME.txt` (`id<TAB>text` lines) with `NAME-meta.tsv` beside it.
    Parlamint,
    /// ParlParse / TheyWorkForYou debate XML (`<publicwhip>`).
    Parlparse,
}

impl InputFormat {
    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Auto => "auto",
            InputFormat::Csv => "csv",
            InputFormat::Tsv => "tsv",
            InputFormat::Jsonl => "jsonl",
            InputFormat::Parlamint => "parlamint",
            InputFormat::Parlparse => "parlparse",
        }
    }

    /// The format a file name's extension says (after any `.gz`), if it says one.
    pub fn from_name(path: &Path) -> Option<InputFormat> {
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        let ext = name.rsplit_once('.')?.1;
        Some(match ext {
            "csv" => InputFormat::Csv,
            "tsv" | "tab" => InputFormat::Tsv,
            "jsonl" | "ndjson" => InputFormat::Jsonl,
            "txt" => InputFormat::Parlamint,
            "xml" => InputFormat::Parlparse,
            _ => return None,
        })
    }
}


impl std::fmt::Display for InputFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Opens one input with the reader its format needs, the format chosen by name or content.
pub fn open_input(path: &Path) -> Result<Box<dyn Reader>, Error> {
    open_input_as(path, InputFormat::Auto, None)
}

/// Opens one input as `format`. `delimiter` overrides the field separator of CSV and TSV inputs
/// (and of inputs `Auto` reads as CSV). Gzip input (a `.gz` name, or gzip's magic bytes) is
/// decompressed on the fly.
pub fn open_input_as(path: &Path, format: InputFormat, delimiter: Option<u8>) -> Result<Box<dyn Reader>, Error> {
    let bytes = open_bytes(path)?;
    let (format, bytes, sniffed) = match format {
        InputFormat::Auto => match InputFormat::from_name(path) {
            Some(f) => (f, bytes, false),
            None => {
                let (f, bytes) = sniff(path, bytes)?;
                (f, bytes, true)
            }
        },
        f => (f, bytes, false),
    };
    Ok(match format {
        InputFormat::Csv | InputFormat::Auto => {
            let (delimiter, bytes) = match delimiter {
                Some(d) => (d, bytes),
                None if sniffed => sniff_delimiter(path, bytes)?,
                None => (b',', bytes),
            };
            Box::new(CsvReader::from_input(path, bytes, delimiter)?)
        }
        InputFormat::Tsv => Box::new(CsvReader::from_input(path, bytes, delimiter.unwrap_or(b'\t'))?),
        InputFormat::Jsonl => Box::new(JsonlReader::new(path, bytes)?),
        InputFormat::Parlamint => Box::new(ParlamintReader::new(path, bytes)?),
        InputFormat::Parlparse => Box::new(ParlparseReader::new(path, bytes)?),
    })
}

fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// The bytes of a path (`-`: stdin), decompressed when gzip.
pub(crate) fn open_bytes(path: &Path) -> Result<Bytes, Error> {
    let raw: Bytes = if is_stdin(path) {
        Box::new(io::stdin())
    } else {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        Box::new(BufReader::with_capacity(1 << 16, file))
    };
    let named_gz = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let (head, raw) = peek(raw, 2).map_err(|e| Error::io(path, e))?;
    if named_gz || head == [0x1f, 0x8b] {
        Ok(Box::new(Gunzip(flate2::read::MultiGzDecoder::new(raw))))
    } else {
        Ok(raw)
    }
}

/// Gzip decompression whose format errors say, in words, that the data is truncated or corrupt
/// (the reader that meets one puts the file name in front). Rows decoded before stay read.
struct Gunzip(flate2::read::MultiGzDecoder<Bytes>);

impl Read for Gunzip {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => {
                io::Error::new(io::ErrorKind::InvalidData, format!("gzip data is truncated or corrupt ({e})"))
            }
            _ => e,
        })
    }
}

/// Reads up to `n` bytes ahead (fewer at the end) and gives them back with a stream that still
/// starts with them.
pub(crate) fn peek(mut input: Bytes, n: usize) -> io::Result<(Vec<u8>, Bytes)> {
    let mut head = Vec::with_capacity(n);
    (&mut input).take(n as u64).read_to_end(&mut head)?;
    Ok((head.clone(), Box::new(Prefixed { head, at: 0, inner: input, error: None })))
}

/// Bytes already read, then the rest of the stream. Unlike `Read::chain`, a read that ends the
/// prefix goes on into the stream, so the first buffer a reader fills is not cut short at the
/// prefix's end (the csv crate only strips a byte order mark it sees whole in its first fill).
struct Prefixed {
    head: Vec<u8>,
    at: usize,
    inner: Bytes,
    /// An error met after some prefix bytes were handed out; returned by the next read.
    error: Option<io::Error>,
}

impl Read for Prefixed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let n = buf.len().min(self.head.len() - self.at);
        buf[..n].copy_from_slice(&self.head[self.at..self.at + n]);
        self.at += n;
        if n == buf.len() {
            return Ok(n);
        }
        match self.inner.read(&mut buf[n..]) {
            Ok(m) => Ok(n + m),
            Err(e) if n > 0 => {
                self.error = Some(e);
                Ok(n)
            }
            Err(e) => Err(e),
        }
    }
}

/// How far ahead content sniffing looks.
const SNIFF_BYTES: usize = 64 * 1024;

/// The format of an input whose name says nothing: first non-whitespace byte `{` → JSON Lines,
/// `<` → ParlParse XML, else CSV (delimiter sniffed next).
fn sniff(path: &Path, bytes: Bytes) -> Result<(InputFormat, Bytes), Error> {
    let (head, bytes) = peek(bytes, SNIFF_BYTES).map_err(|e| Error::io(path, e))?;
    let body = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&head);
    let format = match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => InputFormat::Jsonl,
        Some(b'<') => InputFormat::Parlparse,
        _ => InputFormat::Csv,
    };
    Ok((format, bytes))
}

/// Tab when the first line has more tabs than commas, else comma.
fn sniff_delimiter(path: &Path, bytes: Bytes) -> Result<(u8, Bytes), Error> {
    let (head, bytes) = peek(bytes, SNIFF_BYTES).map_err(|e| Error::io(path, e))?;
    Ok((delimiter_of_first_line(&head), bytes))
}

fn delimiter_of_first_line(head: &[u8]) -> u8 {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let count = |c: u8| line.iter().filter(|&&b| b == c).count();
    if count(b'\t') > count(b',') { b'\t' } else { b',' }
}

/// Extensions a folder's files must have to be inputs (each also with `.gz`).
const INPUT_EXTENSIONS: [&str; 7] = ["csv", "tsv", "tab", "jsonl", "ndjson", "txt", "xml"];

/// Replaces each folder among `paths` by the inputs inside it (and in its subfolders), sorted by
/// path: `*.csv`, `*.tsv`, `*.tab`, `*.jsonl`, `*.ndjson`, `*.xml`, ParlaMint `*.txt`, and each
/// of them gzipped (`.gz`). Hidden files and folders are skipped; so are a ParlaMint text's
/// metadata files (`NAME-meta.tsv`, `NAME-meta-en.tsv`: read with `NAME.txt`) and any `*.txt`
/// with no `NAME-meta.tsv` beside it (READMEs). Other paths (files, `-`, missing paths) are kept
/// as given. A folder with no inputs is an error.
pub fn expand_inputs(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    for path in paths {
        if !is_stdin(path) && path.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found)?;
            if found.is_empty() {
                return Err(Error::Input {
                    path: path.clone(),
                    what: format!(
                        "this folder has no inputs (looked for *.{} and the same gzipped)",
                        INPUT_EXTENSIONS.join(", *.")
                    ),
                });
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| Error::io(&path, e))?;
        // Symlinked folders are not followed (no loops); symlinked files are read.
        if kind.is_dir() {
            walk(&path, found)?;
        } else if (kind.is_file() || kind.is_symlink() && path.is_file()) && is_folder_input(dir, &name) {
            found.push(path);
        }
    }
    Ok(())
}

fn is_folder_input(dir: &Path, name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let inner = lower.strip_suffix(".gz").unwrap_or(&lower);
    let Some((stem, ext)) = inner.rsplit_once('.') else { return false };
    if !INPUT_EXTENSIONS.contains(&ext) {
        return false;
    }
    // The stem as written (ASCII lowercasing keeps byte lengths; the file system may care).
    let stem_as_written = &name[..stem.len()];
    match ext {
        "txt" => super::parlamint::meta_candidates(&dir.join(format!("{stem_as_written}.txt"))).iter().any(|m| m.is_file()),
        "tsv" => !is_parlamint_meta(dir, stem_as_written),
        _ => true,
    }
}

/// `NAME-meta.tsv` or `NAME-meta-xx.tsv` with a `NAME.txt` (or `.txt.gz`) beside it.
fn is_parlamint_meta(dir: &Path, stem: &str) -> bool {
    let Some(at) = stem.rfind("-meta") else { return false };
    let rest = &stem[at + "-meta".len()..];
    if !(rest.is_empty() || rest.starts_with('-')) {
        return false;
    }
    let base = &stem[..at];
    ["txt", "txt.gz"].iter().any(|ext| dir.join(format!("{base}.{ext}")).is_file())
}

/// Counts the rows of file inputs (for a progress bar's total) by reading them as the corpus
/// will: `None` when stdin is among them or an input cannot be opened. An input that fails
/// part-way counts the rows before the failure.
pub fn count_rows(paths: &[PathBuf]) -> Option<u64> {
    count_rows_as(paths, InputFormat::Auto, None)
}

/// [`count_rows`] with the format and delimiter the corpus is opened with.
pub fn count_rows_as(paths: &[PathBuf], format: InputFormat, delimiter: Option<u8>) -> Option<u64> {
    let mut total = 0;
    for path in paths {
        if is_stdin(path) {
            return None;
        }
        let mut reader = open_input_as(path, format, delimiter).ok()?;
        while let Ok(Some(_)) = reader.next_row() {
            total += 1;
        }
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::{Columns, Corpus};

    #[test]
    fn format_names_parse_and_print() {
        use clap::ValueEnum;
        for f in InputFormat::value_variants() {
            let name = f.to_possible_value().unwrap().get_name().to_string();
            assert_eq!(InputFormat::from_str(&name, true), Ok(*f));
            assert_eq!(f.to_string(), name);
        }
        assert_eq!(InputFormat::from_str("NDJSON", true), Ok(InputFormat::Jsonl));
        assert!(InputFormat::from_str("xlsx", true).is_err());
    }

    #[test]
    fn formats_by_name() {
        let table = [
            ("a.csv", Some(InputFormat::Csv)),
            ("a.CSV.gz", Some(InputFormat::Csv)),
            ("a.tsv", Some(InputFormat::Tsv)),
            ("a.tab", Some(InputFormat::Tsv)),
            ("a.jsonl.gz", Some(InputFormat::Jsonl)),
            ("a.ndjson", Some(InputFormat::Jsonl)),
            ("ParlaMint-GB_2016-06-07-commons.txt", Some(InputFormat::Parlamint)),
            ("debates2016-06-07a.xml.gz", Some(InputFormat::Parlparse)),
            ("speeches", None),
            ("speeches.gz", None),
            ("speeches.dat", None),
            ("-", None),
        ];
        for (name, want) in table {
            assert_eq!(InputFormat::from_name(Path::new(name)), want, "{name}");
        }
    }

    #[test]
    fn content_picks_the_format_when_the_name_says_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let table: [(&str, &[u8], &[&str]); 6] = [
            ("a", b"  \n{\"id\": \"x\", \"text\": \"t\"}\n", &["id", "text"]),
            ("b", b"\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<publicwhip></publicwhip>\n", &["id", "date", "speakername"]),
            ("c", b"id,text,note\n1,a\tb,c\n", &["id", "text", "note"]),
            ("d", b"id\ttext\tnote,more\n", &["id", "text", "note,more"]),
            ("d2", b"id\ttext,a,b\n", &["id\ttext", "a", "b"]),
            ("e.dat", b"id\ttext\n1\thello\n", &["id", "text"]),
        ];
        for (name, bytes, want) in table {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            let r = open_input(&p).unwrap();
            assert_eq!(&r.columns()[..want.len()], want, "{name}");
        }
    }

    #[test]
    fn an_explicit_format_and_delimiter_win() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        std::fs::write(&p, "id;text\n1;hello, world\n").unwrap();
        let mut r = open_input_as(&p, InputFormat::Csv, Some(b';')).unwrap();
        assert_eq!(r.columns(), ["id", "text"]);
        assert_eq!(r.next_row().unwrap().unwrap().fields[1], b"hello, world");
        let p = dir.path().join("a.data");
        std::fs::write(&p, "{\"id\": 1, \"text\": \"t\"}\n").unwrap();
        let r = open_input_as(&p, InputFormat::Jsonl, None).unwrap();
        assert_eq!(r.columns(), ["id", "text"]);
    }

    #[test]
    fn gzip_by_name_or_magic() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"id,text\n1,hello\n").unwrap();
        let gz = gz.finish().unwrap();
        for name in ["a.csv.gz", "a.gz", "unnamed"] {
            let p = dir.path().join(name);
            std::fs::write(&p, &gz).unwrap();
            let mut r = open_input(&p).unwrap();
            assert_eq!(r.columns(), ["id", "text"], "{name}");
            assert_eq!(r.next_row().unwrap().unwrap().fields[1], b"hello", "{name}");
        }
        let p = dir.path().join("not-gzip.csv.gz");
        std::fs::write(&p, "id,text\n").unwrap();
        let err = open_input(&p).err().unwrap().to_string();
        assert!(err.contains("not-gzip.csv.gz") && err.contains("truncated or corrupt"), "{err}");
    }

    #[test]
    fn folders_expand_to_their_inputs_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let files = [
            "b.csv",
            "a.jsonl.gz",
            "2016/debates2016-06-07a.xml",
            "2016/ParlaMint-GB_2016-06-07-commons.txt",
            "2016/ParlaMint-GB_2016-06-07-commons-meta.tsv",
            "2016/ParlaMint-GB_2016-06-07-commons-meta-en.tsv",
            "00README.txt",
            "notes.md",
            "gold.tsv",
            ".hidden.csv",
            ".git/x.csv",
        ];
        for f in files {
            let p = d.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        let got = expand_inputs(&[d.to_path_buf(), PathBuf::from("-"), d.join("notes.md")]).unwrap();
        let rel: Vec<String> =
            got.iter().map(|p| p.strip_prefix(d).map_or_else(|_| p.display().to_string(), |r| r.display().to_string())).collect();
        assert_eq!(rel, [
            "2016/ParlaMint-GB_2016-06-07-commons.txt",
            "2016/debates2016-06-07a.xml",
            "a.jsonl.gz",
            "b.csv",
            "gold.tsv",
            "-",
            "notes.md",
        ]);
        let empty = d.join("empty");
        std::fs::create_dir(&empty).unwrap();
        let err = expand_inputs(&[empty]).unwrap_err().to_string();
        assert!(err.contains("empty") && err.contains("no inputs"), "{err}");
    }

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats").join(name)
    }

    #[test]
    fn a_truncated_gzip_keeps_the_rows_before_the_cut_then_names_the_file() {
        let cols = Columns { text: "text".into(), id: "id".into() };
        let mut corpus = Corpus::open(&[fixture("truncated.csv.gz"), fixture("speeches.csv")], &cols).unwrap();
        let mut ids = Vec::new();
        while let Some(s) = corpus.next_speech().unwrap() {
            ids.push(s.id);
        }
        let from_gz: Vec<&String> = ids.iter().filter(|id| id.starts_with('t')).collect();
        assert!(from_gz.len() > 5 && from_gz.len() < 64, "some of the 64 rows decode: {ids:?}");
        assert_eq!(from_gz[0], "t01");
        assert_eq!(ids.len() - from_gz.len(), 3, "the next input is read whole");
        assert_eq!(corpus.skipped.len(), 1);
        let err = &corpus.skipped[0];
        assert!(err.contains("truncated.csv.gz") && err.contains("truncated or corrupt"), "{err}");
    }

    /// The fixtures hold the same two speeches in every format (one on topic, one not), so labels
    /// can be compared across formats.
    #[test]
    fn the_shared_speeches_read_the_same_in_every_format() {
        let cols = Columns { text: "text".into(), id: "id".into() };
        let inputs =
            ["speeches.csv", "speeches.csv.gz", "speeches.jsonl", "ParlaMint-GB_2016-06-07-commons.txt", "debates2016-06-07a.xml"];
        let mut per_input: Vec<Vec<String>> = Vec::new();
        for name in inputs {
            let mut corpus = Corpus::open(&[fixture(name)], &cols).unwrap();
            let mut texts = Vec::new();
            while let Some(s) = corpus.next_speech().unwrap() {
                texts.push(s.text.unwrap());
            }
            assert!(corpus.skipped.is_empty(), "{name}");
            per_input.push(texts);
        }
        for start in ["The Bill would let the Secretary of State", "Three months after the floods"] {
            let found: Vec<&String> = per_input.iter().map(|texts| texts.iter().find(|t| t.starts_with(start)).unwrap()).collect();
            assert!(found.iter().all(|t| *t == found[0]), "{start}: {found:#?}");
        }
        assert!(per_input[0].iter().any(|t| t.contains("£2 billion") && t.contains("user's")));
    }

    #[test]
    fn counts_rows_of_every_format() {
        let f = fixture;
        assert_eq!(count_rows(&[f("speeches.csv")]), Some(3));
        assert_eq!(count_rows(&[f("speeches.csv.gz"), f("speeches.jsonl")]), Some(6));
        assert_eq!(count_rows(&[f("ParlaMint-GB_2016-06-07-commons.txt")]), Some(4));
        assert_eq!(count_rows(&[f("debates2016-06-07a.xml")]), Some(3), "the speech with no text is not a row");
        assert_eq!(count_rows(&[f("speeches.csv"), PathBuf::from("-")]), None);
    }
}
