//! The encoder against sentence-transformers' reference vectors, and batching invariance.

use std::path::Path;

use parlscan::encoder::bert::BertEncoder;
use parlscan::encoder::{Encoder, TokenBatch};
use parlscan::tokenize::WordPieces;

use crate::util::{model_dir, project};

struct Reference {
    texts: Vec<String>,
    token_counts: Vec<usize>,
    embeddings: Vec<Vec<f32>>,
}

fn reference() -> Reference {
    let text = std::fs::read_to_string(project().join("tests/fixtures/reference_embeddings.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let list = |k: &str| v[k].as_array().unwrap().clone();
    Reference {
        texts: list("texts").iter().map(|t| t.as_str().unwrap().to_string()).collect(),
        token_counts: list("token_counts").iter().map(|t| t.as_u64().unwrap() as usize).collect(),
        embeddings: list("embeddings")
            .iter()
            .map(|row| row.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect())
            .collect(),
    }
}

fn load(dir: &Path) -> (WordPieces, BertEncoder) {
    (WordPieces::load(dir).unwrap(), BertEncoder::load(dir, tch::Device::Cpu).unwrap())
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

#[test]
fn embeddings_match_sentence_transformers() {
    let (words, encoder) = load(&model_dir());
    let r = reference();
    for (i, text) in r.texts.iter().enumerate() {
        let ids = words.encode_one(text).unwrap();
        assert_eq!(ids.len(), r.token_counts[i], "token count of text {i}");
        let batch = TokenBatch { sequences: vec![&ids], padded_len: ids.len() };
        let emb = encoder.embed(&batch).unwrap();
        let c = cosine(emb.row(0).as_slice().unwrap(), &r.embeddings[i]);
        assert!(c >= 0.999, "text {i}: cosine {c} with sentence-transformers");
    }
}

#[test]
fn a_batched_embedding_equals_the_single_one() {
    let (words, encoder) = load(&model_dir());
    let r = reference();
    let ids: Vec<Vec<u32>> = r.texts.iter().map(|t| words.encode_one(t).unwrap()).collect();
    let single: Vec<Vec<f32>> = ids
        .iter()
        .map(|s| {
            let b = TokenBatch { sequences: vec![s], padded_len: s.len() };
            encoder.embed(&b).unwrap().row(0).to_vec()
        })
        .collect();
    // All texts in one batch padded to the longest: close to single within float noise.
    let all = TokenBatch { sequences: ids.iter().map(Vec::as_slice).collect(), padded_len: 256 };
    let batched = encoder.embed(&all).unwrap();
    for (i, s) in single.iter().enumerate() {
        let max_diff = batched.row(i).iter().zip(s).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(max_diff < 1e-5, "text {i}: batched differs from single by {max_diff}");
    }
    // The pipeline runs each chunk on its own and unpadded (batch.rs), so a chunk's embedding is
    // bit for bit the same whatever else is being labelled, in whatever order.
    let refs: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
    let reversed: Vec<&[u32]> = refs.iter().rev().copied().collect();
    let (forward, backward) = (parlscan::batch::embed_all(&encoder, &refs).unwrap(), parlscan::batch::embed_all(&encoder, &reversed).unwrap());
    for (i, s) in single.iter().enumerate() {
        assert_eq!(forward.row(i).to_vec(), *s, "text {i}");
        assert_eq!(backward.row(refs.len() - 1 - i).to_vec(), *s, "text {i}, reversed");
    }
}

#[test]
fn fused_attention_matches_rust_berts_own_forward() {
    use parlscan::encoder::bert::{Attention, Precision};
    let dir = model_dir();
    let words = WordPieces::load(&dir).unwrap();
    let fused = BertEncoder::load_with(&dir, tch::Device::Cpu, Attention::Fused, Precision::Fp32).unwrap();
    let eager = BertEncoder::load_with(&dir, tch::Device::Cpu, Attention::Eager, Precision::Fp32).unwrap();
    let r = reference();
    let ids: Vec<Vec<u32>> = r.texts.iter().map(|t| words.encode_one(t).unwrap()).collect();
    let batch = TokenBatch { sequences: ids.iter().map(Vec::as_slice).collect(), padded_len: 256 };
    let (a, b) = (fused.embed(&batch).unwrap(), eager.embed(&batch).unwrap());
    let max_diff = (&a - &b).iter().fold(0f32, |m, x| m.max(x.abs()));
    assert!(max_diff < 1e-5, "fused and eager attention differ by {max_diff}");
}
