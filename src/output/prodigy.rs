//! Prodigy: tasks (JSON Lines) for choice interfaces: every topic an option with its score, the
//! listed topics accepted, stance, stance evidence and passthrough columns in `meta`.

use serde_json::{json, Map, Value};

use super::jsonl::text_or_null;
use super::{write_json_line, Canonical, FormatContext, Out};
use crate::error::Error;

pub(super) fn write(c: &mut Canonical, out: &mut Out, ctx: &FormatContext) -> Result<(), Error> {
    let text_at = c.require_text(ctx)?;
    let others = c.other_fields(&["id", "stance", "stance_score", "stance_evidence", "status"]);
    while c.next()? {
        let mut meta = Map::new();
        meta.insert("id".into(), c.id_value());
        for (i, name) in &others {
            meta.insert(name.clone(), c.field(*i).into());
        }
        meta.insert("stance".into(), text_or_null(c.field(c.stance_at())));
        meta.insert("stance_score".into(), c.float(c.stance_score_at())?.into());
        meta.insert("stance_evidence".into(), text_or_null(c.field(c.stance_evidence_at())));
        if !c.scored() {
            meta.insert("status".into(), c.field(c.status_at()).into());
        }
        let mut options = Vec::with_capacity(ctx.topics.len());
        for (t, topic) in ctx.topics.iter().enumerate() {
            let mut option = json!({"id": topic, "text": topic});
            if let Some(score) = c.float(c.topic_score_at(t))? {
                option["score"] = score.into();
            }
            options.push(option);
        }
        let accept: Vec<&str> = c.listed().collect();
        let task: Value = json!({"text": c.field(text_at), "meta": meta, "options": options, "accept": accept});
        write_json_line(out, &task, ctx)?;
    }
    Ok(())
}
