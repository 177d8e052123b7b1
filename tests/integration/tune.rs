//! `parlscan tune` (issue 3, contrastive fine-tuning): it writes a model folder that `fit` and
//! `classify` take, its training pulls texts that share a topic together, and `--cross-validate`
//! tunes per fold.

use parlscan::encoder::bert::BertEncoder;
use parlscan::encoder::Encoder;
use parlscan::fit::{read_training, Example};
use parlscan::taxonomy::Taxonomy;
use parlscan::tokenize::WordPieces;
use parlscan::tune::{fine_tune, Objective, Settings};

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

/// Mean cosine of the pairs of rows `pair` calls alike (`Some(true)`), minus that of the pairs it
/// calls apart (`Some(false)`); pairs it skips (`None`) do not count.
fn separation(encoder: &dyn Encoder, words: &WordPieces, rows: &[Example], pair: impl Fn(&Example, &Example) -> Option<bool>) -> f32 {
    let seqs: Vec<Vec<u32>> = rows.iter().map(|e| words.segment(&e.text).unwrap().chunks[0].ids.clone()).collect();
    let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
    let emb = parlscan::batch::embed_all(encoder, &refs).unwrap();
    let (mut same, mut different) = (Vec::new(), Vec::new());
    for i in 0..rows.len() {
        for j in i + 1..rows.len() {
            let cosine = emb.row(i).dot(&emb.row(j));
            match pair(&rows[i], &rows[j]) {
                Some(true) => same.push(cosine),
                Some(false) => different.push(cosine),
                None => {}
            }
        }
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    mean(&same) - mean(&different)
}

/// Fine-tunes the base model on `TRAIN` (written into `w`) with `objective` (96 pairs, 2 epochs)
/// into `w/tuned`, checks that the loss fell, and returns the `separation` of `pair` under the base
/// model and under the tuned one.
fn separation_before_and_after_tuning(
    w: &Workdir,
    objective: Objective,
    pair: impl Fn(&Example, &Example) -> Option<bool> + Copy,
) -> (f32, f32) {
    let taxonomy = Taxonomy::load(&project().join("data/taxonomy.toml")).unwrap();
    let rows = read_training(&w.write("train.csv", TRAIN), "text", "source", &taxonomy).unwrap();
    let words = WordPieces::load(&model_dir()).unwrap();
    let settings = Settings { pairs: 96, epochs: 2, learning_rate: 1e-4, objective, ..Settings::default() };
    let trained = fine_tune(&model_dir(), &w.path("tuned"), &words, &rows.iter().collect::<Vec<_>>(), &settings).unwrap();
    assert!(trained.loss_last < trained.loss_first, "{trained:?}");
    let before = separation(&BertEncoder::load(&model_dir(), tch::Device::Cpu).unwrap(), &words, &rows, pair);
    let after = separation(&BertEncoder::load(&w.path("tuned"), tch::Device::Cpu).unwrap(), &words, &rows, pair);
    (before, after)
}

/// Rows that share a topic (or both have none) are alike; the rest apart.
fn share_a_topic(a: &Example, b: &Example) -> Option<bool> {
    let (a, b) = (a.topics.as_ref().unwrap(), b.topics.as_ref().unwrap());
    let (any_a, any_b) = (a.iter().any(|&x| x), b.iter().any(|&x| x));
    Some(a.iter().zip(b).any(|(x, y)| *x && *y) || (!any_a && !any_b))
}

/// Rows that share a stance are alike, a pro_powers row and an anti_powers one apart.
fn share_a_stance(a: &Example, b: &Example) -> Option<bool> {
    match (a.stance?, b.stance?) {
        (x, y) if x == y => Some(true),
        (0, 1) | (1, 0) => Some(false),
        _ => None,
    }
}

#[test]
fn fine_tuning_pulls_texts_that_share_a_topic_together() {
    let w = Workdir::new();
    let (before, after) = separation_before_and_after_tuning(&w, Objective::Topics, share_a_topic);
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
    assert!(report.lines().any(|l| l.starts_with("frozen ")), "{report}");
    assert!(report.contains("the settings of ") && report.contains("default.json (head: embedding+prototypes"), "names the head it fits: {report}");
    for objective in ["topics", "stance", "both"] {
        assert!(report.contains(&format!("{objective} fold 0:")) && report.contains(&format!("{objective} fold 1:")), "{report}");
        let row = report.lines().find(|l| l.starts_with(&format!("fine-tuned per fold, --objective {objective} "))).unwrap_or_else(|| panic!("{report}"));
        let figures: Vec<f64> = row.split_whitespace().rev().take(4).map(|x| x.parse().unwrap()).collect();
        assert!(figures.iter().all(|f| (0.0..=1.0).contains(f)), "{row}");
    }
}

#[test]
fn a_head_without_the_settings_cross_validation_fits_is_refused_naming_what_is_missing() {
    let w = Workdir::new();
    w.write("train.csv", TRAIN);
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/heads/default.json");
    let mut head: serde_json::Value = serde_json::from_slice(&std::fs::read(shipped).unwrap()).unwrap();
    head["settings"].as_object_mut().unwrap().remove("features");
    w.write("old.json", head.to_string());
    let out = w.run(&["tune", "--train", "train.csv", "--cross-validate", "--head", "old.json", "--folds", "2", "--pairs", "16"]);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(stderr(&out).contains("old.json") && stderr(&out).contains("`features`"), "{}", stderr(&out));
}

#[test]
fn the_stance_objective_pulls_texts_that_share_a_stance_together_and_says_so_in_tune_json() {
    let w = Workdir::new();
    let (before, after) = separation_before_and_after_tuning(&w, Objective::Stance, share_a_stance);
    assert!(after > before + 0.05, "stance separation before {before:.3}, after {after:.3}");

    let out = w.run(&["tune", "--train", "train.csv", "--objective", "stance", "--pairs", "16", "-o", "cli"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let made: serde_json::Value = serde_json::from_slice(&std::fs::read(w.path("cli/tune.json")).unwrap()).unwrap();
    assert_eq!(made["settings"]["objective"], "stance");
}
