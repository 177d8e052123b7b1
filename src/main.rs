//! The `parlscan` binary: parses arguments, runs the command, maps errors to exit codes.

use std::process::ExitCode;

use clap::Parser;
use parlscan::cli::{Cli, Command};
use parlscan::config::RunConfig;
use parlscan::error::{exit, Error};

fn main() -> ExitCode {
    let cli = Cli::parse();
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
            let config = RunConfig::from_args(&args)?;
            let summary = parlscan::pipeline::classify(&config)?;
            if !config.quiet {
                let target = config.output.as_ref().map_or("stdout".to_string(), |p| p.display().to_string());
                eprintln!("parlscan: {summary}\nparlscan: wrote {target}");
            }
            Ok(if summary.not_scored.is_empty() { exit::OK } else { exit::PARTIAL })
        }
    }
}

/// Output piped into `head` and closed early is not an error.
fn is_closed_pipe(e: &Error) -> bool {
    matches!(e, Error::Write { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
}
