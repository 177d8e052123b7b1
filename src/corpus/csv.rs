//! CSV and TSV input (RFC 4180, header row; `.tsv` means tab-separated, `-` means stdin; another
//! delimiter through [`CsvReader::from_input`]).
//!
//! Several files are read one after the other as one corpus; the passthrough columns are the union
//! of their headers in first-seen order. Which bytes are read (gzip, stdin) is `open`'s business.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{RawRow, Reader, RowProblem};
use crate::error::Error;

/// One CSV or TSV input.
pub struct CsvReader {
    path: PathBuf,
    reader: ::csv::Reader<Box<dyn Read + Send>>,
    columns: Vec<String>,
    record: ::csv::ByteRecord,
    delimiter: u8,
}

/// The one place CSV readers are built. Records end at `\n` only, so the csv crate's line numbers
/// are right for CRLF files too (it otherwise counts a CRLF's `\n` with the next record); the `\r`
/// this leaves on a record's last field is dropped by [`record_fields`].
fn reader_for(delimiter: u8, input: Box<dyn Read + Send>) -> ::csv::Reader<Box<dyn Read + Send>> {
    ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .terminator(::csv::Terminator::Any(b'\n'))
        .flexible(true)
        .from_reader(input)
}

/// A record's fields, without the `\r` of a CRLF line end.
fn record_fields(record: &::csv::ByteRecord) -> impl Iterator<Item = &[u8]> {
    let last = record.len().saturating_sub(1);
    record.iter().enumerate().map(move |(i, f)| if i == last { f.strip_suffix(b"\r").unwrap_or(f) } else { f })
}

fn delimiter_for(path: &Path) -> u8 {
    match super::InputFormat::from_name(path) {
        Some(super::InputFormat::Tsv) => b'\t',
        _ => b',',
    }
}

impl CsvReader {
    /// Opens a CSV or TSV file (`-`: stdin; tab-separated when named `.tsv` or `.tab`, gzip
    /// decompressed) and reads its header.
    pub fn open(path: &Path) -> Result<Self, Error> {
        Self::from_input(path, super::open::open_bytes(path)?, delimiter_for(path))
    }

    /// Reads the header of CSV `input` (whose fields `delimiter` separates); `path` names it in
    /// messages.
    pub fn from_input(path: &Path, input: Box<dyn Read + Send>, delimiter: u8) -> Result<Self, Error> {
        let mut reader = reader_for(delimiter, input);
        let header = reader.byte_headers().map_err(|e| Error::csv_read(path, e))?.clone();
        let columns = record_fields(&header).map(|f| String::from_utf8_lossy(f).into_owned()).collect();
        Ok(CsvReader { path: path.to_path_buf(), reader, columns, record: ::csv::ByteRecord::new(), delimiter })
    }
}

impl Reader for CsvReader {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn next_row(&mut self) -> Result<Option<RawRow>, Error> {
        loop {
            if !self.reader.read_byte_record(&mut self.record).map_err(|e| Error::csv_read(&self.path, e))? {
                return Ok(None);
            }
            if self.record.len() == 1 && record_fields(&self.record).all(<[u8]>::is_empty) {
                continue; // a blank line
            }
            let line = self.record.position().map_or(0, |p| p.line());
            let fields: Vec<Vec<u8>> = record_fields(&self.record).map(<[u8]>::to_vec).collect();
            let n = self.columns.len();
            if fields.len() != n {
                return Ok(Some(RawRow {
                    line,
                    problem: Some(RowProblem::Malformed(format!("{} fields where the header has {n}", fields.len()))),
                    raw: rejoin(&self.record, self.delimiter),
                    fields,
                }));
            }
            return Ok(Some(RawRow { line, fields, problem: None, raw: Vec::new() }));
        }
    }
}

/// A record's fields written back as one CSV line (quoted where needed), without the terminator.
fn rejoin(record: &::csv::ByteRecord, delimiter: u8) -> Vec<u8> {
    let mut w = ::csv::WriterBuilder::new().delimiter(delimiter).terminator(::csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    let _ = w.write_record(record_fields(record));
    let mut bytes = w.into_inner().unwrap_or_default();
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    bytes
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::{Columns, Corpus, Speech};

    fn corpus_of(files: &[&[u8]]) -> (tempfile::TempDir, Corpus) {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = files
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                let p = dir.path().join(format!("in{i}.csv"));
                std::fs::write(&p, bytes).unwrap();
                p
            })
            .collect();
        let cols = Columns { text: "text".into(), id: "id".into() };
        let corpus = Corpus::open(&paths, &cols).unwrap();
        (dir, corpus)
    }

    fn all(corpus: &mut Corpus) -> Vec<Speech> {
        std::iter::from_fn(|| corpus.next_speech().unwrap()).collect()
    }

    #[test]
    fn rows_keep_order_lines_and_problems() {
        let (_d, mut c) = corpus_of(&[b"\xEF\xBB\xBFid,text\r\na,hello\r\nb,\"multi\nline\"\nc,x,extra\nd,bad \xFF byte\n"]);
        assert_eq!(c.columns, ["id", "text"]);
        let rows = all(&mut c);
        let got: Vec<(&str, u64, Result<&str, RowProblem>)> =
            rows.iter().map(|s| (s.id.as_str(), s.line, s.text.as_deref().map_err(Clone::clone))).collect();
        assert_eq!(got, vec![
            ("a", 2, Ok("hello")),
            ("b", 3, Ok("multi\nline")),
            ("c", 5, Err(RowProblem::Malformed("3 fields where the header has 2".into()))),
            ("d", 6, Err(RowProblem::InvalidUtf8)),
        ]);
    }

    #[test]
    fn ids_default_to_row_numbers_and_headers_union() {
        let (_d, mut c) = corpus_of(&[b"text,party\nx,Lab\n", b"speaker,text\nMs A,y\n"]);
        assert_eq!(c.columns, ["text", "party", "speaker"]);
        let rows = all(&mut c);
        assert_eq!(rows[0].fields, ["x", "Lab", ""]);
        assert_eq!(rows[1].fields, ["y", "", "Ms A"]);
        assert_eq!((rows[0].id.as_str(), rows[1].id.as_str()), ("1", "2"));
        assert_eq!((rows[0].source, rows[1].source), (0, 1));
    }

    #[test]
    fn a_missing_text_column_names_the_columns_found() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        std::fs::write(&p, "id,body\n1,hi\n").unwrap();
        let cols = Columns { text: "text".into(), id: "id".into() };
        let err = Corpus::open(&[p], &cols).err().unwrap().to_string();
        assert!(err.contains("no text column `text`") && err.contains("id, body"), "{err}");
    }
}

#[cfg(test)]
mod properties {
    //! Property tests of the reader: odd bytes never panic it, and no good row is ever lost.
    use super::*;
    use crate::corpus::{Columns, Corpus, Speech};
    use proptest::prelude::*;

    fn read_all(bytes: &[u8]) -> Result<Vec<Speech>, Error> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.csv");
        std::fs::write(&p, bytes).unwrap();
        let mut c = Corpus::open(&[p], &Columns { text: "text".into(), id: "id".into() })?;
        let mut out = Vec::new();
        while let Some(s) = c.next_speech()? {
            out.push(s);
        }
        Ok(out)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let mut file = b"id,text\n".to_vec();
            file.extend(&bytes);
            let _ = read_all(&file);
            let _ = read_all(&bytes);
        }

        #[test]
        fn every_well_quoted_row_is_read_in_order(
            texts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..30),
            crlf in proptest::collection::vec(any::<bool>(), 30),
            bom in any::<bool>(),
        ) {
            let mut file = if bom { b"\xEF\xBB\xBF".to_vec() } else { Vec::new() };
            file.extend_from_slice(b"id,text,party\n");
            for (i, text) in texts.iter().enumerate() {
                let mut w = ::csv::WriterBuilder::new().quote_style(::csv::QuoteStyle::Always).terminator(::csv::Terminator::Any(b'\n')).from_writer(Vec::new());
                w.write_record([format!("r{i}").as_bytes(), text.as_slice(), b"X"]).unwrap();
                let mut line = w.into_inner().unwrap();
                if crlf[i] {
                    line.pop();
                    line.extend_from_slice(b"\r\n");
                }
                file.extend(line);
            }
            let rows = read_all(&file).unwrap();
            prop_assert_eq!(rows.len(), texts.len());
            for (i, (row, text)) in rows.iter().zip(&texts).enumerate() {
                prop_assert_eq!(&row.id, &format!("r{i}"));
                prop_assert_eq!(&row.fields[2], "X");
                match std::str::from_utf8(text) {
                    Ok(t) => prop_assert_eq!(row.text.as_deref().ok(), Some(t)),
                    Err(_) => prop_assert_eq!(row.text.clone().err(), Some(RowProblem::InvalidUtf8)),
                }
            }
        }
    }

    #[test]
    fn extreme_fields() {
        let commas = ",".repeat(100_000);
        let big = "word ".repeat(1_000_000); // 5 MB
        let file = format!("id,text\na,\"{commas}\"\nb,\"{big}\"\nc,\"zero\u{200B}width \u{202E}rtl\u{202C} \0nul\"\r\nd,last\n");
        let rows = read_all(file.as_bytes()).unwrap();
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
        assert_eq!(rows[0].text.as_ref().unwrap().len(), 100_000);
        assert_eq!(rows[1].text.as_ref().unwrap().len(), 5_000_000);
        assert!(rows[2].text.as_ref().unwrap().contains('\0'));
        // 100,000 unquoted commas make a malformed row that keeps its place.
        let rows = read_all(format!("id,text\na,{commas}\nb,ok\n").as_bytes()).unwrap();
        assert!(matches!(rows[0].text, Err(RowProblem::Malformed(_))));
        assert_eq!(rows[1].text.as_deref(), Ok("ok"));
    }
}
