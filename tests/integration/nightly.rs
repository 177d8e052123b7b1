//! Nightly-run guarantees (issue 4): resume after `kill -9`, `--incremental`, manifest, rejects,
//! a full disk.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{dev_csv, project, read_csv, stderr, Workdir};

fn manifest(w: &Workdir, name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(w.path(&format!("{name}.manifest.json"))).expect("a manifest")).unwrap()
}

/// Inputs big enough that a run takes a few seconds: the dev speeches and our sample speeches.
fn inputs() -> Vec<String> {
    vec![dev_csv().display().to_string(), project().join("data/sample_speeches.csv").display().to_string()]
}

#[test]
fn kill_9_at_random_points_then_rerun_equals_a_clean_run() {
    let w = Workdir::new();
    let ins = inputs();
    let mut args: Vec<&str> = vec!["classify"];
    args.extend(ins.iter().map(String::as_str));
    let clean = w.run(&[&args[..], &["-o", "clean.csv", "--quiet"]].concat());
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));
    let run_args = [&args[..], &["-o", "run.csv", "--quiet", "--checkpoint-every", "4"]].concat();

    // Round 0 kills during start-up; later rounds wait for a new checkpoint, then kill at a random
    // moment after it (while scoring or writing). The seed is printed for a rerun.
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as u64;
    eprintln!("kill points seed {seed}");
    let mut state = seed | 1;
    let mut random = move |below: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % below
    };
    let checkpoint_rows = || -> u64 {
        std::fs::read(w.path(".run.csv.checkpoint.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["rows"].as_u64())
            .unwrap_or(0)
    };
    let mut resumed_any = false;
    for round in 0..4 {
        let before = checkpoint_rows();
        let mut child = w.command().args(&run_args).stdin(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        if round == 0 {
            std::thread::sleep(Duration::from_millis(300 + random(1500)));
        } else {
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            while checkpoint_rows() <= before && std::time::Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(random(800)));
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let rows = checkpoint_rows();
        eprintln!("round {round}: killed; checkpoint at {rows} rows");
        if w.path("run.csv").exists() {
            break; // it finished before the kill
        }
        resumed_any |= rows > 0;
    }
    let out = w.run(&run_args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (a, b) = (std::fs::read(w.path("clean.csv")).unwrap(), std::fs::read(w.path("run.csv")).unwrap());
    assert!(a == b, "resumed output differs from a clean run");
    let m = manifest(&w, "run.csv");
    assert_eq!(m["counts"]["read"], 105);
    assert!(resumed_any, "no kill landed after a checkpoint");
    let resumed = m["counts"]["resumed"].as_u64().unwrap();
    assert!(resumed > 0, "work was not redone: {}", m["counts"]);
    assert_eq!(m["counts"]["read"].as_u64().unwrap() - resumed, 105 - resumed);
    assert!(!w.path(".run.csv.partial").exists() && !w.path(".run.csv.checkpoint.json").exists());
}

#[test]
fn output_does_not_depend_on_the_checkpoint_interval() {
    // Regression: a small interval means small blocks and small batches; fused attention made the
    // fourth decimal depend on that. Without kills, so a difference is the interval's alone.
    let w = Workdir::new();
    let ins = inputs();
    let mut args: Vec<&str> = vec!["classify"];
    args.extend(ins.iter().map(String::as_str));
    let a = w.run(&[&args[..], &["-o", "a.csv", "--quiet"]].concat());
    let b = w.run(&[&args[..], &["-o", "b.csv", "--quiet", "--checkpoint-every", "4"]].concat());
    assert_eq!((a.status.code(), b.status.code()), (Some(0), Some(0)), "{}", stderr(&b));
    assert!(std::fs::read(w.path("a.csv")).unwrap() == std::fs::read(w.path("b.csv")).unwrap(), "outputs differ");
}

#[test]
fn a_checkpoint_of_another_input_is_not_reused() {
    let w = Workdir::new();
    w.write("a.csv", "id,text\n1,Encryption keeps us safe.\n2,The bus is late.\n");
    // A checkpoint that claims two rows are done, but from another run.
    w.write(".out.csv.partial", "garbage,from,another,run\n");
    w.write(".out.csv.checkpoint.json", r#"{"fingerprint":"other","rows":2,"bytes":25,"summary":{}}"#);
    let out = w.run(&["classify", "a.csv", "-o", "out.csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("not resuming") && stderr(&out).contains("different input"), "{}", stderr(&out));
    let (_, rows) = read_csv(&w.path("out.csv"));
    assert_eq!(rows.len(), 2);
    assert_eq!(manifest(&w, "out.csv")["counts"]["resumed"], 0);
}

#[test]
fn incremental_scores_only_changed_and_new_speeches_and_equals_a_full_run() {
    let w = Workdir::new();
    let sample = std::fs::read_to_string(project().join("data/sample_speeches.csv")).unwrap();
    w.write("speeches.csv", &sample);
    let first = w.run(&["classify", "speeches.csv", "-o", "labels.csv", "--quiet"]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));

    // Change two texts, add three rows.
    let mut r = csv::Reader::from_reader(sample.as_bytes());
    let header = r.headers().unwrap().clone();
    let mut rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let text_at = header.iter().position(|h| h == "text").unwrap();
    for i in [2, 17] {
        let mut fields: Vec<String> = rows[i].iter().map(String::from).collect();
        fields[text_at].push_str(" The Minister must now tell us who will oversee these warrants.");
        rows[i] = csv::StringRecord::from(fields);
    }
    for (n, text) in ["Facial recognition vans were parked outside the station all week.", "The library will close on Mondays.", "Client-side scanning would break end-to-end encryption."].iter().enumerate() {
        let mut fields = vec![String::new(); header.len()];
        fields[0] = format!("NEW{n}");
        fields[text_at] = text.to_string();
        rows.push(csv::StringRecord::from(fields));
    }
    let mut wtr = csv::Writer::from_path(w.path("speeches.csv")).unwrap();
    wtr.write_record(&header).unwrap();
    for row in &rows {
        wtr.write_record(row).unwrap();
    }
    wtr.flush().unwrap();

    let inc = w.run(&["classify", "speeches.csv", "-o", "labels.csv", "--incremental", "--quiet"]);
    assert_eq!(inc.status.code(), Some(0), "{}", stderr(&inc));
    let full = w.run(&["classify", "speeches.csv", "-o", "full.csv", "--quiet"]);
    assert_eq!(full.status.code(), Some(0), "{}", stderr(&full));
    assert!(std::fs::read(w.path("labels.csv")).unwrap() == std::fs::read(w.path("full.csv")).unwrap(), "incremental differs from full");
    let m = manifest(&w, "labels.csv");
    assert_eq!(m["counts"]["scored"], 5, "2 changed + 3 new: {}", m["counts"]);
    assert_eq!(m["counts"]["reused"], 28);

    // Another head means nothing is reused.
    let again = w.run(&["classify", "speeches.csv", "-o", "labels.csv", "--incremental", "--no-head"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    if manifest(&w, "full.csv")["fingerprints"]["head"].is_null() {
        assert_eq!(manifest(&w, "labels.csv")["counts"]["reused"], 33, "same scorer: all reused");
    } else {
        assert!(stderr(&again).contains("another model, head, taxonomy"), "{}", stderr(&again));
        assert_eq!(manifest(&w, "labels.csv")["counts"]["scored"], 33);
    }
}

#[test]
fn the_manifest_records_inputs_fingerprints_counts_and_status() {
    let w = Workdir::new();
    let bytes = b"id,text\na,Bulk interception must end.\nb,\"unterminated,x\nc,fine text here\nd,two,many\n".to_vec();
    w.write("in.csv", &bytes);
    let out = w.run(&["classify", "in.csv", "-o", "out.csv", "--quiet"]);
    let code = out.status.code();
    let m = manifest(&w, "out.csv");
    assert_eq!(m["tool"], "parlscan");
    assert_eq!(m["exit_status"].as_i64().map(|c| c as i32), code);
    assert_eq!(m["fingerprints"]["inputs"][0]["size"], bytes.len());
    assert_eq!(m["fingerprints"]["inputs"][0]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(m["fingerprints"]["model_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(m["fingerprints"]["taxonomy_sha256"].as_str().unwrap().len(), 64);
    assert!(m["command_line"].as_array().unwrap().iter().any(|a| a == "in.csv"));
    for key in ["read", "scored", "reused", "resumed", "rejected"] {
        assert!(m["counts"][key].is_u64(), "counts.{key}");
    }
    assert!(m["timings"]["wall_seconds"].is_f64());
}

#[test]
fn unparseable_rows_go_to_the_rejects_file_and_keep_their_place() {
    let w = Workdir::new();
    w.write("in.csv", b"id,text\n1,Interception warrants need a judge.\n2,too,many,fields\n3,\"bad \xFF byte\"\n4,Fine.\n");
    let out = w.run(&["classify", "in.csv", "-o", "out.csv", "--quiet"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let (_, rows) = read_csv(&w.path("out.csv"));
    assert_eq!(rows.len(), 4);
    let (h, rejects) = read_csv(&w.path("out.csv.rejects.csv"));
    assert_eq!(h, ["file", "line", "reason", "raw"]);
    assert_eq!(rejects.len(), 2);
    assert_eq!(rejects[0][..3], ["in.csv", "3", "malformed: 4 fields where the header has 2"]);
    assert_eq!(rejects[0][3], "2,too,many,fields");
    assert_eq!(rejects[1][..3], ["in.csv", "4", "invalid_utf8"]);
    assert_eq!(rejects[1][3], "3,bad \\xFF byte");
    assert_eq!(manifest(&w, "out.csv")["counts"]["rejected"], 2);
    // A clean rerun removes the stale rejects file.
    w.write("in.csv", "id,text\n1,Fine.\n");
    let out = w.run(&["classify", "in.csv", "-o", "out.csv", "--quiet"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!w.path("out.csv.rejects.csv").exists());
}

#[test]
fn a_full_disk_is_a_clear_error_and_leaves_the_previous_output_intact() {
    let w = Workdir::new();
    let disk = w.path("disk");
    std::fs::create_dir(&disk).unwrap();
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=96k", "tmpfs"]).arg(&disk).status();
    assert!(
        mounted.is_ok_and(|s| s.success()),
        "this test mounts a 96 KiB tmpfs to fill a disk: it needs root (CI runs as root)"
    );
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(disk.clone());
    std::fs::write(disk.join("out.csv"), "previous,output\n").unwrap();
    let dev = dev_csv();
    let out = w.run(&["classify", dev.to_str().unwrap(), "-o", "disk/out.csv", "--quiet", "--checkpoint-every", "16"]);
    assert_eq!(out.status.code(), Some(74), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("out.csv") && err.contains("No space left on device"), "{err}");
    assert_eq!(std::fs::read_to_string(disk.join("out.csv")).unwrap(), "previous,output\n");
    // What the failed run left is its last checkpoint, not a full disk.
    let used: u64 = std::fs::read_dir(&disk).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    assert!(used < 96 * 1024, "the partial output was cut back to its checkpoint ({used} bytes)");
}
