//! `parlscan report` (and `classify --report`): one self-contained HTML page that shows a labelled
//! corpus at a glance: counts, topics, stance, over time, by group, the speeches to read first,
//! and with `--gold` the `evaluate` figures as charts; the manifest's provenance in the footer.
//!
//! One streaming pass over the labelled outputs (`labelled`) feeds a bounded summary (`summary`);
//! the page (`html`, with charts from `svg`) is built from it in memory (a few hundred kB at most)
//! and written to a temporary file renamed into place. Gold figures are `evaluate`'s own: the
//! gold labels are read with `evaluate::read_labels`, the predictions for the gold ids are kept
//! during the pass, then `evaluate::join` and `evaluate::compare` compute them. This module does
//! not label anything.

pub mod html;
pub mod labelled;
pub mod summary;
pub mod svg;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::evaluate;
use crate::manifest::{manifest_path, Manifest};

pub use labelled::{ColumnChoice, Format, LabelledFile};
pub use summary::Summary;

/// What to summarise and where to write the page.
#[derive(Debug, Clone)]
pub struct Options {
    /// `classify` outputs (CSV, TSV, JSON Lines, Parquet; gzip allowed for the text formats).
    pub inputs: Vec<PathBuf>,
    /// Their format when known (`classify --report`); else from each name and content.
    pub format: Option<Format>,
    /// The page; `-` writes it to stdout.
    pub output: PathBuf,
    /// Gold labels (`id`, `topics`, `stance`), as for `parlscan evaluate`.
    pub gold: Option<PathBuf>,
    pub id_col: String,
    pub date_col: Option<String>,
    pub group_col: Option<String>,
    pub title: Option<String>,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Written {
    pub speeches: u64,
    pub bytes: usize,
    /// Rows that could not be read or whose labels did not parse, described (first few per file).
    pub problems: Vec<String>,
}

/// Reads the labelled outputs in one pass and writes the page. Errors: an input that is not a
/// classify output (65, naming it and the missing columns), an input that cannot be read (65/66),
/// gold labels that do not join (65), an output that cannot be written (74, leaving any previous
/// page as it was).
pub fn write_report(o: &Options) -> Result<Written, Error> {
    refuse_to_overwrite_an_input(o)?;
    let choice = ColumnChoice { id: o.id_col.clone(), date: o.date_col.clone(), group: o.group_col.clone() };
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in &o.inputs {
        match LabelledFile::open(path, o.format, &choice) {
            Ok(f) => files.push(f),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(Error::many(errors));
    }
    let gold = match &o.gold {
        Some(path) => Some((path, evaluate::read_labels(path, &o.id_col, false)?)),
        None => None,
    };
    let wanted: HashSet<&str> = gold.iter().flat_map(|(_, rows)| rows.iter().map(|(id, _, _)| id.as_str())).collect();

    let mut summary = Summary::new();
    for f in &files {
        for t in f.topics() {
            summary.topic_index(t);
        }
    }
    summary.has_stance_evidence = files.iter().any(LabelledFile::has_stance_evidence);
    let mut predicted = Vec::new();
    for f in &mut files {
        while f.advance()? {
            let id = if wanted.is_empty() { String::new() } else { f.id() };
            let line = f.line as usize;
            let row = f.speech();
            if wanted.contains(id.as_str()) {
                predicted.push((id, line, labels_for_evaluate(&row)));
            }
            summary.add(&row);
        }
    }

    let report = match gold {
        Some((path, gold_rows)) => {
            let names: Vec<String> = o.inputs.iter().map(|p| p.display().to_string()).collect();
            let pred_name = PathBuf::from(names.join(", "));
            let (g, p) = evaluate::join(gold_rows, predicted, path, &pred_name)?;
            Some((path, evaluate::compare(&g, &p)))
        }
        None => None,
    };
    let provenance: Vec<(PathBuf, Manifest)> =
        o.inputs.iter().filter_map(|p| Manifest::read(&manifest_path(p)).map(|m| (p.clone(), m))).collect();
    let distinct = |names: Vec<&str>| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for n in names {
            if !out.iter().any(|o| o == n) {
                out.push(n.to_string());
            }
        }
        out
    };
    let problems: Vec<String> = files.iter().flat_map(|f| f.problems.iter().cloned()).collect();
    let title = o.title.clone().unwrap_or_else(|| {
        let names: Vec<String> =
            o.inputs.iter().map(|p| p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())).collect();
        format!("parlscan report: {}", names.join(", "))
    });
    let page = html::Page {
        title: &title,
        inputs: &o.inputs,
        summary: &summary,
        date_columns: distinct(files.iter().filter_map(LabelledFile::date_column).collect()),
        group_columns: distinct(files.iter().filter_map(LabelledFile::group_column).collect()),
        unreadable: files.iter().map(|f| f.unreadable).sum(),
        bad_labels: files.iter().map(|f| f.bad_labels).sum(),
        problems: &problems,
        gold: report.as_ref().map(|(p, r)| (*p, r)),
        provenance: &provenance,
    };
    let text = html::render(&page);
    if o.output.as_os_str() == "-" {
        use std::io::Write;
        std::io::stdout().lock().write_all(text.as_bytes()).map_err(|e| Error::write(&o.output, e))?;
    } else {
        crate::files::write_atomically(&o.output, text.as_bytes())?;
    }
    Ok(Written { speeches: summary.read, bytes: text.len(), problems })
}

/// The labels `evaluate` compares, as its `read_labels` takes them from a prediction file; a
/// speech that was not scored has no topics and stance `none`.
fn labels_for_evaluate(row: &summary::SpeechRow) -> evaluate::Labels {
    match &row.labels {
        Some(l) => evaluate::Labels {
            topics: l.topics.iter().map(|t| t.to_string()).collect(),
            stance: l.stance.to_string(),
            on_topic: Some(l.on_topic),
            stance_score: l.stance_score,
        },
        None => evaluate::Labels { topics: Vec::new(), stance: "none".into(), on_topic: None, stance_score: None },
    }
}

/// `-o labelled.csv` by mistake would replace the labels with a page.
fn refuse_to_overwrite_an_input(o: &Options) -> Result<(), Error> {
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if let Some(input) = o.inputs.iter().find(|i| same(i, &o.output)) {
        return Err(Error::Usage(format!("the report would overwrite its input `{}`: give another -o", input.display())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use clap::Parser;

    use crate::cli::{Cli, Command};

    #[test]
    fn every_report_flag_parses() {
        let cli = Cli::try_parse_from([
            "parlscan", "report", "a.csv", "b.parquet", "-o", "r.html", "--gold", "g.csv", "--date-col", "when", "--group-col", "side",
            "--title", "T", "--id-col", "sid", "--quiet",
        ])
        .unwrap();
        let Command::Report(a) = cli.command else { panic!("report") };
        assert_eq!(a.inputs, [PathBuf::from("a.csv"), PathBuf::from("b.parquet")]);
        assert_eq!((a.output, a.gold), ("r.html".into(), Some("g.csv".into())));
        assert_eq!((a.date_col.as_deref(), a.group_col.as_deref(), a.title.as_deref()), (Some("when"), Some("side"), Some("T")));
        assert_eq!((a.id_col.as_str(), a.quiet), ("sid", true));
        let Command::Report(a) = Cli::try_parse_from(["parlscan", "report", "a.csv", "-o", "r.html"]).unwrap().command else {
            panic!("report")
        };
        assert_eq!((a.gold, a.date_col, a.group_col, a.title, a.id_col.as_str(), a.quiet), (None, None, None, None, "id", false));
        assert!(Cli::try_parse_from(["parlscan", "report", "a.csv"]).is_err(), "-o is required");
        assert!(Cli::try_parse_from(["parlscan", "report", "-o", "r.html"]).is_err(), "an input is required");
        let Command::Classify(a) = Cli::try_parse_from(["parlscan", "classify", "a.csv", "-o", "o.csv", "--report", "r.html"]).unwrap().command
        else {
            panic!("classify")
        };
        assert_eq!(a.report, Some("r.html".into()));
    }
}
