//! Word-pieces: the Hugging Face tokenizer loaded from the model folder, with any padding and
//! truncation baked into `tokenizer.json` switched off (we pad per batch and never truncate).
//!
//! Owns turning a cleaned speech into model-sized chunks of token ids: sentences from
//! `segment.rs` are tokenized, over-long ones cut at word boundaries, and then packed.

use std::ops::Range;
use std::path::Path;

use tokenizers::{Encoding, Tokenizer};

use crate::error::Error;
use crate::segment;

/// A sentence, or a word-aligned part of an over-long one, with its word-pieces.
#[derive(Debug, Clone)]
pub struct Piece {
    /// Byte range in the cleaned text.
    pub span: Range<usize>,
    pub ids: Vec<u32>,
}

/// Consecutive pieces that fit one model window, with the model's special tokens added.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub pieces: Range<usize>,
    pub ids: Vec<u32>,
    /// Where each of its pieces sits in `ids` (after the leading special tokens).
    pub spans: Vec<Range<usize>>,
}

/// A cleaned speech cut into pieces and chunks.
#[derive(Debug, Clone, Default)]
pub struct Segmented {
    pub cleaned: String,
    pub pieces: Vec<Piece>,
    pub chunks: Vec<Chunk>,
    pub n_words: usize,
}

impl Segmented {
    pub fn piece_text(&self, piece: usize) -> &str {
        &self.cleaned[self.pieces[piece].span.clone()]
    }

    /// Word-pieces over all chunks, special tokens included.
    pub fn n_tokens(&self) -> usize {
        self.chunks.iter().map(|c| c.ids.len()).sum()
    }
}

pub struct WordPieces {
    tokenizer: Tokenizer,
    /// Special tokens wrapped around every sequence, e.g. `[CLS]` and `[SEP]`.
    prefix: Vec<u32>,
    suffix: Vec<u32>,
    /// Longest sequence the model takes, special tokens included.
    max_len: usize,
}

impl WordPieces {
    /// Loads `tokenizer.json` from a model folder; the window is `sentence_bert_config.json`'s
    /// `max_seq_length` when present, else `config.json`'s `max_position_embeddings` (at most 512).
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let path = dir.join("tokenizer.json");
        let model_err = |what: String| Error::Model { dir: dir.to_path_buf(), what };
        let mut tokenizer = Tokenizer::from_file(&path)
            .map_err(|e| model_err(format!("cannot load {}: {e}", path.display())))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| model_err(format!("cannot switch truncation off: {e}")))?;
        let max_len = window(dir)?;
        let probe = tokenizer
            .encode("a", false)
            .map_err(|e| model_err(format!("tokenizer fails on a probe: {e}")))?;
        let wrapped = tokenizer
            .post_process(probe.clone(), None, true)
            .map_err(|e| model_err(format!("tokenizer fails on a probe: {e}")))?;
        let (inner, full) = (probe.get_ids(), wrapped.get_ids());
        let at = full
            .windows(inner.len())
            .position(|w| w == inner)
            .ok_or_else(|| model_err("cannot tell the tokenizer's special tokens apart".into()))?;
        Ok(WordPieces {
            prefix: full[..at].to_vec(),
            suffix: full[at + inner.len()..].to_vec(),
            tokenizer,
            max_len,
        })
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Word-pieces a chunk may hold before special tokens.
    pub fn budget(&self) -> usize {
        self.max_len - self.prefix.len() - self.suffix.len()
    }

    /// The token ids of a single text that fits the window, special tokens added (no chunking).
    pub fn encode_one(&self, text: &str) -> Result<Vec<u32>, Error> {
        let enc = self.encode_raw(text)?;
        let ids = enc.get_ids();
        Ok(self.wrap(&ids[..ids.len().min(self.budget())]))
    }

    fn encode_raw(&self, text: &str) -> Result<Encoding, Error> {
        self.tokenizer
            .encode(text, false)
            .map_err(|e| Error::Tokenizer(format!("tokenizer failed: {e}")))
    }

    /// Adds the model's special tokens around word-pieces that fit the window.
    pub fn wrap(&self, ids: &[u32]) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.prefix.len() + ids.len() + self.suffix.len());
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(ids);
        out.extend_from_slice(&self.suffix);
        out
    }

    /// Cleans, splits, tokenizes and packs one speech. No word is dropped: a sentence longer than
    /// the window is cut at word boundaries into several pieces.
    pub fn segment(&self, text: &str) -> Result<Segmented, Error> {
        let cleaned = segment::clean(text);
        let budget = self.budget();
        let mut pieces = Vec::new();
        for sentence in segment::sentences(&cleaned) {
            let enc = self.encode_raw(&cleaned[sentence.clone()])?;
            if enc.get_ids().is_empty() {
                continue;
            }
            for window in word_windows(enc.get_word_ids(), budget) {
                let offsets = &enc.get_offsets()[window.clone()];
                let span = sentence.start + offsets[0].0..sentence.start + offsets[offsets.len() - 1].1;
                pieces.push(Piece { span, ids: enc.get_ids()[window].to_vec() });
            }
        }
        let lengths: Vec<usize> = pieces.iter().map(|p| p.ids.len()).collect();
        let chunks = segment::pack(&lengths, budget)
            .into_iter()
            .map(|range| {
                let ids: Vec<u32> = pieces[range.clone()].iter().flat_map(|p| p.ids.iter().copied()).collect();
                let mut at = self.prefix.len();
                let spans = pieces[range.clone()]
                    .iter()
                    .map(|p| {
                        at += p.ids.len();
                        at - p.ids.len()..at
                    })
                    .collect();
                Chunk { ids: self.wrap(&ids), pieces: range, spans }
            })
            .collect();
        let n_words = cleaned.split_whitespace().count();
        Ok(Segmented { cleaned, pieces, chunks, n_words })
    }
}

/// Cuts a token sequence into windows of at most `budget` tokens, preferring to cut where a new
/// word starts (a single word longer than the budget is cut anyway).
fn word_windows(word_ids: &[Option<u32>], budget: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while word_ids.len() - start > budget {
        let hard_end = start + budget;
        let mut cut = hard_end;
        while cut > start + 1 && word_ids[cut].is_some() && word_ids[cut] == word_ids[cut - 1] {
            cut -= 1;
        }
        if cut == start + 1 && word_ids[cut] == word_ids[cut - 1] {
            cut = hard_end;
        }
        out.push(start..cut);
        start = cut;
    }
    if start < word_ids.len() {
        out.push(start..word_ids.len());
    }
    out
}

/// The model's window in word-pieces, special tokens included.
fn window(dir: &Path) -> Result<usize, Error> {
    let read_json = |name: &str| -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(dir.join(name)).ok()?;
        serde_json::from_str(&text).ok()
    };
    let from_st = read_json("sentence_bert_config.json").and_then(|v| v["max_seq_length"].as_u64());
    let from_config = read_json("config.json").and_then(|v| v["max_position_embeddings"].as_u64());
    match from_st.or(from_config) {
        Some(n) if n >= 8 => Ok(n.min(512) as usize),
        _ => Err(Error::Model {
            dir: dir.to_path_buf(),
            what: "neither sentence_bert_config.json nor config.json gives the model's window".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_windows_cut_between_words() {
        let w = |v: &[u32]| v.iter().map(|&x| Some(x)).collect::<Vec<_>>();
        let cases: &[(Vec<Option<u32>>, usize, &[Range<usize>])] = &[
            (w(&[0, 1, 2, 3]), 4, &[0..4]),
            (w(&[0, 1, 2, 3]), 2, &[0..2, 2..4]),
            (w(&[0, 1, 1, 2]), 2, &[0..1, 1..3, 3..4]),
            (w(&[0, 0, 0, 0, 0]), 2, &[0..2, 2..4, 4..5]),
            (w(&[]), 3, &[]),
        ];
        for (ids, budget, want) in cases {
            assert_eq!(word_windows(ids, *budget), *want, "{ids:?} budget {budget}");
        }
    }
}
