//! Integration tests: the real `parlscan` binary on real files, with the real model.
//!
//! Tests that need the model fail (never skip) when it is missing: run `scripts/setup.sh`.

mod classify;
mod docs;
mod engines;
mod fit;
mod formats;
mod lock;
mod model;
mod nightly;
mod onnx;
mod report;
mod robust;
mod tune;
mod util;
