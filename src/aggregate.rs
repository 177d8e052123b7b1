//! Aggregation: chunk scores become one result per speech.
//!
//! A topic counts where its strongest chunk is (max over chunks), so one on-topic passage in a long
//! off-topic speech is found. Stance averages the chunks' stance distributions weighted by how on
//! topic each chunk is, so procedural padding does not dilute it. Choosing the evidence sentence
//! needs sentence scores, which the pipeline supplies.

use crate::score::ChunkScores;

/// One speech's scores.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechScores {
    pub on_topic: f64,
    /// Per taxonomy topic.
    pub topics: Vec<f64>,
    /// Topics at or above their threshold, strongest first (empty when not on topic).
    pub listed: Vec<usize>,
    /// P(class) = on_topic × P(class | on topic), per stance class.
    pub stance: Vec<f64>,
    /// The stance class index, or `None` for `none` (not on topic).
    pub stance_class: Option<usize>,
    /// The chunk where the top topic is strongest.
    pub best_chunk: Option<usize>,
}

impl SpeechScores {
    pub fn top_topic(&self) -> Option<usize> {
        self.listed.first().copied()
    }
}

/// Combines a speech's chunk scores (at least one) using per-topic thresholds and the on-topic
/// threshold. With `at_least_one`, an on-topic speech whose topics all fall below their
/// thresholds lists its strongest topic.
pub fn speech(chunks: &[ChunkScores], thresholds: &[f64], on_topic_threshold: f64, at_least_one: bool) -> SpeechScores {
    assert!(!chunks.is_empty(), "a scored speech has at least one chunk");
    let n_topics = chunks[0].topics.len();
    let n_stances = chunks[0].stance.len();
    let on_topic = chunks.iter().map(|c| c.on_topic).fold(0.0, f64::max);
    let topics: Vec<f64> =
        (0..n_topics).map(|t| chunks.iter().map(|c| c.topics[t]).fold(0.0, f64::max)).collect();

    let is_on = on_topic >= on_topic_threshold;
    let mut listed: Vec<usize> = if is_on {
        (0..n_topics).filter(|&t| topics[t] >= thresholds[t]).collect()
    } else {
        Vec::new()
    };
    if is_on && at_least_one && listed.is_empty() && n_topics > 0 {
        listed.push(argmax(&topics));
    }
    // Strongest first; ties by taxonomy order, so the order is stable.
    listed.sort_by(|&a, &b| topics[b].total_cmp(&topics[a]).then(a.cmp(&b)));

    let weight_sum: f64 = chunks.iter().map(|c| c.on_topic).sum::<f64>().max(1e-12);
    let given_on: Vec<f64> = (0..n_stances)
        .map(|k| chunks.iter().map(|c| c.on_topic * c.stance[k]).sum::<f64>() / weight_sum)
        .collect();
    let stance: Vec<f64> = given_on.iter().map(|p| on_topic * p).collect();
    let stance_class = is_on.then(|| argmax(&given_on));

    let best_chunk = listed.first().map(|&t| {
        let scores: Vec<f64> = chunks.iter().map(|c| c.topics[t]).collect();
        argmax(&scores)
    });
    SpeechScores { on_topic, topics, listed, stance, stance_class, best_chunk }
}

/// Index of the largest value; the first one on ties.
pub fn argmax(xs: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate() {
        if x > xs[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(on: f64, topics: &[f64], stance: &[f64]) -> ChunkScores {
        ChunkScores { on_topic: on, topics: topics.to_vec(), stance: stance.to_vec() }
    }

    #[test]
    fn a_topic_counts_where_its_strongest_chunk_is() {
        let chunks = [
            chunk(0.1, &[0.1, 0.2], &[0.25, 0.25, 0.25, 0.25]),
            chunk(0.9, &[0.8, 0.6], &[0.7, 0.1, 0.1, 0.1]),
            chunk(0.6, &[0.3, 0.7], &[0.1, 0.7, 0.1, 0.1]),
        ];
        let s = speech(&chunks, &[0.5, 0.5], 0.5, false);
        assert_eq!(s.on_topic, 0.9);
        assert_eq!(s.topics, vec![0.8, 0.7]);
        assert_eq!(s.listed, vec![0, 1]);
        assert_eq!(s.top_topic(), Some(0));
        assert_eq!(s.best_chunk, Some(1));
        // Weighted by on_topic: (0.1*0.25 + 0.9*0.7 + 0.6*0.1) / 1.6 for pro_powers.
        let want_pro = (0.1 * 0.25 + 0.9 * 0.7 + 0.6 * 0.1) / 1.6;
        assert!((s.stance[0] - 0.9 * want_pro).abs() < 1e-12);
        assert_eq!(s.stance_class, Some(0));
    }

    #[test]
    fn off_topic_speeches_list_nothing_and_have_stance_none() {
        let s = speech(&[chunk(0.2, &[0.9], &[0.1, 0.1, 0.1, 0.7])], &[0.5], 0.5, true);
        assert!(s.listed.is_empty());
        assert_eq!(s.stance_class, None);
        assert_eq!(s.best_chunk, None);
        assert!((s.stance.iter().sum::<f64>() - 0.2).abs() < 1e-12);
    }

    #[test]
    fn thresholds_are_per_topic() {
        let s = speech(&[chunk(0.9, &[0.6, 0.6], &[0.25; 4])], &[0.7, 0.5], 0.5, false);
        assert_eq!(s.listed, vec![1]);
    }

    #[test]
    fn at_least_one_lists_the_strongest_topic_of_an_on_topic_speech_only() {
        let on = [chunk(0.9, &[0.3, 0.4], &[0.25; 4])];
        assert!(speech(&on, &[0.5, 0.5], 0.5, false).listed.is_empty());
        let s = speech(&on, &[0.5, 0.5], 0.5, true);
        assert_eq!((s.listed, s.best_chunk), (vec![1], Some(0)));
        let passing = [chunk(0.9, &[0.6, 0.4], &[0.25; 4])];
        assert_eq!(speech(&passing, &[0.5, 0.5], 0.5, true).listed, vec![0], "only when none passes");
        assert!(speech(&[chunk(0.3, &[0.3, 0.4], &[0.25; 4])], &[0.5, 0.5], 0.5, true).listed.is_empty());
    }
}
