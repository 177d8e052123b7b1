//! The ONNX Runtime encoder, bfloat16 and `classify --fast` (issue 6), and `--device cuda`:
//! embeddings against libtorch's fp32 ones, label agreement on dev.csv, the run's identity, the
//! errors.
//!
//! Like every real-model test these fail, never skip, when the ONNX files are missing.

use std::collections::BTreeSet;

use parlscan::encoder::bert::{native_bf16, Attention, BertEncoder, Precision as TorchPrecision};
use parlscan::encoder::onnx::{OrtEncoder, Precision};
use parlscan::encoder::{Encoder, TokenBatch};
use parlscan::tokenize::WordPieces;

use crate::util::{col, dev_csv, model_dir, read_csv, stderr, Workdir};

/// The model folder, checked for the ONNX exports `scripts/setup.sh` writes.
fn onnx_model_dir() -> std::path::PathBuf {
    let dir = model_dir();
    for p in [Precision::Fp32, Precision::Int8] {
        let f = dir.join(p.file());
        assert!(f.is_file(), "{} is missing: run `bash scripts/setup.sh` (tests never skip for this)", f.display());
    }
    dir
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// Token ids of the first `n` dev speeches' opening words (within the model window), and of a
/// few short statements.
fn sequences(words: &WordPieces, n: usize) -> Vec<Vec<u32>> {
    let (h, rows) = read_csv(&dev_csv());
    let mut texts: Vec<String> = rows
        .iter()
        .take(n)
        .map(|r| col(&h, r, "text").split_whitespace().take(150).collect::<Vec<_>>().join(" "))
        .collect();
    texts.extend(["Encryption keeps us safe.", "The Investigatory Powers Bill", "Order. Order."].map(String::from));
    texts.iter().map(|t| words.encode_one(t).unwrap()).collect()
}

#[test]
fn onnx_fp32_embeddings_match_libtorch() {
    let dir = onnx_model_dir();
    let words = WordPieces::load(&dir).unwrap();
    let torch = BertEncoder::load(&dir, tch::Device::Cpu).unwrap();
    let ort = OrtEncoder::load(&dir, Precision::Fp32, 2).unwrap();
    assert_eq!(ort.dim(), torch.dim());
    for (i, ids) in sequences(&words, 20).iter().enumerate() {
        // Spans as the pipeline pools sentences in context: a first part and the rest.
        let spans = [0..ids.len() / 2, ids.len() / 2..ids.len()];
        let batch = TokenBatch { sequences: vec![ids], padded_len: ids.len() };
        let (a, sa) = torch.embed_spans(&batch, &[&spans]).unwrap();
        let (b, sb) = ort.embed_spans(&batch, &[&spans]).unwrap();
        let c = cosine(a.row(0).as_slice().unwrap(), b.row(0).as_slice().unwrap());
        assert!(1.0 - c < 1e-4, "sequence {i} ({} word-pieces): cosine {c}", ids.len());
        let max_diff = (&a - &b).iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!(max_diff < 1e-4, "sequence {i}: max difference {max_diff}");
        for k in 0..2 {
            let c = cosine(sa[0].row(k).as_slice().unwrap(), sb[0].row(k).as_slice().unwrap());
            assert!(1.0 - c < 1e-4, "sequence {i}, span {k}: cosine {c}");
        }
    }
}

#[test]
fn onnx_padding_leaves_a_sequence_alone_and_int8_stays_close() {
    let dir = onnx_model_dir();
    let words = WordPieces::load(&dir).unwrap();
    let fp32 = OrtEncoder::load(&dir, Precision::Fp32, 1).unwrap();
    let int8 = OrtEncoder::load(&dir, Precision::Int8, 1).unwrap();
    let ids = sequences(&words, 5);
    let single: Vec<Vec<f32>> = ids
        .iter()
        .map(|s| fp32.embed(&TokenBatch { sequences: vec![s], padded_len: s.len() }).unwrap().row(0).to_vec())
        .collect();
    let all = TokenBatch { sequences: ids.iter().map(Vec::as_slice).collect(), padded_len: 256 };
    let batched = fp32.embed(&all).unwrap();
    let quantised = int8.embed(&all).unwrap();
    for (i, s) in single.iter().enumerate() {
        let max_diff = batched.row(i).iter().zip(s).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(max_diff < 1e-5, "sequence {i}: padded in a batch differs from alone by {max_diff}");
        // int8 is an approximation, but of the same model: a wrong export or mask would be far off.
        let c = cosine(quantised.row(i).as_slice().unwrap(), s);
        assert!(c > 0.97, "sequence {i}: int8 against fp32 cosine {c}");
    }
}

#[test]
fn bf16_stays_close_to_fp32_alone_and_padded_in_a_batch() {
    let dir = model_dir();
    let words = WordPieces::load(&dir).unwrap();
    let fp32 = BertEncoder::load(&dir, tch::Device::Cpu).unwrap();
    let bf16 = BertEncoder::load_with(&dir, tch::Device::Cpu, Attention::Eager, TorchPrecision::Bf16).unwrap();
    assert_eq!(bf16.attention(), Attention::Fused, "bfloat16 runs the fused path");
    assert!(bf16.describe().ends_with("fused bf16"), "{}", bf16.describe());
    assert!(bf16.batch_tokens() > 0 && fp32.batch_tokens() == 0, "only bfloat16 batches chunks");
    let ids = sequences(&words, 8);
    let all = TokenBatch { sequences: ids.iter().map(Vec::as_slice).collect(), padded_len: 256 };
    let batched = bf16.embed(&all).unwrap();
    for (i, s) in ids.iter().enumerate() {
        let one = TokenBatch { sequences: vec![s], padded_len: s.len() };
        let reference = fp32.embed(&one).unwrap();
        let alone = bf16.embed(&one).unwrap();
        for (what, row) in [("alone", alone.row(0)), ("padded in a batch", batched.row(i))] {
            let c = cosine(row.as_slice().unwrap(), reference.row(0).as_slice().unwrap());
            // Measured about 0.9999; int8 is about 0.99. A wrong mask or cast would be far off.
            assert!(c > 0.999, "sequence {i} {what}: bf16 against fp32 cosine {c}");
        }
    }
}

/// Labels of a classify output: per speech, its topic set and stance.
fn labels(path: &std::path::Path) -> (Vec<String>, Vec<(BTreeSet<String>, String)>) {
    let (h, rows) = read_csv(path);
    let topics = h.iter().filter_map(|c| c.strip_prefix("topic_")).map(String::from).collect();
    let rows = rows
        .iter()
        .map(|r| {
            assert_eq!(col(&h, r, "status"), "ok");
            let set = col(&h, r, "topics").split(';').filter(|t| !t.is_empty()).map(String::from).collect();
            (set, col(&h, r, "stance").to_string())
        })
        .collect();
    (topics, rows)
}

/// Labels the dev speeches and the sample speeches by default and with `--fast=KIND`, and holds
/// the fast labels to the figure: every label identical on at least 98% of speeches. The
/// near-tie margins were set on other texts (data/train_examples.csv and a synthetic corpus), so
/// this is agreement on speeches they were not tuned on. Returns how many speeches were rescored.
fn fast_labels_agree_with_the_default_on_speeches_the_margins_never_saw(kind: &str) -> u64 {
    let w = Workdir::new();
    let (dev, samples) = (dev_csv(), crate::util::project().join("data/sample_speeches.csv"));
    let inputs = [dev.to_str().unwrap(), samples.to_str().unwrap()];
    let full = w.run(&[&["classify"][..], &inputs, &["-o", "full.csv", "--quiet"]].concat());
    assert_eq!(full.status.code(), Some(0), "{}", stderr(&full));
    let flag = format!("--fast={kind}");
    let fast = w.run(&[&["classify"][..], &inputs, &["-o", "fast.csv", "--quiet", &flag]].concat());
    assert_eq!(fast.status.code(), Some(0), "{}", stderr(&fast));
    let (topics, a) = labels(&w.path("full.csv"));
    let (_, b) = labels(&w.path("fast.csv"));
    assert_eq!(a.len(), 105);
    assert_eq!(topics.len(), 11);
    let same_speeches = a.iter().zip(&b).filter(|(x, y)| x == y).count();
    let share = same_speeches as f64 / a.len() as f64;
    eprintln!("{flag}: every label identical on {same_speeches} of {} speeches", a.len());
    assert!(share >= 0.98, "{flag} keeps every label of {same_speeches} of {} speeches: under 98%", a.len());
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(w.path("fast.csv.manifest.json")).unwrap()).unwrap();
    let rescored = manifest["counts"]["rescored"].as_u64().expect("the manifest counts rescored near ties");
    assert!(rescored < 105, "not every speech is a near tie: {rescored}");
    rescored
}

#[test]
fn fast_int8_labels_agree_with_the_default_on_speeches_the_margins_never_saw() {
    onnx_model_dir();
    let rescored = fast_labels_agree_with_the_default_on_speeches_the_margins_never_saw("int8");
    assert!(rescored > 0, "int8's wider margins catch some dev speeches");
}

#[test]
fn fast_bf16_labels_agree_with_the_default_on_speeches_the_margins_never_saw() {
    fast_labels_agree_with_the_default_on_speeches_the_margins_never_saw("bf16");
}

#[test]
fn a_fast_run_names_its_engine_in_the_manifest_and_does_not_reuse_default_labels() {
    onnx_model_dir();
    let w = Workdir::new();
    w.write("in.csv", "id,text\na,The Home Secretary may issue a warrant for bulk interception.\nb,Order. Order.\n");
    let full = w.run(&["classify", "in.csv", "-o", "out.csv", "--quiet"]);
    assert_eq!(full.status.code(), Some(0), "{}", stderr(&full));
    let manifest = |w: &Workdir| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(w.path("out.csv.manifest.json")).unwrap()).unwrap()
    };
    let first = manifest(&w);
    // The default, --engine auto, runs the fastest exact engine here and says why.
    let exact = first["fingerprints"]["encoder"].as_str().unwrap().to_string();
    assert!(exact.starts_with("torch cpu eager") || exact.starts_with("onnx fp32 "), "{first}");
    assert!(first["engine"].as_str().unwrap().contains("(auto: "), "{first}");
    // The previous output is from another engine: its labels are not reused.
    let fast = w.run(&["classify", "in.csv", "-o", "out.csv", "--fast=int8", "--incremental"]);
    assert_eq!(fast.status.code(), Some(0), "{}", stderr(&fast));
    assert!(stderr(&fast).contains("scoring everything"), "{}", stderr(&fast));
    let second = manifest(&w);
    let encoder = second["fingerprints"]["encoder"].as_str().unwrap();
    assert!(encoder.starts_with("onnx int8 onnx/model-int8.onnx sha256 "), "{encoder}");
    assert_eq!(second["fingerprints"]["model_sha256"], first["fingerprints"]["model_sha256"], "same weights, so heads stay valid");
    assert_ne!(second["labels_key"], first["labels_key"]);
    assert_ne!(second["run_key"], first["run_key"]);
    assert_eq!(second["counts"]["reused"], 0);
    assert!(encoder.ends_with(&format!("rescored by {exact}")), "--fast rescores near ties by the exact default: {encoder}");
    // Without the rescoring the run is another engine again, and nothing is rescored.
    let raw = w.run(&["classify", "in.csv", "-o", "out.csv", "--fast=int8", "--no-rescore", "--incremental"]);
    assert_eq!(raw.status.code(), Some(0), "{}", stderr(&raw));
    let third = manifest(&w);
    let encoder = third["fingerprints"]["encoder"].as_str().unwrap();
    assert!(encoder.starts_with("onnx int8 ") && !encoder.contains("rescored"), "{encoder}");
    assert_ne!(third["labels_key"], second["labels_key"]);
    assert_eq!((third["counts"]["reused"].as_u64(), third["counts"]["rescored"].as_u64()), (Some(0), Some(0)));
    // bfloat16 is an engine of its own too, rescored by the default.
    let bf16 = w.run(&["classify", "in.csv", "-o", "out.csv", "--fast=bf16", "--incremental", "--quiet"]);
    assert_eq!(bf16.status.code(), Some(0), "{}", stderr(&bf16));
    let fourth = manifest(&w);
    let encoder = fourth["fingerprints"]["encoder"].as_str().unwrap();
    assert!(encoder.starts_with("torch cpu fused bf16; ") && encoder.ends_with(&format!("rescored by {exact}")), "{encoder}");
    assert_ne!(fourth["labels_key"], second["labels_key"]);
    assert_eq!(fourth["counts"]["reused"], 0);
    // Plain --fast picks the faster of bfloat16 (where the CPU multiplies it natively) and int8,
    // counting the near ties each rescores at the exact engine's cost; where neither is cheaper
    // than the exact engine at that count (timings on a loaded machine drift), the exact one runs
    // and the manifest says why.
    let auto = w.run(&["classify", "in.csv", "-o", "auto.csv", "--fast", "--quiet"]);
    assert_eq!(auto.status.code(), Some(0), "{}", stderr(&auto));
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(w.path("auto.csv.manifest.json")).unwrap()).unwrap();
    let engine = manifest["engine"].as_str().unwrap();
    let (bf16, int8) = (engine.starts_with("torch bf16 (auto: "), engine.starts_with("onnx int8 (auto: "));
    let exact = (engine.starts_with("onnx fp32 (auto: ") || engine.starts_with("torch fp32 (auto: "))
        && engine.contains("counting near ties rescored by the exact engine");
    assert!(int8 || (bf16 && native_bf16()) || exact, "{manifest}");
}

#[test]
fn device_cuda_runs_on_a_gpu_or_says_why_not() {
    let w = Workdir::new();
    w.write("in.csv", "id,text\na,Encryption keeps us safe.\n");
    let out = w.run(&["classify", "in.csv", "-o", "out.csv", "--device", "cuda", "--quiet"]);
    if tch::Cuda::is_available() {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    } else {
        assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
        assert!(stderr(&out).contains("--device cuda: libtorch sees no CUDA GPU"), "{}", stderr(&out));
        assert!(stderr(&out).contains("scripts/setup.sh --cuda"), "{}", stderr(&out));
    }
    let onnx = w.run(&["classify", "in.csv", "--engine", "onnx", "--device", "cuda"]);
    assert_eq!(onnx.status.code(), Some(64), "ONNX Runtime runs on the CPU only: {}", stderr(&onnx));
}

#[test]
fn a_missing_onnx_file_is_a_set_up_error() {
    let w = Workdir::new();
    // A model folder with everything but the ONNX exports.
    let model = w.path("model");
    std::fs::create_dir(&model).unwrap();
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::os::unix::fs::symlink(model_dir().join(f), model.join(f)).unwrap();
    }
    w.write("in.csv", "id,text\na,Encryption keeps us safe.\n");
    let out = w.run(&["classify", "in.csv", "--model", "model", "--fast=int8"]);
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    assert!(stderr(&out).contains("no onnx/model-int8.onnx") && stderr(&out).contains("scripts/setup.sh"), "{}", stderr(&out));
    // A forced --engine onnx likewise; --engine auto (the default) falls back to libtorch, with a
    // note, and so does plain --fast (to bf16 where the CPU has it, else to the exact engine).
    let forced = w.run(&["classify", "in.csv", "--model", "model", "--engine", "onnx"]);
    assert_eq!(forced.status.code(), Some(78), "{}", stderr(&forced));
    let auto = w.command().args(["classify", "in.csv", "--model", "model", "-o", "auto.csv"]).env("PARLSCAN_CACHE", w.path("cache")).output().unwrap();
    assert_eq!(auto.status.code(), Some(0), "{}", stderr(&auto));
    let err = stderr(&auto);
    assert!(err.contains("note: auto: onnx fp32 is not available") && err.contains("engine torch fp32 (auto: torch fp32, the only engine that loaded"), "{err}");
    let fast = w.command().args(["classify", "in.csv", "--model", "model", "-o", "fast.csv", "--fast"]).env("PARLSCAN_CACHE", w.path("cache")).output().unwrap();
    assert_eq!(fast.status.code(), Some(0), "{}", stderr(&fast));
    assert!(stderr(&fast).contains("note: auto: onnx int8 is not available"), "{}", stderr(&fast));
}

#[test]
fn a_cache_that_cannot_be_written_costs_only_time() {
    onnx_model_dir();
    let w = Workdir::new();
    w.write("in.csv", "id,text\na,The Home Secretary may issue a warrant for bulk interception.\n");
    // A cache folder under a plain file cannot be made, not even by root (as CI runs).
    w.write("not-a-folder", "");
    let cache = w.path("not-a-folder/cache");
    let run = |out: &str| w.command().args(["classify", "in.csv", "-o", out]).env("PARLSCAN_CACHE", &cache).output().unwrap();
    let (a, b) = (run("a.csv"), run("b.csv"));
    assert_eq!((a.status.code(), b.status.code()), (Some(0), Some(0)), "{}{}", stderr(&a), stderr(&b));
    for out in [&a, &b] {
        assert!(stderr(out).contains("(auto: ") && !stderr(out).contains("calibrated earlier, cached"), "calibrated each time: {}", stderr(out));
    }
    assert!(std::fs::read(w.path("a.csv")).unwrap() == std::fs::read(w.path("b.csv")).unwrap());
}

#[test]
fn runs_that_start_together_calibrate_once_and_pick_the_same_engine() {
    onnx_model_dir();
    let w = Workdir::new();
    w.write("in.csv", "id,text\na,The Home Secretary may issue a warrant for bulk interception.\n");
    let children: Vec<_> = (0..3)
        .map(|i| {
            w.command()
                .args(["classify", "in.csv", "-o", &format!("out{i}.csv")])
                .env("PARLSCAN_CACHE", w.path("cache"))
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let lines: Vec<String> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
            stderr(&out).lines().find(|l| l.starts_with("parlscan: engine ")).expect("an engine line").to_string()
        })
        .collect();
    let engine = |l: &str| l.split(" (").next().unwrap().to_string();
    assert!(lines.iter().all(|l| engine(l) == engine(&lines[0])), "{lines:#?}");
    assert_eq!(lines.iter().filter(|l| !l.contains("calibrated earlier, cached")).count(), 1, "one calibrated: {lines:#?}");
}
