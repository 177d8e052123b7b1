//! Label Studio: a task list (one JSON array) with the text, the passthrough columns and the
//! `stance_evidence` sentence as `data`
//! and the labels as a prediction (`choices` results on `topics` and `stance`), scored.

use std::io::Write;

use serde_json::{json, Map, Value};

use super::{Canonical, FormatContext, Out};
use crate::error::Error;
use crate::taxonomy::STANCE_CLASSES;

pub(super) fn write(c: &mut Canonical, out: &mut Out, ctx: &FormatContext) -> Result<(), Error> {
    let text_at = c.require_text(ctx)?;
    let id_key = ctx.id_col.as_str();
    let others = c.other_fields(&["text", id_key, "stance_evidence"]);
    let write_err = |e: std::io::Error| Error::write(&ctx.output, e);
    out.write_all(b"[").map_err(write_err)?;
    while c.next()? {
        let mut data = Map::new();
        if let Some(i) = c.id {
            data.insert(id_key.to_string(), c.field(i).into());
        }
        data.insert("text".into(), c.field(text_at).into());
        for (i, name) in &others {
            data.insert(name.clone(), c.field(*i).into());
        }
        data.insert("stance_evidence".into(), c.field(c.stance_evidence_at()).into());
        let mut predictions = Vec::new();
        if c.scored() {
            let on_topic = c.float(c.on_topic_at())?.unwrap_or(0.0);
            let mut result = Vec::new();
            let listed: Vec<&str> = c.listed().collect();
            if !listed.is_empty() {
                let top = Some(c.field(c.top_topic_at())).filter(|t| !t.is_empty()).unwrap_or(listed[0]);
                result.push(choices("topics", &listed, topic_score(c, ctx, top)?));
            }
            let stance = c.field(c.stance_at());
            result.push(choices("stance", &[stance], stance_probability(c, stance, on_topic)?));
            predictions.push(json!({"model_version": ctx.model_version, "score": on_topic, "result": result}));
        }
        let task = json!({"id": c.rows, "data": data, "predictions": predictions});
        out.write_all(if c.rows > 1 { b",\n" } else { b"\n" }).map_err(write_err)?;
        serde_json::to_writer(&mut *out, &task).map_err(|e| write_err(e.into()))?;
    }
    let end: &[u8] = if c.rows == 0 { b"]\n" } else { b"\n]\n" };
    out.write_all(end).map_err(write_err)
}

/// One Label Studio `choices` result on the `text` object.
fn choices(from_name: &str, choices: &[&str], score: f64) -> Value {
    json!({"from_name": from_name, "to_name": "text", "type": "choices", "value": {"choices": choices}, "score": score})
}

/// A topic's score in the current row.
fn topic_score(c: &Canonical, ctx: &FormatContext, topic: &str) -> Result<f64, Error> {
    let t = ctx.topics.iter().position(|name| name == topic).ok_or_else(|| Error::Input {
        path: c.path.clone(),
        what: format!("row {}: topic `{topic}` is not in the taxonomy", c.rows),
    })?;
    Ok(c.float(c.topic_score_at(t))?.unwrap_or(0.0))
}

/// P(stance) of the current row: the class's probability, or 1 - on_topic for `none`.
fn stance_probability(c: &Canonical, stance: &str, on_topic: f64) -> Result<f64, Error> {
    if stance == "none" {
        // Four decimals, like the scores it comes from (not 0.18769999999999998).
        return Ok(((1.0 - on_topic) * 1e4).round() / 1e4);
    }
    let k = STANCE_CLASSES.iter().position(|s| *s == stance).ok_or_else(|| Error::Input {
        path: c.path.clone(),
        what: format!("row {}: `{stance}` is not a stance", c.rows),
    })?;
    Ok(c.float(c.stance_class_at(k))?.unwrap_or(0.0))
}

