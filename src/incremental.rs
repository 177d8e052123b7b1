//! `--incremental`: reuse the labels of a previous output for speeches whose id and text have not
//! changed, when the previous output was made with the same model, head and taxonomy (its
//! manifest says so). Only new or changed speeches are scored; the result equals a full run.

use std::collections::HashMap;
use std::path::Path;

use crate::manifest::{manifest_path, Manifest};

/// Label fields of a previous output, by speech id.
#[derive(Debug, Default)]
pub struct Previous {
    rows: HashMap<String, (String, Vec<String>)>,
}

impl Previous {
    /// Reads the previous output at `output` if its manifest's labels key is `labels_key` and its
    /// header is `header`; otherwise says why it cannot be used.
    pub fn load(output: &Path, labels_key: &str, header: &[String], label_columns: usize, id_col: &str, text_col: &str) -> Result<Self, String> {
        let manifest = Manifest::read(&manifest_path(output))
            .ok_or_else(|| format!("no readable manifest beside `{}`", output.display()))?;
        if manifest.labels_key != labels_key {
            return Err("the previous output was made with another model, head, taxonomy or parlscan version".into());
        }
        let mut reader = ::csv::Reader::from_path(output).map_err(|e| format!("cannot read `{}`: {e}", output.display()))?;
        let found: Vec<String> = reader.headers().map_err(|e| e.to_string())?.iter().map(String::from).collect();
        if found != header {
            return Err("the previous output has other columns".into());
        }
        let passthrough = header.len() - label_columns;
        let id_at = header[..passthrough].iter().position(|h| h == id_col);
        let text_at = header[..passthrough].iter().position(|h| h == text_col).ok_or("no text column")?;
        let mut rows = HashMap::new();
        for (n, record) in reader.records().enumerate() {
            let record = record.map_err(|e| e.to_string())?;
            let id = id_at.map_or_else(|| (n + 1).to_string(), |i| record[i].to_string());
            let labels: Vec<String> = record.iter().skip(passthrough).map(String::from).collect();
            rows.insert(id, (record[text_at].to_string(), labels));
        }
        Ok(Previous { rows })
    }

    /// The previous label fields of a speech, if its text is unchanged and it was scored.
    pub fn get(&self, id: &str, text: &str) -> Option<&[String]> {
        let (old_text, labels) = self.rows.get(id)?;
        let ok = labels.last().is_some_and(|status| status == "ok");
        (old_text == text && ok).then_some(labels.as_slice())
    }
}
