//! One validated run configuration, built once from the command line. Every problem found is
//! reported together, before any work starts.
//!
//! Also owns how many threads libtorch and rayon get, so they do not oversubscribe the cores.
//! Where the defaults live is `files`'.

use std::path::{Path, PathBuf};

use crate::cli::{ClassifyArgs, DeviceName, EngineName, FastKind};
use crate::corpus::Columns;
use crate::encoder::auto::Request;
use crate::encoder::bert::{native_bf16, Precision as TorchPrecision};
use crate::encoder::onnx::Precision;
use crate::encoder::Engine;
use crate::error::Error;
use crate::files::{project_path, DEFAULT_MODEL, DEFAULT_TAXONOMY};
use crate::taxonomy::Taxonomy;

/// Files a model folder must hold.
pub const MODEL_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

#[derive(Debug)]
pub struct RunConfig {
    pub inputs: Vec<PathBuf>,
    pub output: Option<PathBuf>,
    pub columns: Columns,
    pub model_dir: PathBuf,
    pub taxonomy: Taxonomy,
    pub threads: usize,
    /// What runs the model (`--engine`, `--device`, `--fast`): one engine, or the fastest exact
    /// or approximate one on this CPU.
    pub engine: Request,
    /// With `--fast`: score near ties again at full precision (off with `--no-rescore`).
    pub rescore_near_ties: bool,
    pub quiet: bool,
    pub head: HeadChoice,
    pub incremental: bool,
    pub checkpoint_every: usize,
    pub restart: bool,
    /// This process's shard and where that came from (the flag, Slurm, Kubernetes).
    pub shard: Option<(crate::shard::Shard, String)>,
    pub input_format: crate::corpus::InputFormat,
    pub delimiter: Option<u8>,
    pub format: crate::output::OutputFormat,
    pub excel: bool,
    /// Above this many rows not scored, exit 65 instead of 1 (`--max-not-scored`).
    pub max_not_scored: Option<crate::max_not_scored::MaxNotScored>,
}

/// Which scorer `classify` uses.
#[derive(Debug, Clone, PartialEq)]
pub enum HeadChoice {
    /// The label prototypes alone (`--no-head`).
    None,
    /// The default head, if it matches the model and taxonomy in use (else prototypes, with a note).
    Default(PathBuf),
    /// The default head with the default model: both come from the set-up, so a head that is
    /// missing, unreadable or fitted on other weights is a damaged install (exit 78). One made
    /// for another taxonomy is set aside with a note, as for `Default`.
    Installed(PathBuf),
    /// A head the user named: a mismatch is an error.
    Named(PathBuf),
}

/// Checks that a model folder holds what the encoder and tokenizer load.
pub fn check_model_dir(dir: &Path) -> Result<(), Error> {
    if !dir.is_dir() {
        return Err(Error::Model { dir: dir.to_path_buf(), what: "does not exist".into() });
    }
    let missing: Vec<&str> = MODEL_FILES.iter().copied().filter(|f| !dir.join(f).is_file()).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::Model { dir: dir.to_path_buf(), what: format!("incomplete: missing {}", missing.join(", ")) })
    }
}

impl RunConfig {
    pub fn from_args(args: &ClassifyArgs) -> Result<Self, Error> {
        let mut problems = Vec::new();
        for input in &args.inputs {
            if input.as_os_str() != "-" && !input.exists() {
                problems.push(Error::io(input, std::io::Error::from_raw_os_error(libc::ENOENT)));
            }
        }
        // Folders stand for the inputs inside them.
        let inputs = if problems.is_empty() {
            crate::corpus::expand_inputs(&args.inputs).unwrap_or_else(|e| {
                problems.push(e);
                Vec::new()
            })
        } else {
            Vec::new()
        };
        if problems.is_empty() && inputs.is_empty() {
            problems.push(Error::Usage("no readable inputs in the folders given".into()));
        }
        if args.incremental && (args.format != crate::output::OutputFormat::Csv || args.excel) {
            problems.push(Error::Usage("--incremental reads the previous output back: it needs --format csv without --excel".into()));
        }
        if args.inputs.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
            problems.push(Error::Usage("stdin (`-`) can be read only once".into()));
        }
        if let Some(out) = args.output.as_ref().filter(|o| o.as_os_str() != "-") {
            let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            if !parent.is_dir() {
                problems.push(Error::Usage(format!("the output folder `{}` does not exist", parent.display())));
            }
            if args.inputs.iter().any(|i| same_file(i, out)) {
                problems.push(Error::Usage(format!("the output `{}` is also an input", out.display())));
            }
        }
        if args.checkpoint_every == 0 {
            problems.push(Error::Usage("--checkpoint-every must be at least 1".into()));
        }
        if args.incremental && args.output.as_ref().is_none_or(|o| o.as_os_str() == "-") {
            problems.push(Error::Usage("--incremental needs a file output (-o FILE) to read the previous labels from".into()));
        }
        let shard = match args.shard {
            Some(s) => Some((s, "--shard".to_string())),
            None => crate::shard::from_env(|k| std::env::var(k).ok(), args.shards).unwrap_or_else(|e| {
                problems.push(Error::Usage(e));
                None
            }),
        };
        if shard.is_some() && args.output.as_ref().is_none_or(|o| o.as_os_str() == "-") {
            problems.push(Error::Usage("a sharded run writes a part file: pass -o FILE".into()));
        }
        let model_dir = args.model.clone().unwrap_or_else(|| project_path(DEFAULT_MODEL));
        let default_model = args.model.is_none() || same_file(&model_dir, &project_path(DEFAULT_MODEL));
        match check_model_dir(&model_dir) {
            Err(e) => problems.push(e),
            Ok(()) if default_model => problems.extend(crate::integrity::check_default_model(&model_dir).err()),
            Ok(()) => {}
        }
        let bf16 = Engine::Torch { cuda: false, precision: TorchPrecision::Bf16 };
        let engine = match (args.fast, args.engine, args.device) {
            (Some(FastKind::Auto), _, _) => Request::Fast { rescore: !args.no_rescore },
            (Some(FastKind::Int8), _, _) => Request::Fixed(Engine::Onnx(Precision::Int8)),
            (Some(FastKind::Bf16), _, _) => Request::Fixed(bf16),
            (None, EngineName::Onnx, DeviceName::Cpu) => Request::Fixed(Engine::Onnx(Precision::Fp32)),
            (None, EngineName::Onnx, DeviceName::Cuda) => {
                problems.push(Error::Usage("--device cuda runs the torch engine: ONNX Runtime runs here on the CPU only".into()));
                Request::Fixed(Engine::Onnx(Precision::Fp32))
            }
            (None, EngineName::Auto, DeviceName::Cpu) => Request::Exact,
            (None, EngineName::Torch | EngineName::Auto, device) => {
                Request::Fixed(Engine::Torch { cuda: device == DeviceName::Cuda, precision: TorchPrecision::Fp32 })
            }
        };
        if args.fast == Some(FastKind::Bf16) && !native_bf16() && !args.quiet {
            eprintln!("parlscan: note: this CPU has no native bfloat16 (AVX-512 BF16): --fast=bf16 runs emulated, likely slower than the default; --fast=int8 is faster here");
        }
        match engine {
            Request::Fixed(Engine::Torch { cuda: true, .. }) => {
                if let Err(e) = crate::encoder::bert::cuda_device() {
                    problems.push(e);
                }
            }
            Request::Fixed(Engine::Onnx(precision)) if model_dir.is_dir() && !model_dir.join(precision.file()).is_file() => {
                problems.push(Error::Model { dir: model_dir.clone(), what: precision.missing() });
            }
            _ => {}
        }
        let taxonomy_path = args.taxonomy.clone().unwrap_or_else(|| project_path(DEFAULT_TAXONOMY));
        let taxonomy = Taxonomy::load(&taxonomy_path).map_err(|e| problems.push(e)).ok();
        let head = match (&args.head, args.no_head) {
            (_, true) => HeadChoice::None,
            (Some(p), _) => {
                if !p.is_file() {
                    problems.push(Error::Usage(format!("the head `{}` does not exist", p.display())));
                }
                HeadChoice::Named(p.clone())
            }
            (None, false) if default_model => HeadChoice::Installed(crate::score::head::default_path()),
            (None, false) => HeadChoice::Default(crate::score::head::default_path()),
        };
        if !problems.is_empty() {
            return Err(Error::many(problems));
        }
        let threads = if args.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            args.threads
        };
        Ok(RunConfig {
            inputs,
            output: args.output.clone().filter(|o| o.as_os_str() != "-"),
            columns: Columns { text: args.text_col.clone(), id: args.id_col.clone() },
            model_dir,
            taxonomy: taxonomy.expect("no problems means the taxonomy loaded"),
            threads,
            engine,
            rescore_near_ties: !args.no_rescore,
            quiet: args.quiet,
            head,
            incremental: args.incremental,
            checkpoint_every: args.checkpoint_every,
            restart: args.restart,
            shard,
            input_format: args.input_format,
            delimiter: args.delimiter,
            format: args.format,
            excel: args.excel,
            max_not_scored: args.max_not_scored,
        })
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Gives libtorch and rayon `threads` threads each; they take turns (tokenize, then encode), so
/// together they never ask for more than the cores. libtorch's inter-op pool is kept at one.
pub fn set_threads(threads: usize) {
    let threads = if threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { threads };
    tch::set_num_threads(threads as i32);
    tch::set_num_interop_threads(1);
    // Fails only if the global pool was already built (e.g. twice in one test process): harmless.
    let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
}
