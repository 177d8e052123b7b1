//! parlscan: label parliamentary speeches for surveillance and encryption topics and stance.
//!
//! The modules follow a speech through the pipeline: `corpus` (read) → `segment` (clean, split)
//! → `tokenize` (word-pieces, chunks) → `batch` → `encoder` (`encoder::auto` picks the engine for
//! the CPU) → `score` → `aggregate` → `output` (the labelled CSV, then other formats); `voice`
//! tells a speaker's own sentences from reported ones, for the stance evidence. `labeller` holds what labels a block of speeches and
//! `pipeline` runs a corpus through it, with `manifest` and `incremental` for nightly runs, `lock`
//! so two runs never write one output, `integrity` to check the installed default model and
//! `max_not_scored` for exit codes, and `shard` and `merge` for cluster runs. `evaluate` compares
//! labels with gold ones; `report` draws a labelled corpus as one HTML page; `fit` learns heads
//! from labelled speeches, and `tune` fine-tunes the encoder on them. `cli`, `config`, `files`,
//! `taxonomy`, `fingerprint` and `error` hold what surrounds them. The binary in `main.rs` only
//! parses arguments and maps errors to exit codes.

pub mod aggregate;
pub mod batch;
pub mod cli;
pub mod config;
pub mod corpus;
pub mod encoder;
pub mod error;
pub mod evaluate;
pub mod files;
pub mod fingerprint;
pub mod fit;
pub mod incremental;
pub mod integrity;
pub mod labeller;
pub mod lock;
pub mod manifest;
pub mod max_not_scored;
pub mod merge;
pub mod output;
pub mod pipeline;
pub mod report;
pub mod score;
pub mod segment;
pub mod shard;
pub mod taxonomy;
pub mod tokenize;
pub mod tune;
pub mod voice;
