//! doccano: the text-classification import (JSON Lines): the text, a `label` list (the listed
//! topics and `stance:<class>`), the id, the `stance_evidence` sentence and the passthrough
//! columns as metadata.

use serde_json::{Map, Value};

use super::{write_json_line, Canonical, FormatContext, Out};
use crate::error::Error;

pub(super) fn write(c: &mut Canonical, out: &mut Out, ctx: &FormatContext) -> Result<(), Error> {
    let text_at = c.require_text(ctx)?;
    let others = c.other_fields(&["text", "label", "id", "stance_evidence"]);
    while c.next()? {
        let mut labels: Vec<String> = Vec::new();
        if c.scored() {
            labels.extend(c.listed().map(String::from));
            labels.push(format!("stance:{}", c.field(c.stance_at())));
        }
        let mut task = Map::new();
        task.insert("text".into(), c.field(text_at).into());
        task.insert("label".into(), labels.into());
        task.insert("id".into(), c.id_value());
        task.insert("stance_evidence".into(), c.field(c.stance_evidence_at()).into());
        for (i, name) in &others {
            task.insert(name.clone(), c.field(*i).into());
        }
        write_json_line(out, &Value::Object(task), ctx)?;
    }
    Ok(())
}
