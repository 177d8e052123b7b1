//! JSON Lines input: one JSON object a line, each object one speech.
//!
//! Columns must be known before the first row is handed on, and a stream cannot be read twice, so
//! the columns are the keys of the first object, in its order. Every later object is matched to
//! them by key name (key order may differ from line to line; a missing key is an empty field);
//! keys first seen after the first object are not passed through. Put every key in the first
//! object (with `null` where it has no value) to keep them all.
//!
//! Values become fields as: strings as they are, numbers and booleans as their JSON text, `null`
//! as empty, arrays and objects as compact JSON. A line that is not a JSON object becomes a row
//! with a `malformed` status (its bytes kept for the rejects file); blank lines are skipped; line
//! numbers are 1-based.

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::open::Bytes;
use super::{RawRow, Reader, RowProblem};
use crate::error::Error;

/// Lines that are not objects read before the first object, at most, while looking for the
/// columns; a file that has none by then is not JSON Lines.
const MAX_LINES_BEFORE_FIRST_OBJECT: usize = 1000;

/// One JSON Lines input.
pub struct JsonlReader {
    path: PathBuf,
    input: BufReader<Bytes>,
    columns: Vec<String>,
    /// Column position of each key of the first object.
    index: HashMap<String, usize>,
    /// Rows read while looking for the first object (malformed lines, then that object).
    pending: std::collections::VecDeque<RawRow>,
    line: u64,
    buf: Vec<u8>,
}

impl JsonlReader {
    /// Reads up to the first object to learn the columns; `path` names the input in messages.
    pub fn new(path: &Path, input: Bytes) -> Result<Self, Error> {
        let mut reader = JsonlReader {
            path: path.to_path_buf(),
            input: BufReader::with_capacity(1 << 16, input),
            columns: Vec::new(),
            index: HashMap::new(),
            pending: Default::default(),
            line: 0,
            buf: Vec::new(),
        };
        while reader.pending.len() < MAX_LINES_BEFORE_FIRST_OBJECT {
            let Some(line) = reader.read_line()? else { break };
            match parse(&line) {
                Ok(object) => {
                    for key in object.0.keys() {
                        if !reader.index.contains_key(key) {
                            reader.index.insert(key.clone(), reader.columns.len());
                            reader.columns.push(key.clone());
                        }
                    }
                    let row = reader.row(object);
                    reader.pending.push_back(row);
                    return Ok(reader);
                }
                Err(problem) => reader.pending.push_back(problem_row(reader.line, problem, line)),
            }
        }
        if !reader.pending.is_empty() {
            return Err(Error::Input {
                path: path.to_path_buf(),
                what: format!("not JSON Lines: no JSON object in its first {} lines", reader.pending.len()),
            });
        }
        Ok(reader) // empty: no columns, so the corpus reports there is no text column
    }

    /// The next non-blank line (without its line end; the first without a UTF-8 BOM), `None` at
    /// the end; counts lines.
    fn read_line(&mut self) -> Result<Option<Vec<u8>>, Error> {
        loop {
            self.buf.clear();
            let n = self.input.read_until(b'\n', &mut self.buf).map_err(|e| Error::io(&self.path, e))?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            let mut line = self.buf.as_slice();
            if self.line == 1 {
                line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
            }
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.iter().all(u8::is_ascii_whitespace) {
                return Ok(Some(line.to_vec()));
            }
        }
    }

    fn row(&self, object: Object) -> RawRow {
        let mut fields = vec![Vec::new(); self.columns.len()];
        for (key, value) in object.0 {
            if let Some(&i) = self.index.get(&key) {
                fields[i] = field(value);
            }
        }
        RawRow { line: self.line, fields, problem: None, raw: Vec::new() }
    }
}

fn problem_row(line: u64, problem: RowProblem, raw: Vec<u8>) -> RawRow {
    RawRow { line, fields: Vec::new(), problem: Some(problem), raw }
}

fn parse(line: &[u8]) -> Result<Object, RowProblem> {
    if std::str::from_utf8(line).is_err() {
        return Err(RowProblem::InvalidUtf8);
    }
    serde_json::from_slice::<Object>(line).map_err(|e| RowProblem::Malformed(format!("not a JSON object: {e}")))
}

impl Reader for JsonlReader {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn next_row(&mut self) -> Result<Option<RawRow>, Error> {
        if let Some(row) = self.pending.pop_front() {
            return Ok(Some(row));
        }
        let Some(line) = self.read_line()? else { return Ok(None) };
        Ok(Some(match parse(&line) {
            Ok(object) => self.row(object),
            Err(problem) => problem_row(self.line, problem, line),
        }))
    }
}

/// A JSON object with its keys in the order written (serde_json's `preserve_order`); anything
/// else is "not a JSON object".
struct Object(Map<String, Value>);

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = Map<String, Value>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Map::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    entries.insert(key, value);
                }
                Ok(entries)
            }
        }
        d.deserialize_map(ObjectVisitor).map(Object)
    }
}

/// A value as a passthrough field: strings as they are, numbers and booleans as their JSON text,
/// `null` as empty, arrays and objects as compact JSON (keys in the order written).
fn field(value: Value) -> Vec<u8> {
    match value {
        Value::Null => Vec::new(),
        Value::String(s) => s.into_bytes(),
        other => other.to_string().into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::{open_input, Columns, Corpus};

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats").join(name)
    }

    fn read(bytes: &[u8]) -> (Vec<String>, Vec<RawRow>) {
        let mut r = JsonlReader::new(Path::new("t.jsonl"), Box::new(std::io::Cursor::new(bytes.to_vec()))).unwrap();
        let rows = std::iter::from_fn(|| r.next_row().unwrap()).collect();
        (r.columns().to_vec(), rows)
    }

    fn text(fields: &[Vec<u8>]) -> Vec<&str> {
        fields.iter().map(|f| std::str::from_utf8(f).unwrap()).collect()
    }

    #[test]
    fn values_become_fields() {
        let (cols, rows) = read(concat!(
            "\u{FEFF}{\"id\": \"a1\", \"n\": 12, \"x\": 2.50, \"big\": 1e300, \"ok\": true, \"none\": null, ",
            "\"tags\": [\"b\", 1, {\"z\": 1, \"a\": [null]}], \"meta\": {\"z\": \"\\\"q\\\"\", \"a\": false}, \"text\": \"Hello\\nthere\"}\n"
        ).as_bytes());
        assert_eq!(cols, ["id", "n", "x", "big", "ok", "none", "tags", "meta", "text"]);
        assert_eq!(text(&rows[0].fields), [
            "a1",
            "12",
            "2.5",
            "1e+300",
            "true",
            "",
            r#"["b",1,{"z":1,"a":[null]}]"#,
            r#"{"z":"\"q\"","a":false}"#,
            "Hello\nthere",
        ]);
    }

    #[test]
    fn later_objects_are_matched_by_key() {
        let (cols, rows) = read(b"{\"id\": 1, \"text\": \"a\", \"party\": \"Lab\"}\r\n\n   \n{\"text\": \"b\", \"new\": 5, \"id\": 2}\n{\"party\": \"Con\"}");
        assert_eq!(cols, ["id", "text", "party"]);
        let got: Vec<(u64, Vec<&str>)> = rows.iter().map(|r| (r.line, text(&r.fields))).collect();
        assert_eq!(got, [(1, vec!["1", "a", "Lab"]), (4, vec!["2", "b", ""]), (5, vec!["", "", "Con"])]);
    }

    #[test]
    fn lines_that_are_not_objects_keep_their_place() {
        let (cols, rows) = read(b"[1, 2]\n{\"id\": \"a\", \"text\": \"t\"}\n{\"id\": \"b\", \"text\": \n\"str\"\n{\"id\": \"c\", \"text\": \"\xFF\"}\n");
        assert_eq!(cols, ["id", "text"]);
        let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [1, 2, 3, 4, 5]);
        let problem = |i: usize| match &rows[i].problem {
            Some(RowProblem::Malformed(why)) => why.clone(),
            other => format!("{other:?}"),
        };
        assert!(problem(0).starts_with("not a JSON object: invalid type: sequence, expected a JSON object"), "{}", problem(0));
        assert_eq!(rows[0].raw, b"[1, 2]");
        assert!(rows[1].problem.is_none());
        assert!(problem(2).starts_with("not a JSON object: EOF while parsing"), "{}", problem(2));
        assert!(problem(3).starts_with("not a JSON object:"), "{}", problem(3));
        assert_eq!(rows[4].problem, Some(RowProblem::InvalidUtf8));
        assert!(rows[2].fields.is_empty() && rows[2].raw == b"{\"id\": \"b\", \"text\": ");
    }

    #[test]
    fn no_object_at_all() {
        let (cols, rows) = read(b"");
        assert!(cols.is_empty() && rows.is_empty());
        let lines = "[]\n".repeat(MAX_LINES_BEFORE_FIRST_OBJECT + 1);
        let err = JsonlReader::new(Path::new("t.jsonl"), Box::new(std::io::Cursor::new(lines.into_bytes()))).err().unwrap();
        assert!(err.to_string().contains("no JSON object in its first 1000 lines"), "{err}");
    }

    #[test]
    fn the_fixture_reads_as_a_corpus() {
        let cols = Columns { text: "text".into(), id: "id".into() };
        let mut corpus = Corpus::open(&[fixture("speeches.jsonl")], &cols).unwrap();
        assert_eq!(corpus.columns, ["id", "date", "speaker", "party", "sitting", "text"]);
        let mut ids = Vec::new();
        while let Some(s) = corpus.next_speech().unwrap() {
            assert!(s.text.is_ok());
            ids.push(s.id);
        }
        assert_eq!(ids, ["uk.2016-06-07a.1.2", "uk.2016-06-07a.1.3", "uk.2016-06-07a.4.1"]);
        assert_eq!(open_input(&fixture("speeches.jsonl")).unwrap().columns().len(), 6);
    }
}
