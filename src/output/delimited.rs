//! The delimited formats: the canonical CSV as it is (after a byte order mark for Excel), and
//! the same fields tab-separated.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use super::{Canonical, FormatContext, Out, UTF8_BOM};
use crate::error::Error;

/// The canonical CSV as it is, after a byte order mark when asked.
pub(super) fn copy_csv(canonical_csv: &Path, out: &mut Out, ctx: &FormatContext) -> Result<(), Error> {
    use std::io::Read;
    let write_err = |e: io::Error| Error::write(&ctx.output, e);
    if ctx.excel_bom {
        out.write_all(UTF8_BOM).map_err(write_err)?;
    }
    let mut file = File::open(canonical_csv).map_err(|e| Error::io(canonical_csv, e))?;
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(canonical_csv, e)),
        };
        out.write_all(&buf[..n]).map_err(write_err)?;
    }
}

pub(super) fn write_tsv(c: &mut Canonical, out: &mut Out, ctx: &FormatContext) -> Result<(), Error> {
    let write_err = |e: io::Error| Error::write(&ctx.output, e);
    if ctx.excel_bom {
        out.write_all(UTF8_BOM).map_err(write_err)?;
    }
    let mut w = ::csv::WriterBuilder::new().delimiter(b'\t').from_writer(out);
    let csv_err = |e: ::csv::Error| Error::csv_write(&ctx.output, e);
    w.write_record(&c.header).map_err(csv_err)?;
    while c.next()? {
        w.write_record(&c.record).map_err(csv_err)?;
    }
    w.flush().map_err(write_err)
}

