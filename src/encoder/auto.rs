//! `classify --engine auto` (the default) and `--fast` alone: which engine runs on this CPU.
//!
//! The exact candidates are ONNX Runtime fp32 and libtorch fp32 (the reference). Which is faster
//! depends on the CPU: libtorch's fp32 `linear` goes through MKL, which runs its AVX2 kernels on
//! AMD CPUs, while ONNX Runtime's own kernels use AVX-512 on any vendor. So the first run on a
//! machine times both on a short calibration (sixteen fixed windows of 256 word-pieces, a few seconds) and
//! checks that ONNX Runtime's embeddings are within [`EXACT`] of libtorch's; the faster of those
//! that pass runs. The approximate candidates for `--fast` are libtorch bf16 (where the CPU has
//! native bfloat16) and ONNX Runtime int8, weighed with the exact engine: an approximation's cost
//! counts the near ties it is expected to rescore at the exact engine, and the cheapest runs.
//!
//! The verdict is cached beside the prototype cache, keyed by the CPU model, its relevant
//! features, the thread count, the weights and ONNX files and the engine versions, so later runs
//! load one engine only and always pick the same one; runs that start together take turns to
//! calibrate. A cache that cannot be written costs only time. A candidate that fails to load is
//! skipped, with a note.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::Array2;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{bert, load, onnx, Engine, Loaded};
use crate::error::Error;

/// The largest difference in any embedding component an exact engine may show against libtorch
/// fp32 on the calibration sequences.
pub const EXACT: f32 = 1e-4;

/// What `--engine` and `--fast` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// One engine, forced (`--engine torch|onnx`, `--device cuda`, `--fast=bf16|int8`).
    Fixed(Engine),
    /// The fastest exact engine (`--engine auto`, the default).
    Exact,
    /// The fastest approximate engine (`--fast` alone); with `rescore`, counting the time near
    /// ties take at the exact engine.
    Fast { rescore: bool },
}

/// The engine that runs, loaded, and why it was picked (for the summary and the manifest).
pub struct Chosen {
    pub engine: Engine,
    pub loaded: Loaded,
    pub why: String,
}

/// The name of an engine in the words the flags use.
pub fn name(engine: Engine) -> String {
    match engine {
        Engine::Torch { cuda, precision } => {
            let device = if cuda { " cuda" } else { "" };
            let precision = if precision == bert::Precision::Bf16 { "bf16" } else { "fp32" };
            format!("torch{device} {precision}")
        }
        Engine::Onnx(p) => format!("onnx {p}"),
    }
}

const TORCH_FP32: Engine = Engine::DEFAULT;
const TORCH_BF16: Engine = Engine::Torch { cuda: false, precision: bert::Precision::Bf16 };

impl Request {
    /// The candidates, in the order a failed load falls back through.
    fn candidates(self) -> Vec<Engine> {
        match self {
            Request::Fixed(e) => vec![e],
            Request::Exact => vec![Engine::Onnx(onnx::Precision::Fp32), TORCH_FP32],
            Request::Fast { .. } if bert::native_bf16() => vec![TORCH_BF16, Engine::Onnx(onnx::Precision::Int8)],
            Request::Fast { .. } => vec![Engine::Onnx(onnx::Precision::Int8)],
        }
    }
}

/// Loads the engine `request` names, choosing and caching as the module says. Notes go to stderr
/// unless `quiet`.
///
/// `near_ties(engine)` is the share of speeches an approximate engine is expected to rescore at
/// the exact engine (`None` for an exact engine). For `Fast { rescore: true }` the exact engine is
/// chosen first and a candidate's cost is its own time plus that share of the exact engine's: where
/// no approximation beats the exact engine at that cost, the exact engine runs, and nothing is
/// rescored. The second result is that exact engine when it was loaded for the comparison and an
/// approximation won (to rescore near ties with).
pub fn choose(
    dir: &Path,
    request: Request,
    threads: usize,
    weights_sha256: &str,
    quiet: bool,
    near_ties: &dyn Fn(Engine) -> Option<f64>,
) -> Result<(Chosen, Option<Chosen>), Error> {
    let note = |s: String| {
        if !quiet {
            eprintln!("parlscan: note: {s}");
        }
    };
    if let Request::Fixed(engine) = request {
        let loaded = load(dir, engine, threads, weights_sha256)?;
        return Ok((Chosen { engine, loaded, why: "forced by flag".into() }, None));
    }
    let exact = match request {
        Request::Fast { rescore: true } => Some(choose(dir, Request::Exact, threads, weights_sha256, quiet, near_ties)?.0),
        _ => None,
    };
    let candidates = request.candidates();
    let cache = crate::score::cache::dir_from_env().map(|d| d.join(format!("engine-{}.json", cache_key(dir, request, threads, weights_sha256))));
    // Processes that start together on one machine (the shards of an array job) must not each
    // calibrate and pick differently: calibration holds a lock, and whoever waited for it reads
    // the verdict the holder wrote. A cache folder that cannot hold the lock only costs time.
    let mut _calibrating = None;
    for attempt in 0..2 {
        if let Some(verdict) = cache.as_deref().and_then(Verdict::read) {
            if exact.as_ref().is_some_and(|e| name(e.engine) == verdict.engine) {
                let e = exact.expect("just matched");
                return Ok((Chosen { engine: e.engine, loaded: e.loaded, why: format!("{}; calibrated earlier, cached", verdict.why) }, None));
            }
            if let Some(engine) = candidates.iter().copied().find(|e| name(*e) == verdict.engine) {
                match load(dir, engine, threads, weights_sha256) {
                    Ok(loaded) => return Ok((Chosen { engine, loaded, why: format!("{}; calibrated earlier, cached", verdict.why) }, exact)),
                    Err(e) => {
                        note(format!("auto: the cached choice {} failed to load ({e}); calibrating again", verdict.engine));
                        break;
                    }
                }
            }
        }
        if attempt == 0 {
            _calibrating = cache.as_deref().and_then(calibration_lock);
            if _calibrating.is_none() {
                break;
            }
        }
    }
    let mut loaded = Vec::new();
    let mut failed = Vec::new();
    for engine in candidates {
        match load(dir, engine, threads, weights_sha256) {
            Ok(l) => loaded.push((engine, l)),
            Err(e) => {
                note(format!("auto: {} is not available ({e}); trying the next engine", name(engine)));
                failed.push(name(engine));
            }
        }
    }
    if loaded.is_empty() && exact.is_none() {
        return Err(Error::Setup(format!("no engine could be loaded (tried {})", failed.join(", "))));
    }
    // The exact engine takes part in a --fast comparison as a candidate of its own, last.
    let exact_why = exact.as_ref().map(|e| e.why.clone());
    if let Some(e) = exact {
        loaded.push((e.engine, e.loaded));
    }
    let (index, mut why) = calibrate(&loaded, request, threads, near_ties)?;
    if !failed.is_empty() {
        why.push_str(&format!("; {} could not be loaded", failed.join(", ")));
    }
    let exact = match exact_why {
        Some(why) if index + 1 != loaded.len() => {
            let (engine, l) = loaded.pop().expect("the exact engine is last");
            Some(Chosen { engine, loaded: l, why })
        }
        _ => None,
    };
    let (engine, chosen) = loaded.swap_remove(index);
    drop(loaded);
    if let Some(path) = &cache {
        Verdict { engine: name(engine), why: why.clone() }.write(path);
    }
    Ok((Chosen { engine, loaded: chosen, why }, exact))
}

/// Times every loaded candidate on the calibration sequences and picks the cheapest eligible one.
/// For [`Request::Exact`], the eligible ones are within [`EXACT`] of libtorch fp32 and the cost is
/// the time; for [`Request::Fast`] with rescoring, the last candidate is the exact engine and an
/// approximate one's cost adds its share of near ties at the exact engine's time. Returns the
/// index of the pick and why.
fn calibrate(loaded: &[(Engine, Loaded)], request: Request, threads: usize, near_ties: &dyn Fn(Engine) -> Option<f64>) -> Result<(usize, String), Error> {
    if loaded.len() == 1 {
        return Ok((0, format!("auto: {}, the only engine that loaded", name(loaded[0].0))));
    }
    let sequences = calibration_sequences();
    let refs: Vec<&[u32]> = sequences.iter().map(Vec::as_slice).collect();
    let mut seconds = vec![f64::INFINITY; loaded.len()];
    let mut embeddings: Vec<Array2<f32>> = Vec::with_capacity(loaded.len());
    for (_, l) in loaded {
        embeddings.push(crate::batch::embed_all(&*l.encoder, &refs)?); // also the warm-up
    }
    for _round in 0..2 {
        for (k, (_, l)) in loaded.iter().enumerate() {
            let start = Instant::now();
            crate::batch::embed_all(&*l.encoder, &refs)?;
            seconds[k] = seconds[k].min(start.elapsed().as_secs_f64());
        }
    }
    let exact_seconds = match request {
        Request::Fast { rescore: true } => Some(seconds[loaded.len() - 1]),
        _ => None,
    };
    let cost: Vec<f64> = loaded
        .iter()
        .zip(&seconds)
        .map(|((e, _), &t)| t + exact_seconds.and_then(|x| near_ties(*e).map(|share| share * x)).unwrap_or(0.0))
        .collect();
    let reference = loaded.iter().position(|(e, _)| *e == TORCH_FP32);
    let gap = |k: usize| reference.map(|r| max_difference(&embeddings[k], &embeddings[r]));
    let eligible: Vec<usize> = (0..loaded.len())
        .filter(|&k| request != Request::Exact || gap(k).is_none_or(|g| g <= EXACT))
        .collect();
    let best = *eligible
        .iter()
        .min_by(|&&a, &&b| cost[a].total_cmp(&cost[b]))
        .expect("libtorch fp32 is always eligible, and a lone engine returned above");
    let others: Vec<String> = (0..loaded.len())
        .filter(|&k| k != best)
        .map(|k| {
            let excluded = if eligible.contains(&k) { String::new() } else { format!(", excluded: embeddings {:.1e} from libtorch fp32", gap(k).unwrap_or(0.0)) };
            format!("{:.2}x as fast as {}{excluded}", cost[k] / cost[best], name(loaded[k].0))
        })
        .collect();
    let detail = match (request, gap(best)) {
        (Request::Exact, Some(g)) if Some(best) != reference => format!("; embeddings within {g:.1e} of libtorch fp32"),
        (Request::Fast { rescore: true }, _) => {
            let shares: Vec<String> = loaded.iter().filter_map(|(e, _)| near_ties(*e).map(|s| format!("{} {:.0}%", name(*e), 100.0 * s))).collect();
            format!("; counting near ties rescored by the exact engine ({})", shares.join(", "))
        }
        _ => String::new(),
    };
    Ok((best, format!("auto: {} ran the calibration {} on {}, {threads} threads{detail}", name(loaded[best].0), others.join(" and "), cpu_model())))
}

fn max_difference(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
    a.iter().zip(b.iter()).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Sixteen fixed sequences of 256 word-pieces (ids from a fixed generator inside BERT's
/// vocabulary, between [CLS] and [SEP]): a full window, the shape most of a long speech's chunks
/// come in, and as many as fill one pass of an engine that batches (`Encoder::batch_tokens`), so
/// no engine is timed on filler rows.
fn calibration_sequences() -> Vec<Vec<u32>> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..16)
        .map(|_| {
            let mut seq = vec![101u32];
            for _ in 0..254 {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                seq.push(1_000 + ((state >> 33) % 28_000) as u32);
            }
            seq.push(102);
            seq
        })
        .collect()
}

/// The CPU's model name, as `/proc/cpuinfo` gives it.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// The CPU features the engines' speed turns on, as `/proc/cpuinfo` names them.
pub fn cpu_features() -> Vec<String> {
    const RELEVANT: [&str; 8] = ["avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8"];
    let flags = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("flags")).map(|l| l.to_string()))
        .unwrap_or_default();
    let flags: Vec<&str> = flags.split_whitespace().collect();
    RELEVANT.iter().filter(|f| flags.contains(f)).map(|f| f.to_string()).collect()
}

/// Everything a verdict depends on: the request, CPU, threads, weights, the ONNX files and the
/// engine libraries (this build's libtorch, the ONNX Runtime library found).
fn cache_key(dir: &Path, request: Request, threads: usize, weights_sha256: &str) -> String {
    let stamp = |p: PathBuf| {
        std::fs::metadata(&p).map_or("-".to_string(), |m| format!("{} {} {:?}", p.display(), m.len(), m.modified().ok()))
    };
    let mut h = Sha256::new();
    for part in [
        format!("engine-choice 1 {}", env!("CARGO_PKG_VERSION")),
        format!("{request:?}"),
        cpu_model(),
        cpu_features().join(","),
        format!("threads {threads}"),
        weights_sha256.to_string(),
        stamp(dir.join(onnx::Precision::Fp32.file())),
        stamp(dir.join(onnx::Precision::Int8.file())),
        onnx::runtime_library().map_or("-".into(), stamp),
        "libtorch 2.4.0 (tch 0.17)".to_string(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// Takes the calibration lock beside a verdict's file (`engine-KEY.lock`), waiting for a process
/// that holds it; `None` where the cache folder cannot hold it.
fn calibration_lock(verdict: &Path) -> Option<std::fs::File> {
    std::fs::create_dir_all(verdict.parent()?).ok()?;
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(verdict.with_extension("lock")).ok()?;
    file.lock().ok()?;
    Some(file)
}

#[derive(Serialize, Deserialize)]
struct Verdict {
    engine: String,
    why: String,
}

impl Verdict {
    fn read(path: &Path) -> Option<Verdict> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    /// Writes the verdict atomically; a cache that cannot be written costs only time.
    fn write(&self, path: &Path) {
        if let (Some(dir), Ok(bytes)) = (path.parent(), serde_json::to_vec_pretty(self)) {
            let _ = std::fs::create_dir_all(dir);
            let _ = crate::files::write_atomically(path, &bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_sequences_are_fixed_and_within_the_window() {
        let a = calibration_sequences();
        assert_eq!(a, calibration_sequences());
        assert_eq!(a.iter().map(Vec::len).collect::<Vec<_>>(), vec![256; 16]);
        assert_ne!(a[0], a[1]);
        assert!(a.iter().flatten().all(|&id| id < 30_000));
    }

    #[test]
    fn names_are_the_flags_words() {
        assert_eq!(name(Engine::Onnx(onnx::Precision::Fp32)), "onnx fp32");
        assert_eq!(name(TORCH_FP32), "torch fp32");
        assert_eq!(name(TORCH_BF16), "torch bf16");
        assert_eq!(Request::Exact.candidates(), vec![Engine::Onnx(onnx::Precision::Fp32), TORCH_FP32]);
    }
}
