//! Lexical topic scores: TF-IDF over words and two-word phrases, with a logistic model per topic.
//! A small sentence encoder blurs terms of art ("end-to-end", "bulk interception", "retention
//! notice") into their neighbourhood; counting them catches what it blurs. `parlscan fit` learns
//! these models beside the embedding heads (`fit::fit_lexical`) and a head mixes their speech-level
//! probabilities into its topic scores.
//!
//! Owns the terms of a text (for the topic models, and for a stance model, which keeps the stop
//! words that carry a stance), the vocabularies with their inverse document frequencies, the
//! TF-IDF vectors, and applying the per-topic models and the stance model. The same code makes
//! training rows and scores speeches, so the two cannot drift apart.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use sprs::{CsMat, TriMat};

use super::linear::{Logistic, Multinomial};
use super::ChunkScores;

/// A term must occur in at least this many training texts to enter the vocabulary.
pub const MIN_DOCUMENT_FREQUENCY: usize = 2;

static STOP_WORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../data/stopwords-en.txt").lines().filter(|l| !l.is_empty() && !l.starts_with('#')).collect()
});

/// A text's terms: its lower-cased words of two or more letters or digits, stop words dropped,
/// then each pair of neighbouring words as a phrase ("bulk interception").
pub fn terms(text: &str) -> Vec<String> {
    terms_keeping(text, &[])
}

/// A text's terms as [`terms`] makes them, except that the stop words in `keep` stay.
fn terms_keeping(text: &str, keep: &[&str]) -> Vec<String> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| w.chars().count() >= 2 && (!STOP_WORDS.contains(w) || keep.contains(w)))
        .collect();
    let mut out: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    out.extend(words.windows(2).map(|p| format!("{} {}", p[0], p[1])));
    out
}

/// Function words that carry a speaker's stance: negation, modality, concession and degree. The
/// stance model keeps them ([`stance_terms`]); the topic models drop them with the other stop
/// words.
pub const STANCE_WORDS: &[&str] = &[
    "not", "no", "never", "nor", "neither", "nothing", "none", "nobody", "noone", "cannot", "cant", "without", "against",
    "must", "should", "would", "could", "may", "might", "will", "can", "but", "however", "although", "though", "yet",
    "nevertheless", "only", "enough", "too", "more", "less", "least", "very", "rather", "whether", "even", "still",
];

/// A text's terms for a lexical stance model: as [`terms`], but the [`STANCE_WORDS`] stay, so
/// "should not", "must comply" and "but only" count.
pub fn stance_terms(text: &str) -> Vec<String> {
    terms_keeping(text, STANCE_WORDS)
}

/// Terms that occur in at least `MIN_DOCUMENT_FREQUENCY` of `docs` (each a text's `terms`), in
/// alphabetical order, with their smoothed inverse document frequency ln((1 + n) / (1 + df)) + 1.
pub fn vocabulary(docs: &[&[String]]) -> (Vec<String>, Vec<f64>) {
    let mut df: BTreeMap<&str, usize> = BTreeMap::new();
    for doc in docs {
        let unique: HashSet<&str> = doc.iter().map(String::as_str).collect();
        for t in unique {
            *df.entry(t).or_default() += 1;
        }
    }
    let n = docs.len() as f64;
    df.into_iter()
        .filter(|&(_, d)| d >= MIN_DOCUMENT_FREQUENCY)
        .map(|(t, d)| (t.to_string(), ((1.0 + n) / (1.0 + d as f64)).ln() + 1.0))
        .unzip()
}

/// Terms with their inverse document frequencies: what turns a text's terms into a TF-IDF vector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredVocabulary", into = "StoredVocabulary")]
pub struct Vocabulary {
    pub terms: Vec<String>,
    pub idf: Vec<f64>,
    index: HashMap<String, usize>,
}

/// `Vocabulary` as a head file holds it: without the term index, which loading rebuilds.
#[derive(Clone, Serialize, Deserialize)]
struct StoredVocabulary {
    terms: Vec<String>,
    idf: Vec<f64>,
}

impl From<StoredVocabulary> for Vocabulary {
    fn from(s: StoredVocabulary) -> Self {
        Vocabulary::new(s.terms, s.idf)
    }
}

impl From<Vocabulary> for StoredVocabulary {
    fn from(v: Vocabulary) -> Self {
        StoredVocabulary { terms: v.terms, idf: v.idf }
    }
}

impl Vocabulary {
    pub fn new(terms: Vec<String>, idf: Vec<f64>) -> Self {
        let index = terms.iter().enumerate().map(|(i, t)| (t.clone(), i)).collect();
        Vocabulary { terms, idf, index }
    }

    /// The vocabulary of `docs` (each a text's terms), as [`vocabulary`] makes it.
    pub fn of(docs: &[&[String]]) -> Self {
        let (terms, idf) = vocabulary(docs);
        Vocabulary::new(terms, idf)
    }

    pub fn len(&self) -> usize {
        self.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The TF-IDF vector of a text's terms, as (term index, value) sorted by index: sublinear
    /// term frequency (1 + ln count) × idf, scaled to unit length. Terms outside the vocabulary
    /// are ignored.
    pub fn vector(&self, terms: &[String]) -> Vec<(usize, f64)> {
        let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
        for t in terms {
            if let Some(&i) = self.index.get(t) {
                *counts.entry(i).or_default() += 1;
            }
        }
        let mut v: Vec<(usize, f64)> = counts.into_iter().map(|(i, c)| (i, (1.0 + (c as f64).ln()) * self.idf[i])).collect();
        let norm = v.iter().map(|(_, x)| x * x).sum::<f64>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|(_, x)| *x /= norm);
        }
        v
    }

    /// TF-IDF rows of several texts' terms, as a sparse matrix.
    pub fn matrix(&self, docs: &[&[String]]) -> CsMat<f64> {
        let mut tri = TriMat::new((docs.len(), self.terms.len()));
        for (r, doc) in docs.iter().enumerate() {
            for (c, v) in self.vector(doc) {
                tri.add_triplet(r, c, v);
            }
        }
        tri.to_csr()
    }
}

/// The lexical part of a head: vocabulary, inverse document frequencies, one model per topic (in
/// the head's topic order), how much of each topic score it makes, and a stance model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "Stored", into = "Stored")]
pub struct Lexical {
    /// Each topic score becomes (1 − weight) × its embedding score + weight × the lexical one.
    pub weight: f64,
    /// The topic models' vocabulary, of [`terms`].
    pub vocabulary: Vocabulary,
    /// Weights over `vocabulary`.
    pub topics: Vec<Logistic>,
    /// A stance model (`score::stance`); none in heads made before stance readings.
    pub stance: Option<Multinomial>,
    /// The stance model's own vocabulary, of [`stance_terms`]. Heads whose stance model reads the
    /// topic models' terms have none.
    pub stance_vocabulary: Option<Vocabulary>,
}

/// `Lexical` as a head file holds it: the topic vocabulary's terms and idf at the top level.
#[derive(Clone, Serialize, Deserialize)]
struct Stored {
    weight: f64,
    terms: Vec<String>,
    idf: Vec<f64>,
    topics: Vec<Logistic>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stance: Option<Multinomial>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stance_vocabulary: Option<Vocabulary>,
}

impl From<Stored> for Lexical {
    fn from(s: Stored) -> Self {
        Lexical {
            stance: s.stance,
            stance_vocabulary: s.stance_vocabulary,
            ..Lexical::new(s.weight, Vocabulary::new(s.terms, s.idf), s.topics)
        }
    }
}

impl From<Lexical> for Stored {
    fn from(l: Lexical) -> Self {
        Stored {
            weight: l.weight,
            terms: l.vocabulary.terms,
            idf: l.vocabulary.idf,
            topics: l.topics,
            stance: l.stance,
            stance_vocabulary: l.stance_vocabulary,
        }
    }
}

impl Lexical {
    pub fn new(weight: f64, vocabulary: Vocabulary, topics: Vec<Logistic>) -> Self {
        Lexical { weight, vocabulary, topics, stance: None, stance_vocabulary: None }
    }

    /// Each topic's probability for a text.
    pub fn probs(&self, text: &str) -> Vec<f64> {
        self.probs_of_terms(&terms(text))
    }

    /// Each topic's probability for a text's `terms`.
    pub fn probs_of_terms(&self, terms: &[String]) -> Vec<f64> {
        let v = self.vocabulary.vector(terms);
        self.topics
            .iter()
            .map(|m| super::sigmoid(m.bias + v.iter().map(|&(i, x)| m.weights[i] * x).sum::<f64>()))
            .collect()
    }

    /// The vocabulary the stance model reads: its own, or (in older heads) the topic models'.
    pub fn stance_vocabulary(&self) -> &Vocabulary {
        self.stance_vocabulary.as_ref().unwrap_or(&self.vocabulary)
    }

    /// The stance model's distribution for a text whose topic terms are `topic_terms`; `None`
    /// without a stance model.
    pub fn stance_of_text(&self, text: &str, topic_terms: &[String]) -> Option<Vec<f64>> {
        match self.stance_vocabulary {
            Some(_) => self.stance_of_terms(&stance_terms(text)),
            None => self.stance_of_terms(topic_terms),
        }
    }

    /// The stance model's distribution for a text's terms, made as its vocabulary's are
    /// ([`stance_terms`] with a stance vocabulary, else [`terms`]); `None` without a stance model.
    pub fn stance_of_terms(&self, terms: &[String]) -> Option<Vec<f64>> {
        let model = self.stance.as_ref()?;
        let v = self.stance_vocabulary().vector(terms);
        let z: Vec<f64> = model.weights.iter().zip(&model.bias).map(|(w, b)| b + v.iter().map(|&(i, x)| w[i] * x).sum::<f64>()).collect();
        Some(super::softmax(&z))
    }
}

/// Mixes a speech's lexical topic probabilities into one of its chunks' topic scores. The
/// lexical score is the same for every chunk, so a topic's strongest chunk stays the strongest.
pub fn mix(chunk: &mut ChunkScores, lexical: &[f64], weight: f64) {
    for (score, &p) in chunk.topics.iter_mut().zip(lexical) {
        *score = (1.0 - weight) * *score + weight * p;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn terms_are_words_without_stop_words_then_neighbouring_pairs() {
        assert_eq!(
            terms("The Bulk-Interception warrant, and its end-to-end encryption: a 2016 Act!"),
            strings(&[
                "bulk", "interception", "warrant", "end", "end", "encryption", "2016", "act",
                "bulk interception", "interception warrant", "warrant end", "end end", "end encryption",
                "encryption 2016", "2016 act",
            ])
        );
        assert!(terms("I am a it").is_empty(), "one-letter words and stop words go");
    }

    #[test]
    fn tf_idf_by_hand() {
        let docs = vec![strings(&["alpha", "beta"]), strings(&["alpha", "gamma"]), strings(&["beta", "beta", "delta"])];
        let (vocab, idf) = vocabulary(&docs.iter().map(Vec::as_slice).collect::<Vec<_>>());
        // gamma and delta occur once: below the minimum document frequency.
        assert_eq!(vocab, strings(&["alpha", "beta"]));
        let want = (4.0f64 / 3.0).ln() + 1.0;
        assert!((idf[0] - want).abs() < 1e-12 && (idf[1] - want).abs() < 1e-12);
        let lex = Vocabulary::new(vocab, idf);
        let v = lex.vector(&docs[2]);
        // Only beta, twice: a unit vector on it.
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].0, 1);
        assert!((v[0].1 - 1.0).abs() < 1e-12);
        // alpha once, beta twice: (1, 1 + ln 2) × the same idf, normalised.
        let v = lex.vector(&strings(&["beta", "alpha", "beta", "unknown"]));
        let (a, b) = (1.0, 1.0 + 2f64.ln());
        let n = (a * a + b * b).sqrt();
        assert!((v[0].1 - a / n).abs() < 1e-12 && (v[1].1 - b / n).abs() < 1e-12, "{v:?}");
        let m = lex.matrix(&[&docs[0], &docs[2]]);
        assert_eq!(m.shape(), (2, 2));
        assert_eq!(m.nnz(), 3);
    }

    #[test]
    fn a_head_file_round_trip_rebuilds_the_index() {
        let lex = Lexical::new(
            0.3,
            Vocabulary::new(strings(&["bulk", "bulk powers"]), vec![1.0, 2.0]),
            vec![Logistic { weights: vec![4.0, 2.0], bias: -1.0 }],
        );
        let back: Lexical = serde_json::from_str(&serde_json::to_string(&lex).unwrap()).unwrap();
        assert_eq!(back, lex);
        let p = back.probs("Bulk powers!");
        let v = [1.0 / 5f64.sqrt(), 2.0 / 5f64.sqrt()];
        assert!((p[0] - crate::score::sigmoid(4.0 * v[0] + 2.0 * v[1] - 1.0)).abs() < 1e-12, "{p:?}");
    }

    #[test]
    fn a_stance_model_reads_its_own_terms_which_keep_negation_and_modals() {
        let text = "It should not be weakened";
        assert_eq!(terms(text), strings(&["weakened"]));
        assert_eq!(stance_terms(text), strings(&["should", "not", "weakened", "should not", "not weakened"]));
        let mut lex = Lexical::new(0.0, Vocabulary::default(), Vec::new());
        lex.stance_vocabulary = Some(Vocabulary::new(strings(&["not", "weakened"]), vec![1.0, 1.0]));
        let mut weights = vec![vec![0.0, 0.0]; 4];
        weights[1] = vec![3.0, 0.0];
        lex.stance = Some(Multinomial { weights, bias: vec![0.0; 4] });
        let back: Lexical = serde_json::from_str(&serde_json::to_string(&lex).unwrap()).unwrap();
        assert_eq!(back, lex);
        let p = back.stance_of_text(text, &terms(text)).unwrap();
        // "not" and "weakened" once each: a unit vector (1/√2, 1/√2), so class 1 scores 3/√2.
        let e = (3.0 / 2f64.sqrt()).exp();
        assert!((p[1] - e / (e + 3.0)).abs() < 1e-12, "{p:?}");
        // Without a stance vocabulary the model reads the topic terms: "weakened" alone.
        let mut old = lex.clone();
        old.stance_vocabulary = None;
        old.vocabulary = Vocabulary::new(strings(&["weakened"]), vec![1.0]);
        old.stance = Some(Multinomial { weights: vec![vec![0.0]; 4], bias: vec![0.0; 4] });
        assert_eq!(old.stance_of_text(text, &terms(text)).unwrap(), vec![0.25; 4]);
    }

    #[test]
    fn mixing_keeps_the_strongest_chunk() {
        let mut a = ChunkScores { on_topic: 0.9, topics: vec![0.8, 0.2], stance: vec![0.25; 4] };
        let mut b = ChunkScores { topics: vec![0.4, 0.6], ..a.clone() };
        mix(&mut a, &[0.2, 1.0], 0.5);
        mix(&mut b, &[0.2, 1.0], 0.5);
        let close = |x: &[f64], y: [f64; 2]| x.iter().zip(y).all(|(a, b)| (a - b).abs() < 1e-12);
        assert!(close(&a.topics, [0.5, 0.6]) && close(&b.topics, [0.3, 0.8]), "{a:?} {b:?}");
        assert_eq!(a.on_topic, 0.9, "topics only");
    }
}
