//! Aggregation: chunk scores become one result per speech.
//!
//! A topic counts where its strongest chunk is (max over chunks), so one on-topic passage in a long
//! off-topic speech is found. Stance averages the chunks' stance distributions weighted by how on
//! topic each chunk is, so procedural padding does not dilute it (a head's stance reading has
//! already given every chunk the speech's stance: `score::stance`). Choosing the evidence sentence
//! needs sentence scores, which the pipeline supplies.

use crate::score::ChunkScores;

/// One speech's scores.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechScores {
    pub on_topic: f64,
    /// Per taxonomy topic.
    pub topics: Vec<f64>,
    /// Topics at or above their threshold, strongest first. Off topic, only the topics
    /// `Listing::off_topic` names.
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

/// Which topics a speech lists, beyond its scores passing their thresholds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    /// An on-topic speech lists at least this many topics: those at their thresholds, topped up
    /// with its strongest others (0: thresholds alone).
    pub min_topics: usize,
    /// Per topic (empty: none): listed at its threshold on an off-topic speech too, because the
    /// training labels give it to off-topic speeches (an online-safety speech with no
    /// surveillance in it still counts as `online_safety`).
    pub off_topic: Vec<bool>,
}

impl Listing {
    /// How a head's speeches list topics.
    pub fn of_head(head: &crate::score::head::HeadFile) -> Self {
        Listing {
            min_topics: head.min_topics.max(usize::from(head.at_least_one_topic)),
            off_topic: head.topics.iter().map(|t| head.listed_off_topic.contains(t)).collect(),
        }
    }

    fn off_topic(&self, t: usize) -> bool {
        self.off_topic.get(t).copied().unwrap_or(false)
    }
}

/// Combines a speech's chunk scores (at least one) using per-topic thresholds, the on-topic
/// threshold and `listing`.
pub fn speech(chunks: &[ChunkScores], thresholds: &[f64], on_topic_threshold: f64, listing: &Listing) -> SpeechScores {
    assert!(!chunks.is_empty(), "a scored speech has at least one chunk");
    let n_topics = chunks[0].topics.len();
    let on_topic = chunks.iter().map(|c| c.on_topic).fold(0.0, f64::max);
    let topics: Vec<f64> =
        (0..n_topics).map(|t| chunks.iter().map(|c| c.topics[t]).fold(0.0, f64::max)).collect();

    let is_on = on_topic >= on_topic_threshold;
    let mut listed: Vec<usize> =
        (0..n_topics).filter(|&t| (is_on || listing.off_topic(t)) && topics[t] >= thresholds[t]).collect();
    // Strongest first; ties by taxonomy order, so the order is stable.
    let strongest_first = |a: &usize, b: &usize| topics[*b].total_cmp(&topics[*a]).then(a.cmp(b));
    if is_on && listed.len() < listing.min_topics {
        let mut rest: Vec<usize> = (0..n_topics).filter(|t| !listed.contains(t)).collect();
        rest.sort_by(strongest_first);
        listed.extend(rest.into_iter().take(listing.min_topics - listed.len()));
    }
    listed.sort_by(strongest_first);

    let given_on = crate::score::stance::chunk_average(chunks);
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

    const ONE: Listing = Listing { min_topics: 1, off_topic: Vec::new() };

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
        let s = speech(&chunks, &[0.5, 0.5], 0.5, &Listing::default());
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
        let s = speech(&[chunk(0.2, &[0.9], &[0.1, 0.1, 0.1, 0.7])], &[0.5], 0.5, &ONE);
        assert!(s.listed.is_empty());
        assert_eq!(s.stance_class, None);
        assert_eq!(s.best_chunk, None);
        assert!((s.stance.iter().sum::<f64>() - 0.2).abs() < 1e-12);
    }

    #[test]
    fn thresholds_are_per_topic() {
        let s = speech(&[chunk(0.9, &[0.6, 0.6], &[0.25; 4])], &[0.7, 0.5], 0.5, &Listing::default());
        assert_eq!(s.listed, vec![1]);
    }

    #[test]
    fn at_least_one_lists_the_strongest_topic_of_an_on_topic_speech_only() {
        let on = [chunk(0.9, &[0.3, 0.4], &[0.25; 4])];
        assert!(speech(&on, &[0.5, 0.5], 0.5, &Listing::default()).listed.is_empty());
        let s = speech(&on, &[0.5, 0.5], 0.5, &ONE);
        assert_eq!((s.listed, s.best_chunk), (vec![1], Some(0)));
        let passing = [chunk(0.9, &[0.6, 0.4], &[0.25; 4])];
        assert_eq!(speech(&passing, &[0.5, 0.5], 0.5, &ONE).listed, vec![0], "only when none passes");
        assert!(speech(&[chunk(0.3, &[0.3, 0.4], &[0.25; 4])], &[0.5, 0.5], 0.5, &ONE).listed.is_empty());
    }

    #[test]
    fn min_topics_tops_up_an_on_topic_speech_with_its_strongest_other_topics() {
        let two = Listing { min_topics: 2, off_topic: Vec::new() };
        let on = [chunk(0.9, &[0.2, 0.6, 0.3, 0.1], &[0.25; 4])];
        assert_eq!(speech(&on, &[0.5; 4], 0.5, &two).listed, vec![1, 2]);
        let none_passing = [chunk(0.9, &[0.2, 0.4, 0.3, 0.1], &[0.25; 4])];
        assert_eq!(speech(&none_passing, &[0.5; 4], 0.5, &two).listed, vec![1, 2]);
        let three_passing = [chunk(0.9, &[0.7, 0.6, 0.8, 0.1], &[0.25; 4])];
        assert_eq!(speech(&three_passing, &[0.5; 4], 0.5, &two).listed, vec![2, 0, 1], "a floor, not a cap");
        assert!(speech(&[chunk(0.3, &[0.2, 0.6, 0.3, 0.1], &[0.25; 4])], &[0.5; 4], 0.5, &two).listed.is_empty());
        let few = [chunk(0.9, &[0.2], &[0.25; 4])];
        assert_eq!(speech(&few, &[0.5], 0.5, &two).listed, vec![0], "no more than there are");
    }

    #[test]
    fn a_topic_listed_off_topic_needs_its_threshold_and_leaves_stance_none() {
        let off = [chunk(0.2, &[0.7, 0.8], &[0.25; 4])];
        let listing = Listing { min_topics: 1, off_topic: vec![true, false] };
        let s = speech(&off, &[0.5, 0.5], 0.5, &listing);
        assert_eq!((s.listed, s.stance_class, s.best_chunk), (vec![0], None, Some(0)));
        let weak = [chunk(0.2, &[0.4, 0.8], &[0.25; 4])];
        assert!(speech(&weak, &[0.5, 0.5], 0.5, &listing).listed.is_empty(), "no topping up off topic");
        let on = [chunk(0.9, &[0.7, 0.8], &[0.25; 4])];
        assert_eq!(speech(&on, &[0.5, 0.5], 0.5, &listing).listed, vec![1, 0]);
    }
}
