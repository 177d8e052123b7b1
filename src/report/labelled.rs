//! Reading `classify` outputs back for the report: CSV, TSV and JSON Lines (gzipped or not)
//! through the corpus readers of `corpus::open_input_as`, Parquet through the `parquet` crate's
//! record reader, one row at a time.
//!
//! It owns finding the label columns in a header (the last `on_topic`, `topics`, `stance`...,
//! since a passthrough column may share a label column's name) and the metadata columns the page
//! uses (date, group, speaker, id), and turning a row into a [`SpeechRow`]. It does not count.

use std::path::{Path, PathBuf};

use crate::corpus::{InputFormat, Reader};
use crate::error::Error;
use crate::evaluate::STANCES;

use super::summary::{RowLabels, SpeechRow};

/// How a labelled output is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Tsv,
    Jsonl,
    Parquet,
}

impl Format {
    /// The format of a `classify --format` output, when the report can read it (the annotation
    /// tool formats are not classify-shaped).
    pub fn of_output(f: crate::output::OutputFormat) -> Option<Format> {
        use crate::output::OutputFormat as O;
        match f {
            O::Csv => Some(Format::Csv),
            O::Tsv => Some(Format::Tsv),
            O::Jsonl => Some(Format::Jsonl),
            O::Parquet => Some(Format::Parquet),
            O::Labelstudio | O::Prodigy | O::Doccano => None,
        }
    }

    /// The format a file's name says (`.parquet`, `.tsv`, `.jsonl`...; gzip allowed for the
    /// text formats), else Parquet by its magic bytes, else `None`: read as CSV or JSON Lines by
    /// content.
    fn detect(path: &Path) -> Option<Format> {
        let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
        if name.ends_with(".parquet") || name.ends_with(".pq") {
            return Some(Format::Parquet);
        }
        match InputFormat::from_name(path) {
            Some(InputFormat::Csv) => return Some(Format::Csv),
            Some(InputFormat::Tsv) => return Some(Format::Tsv),
            Some(InputFormat::Jsonl) => return Some(Format::Jsonl),
            _ => {}
        }
        let mut magic = [0u8; 4];
        let is_parquet = std::fs::File::open(path)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
            .is_ok_and(|_| &magic == b"PAR1");
        is_parquet.then_some(Format::Parquet)
    }
}

/// Which columns a speech's fields are in.
#[derive(Debug, Clone)]
struct Layout {
    on_topic: usize,
    topics: usize,
    stance: usize,
    stance_score: Option<usize>,
    status: Option<usize>,
    evidence: Option<usize>,
    stance_evidence: Option<usize>,
    /// `topic_<name>` score columns: (column, name).
    topic_scores: Vec<(usize, String)>,
    id: Option<usize>,
    speaker: Option<usize>,
    date: Option<usize>,
    group: Option<usize>,
}

/// Date columns looked for, in order, when `--date-col` is not given.
pub const DATE_COLUMNS: [&str; 2] = ["Date", "date"];
/// Group columns looked for, in order, when `--group-col` is not given.
pub const GROUP_COLUMNS: [&str; 3] = ["Party", "Speaker_party", "party"];
/// Speaker columns looked for, in order.
pub const SPEAKER_COLUMNS: [&str; 6] = ["speaker", "Speaker_name", "speakername", "speaker_name", "Speaker", "name"];

/// The columns the report needs, named by the user or found by their usual names.
#[derive(Debug, Clone)]
pub struct ColumnChoice {
    pub id: String,
    pub date: Option<String>,
    pub group: Option<String>,
}

/// The label columns every classify output has; without them a file is not one.
const REQUIRED: [&str; 3] = ["on_topic", "topics", "stance"];

impl Layout {
    fn of(path: &Path, header: &[String], choice: &ColumnChoice) -> Result<Layout, Error> {
        let last = |name: &str| header.iter().rposition(|h| h == name);
        let first = |name: &str| header.iter().position(|h| h == name);
        let missing: Vec<&str> = REQUIRED.iter().copied().filter(|c| last(c).is_none()).collect();
        if !missing.is_empty() {
            let cols: Vec<String> = missing.iter().map(|c| format!("`{c}`")).collect();
            return Err(Error::Input {
                path: path.to_path_buf(),
                what: format!(
                    "not a `parlscan classify` output: no {} column{}; the columns are: {}",
                    cols.join(", "),
                    if missing.len() > 1 { "s" } else { "" },
                    if header.is_empty() { "(none)".to_string() } else { header.join(", ") }
                ),
            });
        }
        let on_topic = last("on_topic").expect("checked");
        let topic_scores = header
            .iter()
            .enumerate()
            .skip(on_topic + 1)
            .filter_map(|(i, h)| h.strip_prefix("topic_").filter(|n| !n.is_empty()).map(|n| (i, n.to_string())))
            .collect();
        let named = |flag: &str, name: &Option<String>, usual: &[&str]| -> Result<Option<usize>, Error> {
            match name {
                Some(n) => first(n).map(Some).ok_or_else(|| Error::Input {
                    path: path.to_path_buf(),
                    what: format!("no `{n}` column (named by {flag}); the columns are: {}", header.join(", ")),
                }),
                None => Ok(usual.iter().find_map(|c| first(c))),
            }
        };
        Ok(Layout {
            on_topic,
            topics: last("topics").expect("checked"),
            stance: last("stance").expect("checked"),
            stance_score: last("stance_score"),
            status: last("status"),
            evidence: last("evidence"),
            stance_evidence: last("stance_evidence"),
            topic_scores,
            id: first(&choice.id),
            speaker: SPEAKER_COLUMNS.iter().find_map(|c| first(c)),
            date: named("--date-col", &choice.date, &DATE_COLUMNS)?,
            group: named("--group-col", &choice.group, &GROUP_COLUMNS)?,
        })
    }
}

/// Where rows come from.
enum Rows {
    Text(Box<dyn Reader>),
    Parquet { rows: parquet::record::reader::RowIter<'static>, line: u64 },
    /// A file with nothing in it (an empty JSON Lines output has not even a header).
    Empty,
}

/// One labelled output, open, its header read and checked.
pub struct LabelledFile {
    pub path: PathBuf,
    pub columns: Vec<String>,
    layout: Option<Layout>,
    rows: Rows,
    /// The current row's fields.
    fields: Vec<String>,
    pub line: u64,
    /// Rows that could not be read (malformed records), with where.
    pub unreadable: u64,
    /// Rows whose status is `ok` but whose labels do not parse.
    pub bad_labels: u64,
    /// What was wrong, for the first few problem rows.
    pub problems: Vec<String>,
    topics: Vec<String>,
}

/// Problem rows described, at most.
const PROBLEMS_KEPT: usize = 5;

impl LabelledFile {
    /// Opens a labelled output (`format`: as given, or from the name and content) and checks it
    /// is one: exit 65 naming the file and the missing columns when it is not. A file with no
    /// columns at all is an empty output, not an error.
    pub fn open(path: &Path, format: Option<Format>, choice: &ColumnChoice) -> Result<Self, Error> {
        let format = format.or_else(|| Format::detect(path));
        let (columns, rows) = match format {
            Some(Format::Parquet) => open_parquet(path)?,
            other => {
                let as_input = match other {
                    Some(Format::Csv) => InputFormat::Csv,
                    Some(Format::Tsv) => InputFormat::Tsv,
                    Some(Format::Jsonl) => InputFormat::Jsonl,
                    _ => InputFormat::Auto,
                };
                // A zero-byte file is an empty output (JSON Lines writes nothing for no speeches).
                let empty = path.as_os_str() != "-" && std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len() == 0;
                if empty {
                    (Vec::new(), Rows::Empty)
                } else {
                    let reader = crate::corpus::open_input_as(path, as_input, None)?;
                    (reader.columns().to_vec(), Rows::Text(reader))
                }
            }
        };
        let layout = if columns.is_empty() { None } else { Some(Layout::of(path, &columns, choice)?) };
        let topics = layout.as_ref().map(|l| l.topic_scores.iter().map(|(_, n)| n.clone()).collect()).unwrap_or_default();
        Ok(LabelledFile {
            path: path.to_path_buf(),
            columns,
            layout,
            rows,
            fields: Vec::new(),
            line: 0,
            unreadable: 0,
            bad_labels: 0,
            problems: Vec::new(),
            topics,
        })
    }

    /// The topics of this output's `topic_<name>` columns, in order.
    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    pub fn has_date(&self) -> bool {
        self.layout.as_ref().is_some_and(|l| l.date.is_some())
    }

    pub fn has_group(&self) -> bool {
        self.layout.as_ref().is_some_and(|l| l.group.is_some())
    }

    /// The name of the date column in use, if any.
    pub fn date_column(&self) -> Option<&str> {
        self.layout.as_ref().and_then(|l| l.date).map(|i| self.columns[i].as_str())
    }

    /// The name of the group column in use, if any.
    pub fn group_column(&self) -> Option<&str> {
        self.layout.as_ref().and_then(|l| l.group).map(|i| self.columns[i].as_str())
    }

    pub fn has_stance_evidence(&self) -> bool {
        self.layout.as_ref().is_some_and(|l| l.stance_evidence.is_some())
    }

    /// Reads the next row into the current fields; false at the end. Rows that cannot be read
    /// are counted and described (first few), never fatal; an input that fails part-way is.
    pub fn advance(&mut self) -> Result<bool, Error> {
        loop {
            match &mut self.rows {
                Rows::Empty => return Ok(false),
                Rows::Text(reader) => {
                    let Some(row) = reader.next_row()? else { return Ok(false) };
                    self.line = row.line;
                    if let Some(problem) = row.problem {
                        self.unreadable += 1;
                        self.note(format!("line {}: {}", row.line, problem.status()));
                        continue;
                    }
                    self.fields.clear();
                    self.fields.extend(row.fields.iter().map(|f| String::from_utf8_lossy(f).into_owned()));
                    return Ok(true);
                }
                Rows::Parquet { rows, line } => {
                    let Some(row) = rows.next() else { return Ok(false) };
                    *line += 1;
                    self.line = *line;
                    let row = row.map_err(|e| parquet_error(&self.path, e))?;
                    self.fields.clear();
                    self.fields.extend(row.get_column_iter().map(|(_, f)| field_text(f)));
                    return Ok(true);
                }
            }
        }
    }

    fn note(&mut self, what: String) {
        if self.problems.len() < PROBLEMS_KEPT {
            self.problems.push(format!("{}: {what}", self.path.display()));
        }
    }

    /// The current row as the summary sees it. A row whose status is `ok` but whose labels do not
    /// parse is counted as not scored (status `unreadable labels`) and described.
    pub fn speech(&mut self) -> SpeechRow<'_> {
        let Some(l) = &self.layout else { return SpeechRow::default() };
        let get = |i: usize| self.fields.get(i).map_or("", |s| s.trim());
        let status = l.status.map_or("ok", get);
        let labels = if status == "ok" { parse_labels(&self.fields, l).map(Some) } else { Ok(None) };
        let (status, labels) = match labels {
            Ok(labels) => (status, labels),
            Err(what) => {
                self.bad_labels += 1;
                if self.problems.len() < PROBLEMS_KEPT {
                    self.problems.push(format!("{}: row {}: {what}", self.path.display(), self.line));
                }
                ("unreadable labels", None)
            }
        };
        let fields = &self.fields;
        let l = self.layout.as_ref().expect("checked");
        let get = |i: usize| fields.get(i).map_or("", |s| s.as_str());
        SpeechRow {
            id: l.id.map_or("", get),
            speaker: l.speaker.map_or("", get),
            date: l.date.map(get),
            group: l.group.map(get),
            status,
            labels,
        }
    }

    /// The id of the current row: the id column, else the row number.
    pub fn id(&self) -> String {
        match self.layout.as_ref().and_then(|l| l.id) {
            Some(i) => self.fields.get(i).map_or(String::new(), |s| s.trim().to_string()),
            None => self.line.to_string(),
        }
    }
}

/// The labels of a row whose status is `ok`, or what does not parse.
fn parse_labels<'a>(fields: &'a [String], l: &'a Layout) -> Result<RowLabels<'a>, String> {
    let get = |i: usize| fields.get(i).map_or("", |s| s.trim());
    let number = |i: usize, name: &str| -> Result<f64, String> {
        let v = get(i);
        v.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| format!("`{name}` is `{v}`, not a number"))
    };
    let on_topic = number(l.on_topic, "on_topic")?;
    let stance = get(l.stance);
    if !STANCES.contains(&stance) {
        return Err(format!("stance `{stance}` is not one of {}", STANCES.join(", ")));
    }
    let stance_score = match l.stance_score.map(get) {
        None | Some("") => None,
        Some(_) => Some(number(l.stance_score.expect("some"), "stance_score")?),
    };
    let mut topic_scores = Vec::with_capacity(l.topic_scores.len());
    for (i, name) in &l.topic_scores {
        if !get(*i).is_empty() {
            topic_scores.push((name.as_str(), number(*i, &format!("topic_{name}"))?));
        }
    }
    Ok(RowLabels {
        on_topic,
        topics: listed_topics(get(l.topics)),
        topic_scores,
        stance,
        stance_score,
        evidence: l.evidence.map_or("", get),
        stance_evidence: l.stance_evidence.map(get),
    })
}

/// The listed topics: `;`-joined (CSV, TSV, Parquet) or a JSON array (JSON Lines, where the
/// corpus reader gives the array as its compact JSON text).
pub fn listed_topics(field: &str) -> Vec<&str> {
    let field = field.trim();
    if let Some(inner) = field.strip_prefix('[').and_then(|f| f.strip_suffix(']')) {
        // Topic names are identifiers, so the array's strings need no unescaping.
        return inner.split(',').map(|t| t.trim().trim_matches('"')).filter(|t| !t.is_empty()).collect();
    }
    field.split(';').map(str::trim).filter(|t| !t.is_empty()).collect()
}

fn parquet_error(path: &Path, e: parquet::errors::ParquetError) -> Error {
    Error::Input { path: path.to_path_buf(), what: format!("not a readable Parquet file: {e}") }
}

fn open_parquet(path: &Path) -> Result<(Vec<String>, Rows), Error> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = SerializedFileReader::new(file).map_err(|e| parquet_error(path, e))?;
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let columns = schema.root_schema().get_fields().iter().map(|f| f.name().to_string()).collect();
    let rows = parquet::record::reader::RowIter::from_file_into(Box::new(reader));
    Ok((columns, Rows::Parquet { rows, line: 0 }))
}

/// A Parquet value as the text a CSV output would hold.
fn field_text(f: &parquet::record::Field) -> String {
    use parquet::record::Field;
    match f {
        Field::Null => String::new(),
        Field::Str(s) => s.clone(),
        Field::Double(x) => x.to_string(),
        Field::Float(x) => x.to_string(),
        Field::Long(n) => n.to_string(),
        Field::Int(n) => n.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choice() -> ColumnChoice {
        ColumnChoice { id: "id".into(), date: None, group: None }
    }

    const HEADER: &str = "id,speaker,date,party,text,topics,stance,on_topic,topics,top_topic,topic_encryption,topic_oversight,\
stance,stance_score,stance_pro_powers,stance_anti_powers,stance_mixed,stance_neutral,evidence,n_words,n_chunks,status";

    #[test]
    fn label_columns_are_the_last_of_their_name_and_metadata_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.csv");
        std::fs::write(&p, format!("{HEADER}\n\
s1,Ann,2016-06-07,LAB,t,gold,gold,0.9,encryption;oversight,encryption,0.8,0.6,anti_powers,-0.4,0.1,0.5,0.2,0.1,Keep it.,5,1,ok\n\
s2,Bob,,CON,t,,,,,,,,,,,,,,,0,0,empty\n\
s3,Cy,2016-07-01,CON,t,,,0.9,encryption,encryption,x,0.1,anti_powers,-0.4,0.1,0.5,0.2,0.1,e,5,1,ok\n")).unwrap();
        let mut f = LabelledFile::open(&p, None, &choice()).unwrap();
        assert_eq!(f.topics(), ["encryption", "oversight"]);
        assert!(f.has_date() && f.has_group() && !f.has_stance_evidence());
        assert!(f.advance().unwrap());
        let s = f.speech();
        assert_eq!((s.id, s.speaker, s.date, s.group, s.status), ("s1", "Ann", Some("2016-06-07"), Some("LAB"), "ok"));
        let l = s.labels.unwrap();
        assert_eq!((l.on_topic, l.topics.as_slice(), l.stance, l.stance_score), (0.9, &["encryption", "oversight"][..], "anti_powers", Some(-0.4)));
        assert_eq!(l.topic_scores, [("encryption", 0.8), ("oversight", 0.6)]);
        assert_eq!(l.evidence, "Keep it.");
        assert!(f.advance().unwrap());
        let s = f.speech();
        assert_eq!((s.status, s.labels.is_none(), s.date), ("empty", true, Some("")));
        assert!(f.advance().unwrap());
        let s = f.speech();
        assert_eq!((s.status, s.labels.is_none()), ("unreadable labels", true));
        assert_eq!(f.bad_labels, 1);
        assert!(f.problems[0].contains("row 4") && f.problems[0].contains("topic_encryption"), "{:?}", f.problems);
        assert!(!f.advance().unwrap());
    }

    #[test]
    fn a_file_that_is_not_a_classify_output_names_the_missing_columns() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("speeches.csv");
        std::fs::write(&p, "id,text,topics\n1,hello,\n").unwrap();
        let err = LabelledFile::open(&p, None, &choice()).err().unwrap();
        let text = err.to_string();
        assert!(text.contains("speeches.csv") && text.contains("`on_topic`, `stance` columns"), "{text}");
        assert_eq!(err.exit_code(), crate::error::exit::DATA);
        let p = dir.path().join("out.csv");
        std::fs::write(&p, format!("{HEADER}\n")).unwrap();
        let named = ColumnChoice { date: Some("when".into()), ..choice() };
        let text = LabelledFile::open(&p, None, &named).err().unwrap().to_string();
        assert!(text.contains("no `when` column (named by --date-col)"), "{text}");
    }

    #[test]
    fn an_empty_file_is_an_empty_output() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.jsonl");
        std::fs::write(&p, "").unwrap();
        let mut f = LabelledFile::open(&p, None, &choice()).unwrap();
        assert!(!f.advance().unwrap());
    }

    #[test]
    fn topics_are_read_from_either_spelling() {
        assert_eq!(listed_topics("encryption;oversight"), ["encryption", "oversight"]);
        assert_eq!(listed_topics("[\"encryption\",\"oversight\"]"), ["encryption", "oversight"]);
        assert!(listed_topics("[]").is_empty() && listed_topics("").is_empty());
    }
}
