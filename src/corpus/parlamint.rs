//! ParlaMint plain-text input: `NAME.txt` holds one speech (utterance) a line, `<id>\t<text>`;
//! `NAME-meta.tsv` beside it holds one row of metadata per utterance (a header naming its columns,
//! tab-separated, no quoting; the utterance id is its `ID` column).
//!
//! Rows are the text file's lines, in order, joined to their metadata by utterance id. Columns:
//! `id`, `text`, then every metadata column as the header names them (so the id is also in `ID`).
//! An utterance with no metadata row keeps its place with empty metadata fields. The metadata file
//! is read whole when the input is opened (one sitting's worth); a missing one is an error naming
//! it. Either file may be gzipped (`NAME.txt.gz`, `NAME-meta.tsv.gz`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::open::{open_bytes, Bytes};
use super::{RawRow, Reader, RowProblem};
use crate::error::Error;

/// One ParlaMint text file with its metadata.
pub struct ParlamintReader {
    path: PathBuf,
    input: BufReader<Bytes>,
    columns: Vec<String>,
    /// Metadata fields by utterance id, aligned with `columns[2..]`.
    meta: HashMap<Vec<u8>, Vec<Vec<u8>>>,
    line: u64,
    buf: Vec<u8>,
}

/// Where a text file's metadata may be: `NAME-meta.tsv`, then `NAME-meta.tsv.gz` (for
/// `NAME.txt` or `NAME.txt.gz`; any other extension is dropped the same way).
pub fn meta_candidates(txt: &Path) -> [PathBuf; 2] {
    let name = txt.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    [txt.with_file_name(format!("{stem}-meta.tsv")), txt.with_file_name(format!("{stem}-meta.tsv.gz"))]
}

impl ParlamintReader {
    /// Reads the metadata beside `path` and gets ready to read the text lines from `input`.
    pub fn new(path: &Path, input: Bytes) -> Result<Self, Error> {
        if path.as_os_str() == "-" {
            return Err(Error::Input {
                path: path.to_path_buf(),
                what: "a ParlaMint text is read with the NAME-meta.tsv file beside it, so it cannot come from stdin".into(),
            });
        }
        let candidates = meta_candidates(path);
        let Some(meta_path) = candidates.iter().find(|p| p.is_file()) else {
            return Err(Error::Input {
                path: path.to_path_buf(),
                what: format!(
                    "its metadata file `{}` is missing (a ParlaMint .txt is read with the -meta.tsv beside it; \
                     if this is not a ParlaMint text, name its format: csv, tsv or jsonl)",
                    candidates[0].display()
                ),
            });
        };
        let (header, meta) = read_meta(meta_path)?;
        let mut columns = vec!["id".to_string(), "text".to_string()];
        columns.extend(header);
        Ok(ParlamintReader { path: path.to_path_buf(), input: BufReader::with_capacity(1 << 16, input), columns, meta, line: 0, buf: Vec::new() })
    }
}

/// Splits a TSV line into fields (ParlaMint's TSV has no quoting).
fn tab_fields(line: &[u8]) -> Vec<Vec<u8>> {
    line.split(|&b| b == b'\t').map(<[u8]>::to_vec).collect()
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

type Meta = HashMap<Vec<u8>, Vec<Vec<u8>>>;

/// The metadata header and rows by utterance id. A row whose field count differs from the
/// header's is an error naming the line: the file is machine-made, so it is broken.
fn read_meta(path: &Path) -> Result<(Vec<String>, Meta), Error> {
    let mut input = BufReader::new(open_bytes(path)?);
    let bad = |what: String| Error::Input { path: path.to_path_buf(), what };
    let mut buf = Vec::new();
    input.read_until(b'\n', &mut buf).map_err(|e| Error::io(path, e))?;
    let first = buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&buf);
    let header: Vec<String> = tab_fields(trim_line_end(first)).iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
    let Some(id_at) = header.iter().position(|h| h == "ID") else {
        return Err(bad(format!("no `ID` column in the header (found: {})", header.join(", "))));
    };
    let mut meta = HashMap::new();
    let mut line = 1;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf).map_err(|e| Error::io(path, e))? == 0 {
            break;
        }
        line += 1;
        let row = trim_line_end(&buf);
        if row.is_empty() {
            continue;
        }
        let fields = tab_fields(row);
        if fields.len() != header.len() {
            return Err(bad(format!("line {line}: {} fields where the header has {}", fields.len(), header.len())));
        }
        // The first row of an id wins; ids are unique in ParlaMint.
        meta.entry(fields[id_at].clone()).or_insert(fields);
    }
    Ok((header, meta))
}

impl Reader for ParlamintReader {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn next_row(&mut self) -> Result<Option<RawRow>, Error> {
        loop {
            self.buf.clear();
            if self.input.read_until(b'\n', &mut self.buf).map_err(|e| Error::io(&self.path, e))? == 0 {
                return Ok(None);
            }
            self.line += 1;
            let mut line = trim_line_end(&self.buf);
            if self.line == 1 {
                line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
            }
            if line.is_empty() {
                continue;
            }
            let Some(tab) = line.iter().position(|&b| b == b'\t') else {
                return Ok(Some(RawRow {
                    line: self.line,
                    fields: Vec::new(),
                    problem: Some(RowProblem::Malformed("no tab between the utterance id and the text".into())),
                    raw: line.to_vec(),
                }));
            };
            let (id, text) = (&line[..tab], &line[tab + 1..]);
            let mut fields = Vec::with_capacity(self.columns.len());
            fields.push(id.to_vec());
            fields.push(text.to_vec());
            match self.meta.get(id) {
                Some(meta) => fields.extend(meta.iter().cloned()),
                None => fields.resize(self.columns.len(), Vec::new()),
            }
            return Ok(Some(RawRow { line: self.line, fields, problem: None, raw: Vec::new() }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::{open_input, Columns, Corpus};

    const TXT: &str = "ParlaMint-GB_2016-06-07-commons.txt";
    const META: &str = "ParlaMint-GB_2016-06-07-commons-meta.tsv";

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats").join(name)
    }

    #[test]
    fn text_lines_join_their_metadata() {
        let cols = Columns { text: "text".into(), id: "id".into() };
        let mut corpus = Corpus::open(&[fixture(TXT)], &cols).unwrap();
        assert_eq!(corpus.columns, [
            "id", "text", "Text_ID", "ID", "Title", "Date", "Body", "Term", "Session", "Meeting", "Sitting", "Agenda",
            "Subcorpus", "Lang", "Speaker_role", "Speaker_MP", "Speaker_minister", "Speaker_party", "Speaker_party_name",
            "Party_status", "Party_orientation", "Speaker_ID", "Speaker_name", "Speaker_gender", "Speaker_birth",
        ]);
        let mut rows = Vec::new();
        while let Some(s) = corpus.next_speech().unwrap() {
            rows.push(s);
        }
        let ids: Vec<&str> = rows.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, [
            "ParlaMint-GB_2016-06-07-commons.u1",
            "ParlaMint-GB_2016-06-07-commons.u2",
            "ParlaMint-GB_2016-06-07-commons.u3",
            "ParlaMint-GB_2016-06-07-commons.u4",
        ]);
        let at = |name: &str| corpus.columns.iter().position(|c| c == name).unwrap();
        assert_eq!(rows[1].fields[at("ID")], rows[1].id);
        assert_eq!(rows[1].fields[at("Speaker_name")], "Rowe, Imogen");
        assert_eq!(rows[1].fields[at("Speaker_party")], "LD");
        assert_eq!(rows[0].fields[at("Speaker_role")], "Chairperson");
        assert!(rows[1].text.as_ref().unwrap().starts_with("The Bill would let the Secretary of State"));
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [1, 2, 3, 4]);
    }

    #[test]
    fn an_utterance_without_metadata_keeps_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let txt = dir.path().join(TXT);
        std::fs::write(&txt, "X.u1\tFirst speech.\r\nX.u9\tNot in the metadata.\n\nno tab here\nX.u2\t\n").unwrap();
        std::fs::write(dir.path().join(META), "Text_ID\tID\tSpeaker_name\nX\tX.u1\tA, B\nX\tX.u2\tC, D\n").unwrap();
        let mut r = open_input(&txt).unwrap();
        assert_eq!(r.columns(), ["id", "text", "Text_ID", "ID", "Speaker_name"]);
        let rows: Vec<RawRow> = std::iter::from_fn(|| r.next_row().unwrap()).collect();
        let fields = |i: usize| rows[i].fields.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect::<Vec<_>>();
        assert_eq!(fields(0), ["X.u1", "First speech.", "X", "X.u1", "A, B"]);
        assert_eq!(fields(1), ["X.u9", "Not in the metadata.", "", "", ""]);
        assert_eq!((rows[2].line, rows[2].raw.as_slice()), (4, &b"no tab here"[..]));
        assert_eq!(rows[2].problem, Some(RowProblem::Malformed("no tab between the utterance id and the text".into())));
        assert_eq!(fields(3), ["X.u2", "", "X", "X.u2", "C, D"]);
    }

    #[test]
    fn a_missing_or_broken_metadata_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let txt = dir.path().join(TXT);
        std::fs::write(&txt, "X.u1\tText.\n").unwrap();
        let err = open_input(&txt).err().unwrap().to_string();
        assert!(err.contains(TXT) && err.contains(&format!("`{}` is missing", dir.path().join(META).display())), "{err}");
        std::fs::write(dir.path().join(META), "Text_ID\tID\nX\tX.u1\textra\n").unwrap();
        let err = open_input(&txt).err().unwrap().to_string();
        assert!(err.contains(META) && err.contains("line 2: 3 fields where the header has 2"), "{err}");
        std::fs::write(dir.path().join(META), "Text_ID\tUtterance\n").unwrap();
        let err = open_input(&txt).err().unwrap().to_string();
        assert!(err.contains("no `ID` column"), "{err}");
    }

    #[test]
    fn gzipped_text_finds_plain_or_gzipped_metadata() {
        use std::io::Write;
        let gz = |bytes: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(bytes).unwrap();
            e.finish().unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let txt = dir.path().join("S.txt.gz");
        std::fs::write(&txt, gz(b"S.u1\tHello.\n")).unwrap();
        std::fs::write(dir.path().join("S-meta.tsv.gz"), gz(b"ID\tSpeaker_name\nS.u1\tA, B\n")).unwrap();
        let mut r = open_input(&txt).unwrap();
        assert_eq!(r.next_row().unwrap().unwrap().fields[3], b"A, B");
        assert_eq!(meta_candidates(Path::new("d/S.txt"))[0], Path::new("d/S-meta.tsv"));
    }
}
