//! `parlscan merge`: joins the part files of a sharded run into the output a single machine
//! would have written, byte for byte, after checking that the parts belong together.
//!
//! Owns the checks (same run, every shard exactly once, no row missing or doubled) and the merge
//! by input position; the manifest and rejects of the merged output are combined from the parts'.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::manifest::{manifest_path, write_rejects, Counts, Manifest, Reject, Timings};
use crate::output::Sink;
use crate::pipeline::PART_ROW_COLUMN;
use crate::shard::Shard;

/// What a merge did.
#[derive(Debug)]
pub struct Merged {
    pub rows: usize,
    pub parts: usize,
    pub counts: Counts,
    pub exit_status: i32,
}

struct Part {
    path: PathBuf,
    manifest: Manifest,
    shard: Shard,
}

/// Reads and checks the parts' manifests; every problem is reported together.
fn check_parts(paths: &[PathBuf]) -> Result<Vec<Part>, Error> {
    let mut problems = Vec::new();
    let mut parts = Vec::new();
    for path in paths {
        let Some(manifest) = Manifest::read(&manifest_path(path)) else {
            problems.push(format!(
                "{}: no manifest beside it ({}): is it a finished part of a sharded run?",
                path.display(),
                manifest_path(path).display()
            ));
            continue;
        };
        match manifest.shard.as_deref().map(str::parse::<Shard>) {
            Some(Ok(shard)) => parts.push(Part { path: path.clone(), manifest, shard }),
            _ => problems.push(format!("{}: not a part file (its manifest names no shard)", path.display())),
        }
    }
    if let Some(first) = parts.first() {
        for p in &parts[1..] {
            if p.manifest.run_key != first.manifest.run_key {
                problems.push(format!(
                    "{} and {} come from different runs (input, model, head, taxonomy or settings differ)",
                    first.path.display(),
                    p.path.display()
                ));
            }
            if p.shard.count != first.shard.count {
                problems.push(format!(
                    "{} is shard {} but {} is shard {}: different shard counts",
                    first.path.display(),
                    first.shard,
                    p.path.display(),
                    p.shard
                ));
            }
        }
        let count = first.shard.count;
        let mut by_index: BTreeMap<usize, Vec<&Path>> = BTreeMap::new();
        for p in &parts {
            by_index.entry(p.shard.index).or_default().push(&p.path);
        }
        let missing: Vec<String> = (0..count).filter(|i| !by_index.contains_key(i)).map(|i| format!("{i}/{count}")).collect();
        if !missing.is_empty() {
            problems.push(format!(
                "missing shards: {} (run `parlscan classify … --shard I/N` for each, or resubmit those array tasks)",
                missing.join(", ")
            ));
        }
        for (i, paths) in &by_index {
            if paths.len() > 1 {
                let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                problems.push(format!("shard {i}/{count} is given more than once: {}", names.join(", ")));
            }
        }
    }
    if problems.is_empty() {
        Ok(parts)
    } else {
        Err(Error::Usage(format!("cannot merge:\n  {}", problems.join("\n  "))))
    }
}

/// Merges part files into `output` (atomically), with a combined manifest and rejects file.
pub fn merge(paths: &[PathBuf], output: &Path) -> Result<Merged, Error> {
    let started = std::time::Instant::now();
    let parts = check_parts(paths)?;
    let mut readers = Vec::new();
    let mut header: Option<Vec<String>> = None;
    for p in &parts {
        let mut r = ::csv::Reader::from_path(&p.path).map_err(|e| Error::csv_read(&p.path, e))?;
        let h: Vec<String> = r.headers().map_err(|e| Error::csv_read(&p.path, e))?.iter().map(String::from).collect();
        if h.first().map(String::as_str) != Some(PART_ROW_COLUMN) {
            return Err(Error::Input { path: p.path.clone(), what: format!("its first column is not `{PART_ROW_COLUMN}`") });
        }
        match &header {
            None => header = Some(h),
            Some(first) if *first != h => {
                return Err(Error::Input { path: p.path.clone(), what: "its columns differ from the other parts'".into() });
            }
            Some(_) => {}
        }
        readers.push((p.path.clone(), r.into_records()));
    }
    let header = header.expect("at least one part");
    let (mut sink, _) = Sink::file(output, &header[1..], "merge", usize::MAX, true)?;
    // Each part is in input order: repeatedly take the part whose next row comes first.
    let mut heads: Vec<Option<(usize, ::csv::StringRecord)>> = Vec::new();
    let next = |path: &Path, it: &mut ::csv::StringRecordsIntoIter<std::fs::File>| -> Result<Option<(usize, ::csv::StringRecord)>, Error> {
        match it.next() {
            None => Ok(None),
            Some(Err(e)) => Err(Error::csv_read(path, e)),
            Some(Ok(rec)) => {
                let at = rec[0].parse::<usize>().map_err(|_| Error::Input {
                    path: path.to_path_buf(),
                    what: format!("`{}` in `{PART_ROW_COLUMN}` is not a row number", &rec[0]),
                })?;
                Ok(Some((at, rec)))
            }
        }
    };
    for (path, it) in readers.iter_mut() {
        heads.push(next(path, it)?);
    }
    let mut expected = 0usize;
    let mut rows = 0usize;
    let result = (|| -> Result<(), Error> {
        loop {
            let Some(k) = (0..heads.len()).filter(|&k| heads[k].is_some()).min_by_key(|&k| heads[k].as_ref().map(|h| h.0)) else {
                break;
            };
            let (at, rec) = heads[k].take().expect("chosen");
            if at != expected {
                let what = if at < expected { "appears twice" } else { "is missing" };
                return Err(Error::Input {
                    path: readers[k].0.clone(),
                    what: format!("row {} {what} across the parts: rerun the shard that should hold it", at.min(expected)),
                });
            }
            let fields: Vec<String> = rec.iter().skip(1).map(String::from).collect();
            sink.write_row(&fields)?;
            expected += 1;
            rows += 1;
            let (path, it) = &mut readers[k];
            heads[k] = next(path, it)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        sink.abandon();
        return Err(e);
    }
    sink.finish()?;

    let mut counts = Counts::default();
    let mut rejects: Vec<(usize, Reject)> = Vec::new();
    let inputs: Vec<String> = parts[0].manifest.fingerprints.inputs.iter().map(|i| i.path.clone()).collect();
    for p in &parts {
        let c = &p.manifest.counts;
        counts.read += c.read;
        counts.scored += c.scored;
        counts.reused += c.reused;
        counts.resumed += c.resumed;
        counts.rejected += c.rejected;
        // Every shard reads every input, so each saw all the empty speeches.
        counts.skipped_empty = counts.skipped_empty.max(c.skipped_empty);
        for (k, v) in &c.not_scored {
            *counts.not_scored.entry(k.clone()).or_default() += v;
        }
        if let Some(r) = &p.manifest.rejects {
            let mut reader = ::csv::Reader::from_path(r).map_err(|e| Error::csv_read(Path::new(r), e))?;
            for row in reader.deserialize::<Reject>() {
                let row = row.map_err(|e| Error::csv_read(Path::new(r), e))?;
                let file = inputs.iter().position(|i| *i == row.file).unwrap_or(usize::MAX);
                rejects.push((file, row));
            }
        }
    }
    // Input order, as a single run writes them: by input, then line.
    rejects.sort_by_key(|(f, row)| (*f, row.line));
    let reject_rows: Vec<Reject> = rejects.into_iter().map(|(_, row)| row).collect();
    let rejects_written = write_rejects(output, &reject_rows)?.map(|p| p.display().to_string());
    let exit_status = parts.iter().map(|p| p.manifest.exit_status).max().unwrap_or(0);
    let first = &parts[0].manifest;
    let manifest = Manifest {
        tool: "parlscan".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        command_line: std::env::args().collect(),
        output: output.display().to_string(),
        rejects: rejects_written,
        fingerprints: first.fingerprints.clone(),
        engine: first.engine.clone(),
        labels_key: first.labels_key.clone(),
        run_key: first.run_key.clone(),
        shard: None,
        counts: counts.clone(),
        timings: Timings {
            started_unix: first.timings.started_unix,
            startup_seconds: 0.0,
            wall_seconds: started.elapsed().as_secs_f64(),
            speeches_per_second: 0.0,
        },
        exit_status,
        skipped_inputs: parts[0].manifest.skipped_inputs.clone(),
    };
    manifest.write(&manifest_path(output))?;
    Ok(Merged { rows, parts: parts.len(), counts, exit_status })
}

