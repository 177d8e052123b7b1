//! Per-topic thresholds chosen on out-of-fold scores: 0.5, one shared, or one per topic, and the
//! nested estimate of what tuning them gains on speeches they were not tuned on.

use crate::aggregate::{self, Listing};
use crate::evaluate;
use crate::score::ChunkScores;

use super::cv::headline;
use super::report::Figures;
use super::data::{gold_labels, to_labels, Example};

/// How per-topic thresholds are set after fitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdRule {
    /// 0.5 for every topic.
    Half,
    /// One threshold for all topics, the one that maximises topic micro-F1.
    Shared,
    /// Each topic its own, maximising its F1 (0.5 where it has fewer than 3 positives).
    PerTopic,
}

impl ThresholdRule {
    pub fn name(self) -> &'static str {
        match self {
            ThresholdRule::Half => "0.5 for every topic",
            ThresholdRule::Shared => "one threshold for all topics",
            ThresholdRule::PerTopic => "per-topic thresholds",
        }
    }
}

/// Candidate thresholds: 0.20, 0.25, …, 0.80.
fn threshold_grid() -> impl Iterator<Item = f64> {
    (4..=16).map(|step| step as f64 * 0.05)
}

/// Per speech and topic: (strongest chunk's score, on topic at 0.5, gold).
fn topic_evidence(
    oof: &[(usize, Vec<ChunkScores>)],
    examples: &[Example],
    t: usize,
) -> Vec<(f64, bool, bool)> {
    oof.iter()
        .map(|(i, chunks)| {
            let score = chunks.iter().map(|c| c.topics[t]).fold(0.0, f64::max);
            let on = chunks.iter().map(|c| c.on_topic).fold(0.0, f64::max) >= 0.5;
            (
                score,
                on,
                examples[*i].topics.as_ref().is_some_and(|v| v[t]),
            )
        })
        .collect()
}

/// True positives, false positives and false negatives at threshold `th`.
fn counts_at(evidence: &[(f64, bool, bool)], th: f64) -> (usize, usize, usize) {
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for &(s, on, y) in evidence {
        let p = on && s >= th;
        tp += usize::from(p && y);
        fp += usize::from(p && !y);
        fn_ += usize::from(!p && y);
    }
    (tp, fp, fn_)
}

/// The grid threshold with the best F1 for these counts; the one nearest 0.5 among equals.
fn best_threshold(f1_at: impl Fn(f64) -> f64) -> f64 {
    let mut best = (f64::NEG_INFINITY, 0.5);
    for th in threshold_grid() {
        let f1 = f1_at(th);
        if f1 > best.0 + 1e-12
            || ((f1 - best.0).abs() <= 1e-12 && (th - 0.5).abs() < (best.1 - 0.5f64).abs())
        {
            best = (f1, th);
        }
    }
    best.1
}

fn f1_of((tp, fp, fn_): (usize, usize, usize)) -> f64 {
    2.0 * tp as f64 / (2 * tp + fp + fn_).max(1) as f64
}

/// Thresholds chosen on these out-of-fold scores by `rule`.
pub(crate) fn tune_thresholds(
    rule: ThresholdRule,
    oof: &[(usize, Vec<ChunkScores>)],
    examples: &[Example],
    n_topics: usize,
) -> Vec<f64> {
    let evidence: Vec<Vec<(f64, bool, bool)>> = (0..n_topics)
        .map(|t| topic_evidence(oof, examples, t))
        .collect();
    match rule {
        ThresholdRule::Half => vec![0.5; n_topics],
        ThresholdRule::Shared => {
            let th = best_threshold(|th| {
                let (mut tp, mut fp, mut fn_) = (0, 0, 0);
                for e in &evidence {
                    let c = counts_at(e, th);
                    (tp, fp, fn_) = (tp + c.0, fp + c.1, fn_ + c.2);
                }
                f1_of((tp, fp, fn_))
            });
            vec![th; n_topics]
        }
        ThresholdRule::PerTopic => evidence
            .iter()
            .map(|e| {
                if e.iter().filter(|p| p.2).count() < 3 {
                    0.5
                } else {
                    best_threshold(|th| f1_of(counts_at(e, th)))
                }
            })
            .collect(),
    }
}

/// Figures with thresholds tuned by `rule` on the other folds' out-of-fold scores only, then
/// applied to the held-out fold: an honest estimate of what tuning gains on unseen speeches.
/// (Tuning counts thresholds alone; the figures apply `listing` too.)
pub(crate) fn nested_threshold_figures(
    rule: ThresholdRule,
    oof: &[(usize, Vec<ChunkScores>)],
    examples: &[Example],
    names: &[&str],
    fold_of: &[Option<usize>],
    k: usize,
    listing: &Listing,
) -> Figures {
    let (mut gold, mut pred) = (Vec::new(), Vec::new());
    for fold in 0..k {
        let (held, rest): (Vec<_>, Vec<_>) = oof
            .iter()
            .cloned()
            .partition(|(i, _)| fold_of[*i] == Some(fold));
        let thresholds = tune_thresholds(rule, &rest, examples, names.len());
        for (i, chunks) in &held {
            gold.push(gold_labels(&examples[*i], names));
            pred.push(to_labels(
                &aggregate::speech(chunks, &thresholds, 0.5, listing),
                names,
            ));
        }
    }
    headline(&evaluate::compare(&gold, &pred))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_tuned_per_topic_or_shared_and_nested_tuning_never_sees_the_held_out_fold() {
        // Topic 0's positives score 0.7 and negatives 0.3; topic 1's positives 0.42, negatives 0.1.
        let example = |t0: bool, t1: bool| Example {
            text: String::new(),
            on_topic: Some(true),
            topics: Some(vec![t0, t1]),
            stance: Some(0),
            group: Some(String::new()),
        };
        let chunk = |s0: f64, s1: f64| {
            vec![ChunkScores {
                on_topic: 0.9,
                topics: vec![s0, s1],
                stance: vec![1.0, 0.0, 0.0, 0.0],
            }]
        };
        let mut examples = Vec::new();
        let mut oof = Vec::new();
        for i in 0..12 {
            let (t0, t1) = (i % 2 == 0, i % 3 == 0);
            examples.push(example(t0, t1));
            oof.push((
                i,
                chunk(if t0 { 0.7 } else { 0.3 }, if t1 { 0.42 } else { 0.1 }),
            ));
        }
        let per_topic = tune_thresholds(ThresholdRule::PerTopic, &oof, &examples, 2);
        assert!(
            per_topic[0] > 0.3 && per_topic[0] <= 0.7 && per_topic[1] > 0.1 && per_topic[1] <= 0.42,
            "{per_topic:?}"
        );
        assert_eq!(
            tune_thresholds(ThresholdRule::Half, &oof, &examples, 2),
            vec![0.5, 0.5]
        );
        let shared = tune_thresholds(ThresholdRule::Shared, &oof, &examples, 2);
        assert_eq!(shared[0], shared[1]);
        // Four folds, so every fold's complement still holds three positives of each topic.
        let fold_of: Vec<Option<usize>> = (0..12).map(|i| Some(i % 4)).collect();
        let f = nested_threshold_figures(
            ThresholdRule::PerTopic,
            &oof,
            &examples,
            &["a", "b"],
            &fold_of,
            4,
            &Listing::default(),
        );
        assert!((f[1] - 1.0).abs() < 1e-12, "separable at every fold: {f:?}");
    }
}
