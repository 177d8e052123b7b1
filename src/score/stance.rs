//! A speech's stance, read where it is expressed: its chunks' stance, its most stance-bearing
//! sentences in the speaker's own voice, and a lexical stance model, mixed at weights `fit`
//! chooses by cross-validation and records in the head ([`StanceReading`]).
//!
//! Heads made before this carry no reading: their stance is the chunks' stance averaged with
//! each chunk weighted by how on topic it is ([`chunk_average`]), as it always was. `classify`
//! (`Labeller`) and `fit`'s cross-validation both call [`read`], so what cross-validation
//! measures is what `classify` does.

use serde::{Deserialize, Serialize};

use super::ChunkScores;

/// How a head reads a speech's stance. The stance given on topic is
/// `(1 − sentence_weight − lexical_weight) × chunk average + sentence_weight × sentence pool +
/// lexical_weight × lexical stance`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StanceReading {
    /// Share of the speech's most stance-bearing sentences ([`sentence_pool`]).
    pub sentence_weight: f64,
    /// How many sentences the pool takes.
    pub sentences: usize,
    /// How much a reported sentence (a quotation, or a view introduced by "we are told", "the
    /// hon. Member claims", ...: `voice::reported`) counts, against 1 for the speaker's own voice.
    pub reported_weight: f64,
    /// Share of the head's lexical stance model (`lexical::Lexical::stance`).
    pub lexical_weight: f64,
    /// How the pooled sentences' distributions combine.
    #[serde(default)]
    pub pool: Pool,
}

/// How the pooled sentences' stance distributions combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pool {
    /// Their salience-weighted mean: a pro sentence and an anti one average out towards the
    /// classes in between.
    #[default]
    Mean,
    /// Their salience-weighted geometric mean, renormalised: a class must be likely in every
    /// pooled sentence, so sentences that agree reinforce each other.
    Geometric,
}

impl StanceReading {
    /// Whether it reads stance exactly as heads without a reading do.
    pub fn is_plain(&self) -> bool {
        self.sentence_weight == 0.0 && self.lexical_weight == 0.0
    }

    pub fn name(&self) -> String {
        let mut parts = Vec::new();
        if self.sentence_weight > 0.0 {
            parts.push(format!(
                "stance from the {} best sentence{}{} {} (reported {})",
                self.sentences,
                if self.sentences == 1 { "" } else { "s" },
                if self.pool == Pool::Geometric && self.sentences > 1 { ", geometric," } else { "" },
                self.sentence_weight,
                self.reported_weight
            ));
        }
        if self.lexical_weight > 0.0 {
            parts.push(format!("lexical stance {}", self.lexical_weight));
        }
        if parts.is_empty() {
            "  stance: the chunk average".to_string()
        } else {
            format!("  + {}", parts.join(" + "))
        }
    }
}

/// One sentence of a speech, for the pool: its scores and whether it is reported speech.
#[derive(Debug, Clone, Copy)]
pub struct Sentence<'a> {
    pub scores: &'a ChunkScores,
    pub reported: bool,
}

/// The chunks' stance distributions averaged, each chunk weighted by its P(on topic).
pub fn chunk_average(chunks: &[ChunkScores]) -> Vec<f64> {
    let n = chunks.first().map_or(0, |c| c.stance.len());
    let weight_sum: f64 = chunks.iter().map(|c| c.on_topic).sum::<f64>().max(1e-12);
    (0..n).map(|k| chunks.iter().map(|c| c.on_topic * c.stance[k]).sum::<f64>() / weight_sum).collect()
}

/// The stance of a speech's most stance-bearing sentences: each sentence's salience is its
/// P(on topic) × its voice weight (`reported_weight` if reported, else 1) × its largest stance
/// probability; the `take` most salient are averaged (as `pool` says), weighted by salience. A
/// speech whose
/// sentences are all reported, with `reported_weight` 0, is pooled as if none were: it is still
/// read, from the sentences it has.
pub fn sentence_pool(sentences: &[Sentence<'_>], take: usize, reported_weight: f64, pool: Pool) -> Vec<f64> {
    let n = sentences.first().map_or(0, |s| s.scores.stance.len());
    let salience = |s: &Sentence<'_>, voice: f64| {
        let peak = s.scores.stance.iter().copied().fold(0.0, f64::max);
        s.scores.on_topic * peak * if s.reported { voice } else { 1.0 }
    };
    let mut ranked: Vec<(f64, &Sentence<'_>)> = sentences.iter().map(|s| (salience(s, reported_weight), s)).collect();
    if ranked.iter().all(|(w, _)| *w <= 0.0) {
        ranked = sentences.iter().map(|s| (salience(s, 1.0), s)).collect();
    }
    // Most salient first; ties keep the speech's order, so the pool is deterministic.
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranked.truncate(take.max(1));
    let total: f64 = ranked.iter().map(|(w, _)| w).sum::<f64>().max(1e-12);
    match pool {
        Pool::Mean => (0..n).map(|k| ranked.iter().map(|(w, s)| w * s.scores.stance[k]).sum::<f64>() / total).collect(),
        Pool::Geometric => {
            let logs: Vec<f64> =
                (0..n).map(|k| ranked.iter().map(|(w, s)| w * s.scores.stance[k].max(1e-12).ln()).sum::<f64>() / total).collect();
            let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let exps: Vec<f64> = logs.iter().map(|l| (l - max).exp()).collect();
            let sum: f64 = exps.iter().sum();
            exps.into_iter().map(|e| e / sum).collect()
        }
    }
}

/// A speech's stance given on topic, under a head's reading (`None`: the chunk average, as heads
/// made before readings do). `lexical` is the speech's lexical stance distribution, which a
/// reading with a lexical weight needs (heads that lack the model are refused on loading).
pub fn read(chunks: &[ChunkScores], sentences: &[Sentence<'_>], lexical: Option<&[f64]>, reading: Option<&StanceReading>) -> Vec<f64> {
    let average = chunk_average(chunks);
    let Some(r) = reading.filter(|r| !r.is_plain()) else { return average };
    let pool = if r.sentence_weight > 0.0 && !sentences.is_empty() {
        sentence_pool(sentences, r.sentences, r.reported_weight, r.pool)
    } else {
        average.clone()
    };
    let lexical = match lexical {
        Some(p) if r.lexical_weight > 0.0 => p,
        _ => &average,
    };
    let base = 1.0 - r.sentence_weight - r.lexical_weight;
    average.iter().zip(&pool).zip(lexical).map(|((a, p), l)| base * a + r.sentence_weight * p + r.lexical_weight * l).collect()
}

/// A speech's chunks, each carrying the speech's stance as `reading` reads it, so aggregating them
/// (`aggregate::speech`, which averages the chunks' stances) yields that stance.
pub fn apply(chunks: &[ChunkScores], sentences: &[Sentence<'_>], lexical: Option<&[f64]>, reading: &StanceReading) -> Vec<ChunkScores> {
    let mut out = chunks.to_vec();
    set(&mut out, &read(chunks, sentences, lexical, Some(reading)));
    out
}

fn set(chunks: &mut [ChunkScores], stance: &[f64]) {
    for c in chunks {
        c.stance.clear();
        c.stance.extend_from_slice(stance);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(on: f64, stance: &[f64]) -> ChunkScores {
        ChunkScores { on_topic: on, topics: Vec::new(), stance: stance.to_vec() }
    }

    const PRO: [f64; 4] = [0.8, 0.1, 0.05, 0.05];
    const ANTI: [f64; 4] = [0.1, 0.8, 0.05, 0.05];
    const FLAT: [f64; 4] = [0.25; 4];

    #[test]
    fn without_a_reading_stance_is_the_on_topic_weighted_chunk_average() {
        let chunks = [scores(0.9, &PRO), scores(0.1, &ANTI)];
        let got = read(&chunks, &[], None, None);
        assert!((got[0] - (0.9 * 0.8 + 0.1 * 0.1)).abs() < 1e-12, "{got:?}");
        let plain = StanceReading { sentence_weight: 0.0, sentences: 2, reported_weight: 0.25, lexical_weight: 0.0, pool: Pool::Mean };
        assert_eq!(read(&chunks, &[], None, Some(&plain)), got);
    }

    #[test]
    fn the_speakers_own_sentences_outweigh_the_view_he_quotes() {
        let (quoted, own, filler) = (scores(0.9, &ANTI), scores(0.8, &PRO), scores(0.2, &FLAT));
        let sentences = [
            Sentence { scores: &quoted, reported: true },
            Sentence { scores: &own, reported: false },
            Sentence { scores: &filler, reported: false },
        ];
        let pool = sentence_pool(&sentences, 2, 0.25, Pool::Mean);
        assert!(pool[0] > pool[1], "own voice wins: {pool:?}");
        let unweighted = sentence_pool(&sentences, 1, 1.0, Pool::Mean);
        assert_eq!(unweighted, ANTI.to_vec(), "without down-weighting, the quotation is the most salient");
    }

    #[test]
    fn a_geometric_pool_keeps_a_class_likely_in_every_sentence_where_a_mean_drifts_to_the_middle() {
        let (pro, anti) = (scores(1.0, &[0.6, 0.05, 0.3, 0.05]), scores(1.0, &[0.5, 0.3, 0.15, 0.05]));
        let sentences = [Sentence { scores: &pro, reported: false }, Sentence { scores: &anti, reported: false }];
        let mean = sentence_pool(&sentences, 2, 1.0, Pool::Mean);
        let geometric = sentence_pool(&sentences, 2, 1.0, Pool::Geometric);
        assert!((mean[0] - (0.6 * 0.6 + 0.5 * 0.5) / 1.1).abs() < 1e-12, "weighted by salience (P(on topic) × peak): {mean:?}");
        assert!(geometric[0] > mean[0] && (geometric.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{geometric:?}");
        let one = sentence_pool(&sentences[..1], 2, 1.0, Pool::Geometric);
        assert!(one.iter().zip(&pro.stance).all(|(a, b)| (a - b).abs() < 1e-12), "one sentence is itself: {one:?}");
    }

    #[test]
    fn a_speech_whose_sentences_are_all_reported_is_still_read() {
        let (a, b) = (scores(0.9, &ANTI), scores(0.3, &PRO));
        let sentences = [Sentence { scores: &a, reported: true }, Sentence { scores: &b, reported: true }];
        let pool = sentence_pool(&sentences, 1, 0.0, Pool::Mean);
        assert_eq!(pool, ANTI.to_vec());
    }

    #[test]
    fn a_reading_mixes_chunks_sentences_and_lexical_stance_at_its_weights() {
        let chunks = [scores(1.0, &FLAT)];
        let own = scores(1.0, &PRO);
        let sentences = [Sentence { scores: &own, reported: false }];
        let r = StanceReading { sentence_weight: 0.5, sentences: 1, reported_weight: 0.25, lexical_weight: 0.25, pool: Pool::Mean };
        let got = read(&chunks, &sentences, Some(&ANTI), Some(&r));
        let want: Vec<f64> = (0..4).map(|k| 0.25 * FLAT[k] + 0.5 * PRO[k] + 0.25 * ANTI[k]).collect();
        assert!(got.iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-12), "{got:?}");
        assert!((got.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let mut chunks = vec![scores(0.3, &FLAT), scores(0.9, &ANTI)];
        set(&mut chunks, &got);
        let back = chunk_average(&chunks);
        assert!(back.iter().zip(&got).all(|(b, g)| (b - g).abs() < 1e-12), "aggregating gives the stance back");
    }
}
