//! The label set users edit: topics (multi-label) and stance classes, each with a description and
//! example statements, read from a TOML file (default `data/taxonomy.toml`).
//!
//! Owns parsing and validation (every problem reported at once). Turning labels into scores is
//! `score.rs`'s job.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;

/// The stance classes the output contract names, in column order. `none` is not a class here: it
/// is what a speech gets when it is not on topic.
pub const STANCE_CLASSES: [&str; 4] = ["pro_powers", "anti_powers", "mixed", "neutral"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Taxonomy {
    /// Format version; only 1 exists.
    pub version: u32,
    /// Statements about state surveillance or encryption in general.
    pub on_topic: LabelText,
    /// Statements that are not (ordinary debate and hard negatives).
    pub off_topic: LabelText,
    #[serde(default)]
    pub scoring: Scoring,
    #[serde(rename = "topic")]
    pub topics: Vec<Label>,
    #[serde(rename = "stance")]
    pub stances: Vec<Label>,
    /// SHA-256 of the file's bytes, filled in by [`Taxonomy::load`].
    #[serde(skip)]
    pub fingerprint: String,
    #[serde(skip)]
    pub path: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelText {
    pub description: String,
    pub examples: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    pub name: String,
    pub description: String,
    /// A topic is listed in `topics` when its score is at least this (default 0.5).
    pub threshold: Option<f64>,
    pub examples: Vec<String>,
}

/// How prototype similarities become scores in [0, 1]; see the README's "How scores are made".
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scoring {
    /// Similarities averaged per label: the k closest examples.
    pub top_k: usize,
    /// Logistic slope applied to (label similarity - off-topic similarity).
    pub slope: f64,
    /// Logistic offset for topics.
    pub topic_offset: f64,
    /// Logistic offset for on_topic.
    pub on_topic_offset: f64,
    /// A speech is on topic (and gets a stance other than `none`) when on_topic >= this.
    pub on_topic_threshold: f64,
    /// Softmax temperature over stance similarities (bigger = sharper).
    pub stance_sharpness: f64,
}

impl Default for Scoring {
    fn default() -> Self {
        Scoring {
            top_k: 3,
            slope: 20.0,
            topic_offset: 0.0,
            on_topic_offset: 0.0,
            on_topic_threshold: 0.5,
            stance_sharpness: 30.0,
        }
    }
}

impl Label {
    /// Description first, then the examples: the texts whose embeddings stand for this label.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.description.as_str()).chain(self.examples.iter().map(String::as_str))
    }

    pub fn threshold(&self) -> f64 {
        self.threshold.unwrap_or(0.5)
    }
}

impl LabelText {
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.description.as_str()).chain(self.examples.iter().map(String::as_str))
    }
}

impl Taxonomy {
    /// Reads and validates a taxonomy file, reporting every problem found together.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let fail = |what: String| Error::Taxonomy { path: path.to_path_buf(), what };
        let text = std::str::from_utf8(&bytes).map_err(|e| fail(format!("not UTF-8: {e}")))?;
        let mut taxonomy: Taxonomy = toml::from_str(text).map_err(|e| fail(e.to_string()))?;
        let problems = taxonomy.problems();
        if !problems.is_empty() {
            return Err(fail(format!("\n  - {}", problems.join("\n  - "))));
        }
        taxonomy.fingerprint = crate::fingerprint::sha256_hex(&bytes);
        taxonomy.path = path.to_path_buf();
        Ok(taxonomy)
    }

    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.version != 1 {
            out.push(format!("version {} is not supported (only 1)", self.version));
        }
        if self.topics.is_empty() {
            out.push("no [[topic]] tables".into());
        }
        let mut seen = BTreeSet::new();
        for label in &self.topics {
            if label.name.is_empty()
                || !label.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                out.push(format!("topic name `{}` must be lower-case letters, digits and _", label.name));
            }
            if !seen.insert(label.name.as_str()) {
                out.push(format!("topic `{}` appears twice", label.name));
            }
            if let Some(t) = label.threshold {
                if !(0.0..=1.0).contains(&t) {
                    out.push(format!("topic `{}`: threshold {t} is not in [0, 1]", label.name));
                }
            }
        }
        let names: Vec<&str> = self.stances.iter().map(|s| s.name.as_str()).collect();
        if names != STANCE_CLASSES {
            out.push(format!(
                "stance classes must be exactly {:?} in that order; found {:?}",
                STANCE_CLASSES, names
            ));
        }
        let all = self.topics.iter().chain(&self.stances);
        for label in all {
            if label.description.trim().is_empty() && label.examples.is_empty() {
                out.push(format!("label `{}` has neither a description nor examples", label.name));
            }
        }
        for (name, part) in [("on_topic", &self.on_topic), ("off_topic", &self.off_topic)] {
            if part.examples.is_empty() {
                out.push(format!("[{name}] needs at least one example"));
            }
        }
        let s = &self.scoring;
        if s.top_k == 0 {
            out.push("scoring.top_k must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&s.on_topic_threshold) {
            out.push("scoring.on_topic_threshold must be in [0, 1]".into());
        }
        out
    }

    pub fn topic_names(&self) -> Vec<&str> {
        self.topics.iter().map(|t| t.name.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
        f
    }

    const STANCES: &str = r#"
[[stance]]
name = "pro_powers"
description = "for"
examples = ["a"]
[[stance]]
name = "anti_powers"
description = "against"
examples = ["b"]
[[stance]]
name = "mixed"
description = "both"
examples = ["c"]
[[stance]]
name = "neutral"
description = "neither"
examples = ["d"]
"#;

    #[test]
    fn the_shipped_taxonomy_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/taxonomy.toml");
        let t = Taxonomy::load(&path).unwrap();
        assert_eq!(
            t.topic_names(),
            [
                "encryption", "interception", "communications_data", "bulk_powers",
                "equipment_interference", "oversight", "tech_companies", "national_security",
                "privacy_rights", "online_safety", "physical_surveillance"
            ]
        );
        assert_eq!(t.fingerprint.len(), 64);
    }

    #[test]
    fn every_problem_is_reported_together() {
        let text = format!(
            "version = 2\n[on_topic]\ndescription = \"x\"\nexamples = []\n[off_topic]\ndescription = \"y\"\nexamples = [\"z\"]\n\
             [[topic]]\nname = \"Bad Name\"\ndescription = \"d\"\nthreshold = 2.0\nexamples = [\"e\"]\n\
             [[topic]]\nname = \"Bad Name\"\ndescription = \"d\"\nexamples = []\n{STANCES}"
        );
        let f = write(&text);
        let err = Taxonomy::load(f.path()).unwrap_err().to_string();
        for needle in ["version 2", "lower-case", "appears twice", "threshold 2", "[on_topic] needs"] {
            assert!(err.contains(needle), "missing {needle:?} in {err}");
        }
    }

    #[test]
    fn unknown_fields_and_wrong_stances_are_refused() {
        let f = write("version = 1\ncolour = 3\n");
        assert!(Taxonomy::load(f.path()).unwrap_err().to_string().contains("colour"));
        let text = format!(
            "version = 1\n[on_topic]\ndescription = \"x\"\nexamples = [\"a\"]\n[off_topic]\ndescription = \"y\"\nexamples = [\"z\"]\n\
             [[topic]]\nname = \"t\"\ndescription = \"d\"\nexamples = [\"e\"]\n{}",
            STANCES.replace("\"mixed\"", "\"both_ways\"")
        );
        let f = write(&text);
        assert!(Taxonomy::load(f.path()).unwrap_err().to_string().contains("stance classes must be exactly"));
    }
}
