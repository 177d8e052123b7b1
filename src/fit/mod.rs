//! `parlscan fit`: learns heads on top of the frozen encoder from labelled speeches (and, unless
//! told otherwise, the taxonomy's example statements), chooses regularisation, features and
//! per-topic thresholds by grouped cross-validation (repeated over several fold assignments on
//! request), tries lexical topic models and a minimum number of listed topics on the chosen
//! head, lists the topics the labels give to off-topic speeches on them too, and writes a head
//! file.
//!
//! The steps, one file each: `data` (training rows and their features), `solver` (the logistic
//! solvers), `cv` (folds, candidates, decodings, nested estimates), `thresholds`, and `report`
//! (the table `fit` prints and the head stores). Applying a head is `score::head`'s job.

pub mod cv;
pub mod data;
pub mod report;
pub mod solver;
pub mod thresholds;

use rayon::prelude::*;

use crate::aggregate::Listing;
use crate::encoder::Encoder;
use crate::error::Error;
use crate::fingerprint;
use crate::score::head::{HeadFile, Provenance, TopicHead};
use crate::score::lexical::{self, Lexical, Vocabulary};
use crate::score::linear::{Logistic, Multinomial};
use crate::score::prototypes::Prototypes;
use crate::score::stance::StanceReading;
use crate::score::{ChunkScores, Scorer, SentenceEmbedding};
use crate::taxonomy::STANCE_CLASSES;
use crate::tokenize::WordPieces;

pub use cv::{cross_validate, fold_assignment, folds, headline, Candidate, Features};
pub use data::{
    chunk_features, debate_key, load_inputs, read_training, Example, ExampleFeatures,
    TrainingInputs,
};
pub use report::Report;
pub use thresholds::ThresholdRule;

use cv::{Decoding, OutOfFold, Repeated};
use report::{Figures, Row, Stage, FIGURES};

/// Everything `fit` needs, loaded.
pub struct FitInputs<'a> {
    /// The taxonomy and the labelled files.
    pub data: &'a TrainingInputs,
    pub words: &'a WordPieces,
    pub encoder: &'a dyn Encoder,
    pub prototypes: Prototypes,
    pub encoder_sha256: String,
    pub use_taxonomy_examples: Option<bool>,
    pub folds: usize,
    /// Fold assignments to cross-validate over (repeated cross-validation); 1 = the first only.
    pub repeats: usize,
}

/// The rows and features cross-validation works on, shared by every step.
struct Search<'a> {
    folds: usize,
    repeats: usize,
    use_taxonomy_examples: Option<bool>,
    names: Vec<&'a str>,
    examples: Vec<Example>,
    features: Vec<ExampleFeatures>,
    assignments: Vec<Vec<Option<usize>>>,
    /// Per topic: listed on off-topic speeches too.
    off_topic: Vec<bool>,
    dim: usize,
}

impl Search<'_> {
    fn n_topics(&self) -> usize {
        self.names.len()
    }

    /// A row of the table from a variant's figures.
    fn row(&self, variant: String, r: &Repeated, stage: Stage) -> Row {
        Row::new(
            variant,
            r.figures,
            (self.repeats > 1).then(|| r.per_repeat.clone()),
            stage,
        )
    }

    fn figures(
        &self,
        oof: &[(usize, Vec<ChunkScores>)],
        thresholds: &[f64],
        listing: &Listing,
    ) -> Figures {
        headline(&cv::report(
            oof,
            &self.examples,
            &self.names,
            thresholds,
            listing,
        ))
    }

    /// A candidate head's out-of-fold scores under every fold assignment.
    fn cross_validate(&self, cand: Candidate) -> Repeated {
        let oofs: Vec<_> = self
            .assignments
            .iter()
            .map(|fold_of| {
                cross_validate(
                    cand,
                    &self.examples,
                    &self.features,
                    fold_of,
                    self.folds,
                    self.dim,
                    self.n_topics(),
                )
            })
            .collect();
        let (half, plain) = (
            vec![0.5; self.n_topics()],
            Decoding::default().listing(&self.off_topic),
        );
        Repeated::new(oofs, |oof| self.figures(oof, &half, &plain))
    }

    /// The label prototypes alone, as `classify` scores them without a head.
    fn prototypes_alone(&self, inputs: &FitInputs<'_>, labelled: usize) -> Result<Row, Error> {
        let thresholds: Vec<f64> = inputs
            .data
            .taxonomy
            .topics
            .iter()
            .map(|t| t.threshold())
            .collect();
        let oof: OutOfFold = (0..labelled)
            .map(|i| {
                let seg = inputs.words.segment(&self.examples[i].text)?;
                let seqs: Vec<&[u32]> = seg.chunks.iter().map(|c| c.ids.as_slice()).collect();
                let emb = crate::batch::embed_all(inputs.encoder, &seqs)?;
                Ok((i, inputs.prototypes.score(emb.view())))
            })
            .collect::<Result<_, Error>>()?;
        let figures = self.figures(&oof, &thresholds, &Listing::default());
        Ok(
            Row::new("prototypes alone".into(), figures, None, Stage::Head)
                .shown_as("label prototypes alone (no fitting)".into()),
        )
    }

    /// Every candidate head, then sentence-level scoring on the best of each kind of features;
    /// returns the best with its scores, and a row per candidate.
    fn heads(&self) -> (Candidate, Repeated, Vec<Row>) {
        let taxonomy_choices: Vec<bool> = match self.use_taxonomy_examples {
            Some(v) => vec![v],
            None => vec![false, true],
        };
        let kinds = [Features::Embedding, Features::Prototypes, Features::Both];
        let mut candidates = Vec::new();
        for features in kinds {
            for &taxonomy_examples in &taxonomy_choices {
                for l2 in cv::L2_GRID {
                    let sentence_embedding = SentenceEmbedding::Context;
                    candidates.push(Candidate {
                        features,
                        taxonomy_examples,
                        l2,
                        sentence_weight: 0.0,
                        sentence_embedding,
                    });
                }
            }
        }
        let mut results: Vec<(Candidate, Repeated)> = candidates
            .par_iter()
            .map(|&c| (c, self.cross_validate(c)))
            .collect();
        let best_of = |kind: Features| {
            results
                .iter()
                .filter(|(c, _)| c.features == kind)
                .reduce(|best, x| if x.1.beats(&best.1) { x } else { best })
                .map(|(c, _)| *c)
        };
        let sentence_candidates: Vec<Candidate> = kinds
            .into_iter()
            .filter_map(best_of)
            .flat_map(|base| {
                cv::SENTENCE_EMBEDDINGS.iter().flat_map(move |&m| {
                    cv::SENTENCE_WEIGHTS.map(|w| Candidate {
                        sentence_weight: w,
                        sentence_embedding: m,
                        ..base
                    })
                })
            })
            .collect();
        results.extend(
            sentence_candidates
                .par_iter()
                .map(|&c| (c, self.cross_validate(c)))
                .collect::<Vec<_>>(),
        );
        let rows = results
            .iter()
            .map(|(c, r)| self.row(c.name(), r, Stage::Head))
            .collect();
        let (chosen, repeated) = results
            .into_iter()
            .reduce(|best, x| if x.1.beats(&best.1) { x } else { best })
            .expect("a candidate");
        (chosen, repeated, rows)
    }

    /// Lexical topic models mixed into the chosen head's topic scores, and listing at least an
    /// on-topic speech's strongest topic or topics; returns the best decoding with its scores, a
    /// row per decoding, and the nested estimate of choosing among them.
    fn decodings(
        &self,
        chosen: Candidate,
        chosen_r: Repeated,
        terms: &[Vec<String>],
    ) -> (Decoding, Repeated, Vec<Row>, Row) {
        let mut decoded = vec![(None, chosen_r.oofs.clone())];
        for l2 in cv::LEXICAL_L2 {
            let lex: Vec<Vec<Option<Vec<f64>>>> = self
                .assignments
                .iter()
                .map(|fold_of| {
                    cv::lexical_oof(
                        terms,
                        &self.examples,
                        fold_of,
                        self.folds,
                        chosen.taxonomy_examples,
                        self.n_topics(),
                        l2,
                    )
                })
                .collect();
            for weight in cv::LEXICAL_WEIGHTS {
                let oofs = chosen_r
                    .oofs
                    .iter()
                    .zip(&lex)
                    .map(|(oof, lex)| cv::with_lexical(oof, lex, weight))
                    .collect();
                decoded.push((Some((l2, weight)), oofs));
            }
        }
        let half = vec![0.5; self.n_topics()];
        let mut rows = Vec::new();
        let mut variants = vec![(Decoding::default(), chosen_r)];
        for (lexical, oofs) in decoded {
            for min_topics in cv::MIN_TOPICS {
                let decoding = Decoding {
                    lexical,
                    min_topics,
                };
                if decoding == Decoding::default() {
                    continue;
                }
                let listing = decoding.listing(&self.off_topic);
                let r = Repeated::new(oofs.clone(), |oof| self.figures(oof, &half, &listing));
                let name = format!("{} {}", chosen.name(), decoding.name().trim_start());
                rows.push(
                    self.row(name, &r, Stage::Decoding)
                        .shown_as(decoding.name()),
                );
                variants.push((decoding, r));
            }
        }
        let per_repeat: Vec<Figures> = self
            .assignments
            .iter()
            .enumerate()
            .map(|(a, fold_of)| {
                let candidates: Vec<(Listing, &OutOfFold)> = variants
                    .iter()
                    .map(|(d, r)| (d.listing(&self.off_topic), &r.oofs[a]))
                    .collect();
                cv::nested_choice_figures(
                    &candidates,
                    |r| r.topic_micro_f1,
                    &self.examples,
                    &self.names,
                    fold_of,
                    self.folds,
                )
            })
            .collect();
        let nested = Repeated {
            figures: cv::mean_figures(&per_repeat),
            per_repeat,
            oofs: Vec::new(),
        };
        let nested = self.row(
            "  the best of these chosen on the other folds".into(),
            &nested,
            Stage::Decoding,
        );
        let (decoding, r) = variants
            .into_iter()
            .reduce(|best, x| if x.1.beats(&best.1) { x } else { best })
            .expect("the plain decoding");
        (decoding, r, rows, nested)
    }

    /// Stance readings (`score::stance`) on the chosen head and decoding: the chunk average, its
    /// most stance-bearing sentences with reported speech down-weighted, and a lexical stance
    /// model, mixed at every share in `cv::stance_readings`; returns the best reading by stance
    /// macro-F1 (with its lexical L2), its scores, rows for the plain reading and the best of each
    /// kind, and the nested estimate of choosing among them.
    fn stance_readings(
        &self,
        chosen: Candidate,
        decoded: &Repeated,
        listing: &Listing,
        stance_terms: &[Vec<String>],
    ) -> ((StanceReading, Option<f64>), Repeated, Vec<Row>, Row) {
        let sentences: Vec<OutOfFold> = self
            .assignments
            .par_iter()
            .map(|fold_of| {
                cv::sentence_oof(chosen, &self.examples, &self.features, fold_of, self.folds, self.dim, self.n_topics())
            })
            .collect();
        // Per lexical L2, per assignment: each row's out-of-fold lexical stance.
        let lexical: Vec<(f64, Vec<cv::LexicalOof>)> = cv::LEXICAL_L2
            .par_iter()
            .map(|&l2| {
                let per_assignment = self
                    .assignments
                    .iter()
                    .map(|fold_of| {
                        cv::lexical_stance_oof(stance_terms, &self.examples, fold_of, self.folds, chosen.taxonomy_examples, l2)
                    })
                    .collect();
                (l2, per_assignment)
            })
            .collect();
        let half = vec![0.5; self.n_topics()];
        let variants: Vec<((StanceReading, Option<f64>), Repeated)> = cv::stance_readings()
            .into_par_iter()
            .map(|(reading, l2)| {
                let oofs: Vec<OutOfFold> = (0..self.assignments.len())
                    .map(|a| {
                        let lex = l2.map(|l2| {
                            let (_, per) = lexical.iter().find(|(x, _)| *x == l2).expect("every L2 is computed");
                            per[a].as_slice()
                        });
                        cv::with_stance(&decoded.oofs[a], &sentences[a], &self.features, lex, &reading)
                    })
                    .collect();
                ((reading, l2), Repeated::new(oofs, |oof| self.figures(oof, &half, listing)))
            })
            .collect();
        let stance_beats = |x: &Repeated, best: &Repeated| x.figures[2] > best.figures[2] + 1e-12;
        let best_where = |keep: &dyn Fn(&StanceReading) -> bool| {
            variants
                .iter()
                .filter(|((r, _), _)| keep(r))
                .reduce(|best, x| if stance_beats(&x.1, &best.1) { x } else { best })
        };
        let mut rows = Vec::new();
        let kinds: [&dyn Fn(&StanceReading) -> bool; 4] = [
            &|r| r.is_plain(),
            &|r| r.lexical_weight == 0.0,
            &|r| r.sentence_weight == 0.0,
            &|_| true,
        ];
        for keep in kinds {
            if let Some((reading, r)) = best_where(keep) {
                let shown = reading_name(reading);
                if !rows.iter().any(|row: &Row| row.shown == shown) {
                    rows.push(self.row(format!("{} {}", chosen.name(), shown.trim_start()), r, Stage::Stance).shown_as(shown));
                }
            }
        }
        let per_repeat: Vec<Figures> = self
            .assignments
            .iter()
            .enumerate()
            .map(|(a, fold_of)| {
                let candidates: Vec<(Listing, &OutOfFold)> = variants.iter().map(|(_, r)| (listing.clone(), &r.oofs[a])).collect();
                cv::nested_choice_figures(&candidates, |r| r.stance_macro_f1, &self.examples, &self.names, fold_of, self.folds)
            })
            .collect();
        let nested = Repeated { figures: cv::mean_figures(&per_repeat), per_repeat, oofs: Vec::new() };
        let nested = self.row("  the best reading chosen on the other folds".into(), &nested, Stage::Stance);
        let (reading, r) = variants
            .into_iter()
            .reduce(|best, x| if stance_beats(&x.1, &best.1) { x } else { best })
            .expect("the plain reading");
        (reading, r, rows, nested)
    }

    /// Threshold rules, each judged with thresholds tuned on the other folds only (nested); returns
    /// the best rule, its thresholds tuned on every fold, a row per rule, and the tuned figures.
    fn thresholds(
        &self,
        oofs: &[OutOfFold],
        listing: &Listing,
    ) -> (ThresholdRule, Vec<f64>, Vec<Row>, Row) {
        let folds = self.folds;
        let mut rows = Vec::new();
        let (mut rule, mut best) = (ThresholdRule::Half, f64::NEG_INFINITY);
        for r in [
            ThresholdRule::Half,
            ThresholdRule::Shared,
            ThresholdRule::PerTopic,
        ] {
            let nested = Repeated::per_assignment(oofs, &self.assignments, |oof, fold_of| {
                thresholds::nested_threshold_figures(
                    r,
                    oof,
                    &self.examples,
                    &self.names,
                    fold_of,
                    folds,
                    listing,
                )
            });
            rows.push(
                self.row(r.name().to_string(), &nested, Stage::Head)
                    .shown_as(format!("  {}, tuned on the other folds", r.name())),
            );
            if nested.figures[1] > best + 1e-12 {
                (rule, best) = (r, nested.figures[1]);
            }
        }
        // Every assignment's out-of-fold scores together: each speech once per assignment.
        let pooled: OutOfFold = oofs.iter().flatten().cloned().collect();
        let tuned = thresholds::tune_thresholds(rule, &pooled, &self.examples, self.n_topics());
        let figures = Repeated::per_assignment(oofs, &self.assignments, |oof, _| {
            self.figures(oof, &tuned, listing)
        });
        let row = self.row(
            "  the same, tuned and scored on the same folds".into(),
            &figures,
            Stage::Head,
        );
        (rule, tuned, rows, row)
    }
}

/// A stance reading's name, with the L2 of its lexical stance model if it has one.
fn reading_name((reading, l2): &(StanceReading, Option<f64>)) -> String {
    match l2 {
        Some(l2) => format!("{} (l2 {l2})", reading.name()),
        None => reading.name(),
    }
}

/// Fits, cross-validates and returns the head file plus the report of every variant.
pub fn fit(inputs: FitInputs<'_>) -> Result<(HeadFile, Report), Error> {
    let taxonomy = &inputs.data.taxonomy;
    let labelled = inputs.data.labelled_rows();
    if labelled < inputs.folds * 2 {
        return Err(Error::Usage(format!(
            "{labelled} training rows are too few for {} folds",
            inputs.folds
        )));
    }
    let example_rows = inputs.data.example_rows();
    let examples = inputs.data.rows();
    let features = chunk_features(
        &examples,
        inputs.words,
        inputs.encoder,
        &inputs.prototypes,
        true,
    )?;
    let assignments: Vec<Vec<Option<usize>>> = (0..inputs.repeats as u64)
        .map(|r| fold_assignment(&examples, inputs.folds, r))
        .collect();
    let started = std::time::Instant::now();
    let names = taxonomy.topic_names();
    let n_topics = names.len();
    // Topics the labels give to off-topic speeches too: from every labelled file row, and checked
    // to come out the same from each fold's training rows alone.
    let file_rows: Vec<usize> = (0..labelled + example_rows).collect();
    let off_topic = cv::off_topic_topics(&examples, &file_rows, n_topics);
    let differs_by_fold = assignments.iter().any(|fold_of| {
        (0..inputs.folds).any(|f| {
            let rows: Vec<usize> = file_rows
                .iter()
                .copied()
                .filter(|&i| fold_of[i] != Some(f))
                .collect();
            cv::off_topic_topics(&examples, &rows, n_topics) != off_topic
        })
    });
    let search = Search {
        folds: inputs.folds,
        repeats: inputs.repeats,
        use_taxonomy_examples: inputs.use_taxonomy_examples,
        names,
        examples,
        features,
        assignments,
        off_topic,
        dim: inputs.encoder.dim(),
    };

    let mut variants = vec![search.prototypes_alone(&inputs, labelled)?];
    let (chosen, chosen_r, rows) = search.heads();
    variants.extend(rows);
    let terms: Vec<Vec<String>> = search
        .examples
        .par_iter()
        .map(|e| lexical::terms(&e.text))
        .collect();
    let (decoding, decoded_r, rows, decoding_nested) = search.decodings(chosen, chosen_r, &terms);
    variants.extend(rows);
    let listing = decoding.listing(&search.off_topic);
    let stance_terms: Vec<Vec<String>> = search.examples.par_iter().map(|e| lexical::stance_terms(&e.text)).collect();
    let (reading, read_r, rows, reading_nested) = search.stance_readings(chosen, &decoded_r, &listing, &stance_terms);
    variants.extend(rows);
    let (rule, thresholds, rule_rows, tuned) = search.thresholds(&read_r.oofs, &listing);
    let listed_off_topic: Vec<String> = search
        .names
        .iter()
        .zip(&search.off_topic)
        .filter(|(_, &b)| b)
        .map(|(n, _)| n.to_string())
        .collect();
    let report = Report {
        figures: FIGURES,
        folds: inputs.folds,
        repeats: inputs.repeats,
        labelled_rows: labelled,
        example_rows,
        taxonomy_rows: search.examples.len() - labelled - example_rows,
        listed_off_topic: listed_off_topic.clone(),
        listed_off_topic_differs_by_fold: differs_by_fold,
        variants,
        chosen: chosen.name(),
        decoding: (decoding != Decoding::default())
            .then(|| decoding.name().trim_start().to_string()),
        decoding_chosen_on_other_folds: decoding_nested,
        stance_reading: (!reading.0.is_plain()).then(|| reading_name(&reading).trim_start().trim_start_matches("+ ").to_string()),
        stance_reading_chosen_on_other_folds: reading_nested,
        threshold_rules_nested: rule_rows,
        threshold_rule: rule.name().to_string(),
        chosen_tuned_thresholds: tuned,
        seconds: started.elapsed().as_secs_f64(),
    };
    let head = search.head(
        &inputs,
        chosen,
        decoding,
        reading,
        &thresholds,
        [&terms, &stance_terms],
        listed_off_topic,
        differs_by_fold,
        &report,
    );
    Ok((head, report))
}

impl Search<'_> {
    /// The head file: the chosen variant fitted on every training row, with its decoding and
    /// thresholds, what it was made from, and the report.
    #[allow(clippy::too_many_arguments)]
    fn head(
        &self,
        inputs: &FitInputs<'_>,
        chosen: Candidate,
        decoding: Decoding,
        (reading, stance_l2): (StanceReading, Option<f64>),
        thresholds: &[f64],
        [terms, stance_terms]: [&[Vec<String>]; 2],
        listed_off_topic: Vec<String>,
        differs_by_fold: bool,
        report: &Report,
    ) -> HeadFile {
        let (examples, n_topics, dim) = (&self.examples, self.n_topics(), self.dim);
        let labelled = inputs.data.labelled_rows();
        let rows: Vec<usize> = (0..examples.len())
            .filter(|&i| examples[i].group.is_some() || chosen.taxonomy_examples)
            .collect();
        let (fitted, mean, scale) =
            cv::fit_on(chosen, &rows, examples, &self.features, dim, n_topics);
        let mut lexical = decoding
            .lexical
            .map(|(l2, weight)| cv::fit_lexical(terms, examples, &rows, n_topics, l2, weight));
        if let Some(l2) = stance_l2 {
            // Without topic models, the stance model alone (topic weight 0).
            let lex = lexical.get_or_insert_with(|| Lexical::new(0.0, Vocabulary::default(), Vec::new()));
            cv::fit_lexical_stance(lex, stance_terms, examples, &rows, l2);
        }
        // Fold the feature mask into the weights: masked-out columns get weight 0.
        let unmask = |m: Logistic| Logistic {
            weights: chosen.features.mask(&m.weights, dim),
            bias: m.bias,
        };
        HeadFile {
            format: 1,
            provenance: Provenance {
                tool_version: env!("CARGO_PKG_VERSION").to_string(),
                encoder_sha256: inputs.encoder_sha256.clone(),
                taxonomy_sha256: inputs.data.taxonomy.fingerprint.clone(),
                training_files: inputs.data.files.clone(),
                training_rows: labelled,
                extra_rows: if chosen.taxonomy_examples {
                    examples.len() - labelled
                } else {
                    0
                },
            },
            topics: self.names.iter().map(|s| s.to_string()).collect(),
            stances: STANCE_CLASSES.iter().map(|s| s.to_string()).collect(),
            settings: serde_json::json!({
                "features": chosen.features.name(),
                "taxonomy_examples": chosen.taxonomy_examples,
                "l2": chosen.l2,
                "sentence_weight": chosen.sentence_weight,
                "sentence_embedding": chosen.sentence_embedding,
                "lexical": decoding.lexical.map(|(l2, weight)| serde_json::json!({
                    "l2": l2,
                    "weight": weight,
                    "terms": "words and neighbouring pairs, stop words dropped",
                    "min_document_frequency": lexical::MIN_DOCUMENT_FREQUENCY,
                })),
                "min_topics": decoding.min_topics,
                "stance_reading": (!reading.is_plain()).then(|| serde_json::json!({
                    "reading": reading,
                    "lexical_stance_l2": stance_l2,
                    "lexical_stance_terms": stance_l2.map(|_| "words and neighbouring pairs, stop words dropped except negation, modals, concession and degree (lexical::STANCE_WORDS)"),
                    "sentence_stance": (reading.sentence_weight > 0.0).then_some("multinomial logistic on the training texts' sentences in the speaker's own voice, each taking its text's stance (class-weighted, the head's l2)"),
                    "chosen_by": "stance macro-F1",
                })),
                "listed_off_topic": {
                    "rule": format!("at least {} labelled off-topic speeches and {} of the topic's labelled speeches", cv::OFF_TOPIC_MIN, cv::OFF_TOPIC_SHARE),
                    "same_in_every_training_fold": !differs_by_fold,
                },
                "folds": inputs.folds,
                "grouping": "debate",
                "class_weights": "balanced",
            }),
            cross_validation: serde_json::to_value(report).expect("a report serialises"),
            sentence_weight: chosen.sentence_weight,
            sentence_embedding: chosen.sentence_embedding,
            lexical,
            stance_reading: (!reading.is_plain()).then_some(reading),
            sentence_stance: (reading.sentence_weight > 0.0)
                .then(|| cv::fit_sentence_stance(chosen, &rows, examples, &self.features, dim))
                .flatten(),
            at_least_one_topic: decoding.min_topics >= 1,
            min_topics: decoding.min_topics,
            listed_off_topic,
            feature_mean: mean,
            feature_scale: scale,
            on_topic: unmask(fitted.on_topic),
            on_topic_threshold: 0.5,
            topic_heads: fitted
                .topics
                .into_iter()
                .zip(thresholds)
                .zip(&self.names)
                .map(|((m, &threshold), name)| TopicHead {
                    name: name.to_string(),
                    model: unmask(m),
                    threshold,
                })
                .collect(),
            stance: Multinomial {
                weights: fitted
                    .stance
                    .weights
                    .iter()
                    .map(|w| chosen.features.mask(w, dim))
                    .collect(),
                bias: fitted.stance.bias,
            },
        }
    }
}

/// The `fit` command: loads what it needs, fits, prints the cross-validation table, writes the head.
pub fn run(args: &crate::cli::FitArgs) -> Result<(), Error> {
    use crate::config::{check_model_dir, set_threads};
    use crate::files::{project_path, DEFAULT_MODEL};
    set_threads(args.threads);
    let model_dir = args
        .model
        .clone()
        .unwrap_or_else(|| project_path(DEFAULT_MODEL));
    let inputs = match (check_model_dir(&model_dir), load_inputs(&args.data)) {
        (Ok(()), Ok(inputs)) => inputs,
        (Err(a), Err(b)) => return Err(Error::many(vec![a, b])),
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    let words = WordPieces::load(&model_dir)?;
    let encoder = crate::encoder::bert::BertEncoder::load(&model_dir, tch::Device::Cpu)?;
    let encoder_sha256 = fingerprint::sha256_file(&model_dir.join("model.safetensors"))?;
    let cache = crate::score::cache::EmbeddingCache::from_env(encoder.cache_key(&encoder_sha256));
    let prototypes = Prototypes::build(&inputs.taxonomy, &words, &encoder, cache.as_ref())?;
    let (head, report) = fit(FitInputs {
        data: &inputs,
        words: &words,
        encoder: &encoder,
        prototypes,
        encoder_sha256,
        use_taxonomy_examples: match args.taxonomy_examples {
            crate::cli::When::Yes => Some(true),
            crate::cli::When::No => Some(false),
            crate::cli::When::Auto => None,
        },
        folds: args.data.folds,
        repeats: usize::from(args.repeats),
    })?;
    print!("{report}");
    head.save(&args.output)?;
    eprintln!("parlscan: wrote {}", args.output.display());
    Ok(())
}
