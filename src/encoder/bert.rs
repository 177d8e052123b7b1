//! A thin wrapper around rust-bert's `BertModel`: always passes the attention mask, runs under
//! `no_grad`, mean-pools over real tokens and L2-normalises, as sentence-transformers does.
//!
//! rust-bert builds the model, loads the weights and runs the forward pass (eager attention:
//! batch × heads × T × T score tensors). `PARLSCAN_ATTENTION=fused` runs the same layers on the
//! same weights through libtorch's fused `scaled_dot_product_attention` instead: the same
//! embeddings to 1e-5 (tests/integration/model.rs), not bit for bit, so it is opt-in.
//! [`Precision::Bf16`] (`classify --fast` on a CPU with native bfloat16) casts the weights to
//! bfloat16 and runs the fused path: oneDNN then multiplies on AMX or AVX-512 BF16 units, and
//! pooling is done in fp32.
//! Owns loading from a model folder; does not own tokenization.

use std::ops::Range;
use std::path::Path;

use ndarray::Array2;
use rust_bert::bert::{BertConfig, BertEmbeddings, BertModel};
use tch::{nn, Device, Kind, Tensor};

use super::{pool_spans, Encoder, TokenBatch};
use crate::error::Error;

/// BERT-family sentence encoder with mean pooling (e.g. sentence-transformers/all-MiniLM-L6-v2).
pub struct BertEncoder {
    model: BertModel<BertEmbeddings>,
    fused: Option<FusedBert>,
    device: Device,
    precision: Precision,
    dim: usize,
    // Keeps the weights alive; `model` holds references into it.
    _vs: nn::VarStore,
}

/// One transformer layer's weights, as rust-bert loaded them.
struct Layer {
    query: (Tensor, Tensor),
    key: (Tensor, Tensor),
    value: (Tensor, Tensor),
    attention_out: (Tensor, Tensor),
    attention_norm: (Tensor, Tensor),
    intermediate: (Tensor, Tensor),
    output: (Tensor, Tensor),
    output_norm: (Tensor, Tensor),
}

/// BERT's forward pass over rust-bert's weights, with fused attention.
struct FusedBert {
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    embedding_norm: (Tensor, Tensor),
    layers: Vec<Layer>,
    heads: i64,
    eps: f64,
}

impl FusedBert {
    /// Takes the weights from the VarStore rust-bert filled; `None` if a name is missing (another
    /// BERT variant), in which case rust-bert's own forward is used.
    fn from_vars(vs: &nn::VarStore, config: &BertConfig) -> Option<Self> {
        let vars = vs.variables();
        let get = |name: &str| vars.get(name).map(Tensor::shallow_clone);
        let pair = |prefix: &str| Some((get(&format!("{prefix}.weight"))?, get(&format!("{prefix}.bias"))?));
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let p = format!("encoder.layer.{i}");
                Some(Layer {
                    query: pair(&format!("{p}.attention.self.query"))?,
                    key: pair(&format!("{p}.attention.self.key"))?,
                    value: pair(&format!("{p}.attention.self.value"))?,
                    attention_out: pair(&format!("{p}.attention.output.dense"))?,
                    attention_norm: pair(&format!("{p}.attention.output.LayerNorm"))?,
                    intermediate: pair(&format!("{p}.intermediate.dense"))?,
                    output: pair(&format!("{p}.output.dense"))?,
                    output_norm: pair(&format!("{p}.output.LayerNorm"))?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        if !matches!(config.hidden_act, rust_bert::Activation::gelu) {
            return None;
        }
        Some(FusedBert {
            word: get("embeddings.word_embeddings.weight")?,
            position: get("embeddings.position_embeddings.weight")?,
            token_type: get("embeddings.token_type_embeddings.weight")?,
            embedding_norm: pair("embeddings.LayerNorm")?,
            layers,
            heads: config.num_attention_heads,
            eps: 1e-12,
        })
    }

    /// Last hidden states, `[n, t, d]`; `mask` is `[n, t]` with 1 for real tokens.
    fn forward(&self, ids: &Tensor, mask: &Tensor) -> Tensor {
        let (n, t) = ids.size2().expect("ids are [n, t]");
        let d = self.word.size()[1];
        let dh = d / self.heads;
        let norm = |x: &Tensor, (w, b): &(Tensor, Tensor)| x.layer_norm([d], Some(w), Some(b), self.eps, false);
        let positions = Tensor::arange(t, (Kind::Int64, ids.device()));
        let mut x = Tensor::embedding(&self.word, ids, 0, false, false)
            + self.position.index_select(0, &positions).unsqueeze(0)
            + self.token_type.get(0);
        x = norm(&x, &self.embedding_norm);
        // True where a key is a real token: padding takes no part in any query's attention.
        let keep = mask.to_kind(Kind::Bool).view([n, 1, 1, t]);
        let split = |y: Tensor| y.view([n, t, self.heads, dh]).transpose(1, 2);
        for l in &self.layers {
            let q = split(x.linear(&l.query.0, Some(&l.query.1)));
            let k = split(x.linear(&l.key.0, Some(&l.key.1)));
            let v = split(x.linear(&l.value.0, Some(&l.value.1)));
            let a = Tensor::scaled_dot_product_attention(&q, &k, &v, Some(&keep), 0.0, false, None::<f64>);
            let a = a.transpose(1, 2).reshape([n, t, d]);
            x = norm(&(a.linear(&l.attention_out.0, Some(&l.attention_out.1)) + &x), &l.attention_norm);
            let h = x.linear(&l.intermediate.0, Some(&l.intermediate.1)).gelu("none");
            x = norm(&(h.linear(&l.output.0, Some(&l.output.1)) + &x), &l.output_norm);
        }
        x
    }
}

/// The number format of the weights and activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// fp32 throughout: the default.
    Fp32,
    /// bfloat16 weights and activations (fp32 accumulation in the matrix units), with fused
    /// attention: `classify --fast` where the CPU has native bfloat16 ([`native_bf16`]).
    Bf16,
}

/// Word-pieces per forward pass in bfloat16 (see [`Encoder::batch_tokens`]).
pub const BF16_BATCH_TOKENS: usize = 4096;

/// Whether this CPU multiplies bfloat16 natively (AVX-512 BF16, which every AMX CPU also has).
/// Elsewhere libtorch emulates it, slower than fp32.
pub fn native_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// How attention is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attention {
    /// libtorch's fused `scaled_dot_product_attention` over rust-bert's weights (opt-in: faster,
    /// but not bit-identical across batch sizes).
    Fused,
    /// rust-bert's own forward pass (the default: a chunk's embedding does not depend on its
    /// batch-mates, bit for bit).
    Eager,
}

impl BertEncoder {
    /// Loads `config.json` and `model.safetensors` from `dir` onto `device`, with rust-bert's
    /// attention unless `PARLSCAN_ATTENTION=fused`.
    pub fn load(dir: &Path, device: Device) -> Result<Self, Error> {
        let fused = std::env::var_os("PARLSCAN_ATTENTION").is_some_and(|v| v == "fused");
        Self::load_with(dir, device, if fused { Attention::Fused } else { Attention::Eager }, Precision::Fp32)
    }

    /// [`BertEncoder::load`] with the attention path and the precision chosen; bfloat16 always
    /// takes the fused path (rust-bert's eager attention gains little from it).
    pub fn load_with(dir: &Path, device: Device, attention: Attention, precision: Precision) -> Result<Self, Error> {
        let (config, mut vs, model) = build(dir, device)?;
        vs.freeze();
        if precision == Precision::Bf16 {
            vs.bfloat16();
        }
        let fused = match (attention, precision) {
            (Attention::Fused, _) | (_, Precision::Bf16) => FusedBert::from_vars(&vs, &config),
            (Attention::Eager, Precision::Fp32) => None,
        };
        Ok(BertEncoder { model, fused, device, precision, dim: config.hidden_size as usize, _vs: vs })
    }

    /// The attention path in use (fused falls back to eager where the weights do not fit it).
    pub fn attention(&self) -> Attention {
        if self.fused.is_some() { Attention::Fused } else { Attention::Eager }
    }

    /// The engine in words, for the manifest: `torch cpu eager`, `torch cpu fused bf16`, ….
    pub fn describe(&self) -> String {
        let device = match self.device {
            Device::Cuda(i) => format!("cuda:{i}"),
            _ => "cpu".to_string(),
        };
        let bf16 = if self.precision == Precision::Bf16 { " bf16" } else { "" };
        format!("torch {device} {}{bf16}", format!("{:?}", self.attention()).to_lowercase())
    }

    /// What its embeddings depend on besides the weights file, for caches: `SHA|Attention|threads`
    /// (and `|Cuda(0)` on a GPU). libtorch's thread count is part of it: one chunk per pass is
    /// small enough that the matrix kernels split work differently for 1 and 2 threads, which
    /// moves last bits.
    pub fn cache_key(&self, weights_sha256: &str) -> String {
        let device = if self.device == Device::Cpu { String::new() } else { format!("|{:?}", self.device) };
        let bf16 = if self.precision == Precision::Bf16 { "|bf16" } else { "" };
        format!("{weights_sha256}|{:?}{bf16}|threads {}{device}", self.attention(), tch::get_num_threads())
    }
}

/// rust-bert's BERT built from `dir/config.json`, with `dir/model.safetensors` loaded into its
/// variables (trainable: [`BertEncoder`] freezes them, `tune` trains them).
pub fn build(dir: &Path, device: Device) -> Result<(BertConfig, nn::VarStore, BertModel<BertEmbeddings>), Error> {
    let config_path = dir.join("config.json");
    let text = std::fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
    let config: BertConfig = serde_json::from_str(&text).map_err(|e| Error::Model {
        dir: dir.to_path_buf(),
        what: format!("config.json is not a BERT config: {e}"),
    })?;
    let mut vs = nn::VarStore::new(device);
    let model = BertModel::<BertEmbeddings>::new_with_optional_pooler(vs.root(), &config, false);
    let weights = dir.join("model.safetensors");
    vs.load(&weights).map_err(|e| Error::Model {
        dir: dir.to_path_buf(),
        what: format!("cannot load {}: {e}", weights.display()),
    })?;
    Ok((config, vs, model))
}

/// Mean over real tokens only (`mask` is `[n, t]`, 1 for real tokens), then L2 norm:
/// sentence-transformers' Pooling + Normalize. `hidden` is `[n, t, d]` in fp32; the result `[n, d]`.
pub fn mean_pool(hidden: &Tensor, mask: &Tensor) -> Tensor {
    let m = mask.unsqueeze(-1).to_kind(Kind::Float);
    let summed = (hidden * &m).sum_dim_intlist(1, false, Kind::Float);
    let counts = m.sum_dim_intlist(1, false, Kind::Float).clamp_min(1e-9);
    let mean = summed / counts;
    let norm = mean.norm_scalaropt_dim(2.0, 1, true).clamp_min(1e-12);
    mean / norm
}

/// The first CUDA GPU, when libtorch sees one.
pub fn cuda_device() -> Result<Device, Error> {
    if tch::Cuda::is_available() {
        Ok(Device::Cuda(0))
    } else {
        Err(Error::Setup(
            "--device cuda: libtorch sees no CUDA GPU. It needs an NVIDIA GPU with its driver, and parlscan \
             linked with CUDA libtorch: `bash scripts/setup.sh --cuda && cargo clean -p torch-sys && \
             cargo build --release`. Or use --device cpu."
                .into(),
        ))
    }
}

impl Encoder for BertEncoder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn batch_tokens(&self) -> usize {
        match self.precision {
            Precision::Fp32 => 0,
            // The matrix units want more rows than one chunk gives: batches of chunks of about the
            // same length (the longest first) ran about 35% faster than one chunk per pass here.
            Precision::Bf16 => BF16_BATCH_TOKENS,
        }
    }

    fn embed_spans(&self, batch: &TokenBatch<'_>, spans: &[&[Range<usize>]]) -> Result<(Array2<f32>, Vec<Array2<f32>>), Error> {
        let n = batch.sequences.len();
        let t = batch.padded_len;
        let d = self.dim;
        if n == 0 {
            return Ok((Array2::zeros((0, d)), Vec::new()));
        }
        let (ids, mask) = batch.ids_and_mask();
        let want_spans = spans.iter().any(|s| !s.is_empty());
        let (pooled, hidden) = tch::no_grad(|| -> Result<(Tensor, Option<Tensor>), Error> {
            let ids = Tensor::from_slice(&ids).view([n as i64, t as i64]).to(self.device);
            let mask = Tensor::from_slice(&mask).view([n as i64, t as i64]).to(self.device);
            let hidden_state = match &self.fused {
                Some(f) => f.forward(&ids, &mask),
                None => {
                    self.model
                        .forward_t(Some(&ids), Some(&mask), None, None, None, None, None, false)
                        .map_err(|e| Error::Inference(e.to_string()))?
                        .hidden_state
                }
            }
            .to_kind(Kind::Float);
            let pooled = mean_pool(&hidden_state, &mask);
            let hidden = want_spans.then(|| hidden_state.to(Device::Cpu).contiguous());
            Ok((pooled.to(Device::Cpu).contiguous(), hidden))
        })?;
        let mut flat = vec![0f32; n * d];
        pooled.copy_data(&mut flat, n * d);
        let chunks = Array2::from_shape_vec((n, d), flat).map_err(|e| Error::Inference(e.to_string()))?;
        let mut span_embeddings = Vec::with_capacity(n);
        if let Some(hidden) = hidden {
            let mut all = vec![0f32; n * t * d];
            hidden.copy_data(&mut all, n * t * d);
            for i in 0..n {
                span_embeddings.push(pool_spans(&all[i * t * d..(i + 1) * t * d], d, spans.get(i).copied().unwrap_or(&[])));
            }
        }
        Ok((chunks, span_embeddings))
    }
}
