//! Output formats other than the labelled CSV: TSV, JSON Lines, Parquet, and the import formats of
//! Label Studio, Prodigy and doccano. Each is a conversion of the canonical labelled CSV (what
//! `output` writes and checkpoints), streamed row by row through one reused record, so a run
//! writes and resumes one format only and converts once at the end.
//!
//! It owns how labels look in each format; it does not decide them: the listed topics are always
//! the canonical `topics` column (topics at or above their threshold, for an on-topic speech), so
//! every format carries the same labels as the CSV. The label columns are the last columns of the
//! canonical header (see `output::label_columns`); a passthrough column of the same name as a label
//! column (`topics`, `stance` in a gold file) is renamed `input_<name>` where names must be unique.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use crate::error::Error;
use crate::taxonomy::STANCE_CLASSES;

/// How the labelled speeches are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// The canonical labelled CSV.
    #[default]
    Csv,
    /// The same fields, tab-separated.
    Tsv,
    /// One JSON object per speech, typed: numbers, `null`, `topics` as an array.
    Jsonl,
    /// Apache Parquet, typed columns (for pandas, polars, R arrow, DuckDB).
    Parquet,
    /// A Label Studio task list (JSON array) with the labels as predictions.
    Labelstudio,
    /// Prodigy tasks (JSON Lines) for choice interfaces: options with scores, accepted topics.
    Prodigy,
    /// doccano text-classification import (JSON Lines with a `label` list).
    Doccano,
}

impl OutputFormat {
    /// Every name [`FromStr`] takes.
    pub const NAMES: [&'static str; 7] = ["csv", "tsv", "jsonl", "parquet", "labelstudio", "prodigy", "doccano"];

    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Csv => "csv",
            OutputFormat::Tsv => "tsv",
            OutputFormat::Jsonl => "jsonl",
            OutputFormat::Parquet => "parquet",
            OutputFormat::Labelstudio => "labelstudio",
            OutputFormat::Prodigy => "prodigy",
            OutputFormat::Doccano => "doccano",
        }
    }

    /// The usual file extension of the format.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Csv => "csv",
            OutputFormat::Tsv => "tsv",
            OutputFormat::Jsonl | OutputFormat::Prodigy | OutputFormat::Doccano => "jsonl",
            OutputFormat::Parquet => "parquet",
            OutputFormat::Labelstudio => "json",
        }
    }
}

impl FromStr for OutputFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "csv" => OutputFormat::Csv,
            "tsv" => OutputFormat::Tsv,
            "jsonl" | "ndjson" => OutputFormat::Jsonl,
            "parquet" => OutputFormat::Parquet,
            "labelstudio" | "label-studio" => OutputFormat::Labelstudio,
            "prodigy" => OutputFormat::Prodigy,
            "doccano" => OutputFormat::Doccano,
            _ => return Err(format!("unknown output format `{s}`; expected one of: {}", Self::NAMES.join(", "))),
        })
    }
}

impl std::fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a conversion needs to know besides the canonical CSV.
#[derive(Debug, Clone, Default)]
pub struct FormatContext {
    /// The passthrough column with the speech text (`--text-col`).
    pub text_col: String,
    /// The passthrough column with the speech id (`--id-col`); without it, 1-based row numbers.
    pub id_col: String,
    /// The taxonomy's topic names, in order (the `topic_<name>` columns).
    pub topics: Vec<String>,
    /// Each topic's threshold, same order (kept for formats and readers that show them).
    pub thresholds: Vec<f64>,
    /// Names the labeller in Label Studio predictions and Parquet metadata.
    pub model_version: String,
    /// Start CSV and TSV with a UTF-8 byte order mark, so Excel reads them as UTF-8.
    pub excel_bom: bool,
    /// Where `out` goes (`-` for stdout), for messages.
    pub output: PathBuf,
}

/// Converts the canonical labelled CSV into `format`, streaming, into `out` (flushed at the end).
pub fn convert(format: OutputFormat, canonical_csv: &Path, out: &mut dyn Write, ctx: &FormatContext) -> Result<(), Error> {
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let written = match format {
        OutputFormat::Csv => copy_csv(canonical_csv, &mut out, ctx),
        OutputFormat::Tsv => write_tsv(&mut Canonical::open(canonical_csv, ctx)?, &mut out, ctx),
        OutputFormat::Jsonl => write_jsonl(&mut Canonical::open(canonical_csv, ctx)?, &mut out, ctx),
        OutputFormat::Parquet => write_parquet(&mut Canonical::open(canonical_csv, ctx)?, &mut out, ctx),
        OutputFormat::Labelstudio => write_labelstudio(&mut Canonical::open(canonical_csv, ctx)?, &mut out, ctx),
        OutputFormat::Prodigy => write_prodigy(&mut Canonical::open(canonical_csv, ctx)?, &mut out, ctx),
        OutputFormat::Doccano => write_doccano(&mut Canonical::open(canonical_csv, ctx)?, &mut out, ctx),
    };
    written?;
    out.flush().map_err(|e| Error::write(&ctx.output, e))
}

/// The canonical CSV as it is, after a byte order mark when asked.
fn copy_csv(canonical_csv: &Path, out: &mut Out, ctx: &FormatContext) -> Result<(), Error> {
    use std::io::Read;
    let write_err = |e: io::Error| Error::write(&ctx.output, e);
    if ctx.excel_bom {
        out.write_all(UTF8_BOM).map_err(write_err)?;
    }
    let mut file = File::open(canonical_csv).map_err(|e| Error::io(canonical_csv, e))?;
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(canonical_csv, e)),
        };
        out.write_all(&buf[..n]).map_err(write_err)?;
    }
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// What a canonical column holds, which decides its type in typed formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An input column: text, always present.
    Passthrough,
    /// A 0-1 (or -1..1) score; empty when the row was not scored.
    Score,
    /// `n_words`, `n_chunks`.
    Count,
    /// The `;`-joined listed topics.
    Topics,
    /// `top_topic`, `stance`, `evidence`: text, empty meaning none.
    Label,
    /// `status`: always present.
    Status,
}

/// The canonical CSV being read: header, where each label column is, one reused record.
struct Canonical {
    path: PathBuf,
    reader: ::csv::Reader<File>,
    record: ::csv::StringRecord,
    header: Vec<String>,
    kinds: Vec<Kind>,
    /// Column names unique across the row (passthrough renamed where it collides with a label).
    names: Vec<String>,
    n_pass: usize,
    n_topics: usize,
    text: Option<usize>,
    id: Option<usize>,
    rows: u64,
}

/// The label columns for these topics, in the canonical order (`output::label_columns`).
fn label_columns(topics: &[String]) -> Vec<String> {
    let mut cols = vec!["on_topic".to_string(), "topics".into(), "top_topic".into()];
    cols.extend(topics.iter().map(|t| format!("topic_{t}")));
    cols.extend(["stance".to_string(), "stance_score".into()]);
    cols.extend(STANCE_CLASSES.iter().map(|s| format!("stance_{s}")));
    cols.extend(["evidence".to_string(), "n_words".into(), "n_chunks".into(), "status".into()]);
    cols
}

fn label_kind(name: &str) -> Kind {
    match name {
        "topics" => Kind::Topics,
        "top_topic" | "stance" | "evidence" => Kind::Label,
        "n_words" | "n_chunks" => Kind::Count,
        "status" => Kind::Status,
        _ => Kind::Score,
    }
}

/// `name`, or `input_name` (`input_input_name`...) while it is taken.
fn unique_name(name: &str, taken: &[&str]) -> String {
    let mut out = name.to_string();
    while taken.contains(&out.as_str()) {
        out = format!("input_{out}");
    }
    out
}

impl Canonical {
    fn open(path: &Path, ctx: &FormatContext) -> Result<Self, Error> {
        if ctx.thresholds.len() != ctx.topics.len() {
            return Err(Error::Usage(format!(
                "output formats: {} thresholds for {} topics",
                ctx.thresholds.len(),
                ctx.topics.len()
            )));
        }
        let mut reader = ::csv::ReaderBuilder::new().from_path(path).map_err(|e| csv_read_error(path, e))?;
        let header: Vec<String> = reader.headers().map_err(|e| csv_read_error(path, e))?.iter().map(String::from).collect();
        let labels = label_columns(&ctx.topics);
        if header.len() < labels.len() || header[header.len() - labels.len()..] != labels[..] {
            return Err(Error::Input {
                path: path.to_path_buf(),
                what: format!("the header does not end with this taxonomy's label columns ({})", labels.join(", ")),
            });
        }
        let n_pass = header.len() - labels.len();
        let mut kinds = vec![Kind::Passthrough; n_pass];
        kinds.extend(labels.iter().map(|l| label_kind(l)));
        let label_names: Vec<&str> = labels.iter().map(String::as_str).collect();
        let mut names: Vec<String> = Vec::with_capacity(header.len());
        for name in &header[..n_pass] {
            let taken: Vec<&str> = label_names.iter().copied().chain(names.iter().map(String::as_str)).collect();
            names.push(unique_name(name, &taken));
        }
        names.extend(labels.iter().cloned());
        let text = header[..n_pass].iter().position(|h| *h == ctx.text_col);
        let id = header[..n_pass].iter().position(|h| *h == ctx.id_col);
        Ok(Canonical {
            path: path.to_path_buf(),
            reader,
            record: ::csv::StringRecord::new(),
            header,
            kinds,
            names,
            n_pass,
            n_topics: ctx.topics.len(),
            text,
            id,
            rows: 0,
        })
    }

    /// Reads the next row into the reused record; false at the end.
    fn next(&mut self) -> Result<bool, Error> {
        let more = self.reader.read_record(&mut self.record).map_err(|e| csv_read_error(&self.path, e))?;
        if more {
            self.rows += 1;
        }
        Ok(more)
    }

    /// The text column, which the annotation formats need.
    fn require_text(&self, ctx: &FormatContext) -> Result<usize, Error> {
        self.text.ok_or_else(|| Error::Input {
            path: self.path.clone(),
            what: format!("no text column `{}` among the passthrough columns", ctx.text_col),
        })
    }

    fn field(&self, i: usize) -> &str {
        self.record.get(i).unwrap_or("")
    }

    fn label(&self, offset: usize) -> usize {
        self.n_pass + offset
    }

    fn on_topic_at(&self) -> usize {
        self.label(0)
    }
    fn topics_at(&self) -> usize {
        self.label(1)
    }
    fn top_topic_at(&self) -> usize {
        self.label(2)
    }
    fn topic_score_at(&self, t: usize) -> usize {
        self.label(3 + t)
    }
    fn stance_at(&self) -> usize {
        self.label(3 + self.n_topics)
    }
    fn stance_score_at(&self) -> usize {
        self.label(4 + self.n_topics)
    }
    fn stance_class_at(&self, k: usize) -> usize {
        self.label(5 + self.n_topics + k)
    }
    fn status_at(&self) -> usize {
        self.header.len() - 1
    }

    fn scored(&self) -> bool {
        self.field(self.status_at()) == "ok"
    }

    /// The listed topics, strongest first.
    fn listed(&self) -> impl Iterator<Item = &str> {
        self.field(self.topics_at()).split(';').filter(|t| !t.is_empty())
    }

    fn float(&self, i: usize) -> Result<Option<f64>, Error> {
        let v = self.field(i);
        if v.is_empty() {
            return Ok(None);
        }
        v.parse::<f64>().map(Some).map_err(|_| self.not_a_number(i, v))
    }

    fn int(&self, i: usize) -> Result<Option<i64>, Error> {
        let v = self.field(i);
        if v.is_empty() {
            return Ok(None);
        }
        v.parse::<i64>().map(Some).map_err(|_| self.not_a_number(i, v))
    }

    fn not_a_number(&self, i: usize, v: &str) -> Error {
        let line = self.record.position().map_or(0, |p| p.line());
        Error::Input { path: self.path.clone(), what: format!("line {line}: `{}` is `{v}`, not a number", self.header[i]) }
    }

    /// The id to show: the id column, or the row number when there is none.
    fn write_id(&self, buf: &mut Vec<u8>) {
        match self.id {
            Some(i) => json_str(buf, self.field(i)),
            None => json_int(buf, self.rows as i64),
        }
    }

    /// Passthrough columns other than the text and id, with names unique among `reserved`.
    fn other_fields(&self, reserved: &[&str]) -> Vec<(usize, String)> {
        let mut taken: Vec<String> = reserved.iter().map(|s| s.to_string()).collect();
        let mut out = Vec::new();
        for i in 0..self.n_pass {
            if Some(i) == self.text || Some(i) == self.id {
                continue;
            }
            let refs: Vec<&str> = taken.iter().map(String::as_str).collect();
            let name = unique_name(&self.header[i], &refs);
            taken.push(name.clone());
            out.push((i, name));
        }
        out
    }
}

fn csv_read_error(path: &Path, e: ::csv::Error) -> Error {
    let at = e.position().map(|p| format!("line {}: ", p.line())).unwrap_or_default();
    match e.into_kind() {
        ::csv::ErrorKind::Io(source) => Error::io(path, source),
        other => Error::Input { path: path.to_path_buf(), what: format!("{at}{other:?}") },
    }
}

type Out<'a> = BufWriter<&'a mut dyn Write>;

fn write_tsv(c: &mut Canonical, out: &mut Out, ctx: &FormatContext) -> Result<(), Error> {
    let write_err = |e: io::Error| Error::write(&ctx.output, e);
    if ctx.excel_bom {
        out.write_all(UTF8_BOM).map_err(write_err)?;
    }
    let mut w = ::csv::WriterBuilder::new().delimiter(b'\t').from_writer(out);
    let csv_err = |e: ::csv::Error| match e.into_kind() {
        ::csv::ErrorKind::Io(e) => write_err(e),
        other => write_err(io::Error::other(format!("{other:?}"))),
    };
    w.write_record(&c.header).map_err(csv_err)?;
    while c.next()? {
        w.write_record(&c.record).map_err(csv_err)?;
    }
    w.flush().map_err(write_err)
}

fn write_jsonl(c: &mut Canonical, out: &mut Out, ctx: &FormatContext) -> Result<(), Error> {
    let mut buf = Vec::new();
    while c.next()? {
        buf.clear();
        let scored = c.scored();
        let mut o = Obj::open(&mut buf);
        for i in 0..c.header.len() {
            let v = o.key(&c.names[i]);
            match c.kinds[i] {
                Kind::Passthrough | Kind::Status => json_str(v, c.field(i)),
                Kind::Score => json_opt_f64(v, c.float(i)?),
                Kind::Count => match c.int(i)? {
                    Some(n) => json_int(v, n),
                    None => v.extend_from_slice(b"null"),
                },
                Kind::Topics if scored => json_str_array(v, c.listed()),
                Kind::Topics => v.extend_from_slice(b"null"),
                Kind::Label => json_opt_str(v, c.field(i)),
            }
        }
        o.close();
        buf.push(b'\n');
        out.write_all(&buf).map_err(|e| Error::write(&ctx.output, e))?;
    }
    Ok(())
}

fn write_labelstudio(c: &mut Canonical, out: &mut Out, ctx: &FormatContext) -> Result<(), Error> {
    let text_at = c.require_text(ctx)?;
    let id_key = ctx.id_col.as_str();
    let others = c.other_fields(&["text", id_key]);
    let mut buf = Vec::new();
    out.write_all(b"[").map_err(|e| Error::write(&ctx.output, e))?;
    while c.next()? {
        buf.clear();
        if c.rows > 1 {
            buf.push(b',');
        }
        buf.push(b'\n');
        let mut task = Obj::open(&mut buf);
        json_int(task.key("id"), c.rows as i64);
        let mut data = Obj::open(task.key("data"));
        if let Some(i) = c.id {
            json_str(data.key(id_key), c.field(i));
        }
        json_str(data.key("text"), c.field(text_at));
        for (i, name) in &others {
            json_str(data.key(name), c.field(*i));
        }
        data.close();
        let predictions = task.key("predictions");
        predictions.push(b'[');
        if c.scored() {
            let on_topic = c.float(c.on_topic_at())?.unwrap_or(0.0);
            let mut p = Obj::open(predictions);
            json_str(p.key("model_version"), &ctx.model_version);
            json_f64(p.key("score"), on_topic);
            let result = p.key("result");
            result.push(b'[');
            let listed: Vec<&str> = c.listed().collect();
            if !listed.is_empty() {
                let top = Some(c.field(c.top_topic_at())).filter(|t| !t.is_empty()).unwrap_or(listed[0]);
                let score = topic_score(c, ctx, top)?;
                choices_result(result, "topics", listed.iter().copied(), score);
                result.push(b',');
            }
            let stance = c.field(c.stance_at());
            let score = stance_probability(c, stance, on_topic)?;
            choices_result(result, "stance", std::iter::once(stance), score);
            result.push(b']');
            p.close();
        }
        predictions.push(b']');
        task.close();
        out.write_all(&buf).map_err(|e| Error::write(&ctx.output, e))?;
    }
    let end: &[u8] = if c.rows == 0 { b"]\n" } else { b"\n]\n" };
    out.write_all(end).map_err(|e| Error::write(&ctx.output, e))
}

/// One Label Studio `choices` result on the `text` object.
fn choices_result<'a>(buf: &mut Vec<u8>, from_name: &str, choices: impl Iterator<Item = &'a str>, score: f64) {
    let mut r = Obj::open(buf);
    json_str(r.key("from_name"), from_name);
    json_str(r.key("to_name"), "text");
    json_str(r.key("type"), "choices");
    let mut value = Obj::open(r.key("value"));
    json_str_array(value.key("choices"), choices);
    value.close();
    json_f64(r.key("score"), score);
    r.close();
}

/// A topic's score in the current row.
fn topic_score(c: &Canonical, ctx: &FormatContext, topic: &str) -> Result<f64, Error> {
    let t = ctx.topics.iter().position(|name| name == topic).ok_or_else(|| Error::Input {
        path: c.path.clone(),
        what: format!("row {}: topic `{topic}` is not in the taxonomy", c.rows),
    })?;
    Ok(c.float(c.topic_score_at(t))?.unwrap_or(0.0))
}

/// P(stance) of the current row: the class's probability, or 1 - on_topic for `none`.
fn stance_probability(c: &Canonical, stance: &str, on_topic: f64) -> Result<f64, Error> {
    if stance == "none" {
        // Four decimals, like the scores it comes from (not 0.18769999999999998).
        return Ok(((1.0 - on_topic) * 1e4).round() / 1e4);
    }
    let k = STANCE_CLASSES.iter().position(|s| *s == stance).ok_or_else(|| Error::Input {
        path: c.path.clone(),
        what: format!("row {}: `{stance}` is not a stance", c.rows),
    })?;
    Ok(c.float(c.stance_class_at(k))?.unwrap_or(0.0))
}

fn write_prodigy(c: &mut Canonical, out: &mut Out, ctx: &FormatContext) -> Result<(), Error> {
    let text_at = c.require_text(ctx)?;
    let others = c.other_fields(&["id", "stance", "stance_score", "status"]);
    let mut buf = Vec::new();
    while c.next()? {
        buf.clear();
        let scored = c.scored();
        let mut task = Obj::open(&mut buf);
        json_str(task.key("text"), c.field(text_at));
        let mut meta = Obj::open(task.key("meta"));
        c.write_id(meta.key("id"));
        for (i, name) in &others {
            json_str(meta.key(name), c.field(*i));
        }
        json_opt_str(meta.key("stance"), c.field(c.stance_at()));
        json_opt_f64(meta.key("stance_score"), c.float(c.stance_score_at())?);
        if !scored {
            json_str(meta.key("status"), c.field(c.status_at()));
        }
        meta.close();
        let options = task.key("options");
        options.push(b'[');
        for (t, topic) in ctx.topics.iter().enumerate() {
            if t > 0 {
                options.push(b',');
            }
            let mut o = Obj::open(options);
            json_str(o.key("id"), topic);
            json_str(o.key("text"), topic);
            if let Some(score) = c.float(c.topic_score_at(t))? {
                json_f64(o.key("score"), score);
            }
            o.close();
        }
        options.push(b']');
        json_str_array(task.key("accept"), c.listed());
        task.close();
        buf.push(b'\n');
        out.write_all(&buf).map_err(|e| Error::write(&ctx.output, e))?;
    }
    Ok(())
}

fn write_doccano(c: &mut Canonical, out: &mut Out, ctx: &FormatContext) -> Result<(), Error> {
    let text_at = c.require_text(ctx)?;
    let others = c.other_fields(&["text", "label", "id"]);
    let mut buf = Vec::new();
    while c.next()? {
        buf.clear();
        let mut task = Obj::open(&mut buf);
        json_str(task.key("text"), c.field(text_at));
        let mut labels: Vec<String> = Vec::new();
        if c.scored() {
            labels.extend(c.listed().map(String::from));
            labels.push(format!("stance:{}", c.field(c.stance_at())));
        }
        json_str_array(task.key("label"), labels.iter().map(String::as_str));
        c.write_id(task.key("id"));
        for (i, name) in &others {
            json_str(task.key(name), c.field(*i));
        }
        task.close();
        buf.push(b'\n');
        out.write_all(&buf).map_err(|e| Error::write(&ctx.output, e))?;
    }
    Ok(())
}

// ---- Parquet ----

/// Rows per row group at most, and text bytes: enough for good compression, bounded memory.
const ROW_GROUP_ROWS: usize = 50_000;
const ROW_GROUP_BYTES: usize = 64 << 20;

/// One column's values for the row group being built.
struct ColumnBuffer {
    kind: Kind,
    values: ParquetValues,
    /// Definition levels (1 = value, 0 = null); only for optional columns.
    defs: Vec<i16>,
}

enum ParquetValues {
    Text(Vec<parquet::data_type::ByteArray>),
    Double(Vec<f64>),
    Long(Vec<i64>),
}

impl Kind {
    fn optional(self) -> bool {
        !matches!(self, Kind::Passthrough | Kind::Status)
    }
}

fn parquet_type(name: &str, kind: Kind) -> parquet::errors::Result<parquet::schema::types::Type> {
    use parquet::basic::{LogicalType, Repetition, Type as Physical};
    use parquet::schema::types::Type;
    let repetition = if kind.optional() { Repetition::OPTIONAL } else { Repetition::REQUIRED };
    let (physical, logical) = match kind {
        Kind::Score => (Physical::DOUBLE, None),
        Kind::Count => (Physical::INT64, None),
        _ => (Physical::BYTE_ARRAY, Some(LogicalType::String)),
    };
    Type::primitive_type_builder(name, physical).with_repetition(repetition).with_logical_type(logical).build()
}

fn write_parquet(c: &mut Canonical, out: &mut Out, ctx: &FormatContext) -> Result<(), Error> {
    write_parquet_groups(c, out, ctx, ROW_GROUP_ROWS)
}

fn write_parquet_groups(c: &mut Canonical, out: &mut Out, ctx: &FormatContext, group_rows: usize) -> Result<(), Error> {
    use parquet::basic::Compression;
    use parquet::file::metadata::KeyValue;
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::types::Type;

    let pq = |e: parquet::errors::ParquetError| Error::write(&ctx.output, io::Error::other(e.to_string()));
    let fields = c
        .names
        .iter()
        .zip(&c.kinds)
        .map(|(name, &kind)| parquet_type(name, kind).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()
        .map_err(pq)?;
    let schema = Arc::new(Type::group_type_builder("labelled_speech").with_fields(fields).build().map_err(pq)?);
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by(format!("parlscan {}", env!("CARGO_PKG_VERSION")))
        .build();
    // Row groups are built in memory and drained to `out` as each is finished, so the file
    // streams into any writer (parquet wants one it can own and send).
    let mut writer = SerializedFileWriter::new(Vec::new(), schema, Arc::new(props)).map_err(pq)?;
    writer.append_key_value_metadata(KeyValue::new("parlscan.model_version".into(), ctx.model_version.clone()));
    let mut columns: Vec<ColumnBuffer> = c
        .kinds
        .iter()
        .map(|&kind| ColumnBuffer {
            kind,
            values: match kind {
                Kind::Score => ParquetValues::Double(Vec::new()),
                Kind::Count => ParquetValues::Long(Vec::new()),
                _ => ParquetValues::Text(Vec::new()),
            },
            defs: Vec::new(),
        })
        .collect();
    let (mut rows, mut bytes) = (0, 0);
    while c.next()? {
        let scored = c.scored();
        for (i, col) in columns.iter_mut().enumerate() {
            let field = c.field(i);
            let present = match (&mut col.values, col.kind) {
                (ParquetValues::Double(v), _) => c.float(i)?.map(|x| v.push(x)).is_some(),
                (ParquetValues::Long(v), _) => c.int(i)?.map(|x| v.push(x)).is_some(),
                (ParquetValues::Text(v), kind) => {
                    let present = match kind {
                        Kind::Topics => scored,
                        Kind::Label => !field.is_empty(),
                        _ => true,
                    };
                    if present {
                        v.push(field.as_bytes().to_vec().into());
                    }
                    present
                }
            };
            if col.kind.optional() {
                col.defs.push(i16::from(present));
            }
        }
        rows += 1;
        bytes += c.record.as_slice().len();
        if rows >= group_rows || bytes >= ROW_GROUP_BYTES {
            write_row_group(&mut writer, &mut columns).map_err(pq)?;
            writer.flush().map_err(|e| Error::write(&ctx.output, e))?;
            out.write_all(writer.inner_mut()).map_err(|e| Error::write(&ctx.output, e))?;
            writer.inner_mut().clear();
            (rows, bytes) = (0, 0);
        }
    }
    if rows > 0 {
        write_row_group(&mut writer, &mut columns).map_err(pq)?;
    }
    let rest = writer.into_inner().map_err(pq)?;
    out.write_all(&rest).map_err(|e| Error::write(&ctx.output, e))
}

fn write_row_group(
    writer: &mut parquet::file::writer::SerializedFileWriter<Vec<u8>>,
    columns: &mut [ColumnBuffer],
) -> parquet::errors::Result<()> {
    use parquet::data_type::{ByteArrayType, DoubleType, Int64Type};
    let mut group = writer.next_row_group()?;
    for col in columns.iter_mut() {
        let Some(mut w) = group.next_column()? else {
            return Err(parquet::errors::ParquetError::General("the schema has fewer columns than the rows".into()));
        };
        let defs = col.kind.optional().then_some(col.defs.as_slice());
        match &mut col.values {
            ParquetValues::Text(v) => {
                w.typed::<ByteArrayType>().write_batch(v, defs, None)?;
                v.clear();
            }
            ParquetValues::Double(v) => {
                w.typed::<DoubleType>().write_batch(v, defs, None)?;
                v.clear();
            }
            ParquetValues::Long(v) => {
                w.typed::<Int64Type>().write_batch(v, defs, None)?;
                v.clear();
            }
        }
        col.defs.clear();
        w.close()?;
    }
    group.close()?;
    Ok(())
}

// ---- JSON, written in column order (serde_json's map would sort the keys) ----

/// An object being written into a buffer: `key` writes the separator and the key, and gives the
/// buffer for the value.
struct Obj<'a> {
    buf: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    fn open(buf: &'a mut Vec<u8>) -> Self {
        buf.push(b'{');
        Obj { buf, first: true }
    }

    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        json_str(self.buf, key);
        self.buf.push(b':');
        self.buf
    }

    fn close(self) {
        self.buf.push(b'}');
    }
}

fn json_str(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1F => b"",
            _ => continue,
        };
        buf.extend_from_slice(&bytes[start..i]);
        if escaped.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            buf.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xF)]]);
        } else {
            buf.extend_from_slice(escaped);
        }
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
    buf.push(b'"');
}

fn json_opt_str(buf: &mut Vec<u8>, s: &str) {
    if s.is_empty() {
        buf.extend_from_slice(b"null");
    } else {
        json_str(buf, s);
    }
}

fn json_str_array<'a>(buf: &mut Vec<u8>, items: impl Iterator<Item = &'a str>) {
    buf.push(b'[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        json_str(buf, item);
    }
    buf.push(b']');
}

fn json_int(buf: &mut Vec<u8>, n: i64) {
    buf.extend_from_slice(n.to_string().as_bytes());
}

/// A float as a JSON number that reads back as a float (`1.0`, not `1`); not finite → `null`.
fn json_f64(buf: &mut Vec<u8>, x: f64) {
    if !x.is_finite() {
        buf.extend_from_slice(b"null");
        return;
    }
    let s = x.to_string();
    buf.extend_from_slice(s.as_bytes());
    if !s.contains(['.', 'e', 'E']) {
        buf.extend_from_slice(b".0");
    }
}

fn json_opt_f64(buf: &mut Vec<u8>, x: Option<f64>) {
    match x {
        Some(x) => json_f64(buf, x),
        None => buf.extend_from_slice(b"null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// Two topics; passthrough `id, text, speaker, topics` (a gold `topics` column); rows: on
    /// topic, off topic (scored), not scored.
    const CANONICAL: &str = "\
id,text,speaker,topics,on_topic,topics,top_topic,topic_encryption,topic_interception,stance,stance_score,stance_pro_powers,stance_anti_powers,stance_mixed,stance_neutral,evidence,n_words,n_chunks,status
s1,\"Keep \"\"end-to-end\"\" encryption,\nplease.\",Rowe,encryption,0.8123,encryption;interception,encryption,0.9100,0.6200,anti_powers,-0.4000,0.1000,0.5000,0.1500,0.0623,Keep encryption.,5,1,ok
s2,Floods in Appleby.,Bracewell,,0.1000,,,0.0500,0.0400,none,0.0100,0.0300,0.0200,0.0300,0.0200,,3,1,ok
s3,,Quayle,,,,,,,,,,,,,,0,0,empty
";

    fn ctx() -> FormatContext {
        FormatContext {
            text_col: "text".into(),
            id_col: "id".into(),
            topics: vec!["encryption".into(), "interception".into()],
            thresholds: vec![0.5, 0.6],
            model_version: "all-MiniLM-L6-v2+prototypes".into(),
            excel_bom: false,
            output: PathBuf::from("out"),
        }
    }

    fn run(format: OutputFormat, ctx: &FormatContext) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("canonical.csv");
        std::fs::write(&path, CANONICAL).unwrap();
        let mut out = Vec::new();
        convert(format, &path, &mut out, ctx).unwrap();
        out
    }

    fn lines(bytes: &[u8]) -> Vec<Value> {
        std::str::from_utf8(bytes).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// Keys of a JSON object in the order written.
    fn keys(line: &str) -> Vec<String> {
        let mut de = serde_json::Deserializer::from_str(line);
        struct Keys(Vec<String>);
        impl<'de> serde::Deserialize<'de> for Keys {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = Vec<String>;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("an object")
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Vec<String>, A::Error> {
                        let mut out = Vec::new();
                        while let Some((k, _)) = m.next_entry::<String, serde::de::IgnoredAny>()? {
                            out.push(k);
                        }
                        Ok(out)
                    }
                }
                d.deserialize_map(V).map(Keys)
            }
        }
        <Keys as serde::Deserialize>::deserialize(&mut de).unwrap().0
    }

    #[test]
    fn names_parse_and_print() {
        for name in OutputFormat::NAMES {
            assert_eq!(name.parse::<OutputFormat>().unwrap().to_string(), name);
        }
        assert!("xlsx".parse::<OutputFormat>().unwrap_err().contains("doccano"));
        assert_eq!(OutputFormat::Labelstudio.extension(), "json");
    }

    #[test]
    fn csv_is_copied_with_an_optional_bom_and_tsv_has_the_same_fields() {
        assert_eq!(run(OutputFormat::Csv, &ctx()), CANONICAL.as_bytes());
        let with_bom = run(OutputFormat::Csv, &FormatContext { excel_bom: true, ..ctx() });
        assert_eq!(&with_bom[..3], UTF8_BOM);
        assert_eq!(&with_bom[3..], CANONICAL.as_bytes());

        let tsv = run(OutputFormat::Tsv, &ctx());
        let mut a = ::csv::ReaderBuilder::new().delimiter(b'\t').from_reader(tsv.as_slice());
        let mut b = ::csv::ReaderBuilder::new().from_reader(CANONICAL.as_bytes());
        assert_eq!(a.headers().unwrap(), b.headers().unwrap());
        let (ra, rb): (Vec<_>, Vec<_>) = (a.records().map(Result::unwrap).collect(), b.records().map(Result::unwrap).collect());
        assert_eq!(ra, rb);
        assert!(std::str::from_utf8(&tsv).unwrap().starts_with("id\ttext\tspeaker\ttopics\ton_topic\t"));
    }

    #[test]
    fn jsonl_is_typed_and_keeps_column_order() {
        let out = run(OutputFormat::Jsonl, &ctx());
        let text = std::str::from_utf8(&out).unwrap();
        let first = text.lines().next().unwrap();
        assert_eq!(keys(first)[..6], ["id", "text", "speaker", "input_topics", "on_topic", "topics"]);
        let rows = lines(&out);
        assert_eq!(rows[0], json!({
            "id": "s1", "text": "Keep \"end-to-end\" encryption,\nplease.", "speaker": "Rowe", "input_topics": "encryption",
            "on_topic": 0.8123, "topics": ["encryption", "interception"], "top_topic": "encryption",
            "topic_encryption": 0.91, "topic_interception": 0.62, "stance": "anti_powers", "stance_score": -0.4,
            "stance_pro_powers": 0.1, "stance_anti_powers": 0.5, "stance_mixed": 0.15, "stance_neutral": 0.0623,
            "evidence": "Keep encryption.", "n_words": 5, "n_chunks": 1, "status": "ok"
        }));
        assert_eq!(rows[1]["topics"], json!([]));
        assert_eq!(rows[1]["top_topic"], Value::Null);
        assert_eq!(rows[1]["stance"], "none");
        assert_eq!(rows[2], json!({
            "id": "s3", "text": "", "speaker": "Quayle", "input_topics": "", "on_topic": null, "topics": null,
            "top_topic": null, "topic_encryption": null, "topic_interception": null, "stance": null, "stance_score": null,
            "stance_pro_powers": null, "stance_anti_powers": null, "stance_mixed": null, "stance_neutral": null,
            "evidence": null, "n_words": 0, "n_chunks": 0, "status": "empty"
        }));
        assert!(first.contains("\"on_topic\":0.8123,") && text.contains("\"stance_score\":0.01,"), "floats stay floats: {text}");
    }

    #[test]
    fn labelstudio_tasks_carry_predictions() {
        let out = run(OutputFormat::Labelstudio, &ctx());
        let tasks: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(tasks, json!([
            {
                "id": 1,
                "data": {"id": "s1", "text": "Keep \"end-to-end\" encryption,\nplease.", "speaker": "Rowe", "topics": "encryption"},
                "predictions": [{
                    "model_version": "all-MiniLM-L6-v2+prototypes",
                    "score": 0.8123,
                    "result": [
                        {"from_name": "topics", "to_name": "text", "type": "choices", "value": {"choices": ["encryption", "interception"]}, "score": 0.91},
                        {"from_name": "stance", "to_name": "text", "type": "choices", "value": {"choices": ["anti_powers"]}, "score": 0.5}
                    ]
                }]
            },
            {
                "id": 2,
                "data": {"id": "s2", "text": "Floods in Appleby.", "speaker": "Bracewell", "topics": ""},
                "predictions": [{
                    "model_version": "all-MiniLM-L6-v2+prototypes",
                    "score": 0.1,
                    "result": [
                        {"from_name": "stance", "to_name": "text", "type": "choices", "value": {"choices": ["none"]}, "score": 0.9}
                    ]
                }]
            },
            {"id": 3, "data": {"id": "s3", "text": "", "speaker": "Quayle", "topics": ""}, "predictions": []}
        ]));
        let empty = {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("c.csv");
            std::fs::write(&path, CANONICAL.lines().next().unwrap()).unwrap();
            let mut out = Vec::new();
            convert(OutputFormat::Labelstudio, &path, &mut out, &ctx()).unwrap();
            out
        };
        assert_eq!(empty, b"[]\n");
    }

    #[test]
    fn labelstudio_puts_another_text_column_under_text() {
        let c = FormatContext { text_col: "speaker".into(), id_col: "speech_id".into(), ..ctx() };
        let tasks: Value = serde_json::from_slice(&run(OutputFormat::Labelstudio, &c)).unwrap();
        assert_eq!(tasks[0]["data"], json!({"text": "Rowe", "input_text": "Keep \"end-to-end\" encryption,\nplease.", "id": "s1", "topics": "encryption"}));
    }

    #[test]
    fn prodigy_tasks_offer_every_topic() {
        let rows = lines(&run(OutputFormat::Prodigy, &ctx()));
        assert_eq!(rows[0], json!({
            "text": "Keep \"end-to-end\" encryption,\nplease.",
            "meta": {"id": "s1", "speaker": "Rowe", "topics": "encryption", "stance": "anti_powers", "stance_score": -0.4},
            "options": [
                {"id": "encryption", "text": "encryption", "score": 0.91},
                {"id": "interception", "text": "interception", "score": 0.62}
            ],
            "accept": ["encryption", "interception"]
        }));
        assert_eq!(rows[1]["accept"], json!([]));
        assert_eq!(rows[1]["meta"]["stance"], "none");
        assert_eq!(rows[2], json!({
            "text": "",
            "meta": {"id": "s3", "speaker": "Quayle", "topics": "", "stance": null, "stance_score": null, "status": "empty"},
            "options": [{"id": "encryption", "text": "encryption"}, {"id": "interception", "text": "interception"}],
            "accept": []
        }));
    }

    #[test]
    fn doccano_labels_are_topics_and_the_stance() {
        let out = run(OutputFormat::Doccano, &ctx());
        let first = std::str::from_utf8(&out).unwrap().lines().next().unwrap().to_string();
        assert_eq!(keys(&first), ["text", "label", "id", "speaker", "topics"]);
        let rows = lines(&out);
        assert_eq!(rows[0], json!({
            "text": "Keep \"end-to-end\" encryption,\nplease.", "label": ["encryption", "interception", "stance:anti_powers"],
            "id": "s1", "speaker": "Rowe", "topics": "encryption"
        }));
        assert_eq!(rows[1]["label"], json!(["stance:none"]));
        assert_eq!(rows[2]["label"], json!([]));
        // Without an id column, ids are row numbers.
        let rows = lines(&run(OutputFormat::Doccano, &FormatContext { id_col: "nope".into(), ..ctx() }));
        assert_eq!((rows[0]["id"].clone(), rows[2]["id"].clone(), rows[0]["input_id"].clone()), (json!(1), json!(3), json!("s1")));
    }

    #[test]
    fn parquet_has_typed_columns_that_read_back() {
        use parquet::basic::{LogicalType, Type as Physical};
        use parquet::file::reader::{FileReader, SerializedFileReader};
        use parquet::record::{Field, RowAccessor};

        let bytes = run(OutputFormat::Parquet, &ctx());
        assert_eq!((&bytes[..4], &bytes[bytes.len() - 4..]), (&b"PAR1"[..], &b"PAR1"[..]));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.parquet");
        std::fs::write(&path, &bytes).unwrap();
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let meta = reader.metadata().file_metadata();
        assert_eq!(meta.num_rows(), 3);
        let kv = meta.key_value_metadata().unwrap();
        assert!(kv.iter().any(|k| k.key == "parlscan.model_version" && k.value.as_deref() == Some("all-MiniLM-L6-v2+prototypes")));
        let schema = meta.schema_descr();
        let column = |name: &str| (0..schema.num_columns()).map(|i| schema.column(i)).find(|c| c.name() == name).unwrap();
        let table = [
            ("id", Physical::BYTE_ARRAY, Some(LogicalType::String), 0),
            ("input_topics", Physical::BYTE_ARRAY, Some(LogicalType::String), 0),
            ("on_topic", Physical::DOUBLE, None, 1),
            ("topics", Physical::BYTE_ARRAY, Some(LogicalType::String), 1),
            ("topic_interception", Physical::DOUBLE, None, 1),
            ("stance", Physical::BYTE_ARRAY, Some(LogicalType::String), 1),
            ("stance_score", Physical::DOUBLE, None, 1),
            ("n_words", Physical::INT64, None, 1),
            ("n_chunks", Physical::INT64, None, 1),
            ("status", Physical::BYTE_ARRAY, Some(LogicalType::String), 0),
        ];
        for (name, physical, logical, max_def) in table {
            let c = column(name);
            assert_eq!((c.physical_type(), c.logical_type_ref().cloned(), c.max_def_level()), (physical, logical, max_def), "{name}");
        }
        assert_eq!(schema.num_columns(), 19);
        let rows: Vec<parquet::record::Row> = reader.get_row_iter(None).unwrap().map(Result::unwrap).collect();
        let at = |name: &str| (0..schema.num_columns()).find(|&i| schema.column(i).name() == name).unwrap();
        assert_eq!(rows[0].get_double(at("on_topic")).unwrap(), 0.8123);
        assert_eq!(rows[0].get_string(at("topics")).unwrap(), "encryption;interception");
        assert_eq!(rows[0].get_string(at("text")).unwrap(), "Keep \"end-to-end\" encryption,\nplease.");
        assert_eq!(rows[0].get_long(at("n_words")).unwrap(), 5);
        assert_eq!(rows[1].get_string(at("topics")).unwrap(), "");
        let field = |row: usize, name: &str| rows[row].get_column_iter().nth(at(name)).unwrap().1.clone();
        assert_eq!(field(1, "top_topic"), Field::Null);
        assert_eq!(field(2, "on_topic"), Field::Null);
        assert_eq!(field(2, "topics"), Field::Null);
        assert_eq!(field(2, "n_chunks"), Field::Long(0));
        assert_eq!(field(2, "status"), Field::Str("empty".into()));
    }

    #[test]
    fn parquet_row_groups_stream_out_one_by_one() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        use parquet::record::RowAccessor;

        let dir = tempfile::tempdir().unwrap();
        let canonical = dir.path().join("canonical.csv");
        std::fs::write(&canonical, CANONICAL).unwrap();
        let mut bytes = Vec::new();
        {
            let sink: &mut dyn Write = &mut bytes;
            let mut out = BufWriter::new(sink);
            let mut c = Canonical::open(&canonical, &ctx()).unwrap();
            write_parquet_groups(&mut c, &mut out, &ctx(), 1).unwrap();
            out.flush().unwrap();
        }
        let path = dir.path().join("out.parquet");
        std::fs::write(&path, &bytes).unwrap();
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 3);
        let ids: Vec<String> = reader.get_row_iter(None).unwrap().map(|r| r.unwrap().get_string(0).unwrap().clone()).collect();
        assert_eq!(ids, ["s1", "s2", "s3"]);
    }

    #[test]
    fn a_canonical_file_of_another_taxonomy_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.csv");
        std::fs::write(&path, CANONICAL).unwrap();
        let c = FormatContext { topics: vec!["encryption".into()], thresholds: vec![0.5], ..ctx() };
        let err = convert(OutputFormat::Jsonl, &path, &mut Vec::new(), &c).unwrap_err().to_string();
        assert!(err.contains("c.csv") && err.contains("label columns"), "{err}");
        let err = convert(OutputFormat::Prodigy, &path, &mut Vec::new(), &FormatContext { text_col: "body".into(), ..ctx() })
            .unwrap_err()
            .to_string();
        assert!(err.contains("no text column `body`"), "{err}");
    }

    #[test]
    fn json_strings_escape_what_json_needs() {
        let mut buf = Vec::new();
        json_str(&mut buf, "a\"b\\c\nd\u{1}e\u{7F}é\u{2028}");
        assert_eq!(serde_json::from_slice::<String>(&buf).unwrap(), "a\"b\\c\nd\u{1}e\u{7F}é\u{2028}");
        assert_eq!(std::str::from_utf8(&buf).unwrap(), "\"a\\\"b\\\\c\\nd\\u0001e\u{7F}é\u{2028}\"");
        let mut buf = Vec::new();
        for x in [1.0, 0.5, -0.0, 1e21, f64::NAN] {
            json_f64(&mut buf, x);
            buf.push(b' ');
        }
        assert_eq!(std::str::from_utf8(&buf).unwrap(), "1.0 0.5 -0.0 1000000000000000000000.0 null ");
    }
}
