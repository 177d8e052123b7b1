//! Unattended runs (issue 20): overlapping runs on one output, `--wait`, `kill -9`, concurrent
//! shards, a damaged default model, and `--max-not-scored`.

use std::fs::File;
use std::io::Write;
use std::process::{Child, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::util::{dev_csv, model_dir, project, read_csv, stderr, Workdir};

/// Inputs big enough that a one-thread run takes several seconds: the dev and sample speeches.
fn inputs() -> Vec<String> {
    vec![dev_csv().display().to_string(), project().join("data/sample_speeches.csv").display().to_string()]
}

/// `classify` of [`inputs`] into `out`, on one thread so that it runs for a while.
fn classify(out: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["classify".to_string()];
    args.extend(inputs());
    args.extend(["-o", out, "--quiet", "--threads", "1"].map(String::from));
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

fn spawn(w: &Workdir, args: &[String]) -> Child {
    w.command().args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn parlscan")
}

/// What a clean run of [`classify`] writes, made once for every test here.
fn clean_output() -> &'static [u8] {
    static CLEAN: OnceLock<Vec<u8>> = OnceLock::new();
    CLEAN.get_or_init(|| {
        let w = Workdir::new();
        let out = w.command().args(classify("clean.csv", &[])).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        std::fs::read(w.path("clean.csv")).unwrap()
    })
}

fn assert_clean(w: &Workdir, name: &str) {
    let got = std::fs::read(w.path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(got == clean_output(), "{name} differs from a clean run's output");
}

/// Waits until `child` holds the lock of `out` (its pid is in the lock file).
fn wait_for_lock(w: &Workdir, out: &str, child: &mut Child) {
    let lock = w.path(&format!(".{out}.lock"));
    let mine = format!("pid: {}\n", child.id());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&lock).is_ok_and(|t| t.contains(&mine)) {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it was seen holding the lock");
        assert!(Instant::now() < deadline, "no lock taken within a minute");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn issue_20_a_second_run_on_the_same_output_exits_75_at_once_or_waits_with_wait() {
    clean_output();
    let w = Workdir::new();
    let mut first = spawn(&w, &classify("out.csv", &[]));
    wait_for_lock(&w, "out.csv", &mut first);

    let started = Instant::now();
    let second = w.command().args(classify("out.csv", &[])).stdin(Stdio::null()).output().unwrap();
    let took = started.elapsed();
    assert_eq!(second.status.code(), Some(75), "{}", stderr(&second));
    assert!(took < Duration::from_secs(5), "the second run took {took:?} to give up");
    let err = stderr(&second);
    let expected = format!("another parlscan run (pid {} on ", first.id());
    assert!(err.contains(&expected) && err.contains(", since "), "{err}");
    assert!(err.contains(") is writing out.csv; wait for it or choose another -o"), "{err}");
    assert!(first.try_wait().unwrap().is_none(), "the first run had already ended: nothing overlapped");

    let waiter = spawn(&w, &classify("out.csv", &["--wait"]));
    std::thread::sleep(Duration::from_millis(1500));
    let lock = std::fs::read_to_string(w.path(".out.csv.lock")).unwrap();
    assert!(first.try_wait().unwrap().is_none(), "the first run ended too soon for this test");
    assert!(lock.contains(&format!("pid: {}\n", first.id())), "the waiting run took the lock: {lock}");

    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_clean(&w, "out.csv");
    let waiter = waiter.wait_with_output().unwrap();
    assert_eq!(waiter.status.code(), Some(0), "{}", stderr(&waiter));
    let err = stderr(&waiter);
    assert!(err.contains("waiting for another parlscan run (pid ") && err.contains("to finish writing out.csv"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line, and --quiet otherwise: {err}");
    assert_clean(&w, "out.csv");
}

#[test]
fn issue_20_a_run_killed_with_kill_9_does_not_block_the_next() {
    let w = Workdir::new();
    let mut first = spawn(&w, &classify("out.csv", &[]));
    wait_for_lock(&w, "out.csv", &mut first);
    std::thread::sleep(Duration::from_millis(800));
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    assert!(w.path(".out.csv.lock").exists(), "the lock file stays behind");

    let rerun = w.command().args(classify("out.csv", &[])).stdin(Stdio::null()).output().unwrap();
    assert_eq!(rerun.status.code(), Some(0), "{}", stderr(&rerun));
    assert_clean(&w, "out.csv");
}

#[test]
fn issue_20_shards_run_concurrently_and_merge_takes_the_lock_too() {
    let w = Workdir::new();
    let shards: Vec<Child> =
        (0..3).map(|i| spawn(&w, &classify(&format!("part-{i}.csv"), &["--shard", &format!("{i}/3")]))).collect();
    for (i, shard) in shards.into_iter().enumerate() {
        let out = shard.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "shard {i}: {}", stderr(&out));
    }
    let parts = ["merge", "part-0.csv", "part-1.csv", "part-2.csv", "-o", "merged.csv", "--quiet"];

    // Another holder of merged.csv's lock (this test) makes the merge give up, then wait.
    let mut held = File::options().create(true).truncate(false).write(true).open(w.path(".merged.csv.lock")).unwrap();
    held.lock().unwrap();
    held.write_all(b"pid: 4242\nhost: elsewhere\nsince: 2001-01-01 02:00:13\ncommand: parlscan merge\n").unwrap();
    let refused = w.run(&parts);
    assert_eq!(refused.status.code(), Some(75), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("another parlscan run (pid 4242 on elsewhere, since 2001-01-01 02:00:13) is writing merged.csv"),
        "{}",
        stderr(&refused)
    );
    let waiting = w.command().args(parts).arg("--wait").stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(!w.path("merged.csv").exists(), "the merge did not wait");
    drop(held);
    let merged = waiting.wait_with_output().unwrap();
    assert_eq!(merged.status.code(), Some(0), "{}", stderr(&merged));
    assert_clean(&w, "merged.csv");
}

/// A copy of the default model's installed files (what SHA256SUMS lists, and SHA256SUMS) at
/// `models/all-MiniLM-L6-v2` in the workdir, where a run started there finds "the default".
fn copy_default_model(w: &Workdir) -> std::path::PathBuf {
    let from = model_dir();
    let to = w.path("models/all-MiniLM-L6-v2");
    std::fs::create_dir_all(to.join("1_Pooling")).unwrap();
    for f in ["config.json", "tokenizer.json", "model.safetensors", "sentence_bert_config.json", "1_Pooling/config.json", "SHA256SUMS"] {
        std::fs::copy(from.join(f), to.join(f)).unwrap_or_else(|e| panic!("copy {f}: {e}"));
    }
    to
}

fn flip_last_byte(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).unwrap();
    *bytes.last_mut().unwrap() ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn issue_20_a_damaged_default_model_is_exit_78_but_a_chosen_model_falls_back() {
    let w = Workdir::new();
    w.write("in.csv", "id,text\n1,Encryption keeps us safe.\n2,The bus is late again.\n");
    let model = copy_default_model(&w);
    let weights = model.join("model.safetensors");
    flip_last_byte(&weights);

    let out = w.run(&["classify", "in.csv", "-o", "out.csv"]);
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("models/all-MiniLM-L6-v2` is damaged") && err.contains("`model.safetensors` does not match"), "{err}");
    assert!(err.contains("rerun `scripts/setup.sh`"), "{err}");
    assert!(!w.path("out.csv").exists());

    // A missing file of the model.
    flip_last_byte(&weights);
    std::fs::remove_file(model.join("sentence_bert_config.json")).unwrap();
    let out = w.run(&["classify", "in.csv", "-o", "out.csv"]);
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    assert!(stderr(&out).contains("`sentence_bert_config.json` is missing"), "{}", stderr(&out));
    std::fs::copy(model_dir().join("sentence_bert_config.json"), model.join("sentence_bert_config.json")).unwrap();

    // Other weights whose sums were recorded anew: the default head no longer fits them.
    flip_last_byte(&weights);
    let sums = std::fs::read_to_string(model.join("SHA256SUMS")).unwrap();
    let old = parlscan::fingerprint::sha256_file(&model_dir().join("model.safetensors")).unwrap();
    let new = parlscan::fingerprint::sha256_file(&weights).unwrap();
    std::fs::write(model.join("SHA256SUMS"), sums.replace(&old, &new)).unwrap();
    let out = w.run(&["classify", "in.csv", "-o", "out.csv"]);
    assert_eq!(out.status.code(), Some(78), "{}", stderr(&out));
    assert!(stderr(&out).contains("the default head") && stderr(&out).contains("was fitted on encoder weights"), "{}", stderr(&out));
    assert!(!w.path("out.csv").exists());

    // Only a model the user chose, with no --head, falls back to the label prototypes.
    std::fs::rename(&model, w.path("mine")).unwrap();
    let out = w.run(&["classify", "in.csv", "-o", "out.csv", "--model", "mine"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("note: not using the default head"), "{}", stderr(&out));
}

#[test]
fn issue_20_more_rows_not_scored_than_max_not_scored_allows_is_exit_65_after_writing() {
    let w = Workdir::new();
    w.write("in.csv", "id,text\n1,Encryption keeps us safe.\n2,\n3,Bulk interception must end.\n4,The bus is late.\n");
    let table = [("0", 65), ("1", 1), ("20%", 65), ("25%", 1)];
    for (limit, code) in table {
        std::fs::remove_file(w.path("out.csv")).ok();
        let out = w.run(&["classify", "in.csv", "-o", "out.csv", "--quiet", "--max-not-scored", limit]);
        assert_eq!(out.status.code(), Some(code), "--max-not-scored {limit}: {}", stderr(&out));
        let (_, rows) = read_csv(&w.path("out.csv"));
        assert_eq!(rows.len(), 4, "the output is written either way");
        let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(w.path("out.csv.manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["exit_status"], code, "the manifest records the exit status");
        let said = stderr(&out).contains(&format!("1 of 4 rows were not scored, more than --max-not-scored {limit} allows"));
        assert_eq!(said, code == 65, "{}", stderr(&out));
    }
}
