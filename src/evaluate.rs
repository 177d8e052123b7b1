//! `parlscan evaluate`: agreement of predicted labels with gold labels, joined on speech id.
//!
//! Owns the metrics (per-topic and micro/macro F1, on-topic detection, stance accuracy, macro-F1
//! and confusion, calibration of `on_topic`) and their text and JSON reports. Reading is plain
//! CSV; it does not run the model.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;

use crate::error::Error;

/// The five stance values, `none` last, in report order.
pub const STANCES: [&str; 5] = ["pro_powers", "anti_powers", "mixed", "neutral", "none"];

/// One speech's labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Labels {
    pub topics: Vec<String>,
    pub stance: String,
    /// Predicted `on_topic` probability (predictions only).
    pub on_topic: Option<f64>,
    /// Predicted `stance_score`, P(pro_powers) - P(anti_powers) (predictions only).
    pub stance_score: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Prf {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

impl Prf {
    fn from_counts(tp: usize, fp: usize, fn_: usize) -> Self {
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        Prf {
            precision: ratio(tp, tp + fp),
            recall: ratio(tp, tp + fn_),
            f1: ratio(2 * tp, 2 * tp + fp + fn_),
            support: tp + fn_,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReliabilityBin {
    pub from: f64,
    pub to: f64,
    pub count: usize,
    pub mean_predicted: f64,
    pub observed: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub speeches: usize,
    pub topics: BTreeMap<String, Prf>,
    pub topic_micro_f1: f64,
    pub topic_macro_f1: f64,
    pub on_topic: Prf,
    pub stance_accuracy: f64,
    pub stance_macro_f1: f64,
    pub stance_per_class: BTreeMap<String, Prf>,
    /// Rows: gold stance, columns: predicted stance, both in [`STANCES`] order.
    pub stance_confusion: Vec<Vec<usize>>,
    /// Stance accuracy over the speeches on topic in both gold and prediction, and how many:
    /// stance misses apart from on-topic misses.
    pub on_topic_stance_accuracy: f64,
    pub on_topic_both: usize,
    /// Pearson correlation of the predicted `stance_score` with the ordinal gold stance
    /// (anti_powers -1, mixed or neutral 0, pro_powers 1) over the speeches on topic in gold;
    /// `None` without stance scores or without spread.
    pub stance_score_correlation: Option<f64>,
    pub on_topic_brier: Option<f64>,
    pub on_topic_reliability: Vec<ReliabilityBin>,
}

/// Compares predictions with gold labels, speech by speech (same order, same length).
pub fn compare(gold: &[Labels], pred: &[Labels]) -> Report {
    assert_eq!(gold.len(), pred.len(), "joined on id");
    let mut names: Vec<&str> = gold.iter().chain(pred).flat_map(|l| l.topics.iter().map(String::as_str)).collect();
    names.sort_unstable();
    names.dedup();
    let mut topics = BTreeMap::new();
    let (mut tp_all, mut fp_all, mut fn_all) = (0, 0, 0);
    for name in &names {
        let (mut tp, mut fp, mut fn_) = (0, 0, 0);
        for (g, p) in gold.iter().zip(pred) {
            let (in_g, in_p) = (g.topics.iter().any(|t| t == name), p.topics.iter().any(|t| t == name));
            tp += usize::from(in_g && in_p);
            fp += usize::from(!in_g && in_p);
            fn_ += usize::from(in_g && !in_p);
        }
        tp_all += tp;
        fp_all += fp;
        fn_all += fn_;
        topics.insert(name.to_string(), Prf::from_counts(tp, fp, fn_));
    }
    let topic_macro_f1 = mean(topics.values().map(|p| p.f1));

    let on = |l: &Labels| l.stance != "none";
    let count = |f: &dyn Fn(&Labels, &Labels) -> bool| gold.iter().zip(pred).filter(|(g, p)| f(g, p)).count();
    let on_topic = Prf::from_counts(
        count(&|g, p| on(g) && on(p)),
        count(&|g, p| !on(g) && on(p)),
        count(&|g, p| on(g) && !on(p)),
    );

    let index = |s: &str| STANCES.iter().position(|&c| c == s);
    let mut confusion = vec![vec![0usize; STANCES.len()]; STANCES.len()];
    for (g, p) in gold.iter().zip(pred) {
        if let (Some(i), Some(j)) = (index(&g.stance), index(&p.stance)) {
            confusion[i][j] += 1;
        }
    }
    let mut stance_per_class = BTreeMap::new();
    for (k, class) in STANCES.iter().enumerate() {
        let tp = confusion[k][k];
        let fp = (0..STANCES.len()).map(|i| confusion[i][k]).sum::<usize>() - tp;
        let fn_ = confusion[k].iter().sum::<usize>() - tp;
        stance_per_class.insert(class.to_string(), Prf::from_counts(tp, fp, fn_));
    }
    let correct = (0..STANCES.len()).map(|k| confusion[k][k]).sum::<usize>();
    let on_both = count(&|g, p| on(g) && on(p));
    let on_both_right = count(&|g, p| on(g) && on(p) && g.stance == p.stance);
    let ordinal = |s: &str| match s {
        "pro_powers" => 1.0,
        "anti_powers" => -1.0,
        _ => 0.0,
    };
    let pairs: Vec<(f64, f64)> = gold.iter().zip(pred).filter(|(g, _)| on(g)).filter_map(|(g, p)| Some((p.stance_score?, ordinal(&g.stance)))).collect();

    let probs: Vec<(f64, f64)> = gold
        .iter()
        .zip(pred)
        .filter_map(|(g, p)| p.on_topic.map(|x| (x, if on(g) { 1.0 } else { 0.0 })))
        .collect();
    let on_topic_brier = (!probs.is_empty()).then(|| mean(probs.iter().map(|(p, y)| (p - y).powi(2))));
    let on_topic_reliability = (0..10)
        .filter_map(|b| {
            let (from, to) = (b as f64 / 10.0, (b + 1) as f64 / 10.0);
            let inside: Vec<&(f64, f64)> =
                probs.iter().filter(|(p, _)| *p >= from && (*p < to || (b == 9 && *p <= 1.0))).collect();
            (!inside.is_empty()).then(|| ReliabilityBin {
                from,
                to,
                count: inside.len(),
                mean_predicted: mean(inside.iter().map(|(p, _)| *p)),
                observed: mean(inside.iter().map(|(_, y)| *y)),
            })
        })
        .collect();

    Report {
        speeches: gold.len(),
        topics,
        topic_micro_f1: Prf::from_counts(tp_all, fp_all, fn_all).f1,
        topic_macro_f1,
        on_topic,
        stance_accuracy: if gold.is_empty() { 0.0 } else { correct as f64 / gold.len() as f64 },
        stance_macro_f1: mean(stance_per_class.values().map(|p| p.f1)),
        stance_per_class,
        stance_confusion: confusion,
        on_topic_stance_accuracy: if on_both == 0 { 0.0 } else { on_both_right as f64 / on_both as f64 },
        on_topic_both: on_both,
        stance_score_correlation: pearson(&pairs),
        on_topic_brier,
        on_topic_reliability,
    }
}

/// Pearson correlation of the pairs; `None` for fewer than two or no spread on a side.
fn pearson(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.len() < 2 {
        return None;
    }
    let (mx, my) = (mean(pairs.iter().map(|p| p.0)), mean(pairs.iter().map(|p| p.1)));
    let cov: f64 = pairs.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let (vx, vy): (f64, f64) = (pairs.iter().map(|(x, _)| (x - mx).powi(2)).sum(), pairs.iter().map(|(_, y)| (y - my).powi(2)).sum());
    (vx > 0.0 && vy > 0.0).then(|| cov / (vx * vy).sqrt())
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// Reads labels keyed by id from a CSV: `topics` (`;`-joined), `stance`, and `on_topic` if
/// present. With `last`, the last column of each name counts (classify's label columns come
/// after passthrough columns of the same name).
pub fn read_labels(path: &Path, id_col: &str, last: bool) -> Result<Vec<(String, usize, Labels)>, Error> {
    let bad = |what: String| Error::Input { path: path.to_path_buf(), what };
    let mut reader = ::csv::ReaderBuilder::new()
        .from_path(path)
        .map_err(|e| Error::csv_read(path, e))?;
    let header: Vec<String> = reader.headers().map_err(|e| Error::csv_read(path, e))?.iter().map(String::from).collect();
    let find = |name: &str| {
        if last { header.iter().rposition(|h| h == name) } else { header.iter().position(|h| h == name) }
    };
    let need = |name: &str| {
        find(name).ok_or_else(|| bad(format!("no `{name}` column; the columns are: {}", header.join(", "))))
    };
    let (id_at, topics_at, stance_at) = (need(id_col)?, need("topics")?, need("stance")?);
    let on_at = find("on_topic");
    let score_at = find("stance_score");
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| Error::csv_read(path, e))?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let field = |i: usize| record.get(i).unwrap_or("").trim();
        let stance = field(stance_at).to_string();
        if !STANCES.contains(&stance.as_str()) {
            return Err(bad(format!("line {line}: stance `{stance}` is not one of {}", STANCES.join(", "))));
        }
        let on_topic = match on_at.map(field) {
            None | Some("") => None,
            Some(v) => Some(v.parse::<f64>().map_err(|_| bad(format!("line {line}: on_topic `{v}` is not a number")))?),
        };
        let stance_score = match score_at.map(field) {
            None | Some("") => None,
            Some(v) => Some(v.parse::<f64>().map_err(|_| bad(format!("line {line}: stance_score `{v}` is not a number")))?),
        };
        let topics = field(topics_at).split(';').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect();
        out.push((field(id_at).to_string(), line, Labels { topics, stance, on_topic, stance_score }));
    }
    Ok(out)
}

/// Joins gold and predictions on id; every id must be on both sides exactly once.
pub fn join(
    gold: Vec<(String, usize, Labels)>,
    pred: Vec<(String, usize, Labels)>,
    gold_path: &Path,
    pred_path: &Path,
) -> Result<(Vec<Labels>, Vec<Labels>), Error> {
    let mut problems = Vec::new();
    let index = |rows: &[(String, usize, Labels)], path: &Path, problems: &mut Vec<String>| {
        let mut map: HashMap<String, usize> = HashMap::new();
        for (i, (id, line, _)) in rows.iter().enumerate() {
            if map.insert(id.clone(), i).is_some() {
                problems.push(format!("id `{id}` appears twice in {} (line {line})", path.display()));
            }
        }
        map
    };
    let gold_ix = index(&gold, gold_path, &mut problems);
    let pred_ix = index(&pred, pred_path, &mut problems);
    let missing = |from: &[(String, usize, Labels)], other: &HashMap<String, usize>| -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        from.iter()
            .filter(|(id, _, _)| !other.contains_key(id) && seen.insert(id.clone()))
            .map(|(id, _, _)| id.clone())
            .collect()
    };
    for (ids, side) in [(missing(&gold, &pred_ix), pred_path), (missing(&pred, &gold_ix), gold_path)] {
        if !ids.is_empty() {
            let shown: Vec<&str> = ids.iter().take(10).map(String::as_str).collect();
            let more = if ids.len() > 10 { format!(" and {} more", ids.len() - 10) } else { String::new() };
            problems.push(format!("{} ids are missing from {}: {}{more}", ids.len(), side.display(), shown.join(", ")));
        }
    }
    if !problems.is_empty() {
        return Err(Error::Input { path: pred_path.to_path_buf(), what: format!("cannot join on id:\n  {}", problems.join("\n  ")) });
    }
    let pred_rows: Vec<Labels> = gold.iter().map(|(id, _, _)| pred[pred_ix[id]].2.clone()).collect();
    Ok((gold.into_iter().map(|(_, _, l)| l).collect(), pred_rows))
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} speeches\n", self.speeches)?;
        writeln!(f, "{:<24} {:>9} {:>9} {:>9} {:>8}", "topic", "precision", "recall", "f1", "support")?;
        for (name, p) in &self.topics {
            writeln!(f, "{name:<24} {:>9.3} {:>9.3} {:>9.3} {:>8}", p.precision, p.recall, p.f1, p.support)?;
        }
        writeln!(f, "{:<24} {:>29.3}", "micro F1", self.topic_micro_f1)?;
        writeln!(f, "{:<24} {:>29.3}\n", "macro F1", self.topic_macro_f1)?;
        let o = &self.on_topic;
        writeln!(f, "on topic: precision {:.3}, recall {:.3}, F1 {:.3} (support {})", o.precision, o.recall, o.f1, o.support)?;
        if let Some(b) = self.on_topic_brier {
            writeln!(f, "on_topic calibration: Brier {b:.4}")?;
            writeln!(f, "  {:<11} {:>6} {:>10} {:>9}", "bin", "count", "predicted", "observed")?;
            for bin in &self.on_topic_reliability {
                writeln!(f, "  {:.1}-{:.1}     {:>6} {:>10.3} {:>9.3}", bin.from, bin.to, bin.count, bin.mean_predicted, bin.observed)?;
            }
        }
        writeln!(f, "\nstance: accuracy {:.3}, macro F1 {:.3}", self.stance_accuracy, self.stance_macro_f1)?;
        writeln!(
            f,
            "stance on the {} speeches on topic in both gold and prediction: accuracy {:.3}",
            self.on_topic_both, self.on_topic_stance_accuracy
        )?;
        if let Some(r) = self.stance_score_correlation {
            writeln!(f, "stance_score against the gold stance (anti -1, mixed or neutral 0, pro 1), on-topic gold: correlation {r:.3}")?;
        }
        write!(f, "  {:<12}", "gold \\ pred")?;
        for s in STANCES {
            write!(f, " {:>11}", s)?;
        }
        writeln!(f)?;
        for (i, row) in self.stance_confusion.iter().enumerate() {
            write!(f, "  {:<12}", STANCES[i])?;
            for n in row {
                write!(f, " {n:>11}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(topics: &[&str], stance: &str, on: Option<f64>) -> Labels {
        Labels { topics: topics.iter().map(|s| s.to_string()).collect(), stance: stance.into(), on_topic: on, stance_score: None }
    }

    /// Four speeches, figures worked out by hand.
    #[test]
    fn figures_match_a_hand_computed_example() {
        let gold = [
            l(&["encryption", "privacy_rights"], "anti_powers", None),
            l(&["encryption"], "pro_powers", None),
            l(&[], "none", None),
            l(&["oversight"], "neutral", None),
        ];
        let pred = [
            l(&["encryption"], "anti_powers", Some(0.9)),
            l(&["encryption", "oversight"], "anti_powers", Some(0.8)),
            l(&[], "none", Some(0.3)),
            l(&[], "none", Some(0.4)),
        ];
        let r = compare(&gold, &pred);
        // encryption: tp 2; oversight: fp 1, fn 1; privacy_rights: fn 1.
        assert_eq!(r.topics["encryption"], Prf { precision: 1.0, recall: 1.0, f1: 1.0, support: 2 });
        assert_eq!(r.topics["oversight"], Prf { precision: 0.0, recall: 0.0, f1: 0.0, support: 1 });
        assert_eq!(r.topics["privacy_rights"].support, 1);
        // micro: tp 2, fp 1, fn 2 → 4 / 7.
        assert!((r.topic_micro_f1 - 4.0 / 7.0).abs() < 1e-12);
        assert!((r.topic_macro_f1 - 1.0 / 3.0).abs() < 1e-12);
        // on topic: gold on = 1,2,4; pred on = 1,2 → tp 2, fp 0, fn 1.
        assert_eq!(r.on_topic, Prf { precision: 1.0, recall: 2.0 / 3.0, f1: 0.8, support: 3 });
        // stance: correct on speeches 1 and 3 → 0.5.
        assert_eq!(r.stance_accuracy, 0.5);
        assert_eq!(r.stance_confusion[1][1], 1); // anti → anti
        assert_eq!(r.stance_confusion[0][1], 1); // pro → anti
        assert_eq!(r.stance_confusion[3][4], 1); // neutral → none
        // per class F1: pro 0, anti 2/3, mixed 0, neutral 0, none 2/3 → macro 4/15.
        assert!((r.stance_macro_f1 - 4.0 / 15.0).abs() < 1e-12);
        // Brier: (0.1² + 0.2² + 0.3² + 0.6²) / 4 = 0.125.
        assert!((r.on_topic_brier.unwrap() - 0.125).abs() < 1e-12);
        let bins: Vec<(f64, usize, f64)> = r.on_topic_reliability.iter().map(|b| (b.from, b.count, b.observed)).collect();
        assert_eq!(bins, vec![(0.3, 1, 0.0), (0.4, 1, 1.0), (0.8, 1, 1.0), (0.9, 1, 1.0)]);
    }

    #[test]
    fn missing_and_doubled_ids_are_named() {
        let row = |id: &str| (id.to_string(), 2, l(&[], "none", None));
        let err = join(vec![row("a"), row("b")], vec![row("a"), row("c"), row("c")], Path::new("gold.csv"), Path::new("pred.csv"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("id `c` appears twice in pred.csv (line 2)"), "{err}");
        assert!(err.contains("1 ids are missing from pred.csv: b"), "{err}");
        assert!(err.contains("1 ids are missing from gold.csv: c"), "{err}");
    }
}
