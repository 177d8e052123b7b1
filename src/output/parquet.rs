//! Apache Parquet: typed columns (scores as doubles, counts as longs, empty as null), written in
//! row groups that are drained to the output as each is finished, so memory stays bounded.

use std::io::{self, Write};
use std::sync::Arc;

use super::canonical::Kind;
use super::{Canonical, FormatContext, Out};
use crate::error::Error;

/// Rows per row group at most, and text bytes: enough for good compression, bounded memory.
const ROW_GROUP_ROWS: usize = 50_000;
const ROW_GROUP_BYTES: usize = 64 << 20;

/// One column's values for the row group being built.
struct ColumnBuffer {
    kind: Kind,
    values: ParquetValues,
    /// Definition levels (1 = value, 0 = null); only for optional columns.
    defs: Vec<i16>,
}

enum ParquetValues {
    Text(Vec<parquet::data_type::ByteArray>),
    Double(Vec<f64>),
    Long(Vec<i64>),
}

impl Kind {
    fn optional(self) -> bool {
        !matches!(self, Kind::Passthrough | Kind::Status)
    }
}

fn parquet_type(name: &str, kind: Kind) -> parquet::errors::Result<parquet::schema::types::Type> {
    use parquet::basic::{LogicalType, Repetition, Type as Physical};
    use parquet::schema::types::Type;
    let repetition = if kind.optional() { Repetition::OPTIONAL } else { Repetition::REQUIRED };
    let (physical, logical) = match kind {
        Kind::Score => (Physical::DOUBLE, None),
        Kind::Count => (Physical::INT64, None),
        _ => (Physical::BYTE_ARRAY, Some(LogicalType::String)),
    };
    Type::primitive_type_builder(name, physical).with_repetition(repetition).with_logical_type(logical).build()
}

pub(super) fn write(c: &mut Canonical, out: &mut Out, ctx: &FormatContext) -> Result<(), Error> {
    write_groups(c, out, ctx, ROW_GROUP_ROWS)
}

pub(super) fn write_groups(c: &mut Canonical, out: &mut Out, ctx: &FormatContext, group_rows: usize) -> Result<(), Error> {
    use parquet::basic::Compression;
    use parquet::file::metadata::KeyValue;
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::types::Type;

    let pq = |e: parquet::errors::ParquetError| Error::write(&ctx.output, io::Error::other(e.to_string()));
    let fields = c
        .names
        .iter()
        .zip(&c.kinds)
        .map(|(name, &kind)| parquet_type(name, kind).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()
        .map_err(pq)?;
    let schema = Arc::new(Type::group_type_builder("labelled_speech").with_fields(fields).build().map_err(pq)?);
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by(format!("parlscan {}", env!("CARGO_PKG_VERSION")))
        .build();
    // Row groups are built in memory and drained to `out` as each is finished, so the file
    // streams into any writer (parquet wants one it can own and send).
    let mut writer = SerializedFileWriter::new(Vec::new(), schema, Arc::new(props)).map_err(pq)?;
    writer.append_key_value_metadata(KeyValue::new("parlscan.model_version".into(), ctx.model_version.clone()));
    let mut columns: Vec<ColumnBuffer> = c
        .kinds
        .iter()
        .map(|&kind| ColumnBuffer {
            kind,
            values: match kind {
                Kind::Score => ParquetValues::Double(Vec::new()),
                Kind::Count => ParquetValues::Long(Vec::new()),
                _ => ParquetValues::Text(Vec::new()),
            },
            defs: Vec::new(),
        })
        .collect();
    let (mut rows, mut bytes) = (0, 0);
    while c.next()? {
        let scored = c.scored();
        for (i, col) in columns.iter_mut().enumerate() {
            let field = c.field(i);
            let present = match (&mut col.values, col.kind) {
                (ParquetValues::Double(v), _) => c.float(i)?.map(|x| v.push(x)).is_some(),
                (ParquetValues::Long(v), _) => c.int(i)?.map(|x| v.push(x)).is_some(),
                (ParquetValues::Text(v), kind) => {
                    let present = match kind {
                        Kind::Topics => scored,
                        Kind::Label => !field.is_empty(),
                        _ => true,
                    };
                    if present {
                        v.push(field.as_bytes().to_vec().into());
                    }
                    present
                }
            };
            if col.kind.optional() {
                col.defs.push(i16::from(present));
            }
        }
        rows += 1;
        bytes += c.record.as_slice().len();
        if rows >= group_rows || bytes >= ROW_GROUP_BYTES {
            write_row_group(&mut writer, &mut columns).map_err(pq)?;
            writer.flush().map_err(|e| Error::write(&ctx.output, e))?;
            out.write_all(writer.inner_mut()).map_err(|e| Error::write(&ctx.output, e))?;
            writer.inner_mut().clear();
            (rows, bytes) = (0, 0);
        }
    }
    if rows > 0 {
        write_row_group(&mut writer, &mut columns).map_err(pq)?;
    }
    let rest = writer.into_inner().map_err(pq)?;
    out.write_all(&rest).map_err(|e| Error::write(&ctx.output, e))
}

fn write_row_group(
    writer: &mut parquet::file::writer::SerializedFileWriter<Vec<u8>>,
    columns: &mut [ColumnBuffer],
) -> parquet::errors::Result<()> {
    use parquet::data_type::{ByteArrayType, DoubleType, Int64Type};
    let mut group = writer.next_row_group()?;
    for col in columns.iter_mut() {
        let Some(mut w) = group.next_column()? else {
            return Err(parquet::errors::ParquetError::General("the schema has fewer columns than the rows".into()));
        };
        let defs = col.kind.optional().then_some(col.defs.as_slice());
        match &mut col.values {
            ParquetValues::Text(v) => {
                w.typed::<ByteArrayType>().write_batch(v, defs, None)?;
                v.clear();
            }
            ParquetValues::Double(v) => {
                w.typed::<DoubleType>().write_batch(v, defs, None)?;
                v.clear();
            }
            ParquetValues::Long(v) => {
                w.typed::<Int64Type>().write_batch(v, defs, None)?;
                v.clear();
            }
        }
        col.defs.clear();
        w.close()?;
    }
    group.close()?;
    Ok(())
}

