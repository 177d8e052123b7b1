//! The labeller: everything needed to label speeches, loaded once (tokenizer, encoder, label
//! prototypes, the head and its settings), and labelling a block of speeches with it: segment,
//! encode, score chunks and sentences, mix in lexical scores, aggregate, pick the evidence.
//!
//! With `--fast` it also holds the full-precision labeller that rescores near ties ([`NearTie`]).
//! Running a whole corpus through it, block by block, is `pipeline`'s job.

use std::path::PathBuf;

use rayon::prelude::*;

use crate::aggregate::{self, Listing, SpeechScores};
use crate::config::{HeadChoice, RunConfig};
use crate::corpus::Speech;
use crate::encoder::bert::Precision as TorchPrecision;
use crate::encoder::onnx::Precision;
use crate::encoder::{self, auto, Encoder, Engine};
use crate::error::Error;
use crate::score::cache::EmbeddingCache;
use crate::score::head::{Head, HeadFile};
use crate::score::lexical::Lexical;
use crate::score::prototypes::Prototypes;
use crate::score::stance::{self, Sentence, StanceReading};
use crate::score::{ChunkScores, Scorer, SentenceEmbedding};
use crate::taxonomy::Taxonomy;
use crate::tokenize::{Segmented, WordPieces};

/// Everything needed to label speeches, loaded once.
pub struct Labeller {
    pub words: WordPieces,
    pub encoder: Box<dyn Encoder>,
    pub taxonomy: Taxonomy,
    /// How chunk embeddings become labels: the head's, or the label prototypes'.
    pub scoring: Scoring,
    /// The engine that runs the model, in words (`encoder::Loaded::description`).
    pub engine: String,
    /// Which engine ran and why it was picked (`auto` or a flag), for the summary and manifest.
    pub choice: String,
    /// For `--fast`: the full-precision labeller that rescores speeches whose fast labels are a
    /// near tie, and what counts as one.
    pub fallback: Option<(Box<Labeller>, NearTie)>,
}

/// How close to a decision boundary `--fast` rescores a speech at the exact engine. A label flips
/// only where it was close, and how close depends on how far the fast engine moves scores. The
/// margins are the 99.5th percentile of those moves over the derivation texts (the 835 of
/// data/train_examples.csv and the 400 of `dev/make_corpus.py 400`: `dev/derive-fast-margins.sh`),
/// rounded up; agreement is reported on other texts (dev.csv and the sample speeches:
/// `dev/fast-agreement.sh`, docs/performance.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NearTie {
    /// `on_topic` within this of its threshold.
    pub on_topic: f64,
    /// An on-topic speech's two most probable stances within this of each other; also the
    /// margin between the last topic a top-up takes (`Listing::min_topics`) and the next.
    pub stance: f64,
    /// A listed topic's score within this of its threshold (on-topic speeches, and the topics
    /// listed on off-topic ones).
    pub topic: f64,
    /// The share of the derivation texts `classify --fast=KIND` rescored with these margins
    /// (`dev/derive-fast-margins.sh`: int8 598 of 1,235, bf16 163): what `--fast` expects to rescore, which `encoder::auto` counts when
    /// it weighs an approximation against the exact engine.
    pub share: f64,
}

impl NearTie {
    /// The margins for a fast engine; `None` for an exact one, which needs no rescoring.
    pub fn for_engine(engine: Engine) -> Option<NearTie> {
        match engine {
            // Over the 1,235 derivation texts (`dev/derive-fast-margins.sh`), int8 moved on_topic by
            // up to 0.28, the top two stances' gap by up to 0.19 and topic scores by up to 0.12;
            // 99.5% of moves were within 0.117, 0.120 and 0.088.
            Engine::Onnx(Precision::Int8) => Some(NearTie { on_topic: 0.12, stance: 0.12, topic: 0.09, share: 0.48 }),
            // bfloat16: up to 0.017, 0.079 and 0.008; 99.5% within 0.009, 0.021 and 0.006. Its
            // stance gap moves more than its scores do because a stance reading pools a speech's
            // four most stance-bearing sentences, and a small move can swap one in or out.
            Engine::Torch { precision: TorchPrecision::Bf16, .. } => Some(NearTie { on_topic: 0.01, stance: 0.04, topic: 0.007, share: 0.13 }),
            _ => None,
        }
    }

    /// Whether a speech's fast scores are this close to a decision boundary.
    pub fn holds(&self, s: &SpeechScores, on_topic_threshold: f64, thresholds: &[f64], listing: &Listing) -> bool {
        if (s.on_topic - on_topic_threshold).abs() < self.on_topic {
            return true;
        }
        let near_threshold = |k: usize| (s.topics[k] - thresholds[k]).abs() < self.topic;
        if s.stance_class.is_none() {
            return (0..s.topics.len().min(thresholds.len())).any(|k| listing.off_topic.get(k).copied().unwrap_or(false) && near_threshold(k));
        }
        if (0..s.topics.len().min(thresholds.len())).any(near_threshold) {
            return true;
        }
        let descending = |xs: &[f64]| {
            let mut xs = xs.to_vec();
            xs.sort_by(|a, b| b.total_cmp(a));
            xs
        };
        let stance = descending(&s.stance);
        if stance.len() > 1 && stance[0] - stance[1] < self.stance {
            return true;
        }
        let n = listing.min_topics;
        let passing = s.topics.iter().zip(thresholds).filter(|(t, th)| t >= th).count();
        let topics = descending(&s.topics);
        passing < n && topics.len() > n && topics[n - 1] - topics[n] < self.stance
    }
}

/// How chunk embeddings become a speech's labels: a fitted head with its settings, or the
/// taxonomy's label prototypes with its thresholds.
pub struct Scoring {
    pub scorer: Box<dyn Scorer>,
    /// Per-topic thresholds and the on-topic threshold (the head's, or the taxonomy's).
    pub thresholds: Vec<f64>,
    pub on_topic_threshold: f64,
    /// Weight of each chunk's two best sentences in its topic scores (the head's; 0 without one).
    pub sentence_weight: f64,
    /// How sentences are embedded for that mixing and for the evidence column.
    pub sentence_embedding: SentenceEmbedding,
    /// The head's lexical topic models, mixed into every chunk's topic scores, and its lexical
    /// stance model.
    pub lexical: Option<Lexical>,
    /// How a speech's stance is read from its chunks, sentences and words (the head's; `None`:
    /// the chunk average).
    pub stance_reading: Option<StanceReading>,
    /// The head's listing rules: at least an on-topic speech's strongest topic or topics, and
    /// topics listed on off-topic speeches too (`aggregate::Listing`).
    pub listing: Listing,
    /// The head file in use, if any.
    pub head: Option<PathBuf>,
}

impl Scoring {
    /// A fitted head's scoring, on top of the label prototypes it was fitted with.
    fn head(path: PathBuf, file: HeadFile, prototypes: Prototypes) -> Self {
        Scoring {
            thresholds: file.topic_heads.iter().map(|t| t.threshold).collect(),
            on_topic_threshold: file.on_topic_threshold,
            sentence_weight: file.sentence_weight,
            sentence_embedding: file.sentence_embedding,
            lexical: file.lexical.clone(),
            stance_reading: file.stance_reading,
            listing: Listing::of_head(&file),
            head: Some(path),
            scorer: Box::new(Head { file, prototypes }),
        }
    }

    /// The label prototypes alone, with the taxonomy's thresholds.
    fn prototypes(taxonomy: &Taxonomy, prototypes: Prototypes) -> Self {
        Scoring {
            scorer: Box::new(prototypes),
            thresholds: taxonomy.topics.iter().map(|t| t.threshold()).collect(),
            on_topic_threshold: taxonomy.scoring.on_topic_threshold,
            sentence_weight: 0.0,
            sentence_embedding: SentenceEmbedding::Context,
            lexical: None,
            stance_reading: None,
            listing: Listing::default(),
            head: None,
        }
    }
}

/// A speech after segmentation: its pieces and chunks, or why it cannot be scored.
type Prepared = Result<Segmented, String>;

fn prepare(words: &WordPieces, speech: &Speech) -> Prepared {
    let text = speech.text.as_ref().map_err(|p| p.status())?;
    match words.segment(text) {
        Ok(seg) if seg.chunks.is_empty() => Err("empty".into()),
        Ok(seg) => Ok(seg),
        Err(e) => Err(format!("tokenizer_error: {e}")),
    }
}

/// One speech's result: scored, with its segmentation, scores and evidence sentence, or not
/// scored, with the status that says why.
pub enum Labelled {
    Scored { segmented: Segmented, scores: SpeechScores, evidence: String, stance_evidence: String },
    NotScored(String),
}

impl Labeller {
    /// Scores a block of speeches; one result per speech, in order. With a fallback (`--fast`),
    /// speeches near a decision boundary are scored again by it; returns how many were.
    pub fn label_block(&self, speeches: &[&Speech]) -> Result<(Vec<Labelled>, usize), Error> {
        let mut out = self.label_once(speeches)?;
        let Some((fallback, near_tie)) = &self.fallback else { return Ok((out, 0)) };
        let s = &self.scoring;
        let close: Vec<usize> = out
            .iter()
            .enumerate()
            .filter(|(_, l)| match l {
                Labelled::Scored { scores, .. } => near_tie.holds(scores, s.on_topic_threshold, &s.thresholds, &s.listing),
                Labelled::NotScored(_) => false,
            })
            .map(|(i, _)| i)
            .collect();
        if !close.is_empty() {
            let again: Vec<&Speech> = close.iter().map(|&i| speeches[i]).collect();
            for (i, labelled) in close.iter().zip(fallback.label_once(&again)?) {
                out[*i] = labelled;
            }
        }
        Ok((out, close.len()))
    }

    /// Scores a block of speeches with this labeller's own encoder.
    fn label_once(&self, speeches: &[&Speech]) -> Result<Vec<Labelled>, Error> {
        let words = &self.words;
        let prepared: Vec<Prepared> = speeches.par_iter().map(|s| prepare(words, s)).collect();
        let mut owners = Vec::new();
        let mut sequences: Vec<&[u32]> = Vec::new();
        let mut spans: Vec<Vec<std::ops::Range<usize>>> = Vec::new();
        for (i, p) in prepared.iter().enumerate() {
            if let Ok(seg) = p {
                for c in &seg.chunks {
                    owners.push(i);
                    sequences.push(&c.ids);
                    // Sentences of multi-sentence chunks, for sentence-level scores and the evidence.
                    spans.push(if c.spans.len() > 1 { c.spans.clone() } else { Vec::new() });
                }
            }
        }
        let s = &self.scoring;
        let (embeddings, span_embeddings) = s.sentence_embedding.embed(&*self.encoder, &sequences, &spans)?;
        // Per speech: its lexical topic probabilities and lexical stance distribution.
        type SpeechLexical = Option<(Vec<f64>, Option<Vec<f64>>)>;
        let lexical_probs: Vec<SpeechLexical> = match &s.lexical {
            Some(lex) => speeches
                .par_iter()
                .zip(&prepared)
                .map(|(s, p)| match (p, &s.text) {
                    (Ok(_), Ok(text)) => {
                        let terms = crate::score::lexical::terms(text);
                        Some((lex.probs_of_terms(&terms), lex.stance_of_text(text, &terms)))
                    }
                    _ => None,
                })
                .collect(),
            None => Vec::new(),
        };
        // Per speech: which of its sentences are reported speech (`voice`).
        let reported: Vec<Vec<bool>> = prepared
            .iter()
            .map(|p| p.as_ref().map_or_else(|_| Vec::new(), crate::voice::reported_pieces))
            .collect();
        // Each multi-sentence chunk's sentences, scored once: for the topic mixing and both
        // evidence sentences.
        let sentence_scores: Vec<Vec<ChunkScores>> =
            span_embeddings.iter().map(|e| if e.nrows() > 1 { s.scorer.score(e.view()) } else { Vec::new() }).collect();
        let chunk_scores: Vec<ChunkScores> = s
            .scorer
            .score(embeddings.view())
            .into_iter()
            .zip(&sentence_scores)
            .zip(&owners)
            .map(|((chunk, sentences), &owner)| {
                let lexical = s.lexical.as_ref().map(|lex| {
                    (lexical_probs[owner].as_ref().expect("a chunk's speech has text").0.as_slice(), lex.weight)
                });
                crate::score::finish_chunk(chunk, sentences, s.sentence_weight, lexical)
            })
            .collect();

        let sentences = stance_sentences(&*s.scorer, &embeddings, &span_embeddings, &sentence_scores, &chunk_scores);

        let (thresholds, on_threshold) = (&s.thresholds, s.on_topic_threshold);
        let mut per_speech: Vec<Option<SpeechScores>> = vec![None; speeches.len()];
        let mut start = 0;
        while start < owners.len() {
            let owner = owners[start];
            let end = start + owners[start..].iter().take_while(|&&o| o == owner).count();
            let chunks = &chunk_scores[start..end];
            per_speech[owner] = Some(match &s.stance_reading {
                None => aggregate::speech(chunks, thresholds, on_threshold, &s.listing),
                Some(reading) => {
                    let lexical = lexical_probs.get(owner).and_then(|p| p.as_ref()).and_then(|p| p.1.as_deref());
                    let sentences = speech_sentences(&sentences[start..end], &reported[owner]);
                    aggregate::speech(&stance::apply(chunks, &sentences, lexical, reading), thresholds, on_threshold, &s.listing)
                }
            });
            start = end;
        }
        let first_chunk: Vec<usize> = {
            let mut firsts = vec![usize::MAX; speeches.len()];
            for (k, &o) in owners.iter().enumerate().rev() {
                firsts[o] = k;
            }
            firsts
        };
        let reading = SentenceReading {
            lexical: s.lexical.as_ref(),
            reading: s.stance_reading,
            thresholds: &s.thresholds,
        };
        let evidence = evidence(&prepared, &per_speech, &first_chunk, &sentences, &reported, &reading);
        Ok(prepared
            .into_iter()
            .zip(per_speech)
            .zip(evidence)
            .map(|((p, scores), (evidence, stance_evidence))| match p {
                Ok(segmented) => {
                    let scores = scores.expect("every segmented speech has chunks, so scores");
                    Labelled::Scored { segmented, scores, evidence, stance_evidence }
                }
                Err(status) => Labelled::NotScored(status),
            })
            .collect())
    }
}

/// How the stance evidence reads one sentence, as the head reads a speech: its topic scores with
/// the head's lexical topic models mixed in (`lexical::mix`), and its stance under the head's
/// stance reading (`stance::read`, the sentence standing for the whole speech).
struct SentenceReading<'a> {
    lexical: Option<&'a Lexical>,
    reading: Option<StanceReading>,
    thresholds: &'a [f64],
}

impl SentenceReading<'_> {
    /// The sentence's scores as the head finishes a speech's: topics with the lexical topic
    /// models mixed in, stance as the reading reads it.
    fn read(&self, x: &ChunkScores, text: &str) -> ChunkScores {
        let mut out = x.clone();
        let Some(lex) = self.lexical else { return out };
        let terms = crate::score::lexical::terms(text);
        if !lex.topics.is_empty() {
            crate::score::lexical::mix(&mut out, &lex.probs_of_terms(&terms), lex.weight);
        }
        let words = self.reading.filter(|r| r.lexical_weight > 0.0).and_then(|_| lex.stance_of_text(text, &terms));
        out.stance = stance::read(std::slice::from_ref(x), &[], words.as_deref(), self.reading.as_ref());
        out
    }

    /// Whether some topic's score reaches its threshold.
    fn on_topic(&self, read: &ChunkScores) -> bool {
        read.topics.iter().zip(self.thresholds).any(|(score, threshold)| score >= threshold)
    }
}

/// Each speech's two evidence sentences, empty where there is none:
/// - for its top topic: among the sentences of the chunk where that topic is strongest, the
///   one whose embedding (in context, or alone as the head says) scores highest for it;
/// - for its stance (on-topic speeches): among its on-topic sentences (some topic's score, the
///   lexical models mixed in as the head mixes them, at its threshold; all its sentences if none
///   is), the largest P(on topic) × P(stance) × voice weight (`voice::weight`: quotations and
///   reported views count a quarter), so the speaker's own voice wins where it says as much,
///   and a speech whose on-topic sentences are all reported gets the best of them. P(stance)
///   is the head's sentence stance model's where it has one (`stance_sentences`), with the
///   lexical stance model mixed in as the head's stance reading does.
fn evidence(
    prepared: &[Prepared],
    scores: &[Option<SpeechScores>],
    first_chunk: &[usize],
    sentences: &[Vec<ChunkScores>],
    reported: &[Vec<bool>],
    reading: &SentenceReading<'_>,
) -> Vec<(String, String)> {
    prepared
        .iter()
        .zip(scores)
        .enumerate()
        .map(|(i, (p, s))| {
            let (Ok(seg), Some(s)) = (p, s) else { return Default::default() };
            // Per chunk, its sentences' scores (the chunk's own for a one-sentence chunk).
            let sentences = |c: usize| &sentences[first_chunk[i] + c][..];
            let topic = match (s.best_chunk, s.top_topic()) {
                (Some(c), Some(top)) => {
                    let values: Vec<f64> = sentences(c).iter().map(|x| x.topics[top]).collect();
                    seg.piece_text(seg.chunks[c].pieces.start + aggregate::argmax(&values)).to_string()
                }
                _ => String::new(),
            };
            let Some(k) = s.stance_class else { return (topic, String::new()) };
            let n_pieces = seg.chunks.last().map_or(0, |c| c.pieces.end);
            let texts: Vec<&str> = (0..n_pieces).map(|j| seg.piece_text(j)).collect();
            let voice: Vec<f64> = reported[i].iter().map(|&r| crate::voice::weight(r)).collect();
            let candidates: Vec<(usize, ChunkScores, bool)> = seg
                .chunks
                .iter()
                .enumerate()
                .flat_map(|(c, chunk)| chunk.pieces.clone().zip(sentences(c)))
                .map(|(j, x)| {
                    let read = reading.read(x, texts[j]);
                    let on_topic = reading.on_topic(&read);
                    (j, read, on_topic)
                })
                .collect();
            let any_on_topic = candidates.iter().any(|&(_, _, on)| on);
            let mut best = (f64::NEG_INFINITY, 0usize);
            for &(j, ref x, on_topic) in &candidates {
                if any_on_topic && !on_topic {
                    continue;
                }
                let value = x.on_topic * x.stance[k] * voice[j];
                if value > best.0 {
                    best = (value, j);
                }
            }
            (topic, texts.get(best.1).map_or(String::new(), |t| t.to_string()))
        })
        .collect()
}

/// Per chunk, the scores of its sentences as the stance reading and the evidence read them: each
/// multi-sentence chunk's sentences, and a one-sentence chunk's own (finished) scores; their
/// stance is the head's sentence stance model's where it has one (`head::SentenceStance`), as
/// `fit::cv::score_sentences` scores them.
fn stance_sentences(
    scorer: &dyn crate::score::Scorer,
    embeddings: &ndarray::Array2<f32>,
    span_embeddings: &[ndarray::Array2<f32>],
    sentence_scores: &[Vec<ChunkScores>],
    chunk_scores: &[ChunkScores],
) -> Vec<Vec<ChunkScores>> {
    let one = |c: usize| embeddings.slice(ndarray::s![c..c + 1, ..]);
    sentence_scores
        .iter()
        .zip(chunk_scores)
        .enumerate()
        .map(|(c, (sentences, chunk))| {
            let (mut out, rows) = if sentences.is_empty() {
                (vec![chunk.clone()], one(c))
            } else {
                (sentences.clone(), span_embeddings[c].view())
            };
            if let Some(stances) = scorer.sentence_stance(rows) {
                for (x, stance) in out.iter_mut().zip(stances) {
                    x.stance = stance;
                }
            }
            out
        })
        .collect()
}

/// A speech's sentences in order, for its stance reading (`stance_sentences` of its chunks), with
/// whether each is reported speech.
fn speech_sentences<'a>(sentences: &'a [Vec<ChunkScores>], reported: &[bool]) -> Vec<Sentence<'a>> {
    sentences
        .iter()
        .flatten()
        .zip(reported)
        .map(|(scores, &reported)| Sentence { scores, reported })
        .collect()
}

impl Labeller {
    /// Loads the tokenizer, the model, the label prototypes and the head a configuration names.
    /// `encoder_sha256` is the model weights' SHA-256, which a head must have been fitted on.
    /// With `--fast` (bf16 or int8), also loads the default full-precision engine to rescore near
    /// ties (unless `--no-rescore`).
    pub fn load(config: &RunConfig, encoder_sha256: &str) -> Result<Self, Error> {
        let near_ties = |e: Engine| NearTie::for_engine(e).map(|n| n.share);
        let choose = |request| auto::choose(&config.model_dir, request, config.threads, encoder_sha256, config.quiet, &near_ties);
        let (chosen, exact) = choose(config.engine)?;
        let mut labeller = Self::load_engine(config, chosen.loaded, encoder_sha256)?;
        labeller.choice = format!("{} ({})", auto::name(chosen.engine), chosen.why);
        if let Some(near_tie) = NearTie::for_engine(chosen.engine).filter(|_| config.rescore_near_ties) {
            let exact = match exact {
                Some(e) => e,
                None => choose(auto::Request::Exact)?.0,
            };
            let exact_choice = format!("{} ({})", auto::name(exact.engine), exact.why);
            let full = Self::load_engine(config, exact.loaded, encoder_sha256)?;
            labeller.engine = format!(
                "{}; near ties (on-topic within {} of the threshold, stances within {}, topics within {}) rescored by {}",
                labeller.engine, near_tie.on_topic, near_tie.stance, near_tie.topic, full.engine
            );
            labeller.choice = format!("{}; near ties rescored by {exact_choice}", labeller.choice);
            labeller.fallback = Some((Box::new(full), near_tie));
        }
        Ok(labeller)
    }

    fn load_engine(config: &RunConfig, loaded: encoder::Loaded, encoder_sha256: &str) -> Result<Self, Error> {
        let words = WordPieces::load(&config.model_dir)?;
        let cache = EmbeddingCache::from_env(loaded.cache_key);
        let prototypes = Prototypes::build(&config.taxonomy, &words, &*loaded.encoder, cache.as_ref())?;
        let head = match &config.head {
            HeadChoice::None => None,
            HeadChoice::Named(path) => Some((path.clone(), load_head(path, encoder_sha256, config)?)),
            HeadChoice::Default(path) if !path.is_file() => None,
            HeadChoice::Default(path) | HeadChoice::Installed(path) => match load_head(path, encoder_sha256, config) {
                Ok(file) => Some((path.clone(), file)),
                Err(e) => {
                    if let HeadChoice::Installed(_) = config.head {
                        crate::integrity::check_default_head(path, &config.model_dir, encoder_sha256)?;
                    }
                    eprintln!("parlscan: note: not using the default head: {e}");
                    None
                }
            },
        };
        let scoring = match head {
            Some((path, file)) => Scoring::head(path, file, prototypes),
            None => Scoring::prototypes(&config.taxonomy, prototypes),
        };
        Ok(Labeller { words, encoder: loaded.encoder, taxonomy: config.taxonomy.clone(), scoring, engine: loaded.description, choice: String::new(), fallback: None })
    }
}

/// Loads a head file and checks it against the model weights and taxonomy in use.
fn load_head(path: &std::path::Path, encoder_sha256: &str, config: &RunConfig) -> Result<HeadFile, Error> {
    let file = HeadFile::load(path)?;
    file.check(path, encoder_sha256, &config.taxonomy)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(on_topic: f64, topics: &[f64], stance: &[f64]) -> SpeechScores {
        let class = (on_topic >= 0.5).then(|| aggregate::argmax(stance));
        SpeechScores { on_topic, topics: topics.to_vec(), listed: Vec::new(), stance: stance.to_vec(), stance_class: class, best_chunk: None }
    }

    #[test]
    fn near_ties_are_on_topic_stance_and_the_last_topic_a_top_up_takes() {
        let tie = NearTie { on_topic: 0.05, stance: 0.1, topic: 0.0, share: 0.0 };
        let two = Listing { min_topics: 2, off_topic: Vec::new() };
        let clear = [0.6, 0.2, 0.1];
        let half = [0.5; 3];
        let holds = |s: &SpeechScores, listing: &Listing| tie.holds(s, 0.5, &half, listing);
        assert!(holds(&scores(0.52, &[0.9, 0.1, 0.0], &clear), &two), "on_topic near its threshold");
        assert!(holds(&scores(0.9, &[0.9, 0.1, 0.0], &[0.45, 0.4, 0.15]), &two), "two stances close");
        assert!(!holds(&scores(0.9, &[0.9, 0.3, 0.0], &clear), &two), "second topic clear of the third");
        let close = scores(0.9, &[0.9, 0.3, 0.25], &clear);
        assert!(holds(&close, &two), "second and third topics close: which one the top-up takes");
        assert!(!holds(&close, &Listing::default()), "no top-up, no tie");
        assert!(!holds(&scores(0.9, &[0.9, 0.6, 0.55], &clear), &two), "both pass: no top-up");
        assert!(!holds(&scores(0.2, &[0.9, 0.3, 0.25], &clear), &two), "off topic: no top-up");
        let topics = NearTie { topic: 0.05, ..tie };
        assert!(topics.holds(&scores(0.9, &[0.9, 0.53, 0.0], &clear), 0.5, &half, &Listing::default()), "a topic near its threshold");
        assert!(!topics.holds(&scores(0.9, &[0.9, 0.6, 0.0], &clear), 0.5, &half, &Listing::default()), "topics clear");
        let listed = Listing { min_topics: 0, off_topic: vec![false, true, false] };
        assert!(topics.holds(&scores(0.2, &[0.9, 0.48, 0.0], &clear), 0.5, &half, &listed), "a topic listed off topic, near");
        assert!(!topics.holds(&scores(0.2, &[0.52, 0.1, 0.0], &clear), 0.5, &half, &listed), "unlisted off topic: no tie");
    }
}
