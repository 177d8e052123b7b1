//! A cache of label-prototype embeddings between runs, so start-up does not re-embed the
//! taxonomy's few hundred statements every time (about 2 s on 2 cores).
//!
//! An entry is keyed by everything its numbers depend on: the encoder (weights SHA-256 and
//! attention path) and every token-id sequence embedded, so a changed taxonomy, tokenizer or
//! model simply misses. Entries are written atomically; a missing, unreadable or unwritable cache
//! only costs time, never a run.
//!
//! Where: `$PARLSCAN_CACHE` if set (`off` disables it), else `$XDG_CACHE_HOME/parlscan`, else
//! `~/.cache/parlscan`.

use std::path::{Path, PathBuf};

use ndarray::Array2;
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 8] = b"PSEMB01\n";

/// A cache folder and the identity of the encoder whose embeddings it holds.
#[derive(Debug, Clone)]
pub struct EmbeddingCache {
    dir: PathBuf,
    encoder_key: String,
}

impl EmbeddingCache {
    pub fn new(dir: PathBuf, encoder_key: impl Into<String>) -> Self {
        EmbeddingCache { dir, encoder_key: encoder_key.into() }
    }

    /// The cache folder the environment names, if any.
    pub fn from_env(encoder_key: impl Into<String>) -> Option<Self> {
        let dir = match std::env::var_os("PARLSCAN_CACHE") {
            Some(v) if v == "off" || v.is_empty() => return None,
            Some(v) => PathBuf::from(v),
            None => match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
                Some(x) => Path::new(&x).join("parlscan"),
                None => Path::new(&std::env::var_os("HOME")?).join(".cache").join("parlscan"),
            },
        };
        Some(Self::new(dir, encoder_key))
    }

    /// The file holding the embeddings of these sequences.
    pub fn path(&self, sequences: &[Vec<u32>]) -> PathBuf {
        let mut h = Sha256::new();
        h.update(MAGIC);
        h.update(self.encoder_key.as_bytes());
        for seq in sequences {
            h.update((seq.len() as u64).to_le_bytes());
            for id in seq {
                h.update(id.to_le_bytes());
            }
        }
        let key: String = h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("embeddings-{key}.bin"))
    }

    /// The cached rows for these sequences, when present and whole.
    pub fn load(&self, sequences: &[Vec<u32>], dim: usize) -> Option<Array2<f32>> {
        let bytes = std::fs::read(self.path(sequences)).ok()?;
        let body = bytes.strip_prefix(MAGIC.as_slice())?;
        let (shape, data) = body.split_at_checked(16)?;
        let rows = u64::from_le_bytes(shape[..8].try_into().ok()?) as usize;
        let cols = u64::from_le_bytes(shape[8..].try_into().ok()?) as usize;
        if rows != sequences.len() || cols != dim || data.len() != rows * cols * 4 {
            return None;
        }
        let values = data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        Array2::from_shape_vec((rows, cols), values).ok()
    }

    /// Stores the rows for these sequences; a failure is reported, not raised.
    pub fn store(&self, sequences: &[Vec<u32>], embeddings: &Array2<f32>) {
        let path = self.path(sequences);
        let mut bytes = Vec::with_capacity(MAGIC.len() + 16 + embeddings.len() * 4);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(embeddings.nrows() as u64).to_le_bytes());
        bytes.extend_from_slice(&(embeddings.ncols() as u64).to_le_bytes());
        for v in embeddings.iter() {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let written = std::fs::create_dir_all(&self.dir)
            .map_err(|e| crate::error::Error::write(&self.dir, e))
            .and_then(|()| crate::files::write_atomically(&path, &bytes));
        if let Err(e) = written {
            eprintln!("parlscan: note: label prototypes not cached (set PARLSCAN_CACHE to a writable folder): {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_entry_comes_back_bit_for_bit_and_other_keys_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = EmbeddingCache::new(dir.path().to_path_buf(), "model-a|eager");
        let seqs = vec![vec![101, 7, 102], vec![101, 102]];
        let emb = Array2::from_shape_vec((2, 3), vec![0.1f32, -0.0, f32::MIN_POSITIVE, 1.0, 2.5, -3.25]).unwrap();
        assert!(cache.load(&seqs, 3).is_none());
        cache.store(&seqs, &emb);
        let back = cache.load(&seqs, 3).expect("stored");
        assert_eq!(back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), emb.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        // Another model, other sequences or another width miss.
        assert!(EmbeddingCache::new(dir.path().to_path_buf(), "model-b|eager").load(&seqs, 3).is_none());
        assert!(cache.load(&[vec![101, 8, 102], vec![101, 102]], 3).is_none());
        assert!(cache.load(&seqs, 4).is_none());
    }

    #[test]
    fn a_damaged_entry_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = EmbeddingCache::new(dir.path().to_path_buf(), "m");
        let seqs = vec![vec![1, 2]];
        cache.store(&seqs, &Array2::from_elem((1, 4), 0.5f32));
        let path = cache.path(&seqs);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(cache.load(&seqs, 4).is_none());
    }
}
