//! The model run by ONNX Runtime instead of libtorch: `MODEL/onnx/model.onnx` (fp32) or
//! `model-int8.onnx` (int8 dynamic quantisation, `classify --fast`), both written by
//! `scripts/setup.sh` from the same `model.safetensors`.
//!
//! Same contract as [`super::bert::BertEncoder`]: mean over real tokens, L2 norm, spans pooled
//! with [`super::pool_span`]. The ONNX Runtime library is the one the PyPI `onnxruntime` wheel in
//! `.venv` ships, loaded when the first encoder is made (`ORT_DYLIB_PATH` names another one).
//! Owns finding that library and running a session; does not own tokenization or batching.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ndarray::Array2;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;

use super::{pool_span, pool_spans, Encoder, TokenBatch};
use crate::error::Error;

/// Which of the two exported files runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// `onnx/model.onnx`: the weights as they are.
    Fp32,
    /// `onnx/model-int8.onnx`: weights quantised to int8 per output channel, activations to uint8
    /// per matrix product at run time (`classify --fast`).
    Int8,
}

impl Precision {
    /// The file under the model folder.
    pub fn file(self) -> &'static str {
        match self {
            Precision::Fp32 => "onnx/model.onnx",
            Precision::Int8 => "onnx/model-int8.onnx",
        }
    }

    /// What is missing when the file is, and what makes it, for error messages.
    pub fn missing(self) -> String {
        let flag = match self {
            Precision::Fp32 => "--engine onnx",
            Precision::Int8 => "--fast",
        };
        format!("no {}, the ONNX export {flag} runs: run `bash scripts/setup.sh` to write it", self.file())
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::Fp32 => "fp32",
            Precision::Int8 => "int8",
        })
    }
}

/// A BERT-family sentence encoder run by ONNX Runtime on the CPU.
pub struct OrtEncoder {
    // `Session::run` takes `&mut self`; the pipeline runs one chunk at a time, so this never waits.
    session: Mutex<Session>,
    precision: Precision,
    file: PathBuf,
    file_sha256: String,
    threads: usize,
    dim: usize,
}

impl OrtEncoder {
    /// Loads `MODEL/onnx/model.onnx` or `model-int8.onnx` with `threads` intra-op threads (one
    /// inter-op thread) and every graph optimisation.
    pub fn load(dir: &Path, precision: Precision, threads: usize) -> Result<Self, Error> {
        let model_error = |what: String| Error::Model { dir: dir.to_path_buf(), what };
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
        let config: serde_json::Value = serde_json::from_str(&text).map_err(|e| model_error(format!("config.json: {e}")))?;
        let dim = config["hidden_size"].as_u64().ok_or_else(|| model_error("config.json has no hidden_size".into()))? as usize;
        let file = dir.join(precision.file());
        if !file.is_file() {
            return Err(model_error(precision.missing()));
        }
        let file_sha256 = crate::fingerprint::sha256_file(&file)?;
        init_runtime()?;
        let threads = threads.max(1);
        let build = || -> Result<Session, String> {
            let builder = Session::builder().map_err(|e| e.to_string())?;
            builder
                .with_optimization_level(GraphOptimizationLevel::Level3)
                .and_then(|b| b.with_intra_threads(threads))
                .and_then(|b| b.with_inter_threads(1))
                .map_err(|e| e.to_string())?
                .commit_from_file(&file)
                .map_err(|e| e.to_string())
        };
        // ort panics when the library it loads is not a usable ONNX Runtime (wrong version).
        let session = std::panic::catch_unwind(build)
            .map_err(|p| Error::Setup(format!("ONNX Runtime failed to start: {}", panic_message(&p))))?
            .map_err(|e| model_error(format!("cannot load {}: {e}", precision.file())))?;
        Ok(OrtEncoder { session: Mutex::new(session), precision, file, file_sha256, threads, dim })
    }

    /// What the run's labels depend on besides the weights: engine, precision, the ONNX file
    /// (named within the model folder, so the same run from another folder has the same identity).
    pub fn describe(&self) -> String {
        format!("onnx {} {} sha256 {}", self.precision, self.precision.file(), self.file_sha256)
    }

    /// What its embeddings depend on, for caches: `SHA|onnx PRECISION FILE-SHA|threads`. The
    /// ONNX file's own hash is in it because quantisation settings change it, not the weights.
    pub fn cache_key(&self, weights_sha256: &str) -> String {
        format!("{weights_sha256}|onnx {} {}|threads {}", self.precision, self.file_sha256, self.threads)
    }
}

/// Points `ort` at the ONNX Runtime library once per process.
fn init_runtime() -> Result<(), Error> {
    static INIT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    INIT.get_or_init(|| {
        let path = runtime_library()?;
        let _ = ort::init_from(path.display().to_string()).with_name("parlscan").commit();
        Ok(())
    })
    .clone()
    .map_err(Error::Setup)
}

/// `ORT_DYLIB_PATH` if set, else the library of the `onnxruntime` wheel in the project's `.venv`.
pub fn runtime_library() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() { Ok(p) } else { Err(format!("ORT_DYLIB_PATH names `{}`, which does not exist", p.display())) };
    }
    let venv = crate::files::project_path(".venv");
    let found = std::fs::read_dir(venv.join("lib"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .flat_map(|e| std::fs::read_dir(e.path().join("site-packages/onnxruntime/capi")).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("libonnxruntime.so.")))
        .max();
    found.ok_or_else(|| {
        format!(
            "no ONNX Runtime library under {}/lib/python3*/site-packages/onnxruntime/capi: run `bash scripts/setup.sh` \
             (it installs the onnxruntime wheel), or set ORT_DYLIB_PATH to a libonnxruntime.so 1.22 or newer",
            venv.display()
        )
    })
}

fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown cause".into())
}

impl Encoder for OrtEncoder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn embed_spans(&self, batch: &TokenBatch<'_>, spans: &[&[Range<usize>]]) -> Result<(Array2<f32>, Vec<Array2<f32>>), Error> {
        let n = batch.sequences.len();
        let t = batch.padded_len;
        let d = self.dim;
        if n == 0 {
            return Ok((Array2::zeros((0, d)), Vec::new()));
        }
        let (ids, mask) = batch.ids_and_mask();
        let fail = |e: ort::Error| Error::Inference(format!("{}: {e}", self.file.display()));
        let ids = TensorRef::from_array_view(([n, t], &ids[..])).map_err(fail)?;
        let mask = TensorRef::from_array_view(([n, t], &mask[..])).map_err(fail)?;
        let mut session = self.session.lock().map_err(|_| Error::Inference("the ONNX session panicked earlier".into()))?;
        let outputs = session.run(ort::inputs!["input_ids" => ids, "attention_mask" => mask]).map_err(fail)?;
        let (shape, hidden) = outputs["last_hidden_state"].try_extract_tensor::<f32>().map_err(fail)?;
        if **shape != [n as i64, t as i64, d as i64] {
            return Err(Error::Inference(format!("{}: last_hidden_state is {shape:?}, expected [{n}, {t}, {d}]", self.file.display())));
        }
        // Mean over real tokens (a sequence's tokens come first, padding after), then L2 norm.
        let mut chunks = Array2::<f32>::zeros((n, d));
        let mut span_embeddings = Vec::new();
        let want_spans = spans.iter().any(|s| !s.is_empty());
        for (i, seq) in batch.sequences.iter().enumerate() {
            let block = &hidden[i * t * d..(i + 1) * t * d];
            chunks.row_mut(i).assign(&ndarray::ArrayView1::from(&pool_span(block, d, 0..seq.len())));
            if want_spans {
                span_embeddings.push(pool_spans(block, d, spans.get(i).copied().unwrap_or(&[])));
            }
        }
        Ok((chunks, span_embeddings))
    }
}
