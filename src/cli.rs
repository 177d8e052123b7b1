//! The command line, declared with clap's derive API; the doc comments are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The exit-code table, shared by the top-level and per-command help (and documented in the README).
macro_rules! exit_codes {
    () => {
        "Exit codes:
  0   every row was read and scored
  1   done, output written, but some rows were not scored (see their `status`)
  64  bad usage or configuration (flags, taxonomy, head)
  65  an input cannot be used (no text column, malformed file), or more rows were not scored than
      --max-not-scored allows (the output is written)
  66  an input file does not exist
  70  internal failure (the model failed at run time)
  74  writing the output failed (disk full, permissions); any previous output is left intact
  75  another parlscan run is writing the same output: try again later, or pass --wait
  78  model, libtorch or ONNX Runtime missing or incomplete (run scripts/setup.sh), or no GPU for --device cuda"
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
        "stance_mixed, stance_neutral, evidence, stance_evidence, n_words, n_chunks, status.\n\n",
        exit_codes!()))]
    Classify(ClassifyArgs),

    /// Compare predicted labels with gold labels, joined on id: precision, recall and F1 per topic,
    /// on-topic detection, stance accuracy, macro-F1 and confusion, calibration of on_topic.
    #[command(after_help = concat!(
        "Example:\n",
        "  parlscan classify gold.csv -o pred.csv && parlscan evaluate --gold gold.csv --pred pred.csv --report report.json\n\n",
        "Gold needs `topics` (;-joined) and `stance` columns; predictions are classify's output (its label\n",
        "columns win over passthrough columns of the same name).\n\n",
        exit_codes!()))]
    Evaluate(EvaluateArgs),

    /// Learn heads (on-topic, one per topic, stance) from labelled speeches on top of the encoder;
    /// choose settings and per-topic thresholds by cross-validation; write a head file.
    #[command(after_help = concat!(
        "Example:\n",
        "  parlscan fit --train ../shared/data/dev.csv --train our-labels.csv -o models/heads/team.json\n",
        "  parlscan classify speeches.csv --head models/heads/team.json -o labelled.csv\n\n",
        exit_codes!()))]
    Fit(FitArgs),

    /// Fine-tune the encoder on pairs of labelled texts (SetFit-style contrastive learning) and
    /// write a new model folder; with --cross-validate, first measure whether it pays.
    #[command(after_help = concat!(
        "Examples:\n",
        "  parlscan tune --train ../shared/data/dev.csv --examples data/train_examples.csv --cross-validate\n",
        "  parlscan tune --train ../shared/data/dev.csv --examples data/train_examples.csv -o models/minilm-tuned\n",
        "  parlscan fit --model models/minilm-tuned --train ../shared/data/dev.csv -o models/heads/tuned.json\n",
        "  parlscan classify speeches.csv --model models/minilm-tuned --head models/heads/tuned.json -o labelled.csv\n\n",
        exit_codes!()))]
    Tune(TuneArgs),

    /// Merge the part files of a sharded run into the single-machine output, after checking they
    /// come from the same input, model, head and taxonomy and cover every shard exactly once.
    #[command(after_help = concat!(
        "Example (4 shards):\n",
        "  for i in 0 1 2 3; do parlscan classify speeches.csv --shard $i/4 -o out/part-$i.csv; done\n",
        "  parlscan merge out/part-*.csv -o labelled.csv\n\n",
        exit_codes!()))]
    Merge(MergeArgs),

    /// Summarise labelled outputs in one self-contained HTML page (no network needed): counts,
    /// topics, stance, over time, by group, the speeches to read first; with --gold, the evaluate
    /// figures as charts.
    #[command(after_help = concat!(
        "Examples:\n",
        "  parlscan report labelled.csv -o report.html\n",
        "  parlscan report 2015.parquet 2016.jsonl.gz -o report.html --group-col Speaker_party --title 'Commons 2015-16'\n",
        "  parlscan report pred.csv --gold ../shared/data/dev.csv -o report.html\n\n",
        "Inputs are classify outputs (CSV, TSV, JSON Lines, Parquet; gzip allowed). Dates come from `Date` or\n",
        "`date`, groups from `Party`, `Speaker_party` or `party`, unless named. docs/report.md describes the page.\n\n",
        exit_codes!()))]
    Report(ReportArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// `parlscan classify` outputs to summarise together. Example: `parlscan report labelled.csv -o report.html`
    #[arg(required = true, value_name = "LABELLED")]
    pub inputs: Vec<PathBuf>,

    /// Where to write the HTML page (`-`: stdout). A previous page stays intact until the new one is
    /// complete. Example: `-o report.html`
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    /// Gold labels (`id`, `topics`, `stance`) for some of the speeches: adds per-topic F1, the stance
    /// confusion matrix and the on_topic reliability diagram. Example: `--gold ../shared/data/dev.csv`
    #[arg(long, value_name = "GOLD")]
    pub gold: Option<PathBuf>,

    /// The date column (default: `Date`, else `date`). Example: `--date-col sitting_date`
    #[arg(long, value_name = "NAME")]
    pub date_col: Option<String>,

    /// The group column (default: `Party`, else `Speaker_party`, else `party`). Example: `--group-col speaker`
    #[arg(long, value_name = "NAME")]
    pub group_col: Option<String>,

    /// The page's title. Example: `--title 'Commons 2016'`
    #[arg(long, value_name = "TEXT")]
    pub title: Option<String>,

    /// The speech id column (shown, and joined with --gold). Example: `--id-col speech_id`
    #[arg(long, default_value = "id", value_name = "NAME")]
    pub id_col: String,

    /// No summary on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct EvaluateArgs {
    /// CSV with the careful human labels: `id`, `topics`, `stance`. Example: `--gold ../shared/data/dev.csv`
    #[arg(long, value_name = "GOLD")]
    pub gold: PathBuf,

    /// `parlscan classify` output for the same speeches. Example: `--pred out.csv`
    #[arg(long, value_name = "PRED")]
    pub pred: PathBuf,

    /// Also write the figures as JSON here. Example: `--report report.json`
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// The id column joining the two files. Example: `--id-col speech_id`
    #[arg(long, default_value = "id", value_name = "NAME")]
    pub id_col: String,
}

#[derive(Debug, Clone, Args)]
pub struct ClassifyArgs {
    /// Input files or folders: CSV or TSV with a header row, JSON Lines, ParlaMint (`NAME.txt`
    /// with `NAME-meta.tsv` beside it) or ParlParse/TheyWorkForYou XML, each optionally gzipped
    /// (`.gz`); a folder stands for every such file inside it; `-` reads stdin.
    /// Example: `parlscan classify debates-2016.csv ParlaMint-GB/ hansard.xml.gz`
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

    /// No progress bar and no summary on stderr (errors are still printed).
    #[arg(short, long)]
    pub quiet: bool,

    /// A head fitted by `parlscan fit`. Default: models/heads/default.json when it matches the model
    /// and taxonomy in use. Example: `--head models/heads/my-team.json`
    #[arg(long, value_name = "FILE", conflicts_with = "no_head")]
    pub head: Option<PathBuf>,

    /// Score with the taxonomy's label prototypes alone, without a fitted head.
    #[arg(long)]
    pub no_head: bool,

    /// Faster where the CPU allows, very slightly different labels. `--fast` alone picks the
    /// fastest of bf16 (where the CPU multiplies bfloat16 natively: AMX, AVX-512 BF16), int8 and
    /// the exact engine, counting the near ties each would rescore; timed once per machine.
    /// `--fast=bf16`: the model in bfloat16 on libtorch. `--fast=int8`: the int8-quantised model on ONNX Runtime (onnx/model-int8.onnx,
    /// written by scripts/setup.sh). Speeches close to a decision boundary are scored again at
    /// full precision. The README gives how often the labels agree with the default's.
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "auto",
          value_name = "KIND", conflicts_with_all = ["engine", "device"])]
    pub fast: Option<FastKind>,

    /// With --fast: keep its labels even for near ties, which --fast otherwise scores again at
    /// full precision. Faster still, and a few more labels differ from the default's (README).
    #[arg(long, requires = "fast")]
    pub no_rescore: bool,

    /// What runs the model: auto (the fastest engine on this CPU whose labels are libtorch fp32's:
    /// timed once per machine and cached), torch (rust-bert on libtorch, fp32: the reference) or
    /// onnx (ONNX Runtime, fp32 export). Example: `--engine torch`
    #[arg(long, value_enum, default_value_t = EngineName::Auto, value_name = "NAME")]
    pub engine: EngineName,

    /// Where the torch engine runs: cpu, or cuda (the first GPU; needs CUDA libtorch, see the README).
    /// Example: `--device cuda`
    #[arg(long, value_enum, default_value_t = DeviceName::Cpu, value_name = "NAME")]
    pub device: DeviceName,

    /// Reuse the labels of the previous output at -o for speeches whose id and text are unchanged
    /// (same model, head and taxonomy); score only new or changed ones. The result equals a full run.
    #[arg(long, requires = "output")]
    pub incremental: bool,

    /// Make progress durable every N rows (file output): a rerun after a crash continues there.
    /// Example: `--checkpoint-every 1000`
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub checkpoint_every: usize,

    /// Ignore a checkpoint left by an interrupted run and start over.
    #[arg(long)]
    pub restart: bool,

    /// Label only shard I of N (0-based): the speeches whose id hashes to I. The output is a part
    /// file (with a leading `parlscan_row` column) for `parlscan merge`. Without this flag the shard
    /// comes from SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_COUNT (or _MIN/_MAX), or from
    /// JOB_COMPLETION_INDEX with --shards. Example: `--shard 2/4`
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::shard::Shard>,

    /// Input format for every input (auto: from the name, else the content). Example: `--input-format jsonl`
    #[arg(long, value_enum, default_value_t, value_name = "NAME")]
    pub input_format: crate::corpus::InputFormat,

    /// Field separator of CSV input (default: `,`, or tab for .tsv). Example: `--delimiter ';'`
    #[arg(long, value_name = "C", value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,

    /// Output format. Example: `--format parquet -o labelled.parquet`
    #[arg(long, value_enum, default_value_t, value_name = "NAME")]
    pub format: crate::output::OutputFormat,

    /// Start CSV/TSV output with a UTF-8 byte-order mark, so Excel shows accents and curly quotes.
    #[arg(long)]
    pub excel: bool,

    /// The number of shards when the index comes from a Kubernetes Indexed Job
    /// (JOB_COMPLETION_INDEX). Example: `--shards 8`
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,

    /// Exit 65 instead of 1 when more rows than this were not scored: a number of rows, or a
    /// percentage of the rows read. The output and manifest are written either way.
    /// Example: `--max-not-scored 50` or `--max-not-scored 0.5%`
    #[arg(long, value_name = "N|P%")]
    pub max_not_scored: Option<crate::max_not_scored::MaxNotScored>,

    /// When another run is writing the same output (-o), wait for it to finish instead of exiting
    /// with 75.
    #[arg(long)]
    pub wait: bool,

    /// Also write a report page of the output (as `parlscan report OUTPUT -o FILE`) once it is
    /// written. Needs a file -o in csv, tsv, jsonl or parquet. Example: `--report report.html`
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// `classify --fast[=KIND]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FastKind {
    /// bf16 where the CPU has native bfloat16, else int8.
    Auto,
    Bf16,
    Int8,
}

/// `fit --taxonomy-examples`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum When {
    /// Cross-validation decides.
    Auto,
    Yes,
    No,
}

/// `classify --engine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineName {
    /// The fastest exact engine on this CPU.
    Auto,
    Torch,
    Onnx,
}

/// `classify --device`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceName {
    Cpu,
    Cuda,
}

#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// Part files written by `classify --shard` (or a Slurm array), in any order.
    /// Example: `parlscan merge out/part-*.csv -o labelled.csv`
    #[arg(required = true, value_name = "PART")]
    pub parts: Vec<PathBuf>,

    /// The merged output: the same bytes a single-machine run writes.
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: PathBuf,

    /// No summary on stderr.
    #[arg(short, long)]
    pub quiet: bool,

    /// When another run is writing the same output, wait for it to finish instead of exiting with 75.
    #[arg(long)]
    pub wait: bool,
}

/// The labelled data `fit` and `tune` learn from.
#[derive(Debug, Clone, Args)]
pub struct TrainingData {
    /// Labelled speeches: CSV with `text`, `topics` (;-joined taxonomy topics) and `stance`.
    /// Example: `--train ../shared/data/dev.csv`
    #[arg(long, required = true, value_name = "CSV")]
    pub train: Vec<PathBuf>,

    /// Labelled examples used only for training, never scored in cross-validation (for example
    /// synthetic statements); same columns as --train, plus an optional `labels` column naming
    /// what a row teaches (`topics`, `on_topic`, `stance`, `;`-joined; all when empty). Example: `--examples
    /// data/train_examples.csv`
    #[arg(long, value_name = "CSV")]
    pub examples: Vec<PathBuf>,

    /// Label definitions (its examples are prototypes, and optional training rows).
    /// Default: data/taxonomy.toml.
    #[arg(long, value_name = "FILE")]
    pub taxonomy: Option<PathBuf>,

    /// The column holding the speech text.
    #[arg(long, default_value = "text", value_name = "NAME")]
    pub text_col: String,

    /// The column that tells debates apart, so one debate's speeches share a fold.
    #[arg(long, default_value = "source", value_name = "NAME")]
    pub group_col: String,

    /// Cross-validation folds.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub folds: usize,
}

#[derive(Debug, Clone, Args)]
pub struct FitArgs {
    #[command(flatten)]
    pub data: TrainingData,

    /// Where to write the head (JSON). Example: `-o models/heads/my-team.json`
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    /// Model folder. Default: models/all-MiniLM-L6-v2.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,

    /// Whether the extra training rows (the taxonomy's example statements and --examples files)
    /// join the training rows.
    #[arg(long, value_enum, default_value_t = When::Auto, value_name = "WHEN")]
    pub taxonomy_examples: When,

    /// Repeat the cross-validation over N different fold assignments (still by debate) and rank
    /// the variants by their mean figures: steadier choices and figures on small training sets.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=50))]
    pub repeats: u16,

    /// Threads; 0 means one per core.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub threads: usize,
}

#[derive(Debug, Clone, Args)]
pub struct TuneArgs {
    #[command(flatten)]
    pub data: TrainingData,

    /// Where to write the fine-tuned model folder (a new folder: the base model's files with
    /// tuned weights, and tune.json saying how they were made). Example: `-o models/minilm-tuned`
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,

    /// Measure first: fine-tune a fresh copy per fold on that fold's training rows only and
    /// print the default head's cross-validated figures with the frozen and the tuned encoder.
    #[arg(long)]
    pub cross_validate: bool,

    /// The head whose settings (features, training examples, L2, sentences) `--cross-validate`
    /// fits on each encoder. Default: models/heads/default.json
    #[arg(long, value_name = "FILE", requires = "cross_validate")]
    pub head: Option<PathBuf>,

    /// The model folder to start from. Default: models/all-MiniLM-L6-v2.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,

    /// What the pairs contrast: `topics` pulls texts that share a topic together and pushes texts
    /// with no label in common apart; `stance` pulls texts that share a stance together and
    /// pushes pro_powers and anti_powers texts apart; `both` draws half the pairs each way.
    /// `--cross-validate` reports every objective.
    #[arg(long, value_enum, default_value_t = crate::tune::Objective::Topics, value_name = "WHAT")]
    pub objective: crate::tune::Objective,

    /// Training pairs (alternately positive and negative).
    #[arg(long, default_value_t = 800, value_name = "N")]
    pub pairs: usize,

    /// Passes over the pairs.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub epochs: usize,

    /// Seed for drawing pairs and for dropout.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub seed: u64,

    /// Threads; 0 means one per core.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub threads: usize,
}

/// A one-byte field separator: a single ASCII character, or `\t` / `tab`.
fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "\\t" | "tab" | "\t" => Ok(b'\t'),
        _ if s.len() == 1 && s.is_ascii() => Ok(s.as_bytes()[0]),
        _ => Err(format!("`{s}` is not a single ASCII character (use `tab` for a tab)")),
    }
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
            "--model", "m", "--taxonomy", "t.toml", "--threads", "1", "--quiet",
        ])
        .unwrap();
        let Command::Classify(a) = cli.command else { panic!("classify") };
        assert_eq!(a.inputs, [PathBuf::from("a.csv"), PathBuf::from("-")]);
        assert_eq!(a.output, Some(PathBuf::from("out.csv")));
        assert_eq!((a.text_col.as_str(), a.id_col.as_str()), ("body", "sid"));
        assert_eq!((a.model, a.taxonomy), (Some("m".into()), Some("t.toml".into())));
        assert_eq!((a.threads, a.quiet), (1, true));
        let cli = Cli::try_parse_from(["parlscan", "classify", "a.csv", "--head", "h.json"]).unwrap();
        let Command::Classify(a) = cli.command else { panic!("classify") };
        assert_eq!((a.head, a.no_head), (Some("h.json".into()), false));
        let Command::Classify(a) = Cli::try_parse_from(["parlscan", "classify", "a.csv", "--no-head"]).unwrap().command else {
            panic!("classify")
        };
        assert!(a.no_head);
        assert!(Cli::try_parse_from(["parlscan", "classify", "a.csv", "--no-head", "--head", "h"]).is_err());
        let cli = Cli::try_parse_from([
            "parlscan", "classify", "a.csv", "-o", "o.csv", "--incremental", "--checkpoint-every", "10", "--restart",
        ])
        .unwrap();
        let Command::Classify(a) = cli.command else { panic!("classify") };
        assert!(a.incremental && a.restart);
        assert_eq!(a.checkpoint_every, 10);
        assert!(Cli::try_parse_from(["parlscan", "classify", "a.csv", "--incremental"]).is_err(), "needs -o");
        let cli = Cli::try_parse_from(["parlscan", "classify", "a.csv", "-o", "o.csv", "--max-not-scored", "0.5%", "--wait"]).unwrap();
        let Command::Classify(a) = cli.command else { panic!("classify") };
        assert_eq!((a.max_not_scored, a.wait), (Some(crate::max_not_scored::MaxNotScored::Percent(0.5)), true));
        let Command::Classify(a) = Cli::try_parse_from(["parlscan", "classify", "a", "--max-not-scored", "12"]).unwrap().command else {
            panic!("classify")
        };
        assert_eq!(a.max_not_scored, Some(crate::max_not_scored::MaxNotScored::Rows(12)));
        assert!(Cli::try_parse_from(["parlscan", "classify", "a", "--max-not-scored", "12 rows"]).is_err());
        let cli = Cli::try_parse_from(["parlscan", "classify", "a.csv", "--shard", "1/4", "--shards", "4"]).unwrap();
        let Command::Classify(a) = cli.command else { panic!("classify") };
        assert_eq!((a.shard, a.shards), (Some(crate::shard::Shard { index: 1, count: 4 }), Some(4)));
        assert!(Cli::try_parse_from(["parlscan", "classify", "a.csv", "--shard", "4/4"]).is_err());
        let cli = Cli::try_parse_from([
            "parlscan", "classify", "a.xml", "--input-format", "parlparse", "--delimiter", ";", "--format", "parquet", "--excel",
        ])
        .unwrap();
        let Command::Classify(a) = cli.command else { panic!("classify") };
        assert_eq!(a.input_format, crate::corpus::InputFormat::Parlparse);
        assert_eq!(a.delimiter, Some(b';'));
        assert_eq!(a.format, crate::output::OutputFormat::Parquet);
        assert!(a.excel);
        for bad in [&["--input-format", "xls"][..], &["--format", "xlsx"], &["--delimiter", ";;"]] {
            assert!(Cli::try_parse_from([&["parlscan", "classify", "a.csv"][..], bad].concat()).is_err(), "{bad:?}");
        }
        let Command::Classify(a) = Cli::try_parse_from(["parlscan", "classify", "a", "--delimiter", "tab"]).unwrap().command else {
            panic!("classify")
        };
        assert_eq!(a.delimiter, Some(b'\t'));
        let Command::Classify(a) = Cli::try_parse_from(["parlscan", "classify", "--fast", "a"]).unwrap().command else { panic!("classify") };
        assert_eq!((a.fast, a.no_rescore, a.inputs.len()), (Some(FastKind::Auto), false, 1), "--fast takes no value unless `=`");
        for (flag, kind) in [("--fast=int8", FastKind::Int8), ("--fast=bf16", FastKind::Bf16)] {
            let Command::Classify(a) = Cli::try_parse_from(["parlscan", "classify", "a", flag]).unwrap().command else { panic!("classify") };
            assert_eq!(a.fast, Some(kind));
        }
        assert!(Cli::try_parse_from(["parlscan", "classify", "a", "--no-rescore"]).is_err(), "--no-rescore needs --fast");
        let cli = Cli::try_parse_from(["parlscan", "classify", "a", "--engine", "onnx", "--device", "cpu"]).unwrap();
        let Command::Classify(a) = cli.command else { panic!("classify") };
        assert_eq!((a.engine, a.device, a.fast), (EngineName::Onnx, DeviceName::Cpu, None));
        let Command::Classify(a) = Cli::try_parse_from(["parlscan", "classify", "a", "--device", "cuda"]).unwrap().command else {
            panic!("classify")
        };
        assert_eq!(a.device, DeviceName::Cuda);
        for bad in [&["--engine", "tf"][..], &["--device", "gpu"], &["--fast", "--engine", "torch"], &["--fast", "--device", "cuda"], &["--fast=fp8"]] {
            assert!(Cli::try_parse_from([&["parlscan", "classify", "a.csv"][..], bad].concat()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_evaluate_flag_parses() {
        let cli = Cli::try_parse_from([
            "parlscan", "evaluate", "--gold", "g.csv", "--pred", "p.csv", "--report", "r.json", "--id-col", "sid",
        ])
        .unwrap();
        let Command::Evaluate(a) = cli.command else { panic!("evaluate") };
        assert_eq!((a.gold, a.pred, a.report), ("g.csv".into(), "p.csv".into(), Some("r.json".into())));
        assert_eq!(a.id_col, "sid");
        assert!(Cli::try_parse_from(["parlscan", "evaluate", "--gold", "g.csv"]).is_err(), "--pred is required");
    }

    #[test]
    fn every_fit_flag_parses() {
        let cli = Cli::try_parse_from([
            "parlscan", "fit", "--train", "a.csv", "--train", "b.csv", "--examples", "x.csv", "-o", "h.json", "--model", "m", "--taxonomy", "t",
            "--text-col", "body", "--group-col", "debate", "--folds", "3", "--taxonomy-examples", "no", "--threads", "1",
        ])
        .unwrap();
        let Command::Fit(a) = cli.command else { panic!("fit") };
        assert_eq!(a.data.train, [PathBuf::from("a.csv"), PathBuf::from("b.csv")]);
        assert_eq!(a.data.examples, [PathBuf::from("x.csv")]);
        assert_eq!((a.output, a.model, a.data.taxonomy), ("h.json".into(), Some("m".into()), Some("t".into())));
        assert_eq!((a.data.text_col.as_str(), a.data.group_col.as_str(), a.data.folds, a.taxonomy_examples, a.threads), ("body", "debate", 3, When::No, 1));
        assert!(Cli::try_parse_from(["parlscan", "fit", "--train", "a.csv", "-o", "h", "--taxonomy-examples", "maybe"]).is_err());
    }

    #[test]
    fn every_merge_flag_parses() {
        let cli = Cli::try_parse_from(["parlscan", "merge", "p0.csv", "p1.csv", "-o", "out.csv", "--quiet", "--wait"]).unwrap();
        let Command::Merge(a) = cli.command else { panic!("merge") };
        assert_eq!(a.parts, [PathBuf::from("p0.csv"), PathBuf::from("p1.csv")]);
        assert_eq!(a.output, PathBuf::from("out.csv"));
        assert!(a.quiet && a.wait);
        assert!(Cli::try_parse_from(["parlscan", "merge", "p0.csv"]).is_err(), "-o is required");
    }

    #[test]
    fn defaults() {
        let Command::Classify(a) = Cli::try_parse_from(["parlscan", "classify", "x.csv"]).unwrap().command else {
            panic!("classify")
        };
        assert_eq!((a.text_col.as_str(), a.id_col.as_str(), a.threads), ("text", "id", 0));
        assert!(a.output.is_none() && !a.quiet && !a.wait && a.max_not_scored.is_none());
        assert_eq!((a.engine, a.device, a.fast), (EngineName::Auto, DeviceName::Cpu, None));
        assert!(Cli::try_parse_from(["parlscan", "classify"]).is_err(), "an input is required");
    }
}
