//! JSON Lines: one object per speech, keys in column order, typed: numbers, `null` for empty
//! scores and labels, `topics` as an array.

use serde_json::{Map, Value};

use super::canonical::Kind;
use super::{write_json_line, Canonical, FormatContext, Out};
use crate::error::Error;

pub(super) fn write(c: &mut Canonical, out: &mut Out, ctx: &FormatContext) -> Result<(), Error> {
    while c.next()? {
        let scored = c.scored();
        let mut row = Map::new();
        for i in 0..c.header.len() {
            let value = match c.kinds[i] {
                Kind::Passthrough | Kind::Status => c.field(i).into(),
                Kind::Score => c.float(i)?.into(),
                Kind::Count => c.int(i)?.into(),
                Kind::Topics if scored => c.listed().collect::<Vec<_>>().into(),
                Kind::Topics => Value::Null,
                Kind::Label => text_or_null(c.field(i)),
            };
            row.insert(c.names[i].clone(), value);
        }
        write_json_line(out, &Value::Object(row), ctx)?;
    }
    Ok(())
}

/// A label as JSON: the text, or `null` when empty.
pub(super) fn text_or_null(s: &str) -> Value {
    if s.is_empty() {
        Value::Null
    } else {
        s.into()
    }
}
