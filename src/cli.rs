//! The command line, declared with clap's derive API; the doc comments are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The exit-code table, shared by the top-level and per-command help (and documented in the README).
macro_rules! exit_codes {
    () => {
        "Exit codes:
  0   every row was read and scored
  1   done, output written, but some rows were not scored (see their `status`)
  64  bad usage or configuration (flags, taxonomy, head)
  65  an input cannot be used (no text column, malformed file)
  66  an input file does not exist
  70  internal failure (the model failed at run time)
  74  writing the output failed (disk full, permissions); any previous output is left intact
  78  model or libtorch missing or incomplete: run scripts/setup.sh"
    };
}

#[derive(Debug, Parser)]
#[command(name = "parlscan", version, about = "Label parliamentary speeches for surveillance and encryption topics and stance.",
    after_help = exit_codes!())]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Score every speech of a corpus for topics and stance; write a labelled CSV.
    #[command(after_help = concat!(
        "Examples:\n",
        "  parlscan classify speeches.csv -o labelled.csv\n",
        "  parlscan classify --text-col body --id-col speech_id a.csv b.csv > labelled.csv\n",
        "  cat speeches.csv | parlscan classify - --quiet | head\n\n",
        "Output columns, after every input column in its order: on_topic, topics, top_topic,\n",
        "topic_<label> for each topic, stance, stance_score, stance_pro_powers, stance_anti_powers,\n",
        "stance_mixed, stance_neutral, evidence, n_words, n_chunks, status.\n\n",
        exit_codes!()))]
    Classify(ClassifyArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ClassifyArgs {
    /// Input CSV files with a header row (`.tsv`: tab-separated); `-` reads stdin.
    /// Example: `parlscan classify debates-2016.csv debates-2017.csv`
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// Where to write the labelled CSV; `-` or nothing means stdout. A file appears only complete.
    /// Example: `-o labelled.csv`
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: Option<PathBuf>,

    /// The column holding the speech text. Example: `--text-col body`
    #[arg(long, default_value = "text", value_name = "NAME")]
    pub text_col: String,

    /// The column holding the speech id; without it, ids are 1-based row numbers.
    /// Example: `--id-col speech_id`
    #[arg(long, default_value = "id", value_name = "NAME")]
    pub id_col: String,

    /// Model folder (config.json, tokenizer.json, model.safetensors).
    /// Default: models/all-MiniLM-L6-v2, installed by scripts/setup.sh. Example: `--model models/my-bert`
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,

    /// Label definitions: topics and stance classes with example statements.
    /// Default: data/taxonomy.toml. Example: `--taxonomy my-labels.toml`
    #[arg(long, value_name = "FILE")]
    pub taxonomy: Option<PathBuf>,

    /// Threads for tokenization and the model; 0 means one per core. Output does not depend on it.
    /// Example: `--threads 1`
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub threads: usize,

    /// Most padded word-pieces per model batch (memory vs speed); output does not depend on it.
    /// Example: `--batch-tokens 4096`
    #[arg(long, default_value_t = 8192, value_name = "N")]
    pub batch_tokens: usize,

    /// No progress bar and no summary on stderr (errors are still printed).
    #[arg(short, long)]
    pub quiet: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_classify_flag_parses() {
        let cli = Cli::try_parse_from([
            "parlscan", "classify", "a.csv", "-", "-o", "out.csv", "--text-col", "body", "--id-col", "sid",
            "--model", "m", "--taxonomy", "t.toml", "--threads", "1", "--batch-tokens", "1024", "--quiet",
        ])
        .unwrap();
        let Command::Classify(a) = cli.command;
        assert_eq!(a.inputs, [PathBuf::from("a.csv"), PathBuf::from("-")]);
        assert_eq!(a.output, Some(PathBuf::from("out.csv")));
        assert_eq!((a.text_col.as_str(), a.id_col.as_str()), ("body", "sid"));
        assert_eq!((a.model, a.taxonomy), (Some("m".into()), Some("t.toml".into())));
        assert_eq!((a.threads, a.batch_tokens, a.quiet), (1, 1024, true));
    }

    #[test]
    fn defaults() {
        let Command::Classify(a) = Cli::try_parse_from(["parlscan", "classify", "x.csv"]).unwrap().command;
        assert_eq!((a.text_col.as_str(), a.id_col.as_str(), a.threads, a.batch_tokens), ("text", "id", 0, 8192));
        assert!(a.output.is_none() && !a.quiet);
        assert!(Cli::try_parse_from(["parlscan", "classify"]).is_err(), "an input is required");
    }
}
