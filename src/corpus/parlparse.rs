//! ParlParse / TheyWorkForYou debate XML input (`scrapedxml/debates/debates2016-06-07a.xml`, and
//! the Westminster Hall and Lords files of the same shape): a `<publicwhip>` root holding
//! `<major-heading>`, `<minor-heading>` and `<speech>` elements, each speech a run of `<p>`.
//!
//! One row per speech, columns [`COLUMNS`]: the speech's attributes (`person_id` in newer files,
//! `speakerid` in older ones; the other is empty), the file's date (from a name like
//! `debates2016-06-07a.xml`, empty when the name is not like that), the current headings (a new
//! major heading clears the minor one) and the text: each paragraph's text with inline markup
//! dropped, entities decoded and whitespace collapsed, paragraphs joined with `\n`. A speech with
//! no text is not a row; [`ParlparseReader::skipped_empty`] counts them. Files declared
//! ISO-8859-1 or windows-1252 (as older ParlParse files are) are decoded as windows-1252.
//!
//! Malformed XML ends the input with an error naming the line and byte where the parser stopped;
//! the speeches before it have been returned. Other elements (divisions, oral headings) are
//! passed over.

use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::XmlVersion;

use super::open::{peek, Bytes};
use super::{RawRow, Reader};
use crate::error::Error;

/// The columns of a ParlParse input, in order.
pub const COLUMNS: [&str; 10] =
    ["id", "date", "speakername", "person_id", "speakerid", "major_heading", "minor_heading", "colnum", "time", "text"];

type Xml = quick_xml::Reader<LineCounter<BufReader<Bytes>>>;

/// One ParlParse debate file.
pub struct ParlparseReader {
    path: PathBuf,
    xml: Xml,
    buf: Vec<u8>,
    columns: Vec<String>,
    date: String,
    major: String,
    minor: String,
    /// Elements open around the parser (the root first), for the end-of-file check.
    open: Vec<String>,
    skipped_empty: u64,
    done: bool,
}

/// Why reading stopped.
enum Fail {
    /// The parser's error, at this byte.
    Xml(quick_xml::Error, u64),
    /// The file ended inside this element.
    Ends(String),
}

impl ParlparseReader {
    /// Reads up to the `<publicwhip>` root; anything else there is an error.
    pub fn new(path: &Path, input: Bytes) -> Result<Self, Error> {
        let bad = |what: String| Error::Input { path: path.to_path_buf(), what };
        let (head, input) = peek(input, 512).map_err(|e| Error::io(path, e))?;
        let input: Bytes = match declared_encoding(&head).as_deref() {
            None | Some("utf-8" | "utf8" | "us-ascii" | "ascii") => input,
            Some("iso-8859-1" | "latin1" | "latin-1" | "iso8859-1" | "windows-1252" | "cp1252") => Box::new(Windows1252::new(input)),
            Some(other) => return Err(bad(format!("unsupported encoding `{other}` (ParlParse files are UTF-8 or ISO-8859-1)"))),
        };
        let mut reader = ParlparseReader {
            path: path.to_path_buf(),
            xml: quick_xml::Reader::from_reader(LineCounter::new(BufReader::with_capacity(1 << 16, input))),
            buf: Vec::new(),
            columns: COLUMNS.iter().map(|c| c.to_string()).collect(),
            date: date_of(path),
            major: String::new(),
            minor: String::new(),
            open: Vec::new(),
            skipped_empty: 0,
            done: false,
        };
        loop {
            reader.buf.clear();
            let event = match reader.xml.read_event_into(&mut reader.buf) {
                Ok(event) => event,
                Err(e) => {
                    let at = reader.xml.error_position();
                    return Err(reader.error(Fail::Xml(e, at)));
                }
            };
            let root = match event {
                Event::Start(e) => e.name().as_ref().to_string(),
                Event::Empty(e) => {
                    reader.done = true;
                    e.name().as_ref().to_string()
                }
                Event::Eof => return Err(bad("not a ParlParse debate file: it has no <publicwhip> element".into())),
                Event::Text(t) if t.trim().is_empty() => continue,
                Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) => {
                    return Err(bad("not a ParlParse debate file: text before the <publicwhip> element".into()))
                }
                _ => continue, // declaration, comments, DOCTYPE, processing instructions
            };
            if root != "publicwhip" {
                return Err(bad(format!("not a ParlParse debate file: the root element is <{root}>, expected <publicwhip>")));
            }
            reader.open.push(root);
            return Ok(reader);
        }
    }

    /// Speeches passed over so far because they have no text.
    pub fn skipped_empty(&self) -> u64 {
        self.skipped_empty
    }

    fn error(&self, fail: Fail) -> Error {
        let line = self.xml.get_ref().line();
        let what = match fail {
            Fail::Xml(quick_xml::Error::Io(e), _) => return Error::io(&self.path, io::Error::new(e.kind(), e.to_string())),
            Fail::Xml(e, at) => format!("line {line}, byte {at}: malformed XML: {e}"),
            Fail::Ends(inside) => {
                format!("line {line}, byte {}: the file ends inside <{inside}> (truncated?)", self.xml.buffer_position())
            }
        };
        Error::Input { path: self.path.clone(), what }
    }

    fn next_speech(&mut self) -> Result<Option<RawRow>, Fail> {
        loop {
            self.buf.clear();
            let event = self.xml.read_event_into(&mut self.buf).map_err(|e| Fail::Xml(e, self.xml.error_position()))?;
            match event {
                Event::Start(e) => {
                    let name = e.name().as_ref().to_string();
                    match name.as_str() {
                        "major-heading" | "minor-heading" => {
                            let text = read_content(&mut self.xml, &mut self.buf, &name)?.join(" ");
                            self.set_heading(&name, text);
                        }
                        "speech" => {
                            let line = self.xml.get_ref().line();
                            let attributes = speech_attributes(&e).map_err(|e| Fail::Xml(e, self.xml.buffer_position()))?;
                            let paragraphs = read_content(&mut self.xml, &mut self.buf, &name)?;
                            if paragraphs.is_empty() {
                                self.skipped_empty += 1;
                                continue;
                            }
                            return Ok(Some(self.row(line, attributes, paragraphs.join("\n"))));
                        }
                        _ => self.open.push(name),
                    }
                }
                Event::Empty(e) => {
                    let name = e.name().as_ref().to_string();
                    match name.as_str() {
                        "major-heading" | "minor-heading" => self.set_heading(&name, String::new()),
                        "speech" => self.skipped_empty += 1,
                        _ => {}
                    }
                }
                Event::End(_) => {
                    self.open.pop();
                }
                Event::Eof => {
                    return match self.open.last() {
                        Some(inside) => Err(Fail::Ends(inside.clone())),
                        None => Ok(None),
                    };
                }
                _ => {} // text between speeches, comments
            }
        }
    }

    fn set_heading(&mut self, name: &str, text: String) {
        if name == "major-heading" {
            self.major = text;
            self.minor.clear();
        } else {
            self.minor = text;
        }
    }

    fn row(&self, line: u64, a: [String; 6], text: String) -> RawRow {
        let [id, speakername, person_id, speakerid, colnum, time] = a;
        let fields = [id, self.date.clone(), speakername, person_id, speakerid, self.major.clone(), self.minor.clone(), colnum, time, text];
        RawRow { line, fields: fields.into_iter().map(String::into_bytes).collect(), problem: None, raw: Vec::new() }
    }
}

impl Reader for ParlparseReader {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn next_row(&mut self) -> Result<Option<RawRow>, Error> {
        if self.done {
            return Ok(None);
        }
        let result = self.next_speech();
        self.done = !matches!(result, Ok(Some(_)));
        result.map_err(|fail| self.error(fail))
    }

    fn skipped_empty(&self) -> u64 {
        self.skipped_empty
    }
}

/// `id, speakername, person_id, speakerid, colnum, time` of a `<speech>` (empty when absent).
fn speech_attributes(e: &BytesStart) -> Result<[String; 6], quick_xml::Error> {
    let mut out: [String; 6] = Default::default();
    for (i, name) in ["id", "speakername", "person_id", "speakerid", "colnum", "time"].iter().enumerate() {
        if let Some(a) = e.try_get_attribute(name)? {
            out[i] = a.normalized_value_with(XmlVersion::Implicit1_0, 1, entity)?.into_owned();
        }
    }
    Ok(out)
}

/// Elements that sit inside running text; any other element boundary separates words.
const INLINE: [&str; 13] = ["i", "b", "em", "strong", "a", "span", "phrase", "sup", "sub", "u", "small", "font", "abbr"];

/// Reads the content of the element `name` just opened, through its end tag: its text, one entry
/// per paragraph (a `<p>` boundary ends one), whitespace-collapsed, empty paragraphs dropped.
fn read_content(xml: &mut Xml, buf: &mut Vec<u8>, name: &str) -> Result<Vec<String>, Fail> {
    let mut paragraphs = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    loop {
        buf.clear();
        let event = xml.read_event_into(buf).map_err(|e| Fail::Xml(e, xml.error_position()))?;
        match event {
            Event::Start(e) => {
                depth += 1;
                boundary(e.name().as_ref(), &mut current, &mut paragraphs);
            }
            Event::End(e) => {
                if depth == 0 {
                    end_paragraph(&mut current, &mut paragraphs);
                    return Ok(paragraphs);
                }
                depth -= 1;
                boundary(e.name().as_ref(), &mut current, &mut paragraphs);
            }
            Event::Empty(e) => boundary(e.name().as_ref(), &mut current, &mut paragraphs),
            Event::Text(t) => current.push_str(&t.xml10_content()),
            Event::CData(t) => current.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => push_reference(&r, &mut current).map_err(|e| Fail::Xml(e, xml.buffer_position()))?,
            Event::Eof => return Err(Fail::Ends(name.to_string())),
            _ => {} // comments, processing instructions
        }
    }
}

fn boundary(name: &str, current: &mut String, paragraphs: &mut Vec<String>) {
    if name == "p" {
        end_paragraph(current, paragraphs);
    } else if !INLINE.contains(&name) {
        current.push(' ');
    }
}

fn end_paragraph(current: &mut String, paragraphs: &mut Vec<String>) {
    let text = current.split_whitespace().collect::<Vec<_>>().join(" ");
    if !text.is_empty() {
        paragraphs.push(text);
    }
    current.clear();
}

/// A character or entity reference in text: numeric ones and XML's five are decoded, and the HTML
/// entities Hansard text uses; an unknown one is kept as written.
fn push_reference(r: &BytesRef, out: &mut String) -> Result<(), quick_xml::Error> {
    if let Some(c) = r.resolve_char_ref()? {
        out.push(c);
    } else if let Some(s) = entity(r) {
        out.push_str(s);
    } else {
        out.push('&');
        out.push_str(r);
        out.push(';');
    }
    Ok(())
}

fn entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        "quot" => "\"",
        "nbsp" => "\u{A0}",
        "pound" => "£",
        "euro" => "€",
        "mdash" => "—",
        "ndash" => "–",
        "hellip" => "…",
        "lsquo" => "‘",
        "rsquo" => "’",
        "ldquo" => "“",
        "rdquo" => "”",
        "frac12" => "½",
        "frac14" => "¼",
        "frac34" => "¾",
        "deg" => "°",
        "sect" => "§",
        "eacute" => "é",
        "egrave" => "è",
        "aacute" => "á",
        "ouml" => "ö",
        "uuml" => "ü",
        "ccedil" => "ç",
        "middot" => "·",
        "copy" => "©",
        "shy" => "\u{AD}",
        _ => return None,
    })
}

/// The date in a ParlParse file name: `<letters>YYYY-MM-DD<letters>.xml` (optionally `.gz`).
fn date_of(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    let Some(stem) = name.strip_suffix(".xml") else { return String::new() };
    let prefix = stem.bytes().take_while(u8::is_ascii_alphabetic).count();
    let rest = &stem[prefix..];
    let date = rest.get(..10).unwrap_or_default();
    let shape_ok = date.len() == 10
        && date.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    if shape_ok && rest[10..].bytes().all(|b| b.is_ascii_alphabetic()) {
        date.to_string()
    } else {
        String::new()
    }
}

/// The `encoding` of an XML declaration at the start of `head`, lowercased.
fn declared_encoding(head: &[u8]) -> Option<String> {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let text = String::from_utf8_lossy(head);
    let decl = text.trim_start().strip_prefix("<?xml")?;
    let decl = &decl[..decl.find("?>")?];
    let after = &decl[decl.find("encoding")? + "encoding".len()..];
    let after = after.trim_start().strip_prefix('=')?.trim_start();
    let quote = after.chars().next().filter(|&c| c == '"' || c == '\'')?;
    let value = &after[1..];
    Some(value[..value.find(quote)?].to_ascii_lowercase())
}

/// Counts the line ends the XML parser has consumed, so errors and rows can say which line.
struct LineCounter<R> {
    inner: R,
    newlines: u64,
}

impl<R: BufRead> LineCounter<R> {
    fn new(inner: R) -> Self {
        LineCounter { inner, newlines: 0 }
    }

    /// The 1-based line of the parser's position.
    fn line(&self) -> u64 {
        self.newlines + 1
    }
}

impl<R: BufRead> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.newlines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for LineCounter<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if amt > 0 {
            // The buffer `amt` refers to is still there: filling a non-empty buffer reads nothing.
            if let Ok(buf) = self.inner.fill_buf() {
                self.newlines += buf[..amt.min(buf.len())].iter().filter(|&&b| b == b'\n').count() as u64;
            }
        }
        self.inner.consume(amt);
    }
}

/// Decodes windows-1252 (a superset of ISO-8859-1's printable characters) into UTF-8.
struct Windows1252 {
    inner: Bytes,
    raw: Vec<u8>,
    decoded: Vec<u8>,
    at: usize,
}

/// Windows-1252's characters for bytes 0x80..=0x9F (ISO-8859-1 has control characters there).
const CP1252_80_9F: [char; 32] = [
    '\u{20AC}', '\u{81}', '\u{201A}', '\u{192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}', '\u{2C6}', '\u{2030}', '\u{160}',
    '\u{2039}', '\u{152}', '\u{8D}', '\u{17D}', '\u{8F}', '\u{90}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}',
    '\u{2013}', '\u{2014}', '\u{2DC}', '\u{2122}', '\u{161}', '\u{203A}', '\u{153}', '\u{9D}', '\u{17E}', '\u{178}',
];

impl Windows1252 {
    fn new(inner: Bytes) -> Self {
        Windows1252 { inner, raw: vec![0; 1 << 14], decoded: Vec::new(), at: 0 }
    }
}

impl Read for Windows1252 {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.decoded.len() {
            let n = self.inner.read(&mut self.raw)?;
            self.decoded.clear();
            self.at = 0;
            for &b in &self.raw[..n] {
                let c = match b {
                    0x80..=0x9F => CP1252_80_9F[usize::from(b - 0x80)],
                    _ => char::from(b),
                };
                let mut utf8 = [0; 4];
                self.decoded.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
        let n = buf.len().min(self.decoded.len() - self.at);
        buf[..n].copy_from_slice(&self.decoded[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::{open_input, Columns, Corpus};

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats").join(name)
    }

    fn read(name: &str, xml: &[u8]) -> (ParlparseReader, Vec<Result<RawRow, Error>>) {
        let mut r = ParlparseReader::new(Path::new(name), Box::new(io::Cursor::new(xml.to_vec()))).unwrap();
        let mut rows = Vec::new();
        loop {
            match r.next_row() {
                Ok(Some(row)) => rows.push(Ok(row)),
                Ok(None) => break,
                Err(e) => {
                    rows.push(Err(e));
                    assert!(matches!(r.next_row(), Ok(None)), "an input that failed stays ended");
                    break;
                }
            }
        }
        (r, rows)
    }

    fn fields(row: &RawRow) -> Vec<String> {
        row.fields.iter().map(|f| String::from_utf8(f.clone()).unwrap()).collect()
    }

    #[test]
    fn the_fixture_gives_one_row_per_speech_with_text() {
        let mut r = open_input(&fixture("debates2016-06-07a.xml")).unwrap();
        assert_eq!(r.columns(), COLUMNS);
        let rows: Vec<RawRow> = std::iter::from_fn(|| r.next_row().unwrap()).collect();
        assert_eq!(r.skipped_empty(), 1);
        let got: Vec<Vec<String>> = rows.iter().map(fields).collect();
        let f = |i: usize, col: &str| got[i][COLUMNS.iter().position(|c| *c == col).unwrap()].clone();
        assert_eq!(got.len(), 3);
        assert_eq!(f(0, "id"), "uk.org.publicwhip/debate/2016-06-07a.812.2");
        assert_eq!(f(0, "date"), "2016-06-07");
        assert_eq!(f(0, "speakername"), "Harriet Quayle");
        assert_eq!(f(0, "person_id"), "uk.org.publicwhip/person/90001");
        assert_eq!(f(0, "speakerid"), "");
        assert_eq!(f(0, "major_heading"), "Investigatory Powers Bill");
        assert_eq!(f(0, "minor_heading"), "Third Reading");
        assert_eq!((f(0, "colnum"), f(0, "time")), ("812".to_string(), "15:42:00".to_string()));
        assert_eq!(
            f(0, "text"),
            "I beg to move, That the Bill be now read the Third time.\n\
             The Bill puts interception and equipment interference under one warrant regime, \
             with judicial commissioners approving the most intrusive warrants — a double lock."
        );
        assert!(f(1, "text").starts_with("The Bill would let the Secretary of State"));
        assert!(f(1, "text").contains("£2 billion"), "entities decoded");
        assert_eq!(f(2, "speakerid"), "uk.org.publicwhip/member/40127");
        assert_eq!(f(2, "person_id"), "");
        assert_eq!(f(2, "major_heading"), "Flood Defences (Cumbria)");
        assert_eq!(f(2, "minor_heading"), "", "a new major heading clears the minor one");
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [7, 12, 19]);
    }

    #[test]
    fn malformed_xml_keeps_the_speeches_before_it() {
        let path = fixture("malformed.xml");
        let cols = Columns { text: "text".into(), id: "id".into() };
        let mut corpus = Corpus::open(&[path], &cols).unwrap();
        let mut ids = Vec::new();
        while let Some(s) = corpus.next_speech().unwrap() {
            ids.push(s.id);
        }
        assert_eq!(ids, ["uk.org.publicwhip/debate/2016-06-08a.201.1", "uk.org.publicwhip/debate/2016-06-08a.201.2"]);
        assert_eq!(corpus.skipped.len(), 1);
        let err = &corpus.skipped[0];
        assert!(err.contains("malformed.xml: line 13, byte ") && err.contains("malformed XML") && err.contains("</speach>"), "{err}");
        assert!(corpus.next_speech().unwrap().is_none());
    }

    #[test]
    fn truncated_files_and_wrong_roots_are_named() {
        let (_, rows) = read("x.xml", b"<publicwhip>\n<speech id=\"a\"><p>One.</p></speech>\n<speech id=\"b\"><p>Two");
        assert_eq!(fields(rows[0].as_ref().unwrap())[9], "One.");
        let err = rows[1].as_ref().err().unwrap().to_string();
        assert!(err.starts_with("x.xml: line 3, byte ") && err.contains("ends inside <speech> (truncated?)"), "{err}");

        let (_, rows) = read("x.xml", b"<publicwhip>\n<speech id=\"a\"><p>One.</p></speech>\n");
        assert!(rows[1].as_ref().err().unwrap().to_string().contains("ends inside <publicwhip>"));

        let err = ParlparseReader::new(Path::new("tei.xml"), Box::new(io::Cursor::new(b"<?xml version=\"1.0\"?>\n<TEI xmlns=\"x\"/>".to_vec())))
            .err()
            .unwrap();
        assert!(err.to_string().contains("the root element is <TEI>, expected <publicwhip>"), "{err}");
        let err = ParlparseReader::new(Path::new("e.xml"), Box::new(io::Cursor::new(Vec::new()))).err().unwrap();
        assert!(err.to_string().contains("no <publicwhip>"), "{err}");
    }

    #[test]
    fn text_markup_entities_and_paragraphs() {
        let xml = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<publicwhip>\
            <speech id=\"s\" speakername=\"A &amp; B\"><p pid=\"1\">To <i>the</i>  <a href=\"x\">Minister</a>:\n cost &pound;5&nbsp;m &#8212; &unknown; caf\u{E9} \u{93}quoted\u{94}</p>\
            <p>  </p><table><tr><td>cell</td><td>two</td></tr></table><p>Last<br/>line</p></speech></publicwhip>";
        let bytes: Vec<u8> = xml.chars().map(|c| c as u32 as u8).collect(); // as windows-1252 bytes
        let (_, rows) = read("debates2001-01-01.xml", &bytes);
        let row = fields(rows[0].as_ref().unwrap());
        assert_eq!(row[1], "2001-01-01");
        assert_eq!(row[2], "A & B");
        // A no-break space is whitespace too: collapsed like the rest.
        assert_eq!(row[9], "To the Minister: cost £5 m — &unknown; café “quoted”\ncell two\nLast line");
    }

    #[test]
    fn dates_come_from_parlparse_file_names() {
        let table = [
            ("debates2016-06-07a.xml", "2016-06-07"),
            ("debates2016-06-07.xml", "2016-06-07"),
            ("westminhall2016-06-07b.xml.gz", "2016-06-07"),
            ("lords1999-11-17a.XML", "1999-11-17"),
            ("debates2016-6-7a.xml", ""),
            ("speeches.xml", ""),
            ("debates2016-06-07a.txt", ""),
            ("debates2016-06-07a-v2.xml", ""),
        ];
        for (name, want) in table {
            assert_eq!(date_of(Path::new(name)), want, "{name}");
        }
    }

    #[test]
    fn encodings_from_the_declaration() {
        assert_eq!(declared_encoding(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"), Some("iso-8859-1".into()));
        assert_eq!(declared_encoding(b"\xEF\xBB\xBF <?xml version='1.0' encoding = 'utf-8' ?><a/>"), Some("utf-8".into()));
        assert_eq!(declared_encoding(b"<?xml version=\"1.0\"?><a encoding=\"x\"/>"), None);
        assert_eq!(declared_encoding(b"<publicwhip/>"), None);
        let err = ParlparseReader::new(Path::new("x.xml"), Box::new(io::Cursor::new(b"<?xml version=\"1.0\" encoding=\"UTF-16\"?>".to_vec())))
            .err()
            .unwrap();
        assert!(err.to_string().contains("unsupported encoding `utf-16`"), "{err}");
    }
}
