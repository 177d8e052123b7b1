//! Every engine keeps the determinism promises: a chunk's embedding does not depend on its
//! batch-mates, and the output's bytes do not depend on the checkpoint interval, on a resume, on
//! sharding or on `--incremental` (at a given `--threads` and engine). `--engine auto` picks one
//! of these engines, so the promises hold for whatever it picks.
//!
//! Like every real-model test these fail, never skip, when the model or its ONNX files are missing.

use std::process::Stdio;
use std::time::{Duration, Instant};

use parlscan::batch::embed_all;
use parlscan::encoder::bert::Precision as TorchPrecision;
use parlscan::encoder::onnx::Precision;
use parlscan::encoder::{self, Engine};
use parlscan::tokenize::WordPieces;

use crate::util::{col, dev_csv, model_dir, project, read_csv, stderr, Workdir};

const ENGINES: [(&str, Engine); 4] = [
    ("--engine=torch", Engine::Torch { cuda: false, precision: TorchPrecision::Fp32 }),
    ("--engine=onnx", Engine::Onnx(Precision::Fp32)),
    ("--fast=int8", Engine::Onnx(Precision::Int8)),
    ("--fast=bf16", Engine::Torch { cuda: false, precision: TorchPrecision::Bf16 }),
];

/// Dev speeches' opening words of several lengths (some in the same length bucket), and a short
/// statement.
fn sequences(words: &WordPieces) -> Vec<Vec<u32>> {
    let (h, rows) = read_csv(&dev_csv());
    let mut texts: Vec<String> = rows
        .iter()
        .zip([200, 30, 120, 190, 60, 180, 45, 110])
        .map(|(r, n)| col(&h, r, "text").split_whitespace().take(n).collect::<Vec<_>>().join(" "))
        .collect();
    texts.push("Encryption keeps us safe.".into());
    texts.iter().map(|t| words.encode_one(t).unwrap()).collect()
}

fn bits(row: ndarray::ArrayView1<f32>) -> Vec<u32> {
    row.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn every_engine_embeds_a_chunk_alike_alone_and_amid_others() {
    let dir = model_dir();
    let words = WordPieces::load(&dir).unwrap();
    let seqs = sequences(&words);
    let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
    for (flag, engine) in ENGINES {
        let loaded = encoder::load(&dir, engine, 2, "test").unwrap_or_else(|e| panic!("{flag}: {e}"));
        let amid = embed_all(&*loaded.encoder, &refs).unwrap();
        // Reversed, so every chunk sits elsewhere in its pass, beside other batch-mates.
        let reversed: Vec<&[u32]> = refs.iter().rev().copied().collect();
        let amid_reversed = embed_all(&*loaded.encoder, &reversed).unwrap();
        for (i, s) in refs.iter().enumerate() {
            let alone = embed_all(&*loaded.encoder, &[s]).unwrap();
            assert!(bits(alone.row(0)) == bits(amid.row(i)), "{flag}: chunk {i} ({} word-pieces) alone differs from amid others", s.len());
            assert!(bits(alone.row(0)) == bits(amid_reversed.row(refs.len() - 1 - i)), "{flag}: chunk {i} differs in another order");
        }
    }
}

/// The sample speeches, and a copy of their first 20 as the "previous night's" input.
fn inputs(w: &Workdir) -> (String, String) {
    let full = project().join("data/sample_speeches.csv");
    let mut reader = csv::Reader::from_path(&full).unwrap();
    let mut writer = csv::Writer::from_path(w.path("first.csv")).unwrap();
    writer.write_record(reader.headers().unwrap()).unwrap();
    for record in reader.records().take(20) {
        writer.write_record(&record.unwrap()).unwrap();
    }
    writer.flush().unwrap();
    (full.display().to_string(), w.path("first.csv").display().to_string())
}

#[test]
fn every_engine_gives_the_same_bytes_whatever_the_checkpoint_interval_resume_shards_or_incremental() {
    for (flag, _) in ENGINES {
        let w = Workdir::new();
        let (full, first) = inputs(&w);
        let run = |extra: &[&str]| {
            let out = w.run(&[&["classify", full.as_str(), flag, "--threads", "2", "--quiet"][..], extra].concat());
            assert!(matches!(out.status.code(), Some(0)), "{flag} {extra:?}: {}", stderr(&out));
        };
        let same = |name: &str, what: &str| {
            let (a, b) = (std::fs::read(w.path("clean.csv")).unwrap(), std::fs::read(w.path(name)).unwrap());
            assert!(a == b, "{flag}: {what} changed the output");
        };
        run(&["-o", "clean.csv"]);
        run(&["-o", "small-blocks.csv", "--checkpoint-every", "3"]);
        same("small-blocks.csv", "a checkpoint every 3 rows");

        run(&["-o", "part0.csv", "--shard", "0/2"]);
        run(&["-o", "part1.csv", "--shard", "1/2"]);
        let merged = w.run(&["merge", "part1.csv", "part0.csv", "-o", "merged.csv", "--quiet"]);
        assert_eq!(merged.status.code(), Some(0), "{flag}: {}", stderr(&merged));
        same("merged.csv", "sharding in two");

        let previous = w.run(&["classify", first.as_str(), flag, "--threads", "2", "--quiet", "-o", "incremental.csv"]);
        assert_eq!(previous.status.code(), Some(0), "{flag}: {}", stderr(&previous));
        run(&["-o", "incremental.csv", "--incremental"]);
        same("incremental.csv", "--incremental over the first 20 speeches' labels");

        // Killed once its first checkpoint is durable, then run again: it resumes there.
        let args = ["classify", full.as_str(), flag, "--threads", "2", "--quiet", "-o", "resumed.csv", "--checkpoint-every", "4"];
        let mut child = w.command().args(args).stdin(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let checkpoint = w.path(".resumed.csv.checkpoint.json");
        let deadline = Instant::now() + Duration::from_secs(120);
        while !checkpoint.exists() && child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
        let interrupted = !w.path("resumed.csv").exists();
        run(&["-o", "resumed.csv", "--checkpoint-every", "4"]);
        same("resumed.csv", "a kill and a resume");
        if interrupted {
            let m: serde_json::Value = serde_json::from_slice(&std::fs::read(w.path("resumed.csv.manifest.json")).unwrap()).unwrap();
            eprintln!("{flag}: resumed {} rows after a kill", m["counts"]["resumed"]);
        }
    }
}
