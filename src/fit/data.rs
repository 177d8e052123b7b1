//! The labelled data `fit` and `tune` learn from: training rows read from labelled CSV files and
//! the taxonomy's statements, checked together; their feature rows as `classify` embeds them;
//! and labels in `evaluate`'s terms.

use std::path::{Path, PathBuf};

use crate::aggregate;
use crate::batch;
use crate::encoder::Encoder;
use crate::error::Error;
use crate::evaluate::Labels;
use crate::fingerprint;
use crate::score::head::{Head, TrainingFile};
use crate::score::prototypes::Prototypes;
use crate::score::SentenceEmbedding;
use crate::taxonomy::{Taxonomy, STANCE_CLASSES};
use crate::tokenize::WordPieces;

/// One training row. `None` means "not labelled for this head" (a taxonomy topic example says
/// nothing about stance, a stance example nothing about topics).
#[derive(Debug, Clone)]
pub struct Example {
    pub text: String,
    pub on_topic: Option<bool>,
    pub topics: Option<Vec<bool>>,
    /// Index into `STANCE_CLASSES`, for on-topic rows.
    pub stance: Option<usize>,
    /// Cross-validation group (the debate) for rows from training files; `None` for taxonomy rows,
    /// which are always trained on and never scored.
    pub group: Option<String>,
}

/// Reads labelled speeches: `text`, `topics` (`;`-joined), `stance`, and a group column. An
/// optional `labels` column says which of a row's labels it teaches ([`TEACHES`], `;`-joined):
/// `topics` (its topics), `on_topic` (whether it is on topic: its stance is not `none`) and
/// `stance` (the stance of an on-topic row); an empty cell teaches all three. A label a row does
/// not teach is left unset, so no head learns it from that row.
pub fn read_training(
    path: &Path,
    text_col: &str,
    group_col: &str,
    taxonomy: &Taxonomy,
) -> Result<Vec<Example>, Error> {
    let bad = |what: String| Error::Input {
        path: path.to_path_buf(),
        what,
    };
    let mut reader = ::csv::Reader::from_path(path).map_err(|e| Error::csv_read(path, e))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| Error::csv_read(path, e))?
        .iter()
        .map(String::from)
        .collect();
    let need = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
            bad(format!(
                "no `{name}` column; the columns are: {}",
                header.join(", ")
            ))
        })
    };
    let (text_at, topics_at, stance_at) = (need(text_col)?, need("topics")?, need("stance")?);
    let group_at = header.iter().position(|h| h == group_col);
    let labels_at = header.iter().position(|h| h == "labels");
    let names = taxonomy.topic_names();
    let mut out = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let record = record.map_err(|e| Error::csv_read(path, e))?;
        let line = record.position().map_or(0, |p| p.line());
        let stance = record.get(stance_at).unwrap_or("").trim();
        let stance_ix = match stance {
            "none" => None,
            s => Some(STANCE_CLASSES.iter().position(|&c| c == s).ok_or_else(|| {
                bad(format!(
                    "line {line}: stance `{s}` is not one of {}, none",
                    STANCE_CLASSES.join(", ")
                ))
            })?),
        };
        let mut topics = vec![false; names.len()];
        for t in record
            .get(topics_at)
            .unwrap_or("")
            .split(';')
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let i = names.iter().position(|n| *n == t).ok_or_else(|| {
                bad(format!(
                    "line {line}: topic `{t}` is not in the taxonomy ({})",
                    names.join(", ")
                ))
            })?;
            topics[i] = true;
        }
        let (teaches_topics, teaches_on_topic, teaches_stance) = match labels_at.map_or("", |i| record.get(i).unwrap_or("").trim()) {
            "" => (true, true, true),
            cell => {
                let parts: Vec<&str> = cell.split(';').map(str::trim).filter(|p| !p.is_empty()).collect();
                if let Some(bad_part) = parts.iter().find(|p| !TEACHES.contains(p)) {
                    return Err(bad(format!(
                        "line {line}: labels `{bad_part}` is not one of {} (`;`-joined; empty for all three)",
                        TEACHES.join(", ")
                    )));
                }
                (parts.contains(&"topics"), parts.contains(&"on_topic"), parts.contains(&"stance"))
            }
        };
        let group = group_at.map_or_else(
            || format!("row {row}"),
            |i| debate_key(record.get(i).unwrap_or("")),
        );
        out.push(Example {
            text: record.get(text_at).unwrap_or("").to_string(),
            on_topic: teaches_on_topic.then_some(stance_ix.is_some()),
            topics: teaches_topics.then_some(topics),
            stance: stance_ix.filter(|_| teaches_stance),
            group: Some(group),
        });
    }
    Ok(out)
}

/// What the `labels` column of a training file may name.
pub const TEACHES: [&str; 3] = ["topics", "on_topic", "stance"];

/// The debate a source points at, so speeches of one debate land in one fold: HanDeSeT's
/// "debate id N", a Hansard `/debates/<ID>/` path, else the source without its `#fragment`.
pub fn debate_key(source: &str) -> String {
    if let Some(at) = source.find("debate id ") {
        let digits: String = source[at + 10..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        return format!("debate id {digits}");
    }
    if let Some(at) = source.find("/debates/") {
        let rest = &source[at + 9..];
        return rest
            .split(['/', '?', '#'])
            .next()
            .unwrap_or(rest)
            .to_string();
    }
    source.split('#').next().unwrap_or(source).to_string()
}

/// The taxonomy's example statements as training rows.
pub fn taxonomy_examples(taxonomy: &Taxonomy) -> Vec<Example> {
    let n = taxonomy.topics.len();
    let row = |text: &str, on, topics, stance| Example {
        text: text.to_string(),
        on_topic: Some(on),
        topics,
        stance,
        group: None,
    };
    let mut out = Vec::new();
    for (t, topic) in taxonomy.topics.iter().enumerate() {
        let mut one_hot = vec![false; n];
        one_hot[t] = true;
        out.extend(
            topic
                .examples
                .iter()
                .map(|e| row(e, true, Some(one_hot.clone()), None)),
        );
    }
    for (k, stance) in taxonomy.stances.iter().enumerate() {
        out.extend(stance.examples.iter().map(|e| row(e, true, None, Some(k))));
    }
    out.extend(
        taxonomy
            .on_topic
            .examples
            .iter()
            .map(|e| row(e, true, None, None)),
    );
    out.extend(
        taxonomy
            .off_topic
            .examples
            .iter()
            .map(|e| row(e, false, Some(vec![false; n]), None)),
    );
    out
}

/// Raw feature rows (embedding, then prototype similarities) of one example: per chunk, the
/// chunk's row and its sentences' rows, pooled in context and embedded alone (none for
/// one-sentence chunks).
#[derive(Debug, Clone, Default)]
pub struct ExampleFeatures {
    pub chunks: Vec<Vec<f64>>,
    pub sentences: Vec<Vec<Vec<f64>>>,
    pub sentences_alone: Vec<Vec<Vec<f64>>>,
    /// Per chunk, whether each of its sentences is reported speech (`voice::reported`).
    pub reported: Vec<Vec<bool>>,
}

impl ExampleFeatures {
    pub fn sentences(&self, mode: SentenceEmbedding) -> &[Vec<Vec<f64>>] {
        match mode {
            SentenceEmbedding::Context => &self.sentences,
            SentenceEmbedding::Alone => &self.sentences_alone,
        }
    }
}

/// Feature rows of every example, embedded the way `classify` embeds speeches; sentences are
/// also embedded alone when `alone` says so (about twice the model work).
pub fn chunk_features(
    examples: &[Example],
    words: &WordPieces,
    encoder: &dyn Encoder,
    prototypes: &Prototypes,
    alone: bool,
) -> Result<Vec<ExampleFeatures>, Error> {
    let segmented: Vec<_> = examples
        .iter()
        .map(|e| words.segment(&e.text))
        .collect::<Result<_, _>>()?;
    let mut owners = Vec::new();
    let mut seqs: Vec<&[u32]> = Vec::new();
    let mut spans = Vec::new();
    for (i, seg) in segmented.iter().enumerate() {
        for c in &seg.chunks {
            owners.push(i);
            seqs.push(&c.ids);
            spans.push(if c.spans.len() > 1 {
                c.spans.clone()
            } else {
                Vec::new()
            });
        }
    }
    let (emb, span_emb) = batch::embed_all_with_spans(encoder, &seqs, &spans)?;
    let no_spans = vec![Vec::new(); seqs.len()];
    let alone_emb =
        batch::embed_sentences_alone(encoder, &seqs, if alone { &spans } else { &no_spans })?;
    let rows = Head::raw_features(prototypes, emb.view());
    let mut out = vec![ExampleFeatures::default(); examples.len()];
    for (seg, f) in segmented.iter().zip(&mut out) {
        let reported = crate::voice::reported_pieces(seg);
        f.reported = seg.chunks.iter().map(|c| reported[c.pieces.clone()].to_vec()).collect();
    }
    for (((owner, row), sentences), alone) in
        owners.into_iter().zip(rows).zip(span_emb).zip(alone_emb)
    {
        out[owner].chunks.push(row);
        out[owner]
            .sentences
            .push(Head::raw_features(prototypes, sentences.view()));
        out[owner]
            .sentences_alone
            .push(Head::raw_features(prototypes, alone.view()));
    }
    Ok(out)
}

/// Speech scores as labels in `evaluate`'s terms.
pub fn to_labels(s: &aggregate::SpeechScores, names: &[&str]) -> Labels {
    Labels {
        topics: s.listed.iter().map(|&t| names[t].to_string()).collect(),
        stance: s
            .stance_class
            .map_or("none", |k| STANCE_CLASSES[k])
            .to_string(),
        on_topic: Some(s.on_topic),
        stance_score: Some(s.stance[0] - s.stance[1]),
    }
}

pub fn gold_labels(e: &Example, names: &[&str]) -> Labels {
    let topics = e.topics.as_ref().map_or_else(Vec::new, |v| {
        v.iter()
            .enumerate()
            .filter(|(_, &b)| b)
            .map(|(t, _)| names[t].to_string())
            .collect()
    });
    Labels {
        topics,
        stance: e.stance.map_or("none", |k| STANCE_CLASSES[k]).to_string(),
        on_topic: None,
        stance_score: None,
    }
}

/// The labelled data of `fit` and `tune`, read and checked: every problem is reported at once.
pub struct TrainingInputs {
    pub taxonomy: Taxonomy,
    pub train: Vec<(PathBuf, Vec<Example>)>,
    pub examples: Vec<(PathBuf, Vec<Example>)>,
    /// Every file read, with its SHA-256 and row count.
    pub files: Vec<TrainingFile>,
}

impl TrainingInputs {
    /// Rows of the `--train` files: the labelled speeches cross-validation scores.
    pub fn labelled_rows(&self) -> usize {
        self.train.iter().map(|(_, rows)| rows.len()).sum()
    }

    /// Rows of the `--examples` files.
    pub fn example_rows(&self) -> usize {
        self.examples.iter().map(|(_, rows)| rows.len()).sum()
    }

    /// Every training row, in this order: the labelled speeches; the `--examples` rows, their
    /// `group` cleared (trained on, never scored); the taxonomy's statements.
    pub fn rows(&self) -> Vec<Example> {
        let mut rows: Vec<Example> = self
            .train
            .iter()
            .flat_map(|(_, rows)| rows.iter().cloned())
            .collect();
        rows.extend(
            self.examples
                .iter()
                .flat_map(|(_, rows)| rows.iter().cloned())
                .map(|e| Example { group: None, ..e }),
        );
        rows.extend(taxonomy_examples(&self.taxonomy));
        rows
    }
}

/// Reads `--train`, `--examples` and the taxonomy.
pub fn load_inputs(data: &crate::cli::TrainingData) -> Result<TrainingInputs, Error> {
    use crate::files::{project_path, DEFAULT_TAXONOMY};
    let mut problems = Vec::new();
    if data.folds < 2 {
        problems.push(Error::Usage(format!(
            "--folds {} is too few (at least 2)",
            data.folds
        )));
    }
    let taxonomy = Taxonomy::load(
        &data
            .taxonomy
            .clone()
            .unwrap_or_else(|| project_path(DEFAULT_TAXONOMY)),
    )
    .map_err(|e| problems.push(e))
    .ok();
    let (mut train, mut extra) = (Vec::new(), Vec::new());
    if let Some(taxonomy) = &taxonomy {
        for (paths, into) in [(&data.train, &mut train), (&data.examples, &mut extra)] {
            for path in paths {
                match read_training(path, &data.text_col, &data.group_col, taxonomy) {
                    Ok(rows) => into.push((path.clone(), rows)),
                    Err(e) => problems.push(e),
                }
            }
        }
    }
    for (path, rows) in &train {
        let partial = rows
            .iter()
            .filter(|e| e.topics.is_none() || e.on_topic.is_none() || (e.on_topic == Some(true) && e.stance.is_none()))
            .count();
        if partial > 0 {
            problems.push(Error::Input {
                path: path.clone(),
                what: format!(
                    "the `labels` column leaves labels out of {partial} row(s); the speeches of --train are scored on all \
                     of them, so such rows belong in an --examples file"
                ),
            });
        }
    }
    if !problems.is_empty() {
        return Err(Error::many(problems));
    }
    let mut files = Vec::new();
    for (path, rows) in train.iter().chain(&extra) {
        files.push(TrainingFile {
            path: path.display().to_string(),
            sha256: fingerprint::sha256_file(path)?,
            rows: rows.len(),
        });
    }
    Ok(TrainingInputs {
        taxonomy: taxonomy.expect("loaded"),
        train,
        examples: extra,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debates_are_recognised() {
        let cases = [
            ("github:x/HanDeSeT.csv@abc (HanDeSeT debate id 67, 'Energy')", "debate id 67"),
            ("https://parallelparliament.co.uk/mp/x/debate/Lords/2023-11-20/debates/F933A59A/InvestigatoryPowers", "F933A59A"),
            ("https://irp.fas.org/congress/2012_cr/wyden-fisa.html#p3", "https://irp.fas.org/congress/2012_cr/wyden-fisa.html"),
        ];
        for (source, want) in cases {
            assert_eq!(debate_key(source), want);
        }
    }
}
