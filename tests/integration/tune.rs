//! `parlscan tune` (issue 3, contrastive fine-tuning): it writes a model folder that `fit` and
//! `classify` take, its training pulls texts that share a topic together, and `--cross-validate`
//! tunes per fold.

use parlscan::encoder::bert::BertEncoder;
use parlscan::encoder::Encoder;
use parlscan::fit::{read_training, Example};
use parlscan::taxonomy::Taxonomy;
use parlscan::tokenize::WordPieces;
use parlscan::tune::{fine_tune, Settings};

use crate::fit::TRAIN;
use crate::util::{model_dir, project, stderr, Workdir};

fn sha256(path: &std::path::Path) -> String {
    parlscan::fingerprint::sha256_file(path).unwrap()
}

#[test]
fn tune_writes_a_model_folder_that_fit_and_classify_use() {
    let w = Workdir::new();
    w.write("train.csv", TRAIN);
    let out = w.run(&["tune", "--train", "train.csv", "--pairs", "32", "--epochs", "2", "-o", "tuned"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let tuned = w.path("tuned");
    for file in ["config.json", "tokenizer.json", "model.safetensors", "tune.json"] {
        assert!(tuned.join(file).is_file(), "{file} missing");
    }
    assert!(!tuned.join("onnx").exists(), "the base model's ONNX exports would be stale");
    let base_sha = sha256(&model_dir().join("model.safetensors"));
    assert_ne!(sha256(&tuned.join("model.safetensors")), base_sha, "the weights changed");
    let made: serde_json::Value = serde_json::from_slice(&std::fs::read(tuned.join("tune.json")).unwrap()).unwrap();
    assert_eq!(made["base_weights_sha256"], base_sha.as_str());
    assert_eq!(made["trained"]["steps"], 4, "32 pairs, 16 per step, 2 epochs");
    assert_eq!(made["training_files"][0]["rows"], 12);

    // A head fitted on the tuned model names its weights, and classify takes both.
    let out = w.run(&["fit", "--model", "tuned", "--train", "train.csv", "-o", "head.json", "--folds", "2", "--taxonomy-examples", "no"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let head: serde_json::Value = serde_json::from_slice(&std::fs::read(w.path("head.json")).unwrap()).unwrap();
    assert_eq!(head["provenance"]["encoder_sha256"], sha256(&tuned.join("model.safetensors")).as_str());
    w.write("speeches.csv", "id,text\na,Encryption backdoors would make every phone less safe.\n");
    let out = w.run(&["classify", "speeches.csv", "--model", "tuned", "--head", "head.json", "-o", "out.csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The default head was fitted on the base weights: refused for the tuned model.
    let out = w.run(&["classify", "speeches.csv", "--model", "tuned", "--head", &project().join("models/heads/default.json").display().to_string()]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("encoder"), "{}", stderr(&out));
}

#[test]
fn tune_refuses_to_overwrite_its_base_model_or_to_do_nothing() {
    let w = Workdir::new();
    w.write("train.csv", TRAIN);
    let base = model_dir().display().to_string();
    let out = w.run(&["tune", "--train", "train.csv", "-o", &base]);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(stderr(&out).contains("base model folder"), "{}", stderr(&out));
    let out = w.run(&["tune", "--train", "train.csv"]);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
}

/// Mean cosine of pairs of rows that share a topic, minus that of rows that share none.
fn separation(encoder: &dyn Encoder, words: &WordPieces, rows: &[Example]) -> f32 {
    let seqs: Vec<Vec<u32>> = rows.iter().map(|e| words.segment(&e.text).unwrap().chunks[0].ids.clone()).collect();
    let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
    let emb = parlscan::batch::embed_all(encoder, &refs).unwrap();
    let (mut same, mut different) = (Vec::new(), Vec::new());
    for i in 0..rows.len() {
        for j in i + 1..rows.len() {
            let (a, b) = (rows[i].topics.as_ref().unwrap(), rows[j].topics.as_ref().unwrap());
            let (any_a, any_b) = (a.iter().any(|&x| x), b.iter().any(|&x| x));
            let shares = a.iter().zip(b).any(|(x, y)| *x && *y) || (!any_a && !any_b);
            let cosine = emb.row(i).dot(&emb.row(j));
            if shares { same.push(cosine) } else { different.push(cosine) }
        }
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    mean(&same) - mean(&different)
}

#[test]
fn fine_tuning_pulls_texts_that_share_a_topic_together() {
    let w = Workdir::new();
    let taxonomy = Taxonomy::load(&project().join("data/taxonomy.toml")).unwrap();
    let rows = read_training(&w.write("train.csv", TRAIN), "text", "source", &taxonomy).unwrap();
    let words = WordPieces::load(&model_dir()).unwrap();
    let settings = Settings { pairs: 96, epochs: 2, learning_rate: 1e-4, ..Settings::default() };
    let trained = fine_tune(&model_dir(), &w.path("tuned"), &words, &rows.iter().collect::<Vec<_>>(), &settings).unwrap();
    assert!(trained.loss_last < trained.loss_first, "{trained:?}");
    let before = separation(&BertEncoder::load(&model_dir(), tch::Device::Cpu).unwrap(), &words, &rows);
    let after = separation(&BertEncoder::load(&w.path("tuned"), tch::Device::Cpu).unwrap(), &words, &rows);
    assert!(after > before + 0.05, "separation before {before:.3}, after {after:.3}");
}

#[test]
fn cross_validation_tunes_per_fold_and_prints_both_encoders() {
    let w = Workdir::new();
    w.write("train.csv", TRAIN);
    let out = w.run(&["tune", "--train", "train.csv", "--cross-validate", "--folds", "2", "--pairs", "16"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("fold 0:") && report.contains("fold 1:"), "{report}");
    assert!(report.lines().any(|l| l.starts_with("frozen ")) && report.contains("fine-tuned on each fold's rows"), "{report}");
}
