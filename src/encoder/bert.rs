//! A thin wrapper around rust-bert's `BertModel`: always passes the attention mask, runs under
//! `no_grad`, mean-pools over real tokens and L2-normalises, as sentence-transformers does.
//!
//! Owns loading the weights and config from a model folder; does not own tokenization.

use std::ops::Range;
use std::path::Path;

use ndarray::Array2;
use rust_bert::bert::{BertConfig, BertEmbeddings, BertModel};
use tch::{nn, Device, Kind, Tensor};

use super::{pool_span, Encoder, TokenBatch};
use crate::error::Error;

/// BERT-family sentence encoder with mean pooling (e.g. sentence-transformers/all-MiniLM-L6-v2).
pub struct BertEncoder {
    model: BertModel<BertEmbeddings>,
    device: Device,
    dim: usize,
    // Keeps the weights alive; `model` holds references into it.
    _vs: nn::VarStore,
}

impl BertEncoder {
    /// Loads `config.json` and `model.safetensors` from `dir` onto `device`.
    pub fn load(dir: &Path, device: Device) -> Result<Self, Error> {
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
        vs.freeze();
        Ok(BertEncoder { model, device, dim: config.hidden_size as usize, _vs: vs })
    }
}

impl Encoder for BertEncoder {
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
        let mut ids = vec![0i64; n * t];
        let mut mask = vec![0i64; n * t];
        for (row, seq) in batch.sequences.iter().enumerate() {
            for (col, &id) in seq.iter().enumerate() {
                ids[row * t + col] = i64::from(id);
                mask[row * t + col] = 1;
            }
        }
        let want_spans = spans.iter().any(|s| !s.is_empty());
        let (pooled, hidden) = tch::no_grad(|| -> Result<(Tensor, Option<Tensor>), Error> {
            let ids = Tensor::from_slice(&ids).view([n as i64, t as i64]).to(self.device);
            let mask = Tensor::from_slice(&mask).view([n as i64, t as i64]).to(self.device);
            let out = self
                .model
                .forward_t(Some(&ids), Some(&mask), None, None, None, None, None, false)
                .map_err(|e| Error::Inference(e.to_string()))?;
            // Mean over real tokens only, then L2 norm: sentence-transformers' Pooling + Normalize.
            let m = mask.unsqueeze(-1).to_kind(Kind::Float);
            let summed = (&out.hidden_state * &m).sum_dim_intlist(1, false, Kind::Float);
            let counts = m.sum_dim_intlist(1, false, Kind::Float).clamp_min(1e-9);
            let mean = summed / counts;
            let norm = mean.norm_scalaropt_dim(2.0, 1, true).clamp_min(1e-12);
            let hidden = want_spans.then(|| out.hidden_state.to(Device::Cpu).contiguous());
            Ok(((mean / norm).to(Device::Cpu).contiguous(), hidden))
        })?;
        let mut flat = vec![0f32; n * d];
        pooled.copy_data(&mut flat, n * d);
        let chunks = Array2::from_shape_vec((n, d), flat).map_err(|e| Error::Inference(e.to_string()))?;
        let mut span_embeddings = Vec::with_capacity(n);
        if let Some(hidden) = hidden {
            let mut all = vec![0f32; n * t * d];
            hidden.copy_data(&mut all, n * t * d);
            for i in 0..n {
                let rows = spans.get(i).copied().unwrap_or(&[]);
                let mut out = Array2::<f32>::zeros((rows.len(), d));
                for (k, r) in rows.iter().enumerate() {
                    let v = pool_span(&all[i * t * d..(i + 1) * t * d], d, r.clone());
                    out.row_mut(k).assign(&ndarray::ArrayView1::from(&v));
                }
                span_embeddings.push(out);
            }
        }
        Ok((chunks, span_embeddings))
    }
}
