//! What `fit` found: every variant's cross-validated figures, what was chosen, and how honest each
//! figure is. One [`Report`] prints as the table `fit` shows and serialises into the head file's
//! `cross_validation`.

use std::fmt;

use serde::Serialize;

/// The headline figures, in the order every row gives them.
pub const FIGURES: [&str; 4] = ["on_topic_f1", "topic_micro_f1", "stance_macro_f1", "stance_accuracy"];

/// One row's figures, in [`FIGURES`] order.
pub type Figures = [f64; 4];

/// Which part of the search a row comes from, which decides where the table shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The label prototypes alone, or a candidate head.
    Head,
    /// Lexical models and listing rules on the chosen head (shown as `+ ...` under it).
    Decoding,
    /// Stance readings on the chosen head and decoding.
    Stance,
}

/// One variant's figures: means over the fold assignments, and each assignment's when repeated.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub variant: String,
    pub figures: Figures,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_assignment: Option<Vec<Figures>>,
    /// The name the table shows (the decodings' short form).
    #[serde(skip)]
    pub shown: String,
    #[serde(skip)]
    pub stage: Stage,
}

impl Row {
    pub fn new(
        variant: String,
        figures: Figures,
        per_assignment: Option<Vec<Figures>>,
        stage: Stage,
    ) -> Self {
        Row {
            shown: variant.clone(),
            variant,
            figures,
            per_assignment,
            stage,
        }
    }

    /// The same row shown under another name.
    pub fn shown_as(self, shown: String) -> Self {
        Row { shown, ..self }
    }
}

/// Everything `fit` prints and stores about its cross-validation.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub figures: [&'static str; 4],
    pub folds: usize,
    /// Fold assignments the figures are means over.
    pub repeats: usize,
    /// Labelled speeches scored in cross-validation.
    pub labelled_rows: usize,
    /// Rows of `--examples` files and taxonomy statements, trained on and never scored.
    pub example_rows: usize,
    pub taxonomy_rows: usize,
    /// Topics listed on off-topic speeches too, as the labels do.
    pub listed_off_topic: Vec<String>,
    /// Whether some training fold alone would not derive `listed_off_topic`.
    pub listed_off_topic_differs_by_fold: bool,
    /// Every variant tried, in the order tried.
    pub variants: Vec<Row>,
    /// The head variant chosen.
    pub chosen: String,
    /// The decoding (lexical models, listing rule) chosen on it, if any beats the plain one.
    pub decoding: Option<String>,
    /// Choosing the decoding on the other folds, scored on the held-out one.
    pub decoding_chosen_on_other_folds: Row,
    /// The stance reading chosen (by stance macro-F1), if any beats the chunk average.
    pub stance_reading: Option<String>,
    /// Choosing the stance reading on the other folds, scored on the held-out one.
    pub stance_reading_chosen_on_other_folds: Row,
    /// Each threshold rule, tuned on the other folds only (nested).
    pub threshold_rules_nested: Vec<Row>,
    pub threshold_rule: String,
    /// The chosen head with thresholds tuned on every fold, scored on the same folds (optimistic).
    pub chosen_tuned_thresholds: Row,
    pub seconds: f64,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let repeated = self.repeats > 1;
        let line = |f: &mut fmt::Formatter<'_>, row: &Row| {
            let [a, b, c, d] = row.figures;
            write!(f, "{:<46} {a:>9.3} {b:>9.3} {c:>9.3} {d:>9.3}", row.shown)?;
            if let Some(per) = row.per_assignment.as_ref().filter(|_| repeated) {
                write!(
                    f,
                    "  {}",
                    per.iter()
                        .map(|x| format!("{:.3}", x[1]))
                        .collect::<Vec<_>>()
                        .join(" ")
                )?;
            }
            writeln!(f)
        };
        writeln!(
            f,
            "{}-fold cross-validation by debate on {} labelled speeches{}; \"training examples\": {} rows of --examples files and {} taxonomy statements added to every training fold, never scored\n",
            self.folds,
            self.labelled_rows,
            if repeated { format!(", repeated over {} fold assignments (figures are their means)", self.repeats) } else { String::new() },
            self.example_rows,
            self.taxonomy_rows
        )?;
        if !self.listed_off_topic.is_empty() {
            writeln!(
                f,
                "listed on off-topic speeches too, as the labels do: {}{}\n",
                self.listed_off_topic.join(", "),
                if self.listed_off_topic_differs_by_fold {
                    " (some training folds alone would not; every figure lists them)"
                } else {
                    ""
                }
            )?;
        }
        let spread = if repeated {
            ["  topic micro-F1", "  per assignment"]
        } else {
            ["", ""]
        };
        writeln!(
            f,
            "{:<46} {:>9} {:>9} {:>9} {:>9}{}",
            "variant", "on-topic", "topic", "stance", "stance", spread[0]
        )?;
        writeln!(
            f,
            "{:<46} {:>9} {:>9} {:>9} {:>9}{}",
            "", "F1", "micro-F1", "macro-F1", "accuracy", spread[1]
        )?;
        for row in self.variants.iter().filter(|r| r.stage == Stage::Head) {
            line(f, row)?;
        }
        writeln!(f, "\nchosen: {}", self.chosen)?;
        for row in self.variants.iter().filter(|r| r.stage == Stage::Decoding) {
            line(f, row)?;
        }
        line(f, &self.decoding_chosen_on_other_folds)?;
        if let Some(decoding) = &self.decoding {
            writeln!(f, "chosen: the same {decoding}")?;
        }
        writeln!(f, "stance readings on it (the best of each kind by stance macro-F1):")?;
        for row in self.variants.iter().filter(|r| r.stage == Stage::Stance) {
            line(f, row)?;
        }
        line(f, &self.stance_reading_chosen_on_other_folds)?;
        match &self.stance_reading {
            Some(reading) => writeln!(f, "chosen: {reading}")?,
            None => writeln!(f, "chosen: stance as the chunk average")?,
        }
        for row in &self.threshold_rules_nested {
            line(f, row)?;
        }
        writeln!(
            f,
            "kept: {} (best topic micro-F1 above); tuned on all folds for the head",
            self.threshold_rule
        )?;
        line(f, &self.chosen_tuned_thresholds)?;
        writeln!(
            f,
            "(the variant was chosen on these folds, so even the nested figures lean optimistic)"
        )?;
        writeln!(f, "cross-validation took {:.0} s", self.seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(repeats: usize) -> Report {
        let per = (repeats > 1).then(|| vec![[0.9, 0.6, 0.5, 0.6], [0.9, 0.7, 0.5, 0.6]]);
        let row =
            |name: &str, stage| Row::new(name.to_string(), [0.9, 0.65, 0.5, 0.6], per.clone(), stage);
        Report {
            figures: FIGURES,
            folds: 5,
            repeats,
            labelled_rows: 75,
            example_rows: 10,
            taxonomy_rows: 20,
            listed_off_topic: vec!["online_safety".into()],
            listed_off_topic_differs_by_fold: false,
            variants: vec![
                row("prototypes alone", Stage::Head),
                row("head: a", Stage::Head),
                row("head: a + x", Stage::Decoding).shown_as("  + x".into()),
            ],
            chosen: "head: a".into(),
            decoding: Some("x".into()),
            decoding_chosen_on_other_folds: row("  nested", Stage::Decoding),
            stance_reading: None,
            stance_reading_chosen_on_other_folds: row("  nested reading", Stage::Stance),
            threshold_rules_nested: vec![row("  0.5 for every topic", Stage::Head)],
            threshold_rule: "0.5 for every topic".into(),
            chosen_tuned_thresholds: row("  tuned", Stage::Head),
            seconds: 3.0,
        }
    }

    #[test]
    fn the_table_shows_decodings_under_the_chosen_head_and_per_assignment_figures_when_repeated() {
        let text = report(2).to_string();
        let chosen = text.find("chosen: head: a").unwrap();
        assert!(
            text.find("head: a ").unwrap() < chosen && text.find("  + x").unwrap() > chosen,
            "{text}"
        );
        assert!(text.contains("listed on off-topic speeches too, as the labels do: online_safety"));
        assert!(text.contains("0.600 0.700"), "per assignment: {text}");
        assert!(!report(1).to_string().contains("0.600 0.700"));
    }

    #[test]
    fn the_stored_report_keeps_the_full_variant_names() {
        let json = serde_json::to_value(report(1)).unwrap();
        assert_eq!(json["variants"][2]["variant"], "head: a + x");
        assert!(
            json["variants"][2].get("shown").is_none()
                && json["variants"][0].get("per_assignment").is_none()
        );
        assert_eq!(json["figures"][1], "topic_micro_f1");
    }
}
