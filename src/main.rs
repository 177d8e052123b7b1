//! The `parlscan` binary: parses arguments, runs the command, maps errors to exit codes.

use std::process::ExitCode;

use clap::Parser;
use parlscan::cli::{ClassifyArgs, Cli, Command};
use parlscan::config::RunConfig;
use parlscan::error::{exit, Error};
use parlscan::evaluate;
use parlscan::lock::OutputLock;
use parlscan::max_not_scored;
use parlscan::report;

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print to stdout and succeed; a usage error is EX_USAGE.
            let code = if e.use_stderr() { exit::USAGE } else { exit::OK };
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) if is_closed_pipe(&e) => exit::OK,
        Err(e) => {
            eprintln!("parlscan: error: {e}");
            e.exit_code()
        }
    };
    ExitCode::from(code as u8)
}

fn run(cli: Cli) -> Result<i32, Error> {
    match cli.command {
        Command::Classify(args) => {
            let report = args.report.as_ref().map(|page| report_of_classify(&args, page)).transpose()?;
            let config = RunConfig::from_args(&args)?;
            // Held until the output, manifest and rejects are all written.
            let _lock = config.output.as_deref().map(|out| OutputLock::acquire(out, args.wait)).transpose()?;
            let summary = parlscan::pipeline::classify(&config)?;
            if !config.quiet {
                let target = config.output.as_ref().map_or("stdout".to_string(), |p| p.display().to_string());
                eprintln!("parlscan: {summary}\nparlscan: scored with {}; wrote {target}\nparlscan: engine {}", summary.scorer, summary.engine);
            }
            if let Some(options) = report {
                write_report(&options, config.quiet)?;
            }
            let code = max_not_scored::exit_code(summary.exit_code(), &summary.counts, config.max_not_scored);
            if let Some(limit) = config.max_not_scored.filter(|_| code == exit::DATA) {
                eprintln!("parlscan: {}", max_not_scored::explain(&summary.counts, limit));
            }
            Ok(code)
        }
        Command::Report(args) => {
            let options = report::Options {
                inputs: args.inputs,
                format: None,
                output: args.output,
                gold: args.gold,
                id_col: args.id_col,
                date_col: args.date_col,
                group_col: args.group_col,
                title: args.title,
            };
            write_report(&options, args.quiet)?;
            Ok(exit::OK)
        }
        Command::Evaluate(args) => {
            let gold = evaluate::read_labels(&args.gold, &args.id_col, false)?;
            let pred = evaluate::read_labels(&args.pred, &args.id_col, true)?;
            let (gold, pred) = evaluate::join(gold, pred, &args.gold, &args.pred)?;
            let report = evaluate::compare(&gold, &pred);
            print!("{report}");
            if let Some(path) = &args.report {
                let json = serde_json::to_string_pretty(&report).expect("a report serialises");
                std::fs::write(path, json + "\n").map_err(|e| Error::write(path, e))?;
            }
            Ok(exit::OK)
        }
        Command::Merge(args) => {
            let _lock = OutputLock::acquire(&args.output, args.wait)?;
            let merged = parlscan::merge::merge(&args.parts, &args.output)?;
            if !args.quiet {
                eprintln!(
                    "parlscan: merged {} parts: {} rows ({} scored, {} reused, {} resumed, {} rejected); wrote {}",
                    merged.parts,
                    merged.rows,
                    merged.counts.scored,
                    merged.counts.reused,
                    merged.counts.resumed,
                    merged.counts.rejected,
                    args.output.display()
                );
            }
            Ok(merged.exit_status)
        }
        Command::Fit(args) => {
            parlscan::fit::run(&args)?;
            Ok(exit::OK)
        }
        Command::Tune(args) => {
            parlscan::tune::run(&args)?;
            Ok(exit::OK)
        }
    }
}

/// The report `classify --report PAGE` writes once its output is written: the output must be a
/// file (the page reads it back) in a classify-shaped format. Checked before the run starts.
fn report_of_classify(args: &ClassifyArgs, page: &std::path::Path) -> Result<report::Options, Error> {
    let output = args.output.as_ref().filter(|o| o.as_os_str() != "-");
    let Some(output) = output else {
        return Err(Error::Usage("--report reads the output back: it needs a file -o (not stdout)".into()));
    };
    let Some(format) = report::Format::of_output(args.format) else {
        return Err(Error::Usage(format!("--report reads csv, tsv, jsonl or parquet output, not --format {}", args.format)));
    };
    Ok(report::Options {
        inputs: vec![output.clone()],
        format: Some(format),
        output: page.to_path_buf(),
        gold: None,
        id_col: args.id_col.clone(),
        date_col: None,
        group_col: None,
        title: None,
    })
}

fn write_report(options: &report::Options, quiet: bool) -> Result<(), Error> {
    let written = report::write_report(options)?;
    if !quiet {
        for p in &written.problems {
            eprintln!("parlscan: warning: {p}");
        }
        eprintln!(
            "parlscan: report of {} speeches: wrote {} ({} kB)",
            written.speeches,
            options.output.display(),
            written.bytes.div_ceil(1024)
        );
    }
    Ok(())
}

/// glibc hands large freed blocks back to the kernel after every libtorch op, and the mmap/munmap
/// churn of the attention tensors cost about a third of the run time here; keep them instead
/// (`scripts/bench.sh` measures it; PARLSCAN_MALLOC=default turns it off for comparison).
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("PARLSCAN_MALLOC").is_none_or(|v| v != "default") {
        // SAFETY: mallopt only tunes glibc's allocator; called before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
        }
    }
}

/// Output piped into `head` and closed early is not an error.
fn is_closed_pipe(e: &Error) -> bool {
    matches!(e, Error::Write { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
}
