//! `parlscan classify` end to end (issue 2), bad input included.

use crate::util::{col, dev_csv, parse_csv, project, read_csv, stderr, Workdir};

const LABEL_COLUMNS: [&str; 27] = [
    "on_topic", "topics", "top_topic", "topic_encryption", "topic_interception",
    "topic_communications_data", "topic_bulk_powers", "topic_equipment_interference",
    "topic_oversight", "topic_tech_companies", "topic_national_security", "topic_privacy_rights",
    "topic_online_safety", "topic_physical_surveillance", "stance", "stance_score",
    "stance_pro_powers", "stance_anti_powers", "stance_mixed", "stance_neutral", "evidence",
    "stance_evidence", "n_words", "n_chunks", "status", "", "",
];

fn csv_row(fields: &[&str]) -> String {
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record(fields).unwrap();
    String::from_utf8(w.into_inner().unwrap()).unwrap()
}

#[test]
fn dev_speeches_keep_every_row_in_order_with_every_column() {
    let w = Workdir::new();
    let dev = dev_csv();
    let out = w.run(&["classify", dev.to_str().unwrap(), "-o", "out.csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (in_header, in_rows) = read_csv(&dev);
    let (header, rows) = read_csv(&w.path("out.csv"));
    assert_eq!(rows.len(), 75);
    assert_eq!(header[..in_header.len()], in_header[..], "input columns first, in order");
    let labels: Vec<&str> = LABEL_COLUMNS.iter().copied().filter(|c| !c.is_empty()).collect();
    assert_eq!(header[in_header.len()..], labels[..]);
    for (got, want) in rows.iter().zip(&in_rows) {
        assert_eq!(got[..want.len()], want[..], "passthrough unchanged, same order");
        assert_eq!(col(&header, got, "status"), "ok");
        let on: f64 = col(&header, got, "on_topic").parse().unwrap();
        assert!((0.0..=1.0).contains(&on));
        let score: f64 = col(&header, got, "stance_score").parse().unwrap();
        assert!((-1.0..=1.0).contains(&score));
        let stance = col(&header, got, "stance");
        assert!(["pro_powers", "anti_powers", "mixed", "neutral", "none"].contains(&stance));
        if !col(&header, got, "topics").is_empty() {
            assert!(!col(&header, got, "evidence").is_empty(), "a labelled speech has evidence");
        }
        let stance_evidence = col(&header, got, "stance_evidence");
        assert_eq!(stance == "none", stance_evidence.is_empty(), "stance evidence exactly when on topic: {stance} {stance_evidence:?}");
    }
    assert!(stderr(&out).contains("75 speeches (75 scored)"), "summary: {}", stderr(&out));
}

#[test]
fn the_seed_commons_speech_is_about_encryption_and_tech_companies() {
    let w = Workdir::new();
    let text = std::fs::read_to_string(project().join("../shared/seed/commons-speech.txt")).expect("the seed speech");
    w.write("seed.csv", format!("id,text\n{}", csv_row(&["seed", &text])));
    let out = w.run(&["classify", "seed.csv", "-o", "out.csv", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (h, rows) = read_csv(&w.path("out.csv"));
    let row = &rows[0];
    let topics: Vec<&str> = col(&h, row, "topics").split(';').collect();
    assert!(col(&h, row, "on_topic").parse::<f64>().unwrap() >= 0.5, "on topic: {row:?}");
    // He argues for "order in this ungoverned space" and for providers that comply with the law:
    // pro_powers, narrowly under the default head (docs/scoring.md). A check, never training data.
    assert_eq!(col(&h, row, "stance"), "pro_powers", "{row:?}");
    assert!(topics.contains(&"encryption") && topics.contains(&"tech_companies"), "topics: {topics:?}");
    // The member quotes the providers ("We are not in that jurisdiction so we will comply with the
    // laws where we are.") in order to reject it: the stance evidence is a sentence of his own.
    let stance_evidence = col(&h, row, "stance_evidence");
    assert!(!stance_evidence.is_empty() && text.contains(stance_evidence.trim()), "{stance_evidence:?}");
    assert!(!stance_evidence.contains("not in that jurisdiction"), "the quoted providers' view: {stance_evidence:?}");
    assert!(stderr(&out).is_empty(), "--quiet prints nothing: {}", stderr(&out));
}

#[test]
fn output_is_byte_identical_whatever_the_block_size_at_a_given_thread_count() {
    let w = Workdir::new();
    let sample = project().join("data/sample_speeches.csv");
    let s = sample.to_str().unwrap();
    let one = w.run(&["classify", s, "-o", "t1.csv", "--threads", "1", "--quiet"]);
    let two = w.run(&["classify", s, "-o", "t2.csv", "--threads", "1", "--checkpoint-every", "7", "--quiet"]);
    assert_eq!((one.status.code(), two.status.code()), (Some(0), Some(0)), "{}", stderr(&two));
    let (a, b) = (std::fs::read(w.path("t1.csv")).unwrap(), std::fs::read(w.path("t2.csv")).unwrap());
    assert!(a == b, "--threads 1 with and without --checkpoint-every 7 differ");
    // The long speeches are chunked, and no word is dropped.
    let (h, rows) = parse_csv(&a);
    assert_eq!(rows.len(), 30);
    let long: Vec<_> = rows.iter().filter(|r| col(&h, r, "n_words").parse::<usize>().unwrap() > 1000).collect();
    assert!(long.len() >= 3, "the sample has long speeches");
    for r in long {
        assert!(col(&h, r, "n_chunks").parse::<usize>().unwrap() >= 5, "{r:?}");
        assert_eq!(col(&h, r, "n_words").parse::<usize>().unwrap(), words_outside_brackets(col(&h, r, "text")));
    }
}

#[test]
fn cached_label_prototypes_give_the_same_output_as_fresh_ones() {
    let w = Workdir::new();
    let (header, rows) = read_csv(&project().join("data/sample_speeches.csv"));
    let few: String = rows.iter().take(6).map(|r| csv_row(&r.iter().map(String::as_str).collect::<Vec<_>>())).collect();
    let sample = w.write("few.csv", csv_row(&header.iter().map(String::as_str).collect::<Vec<_>>()) + &few);
    let cache = w.path("cache");
    let run = |out: &str, cache_setting: &std::ffi::OsStr| {
        let o = w
            .command()
            .args(["classify", sample.to_str().unwrap(), "-o", out])
            .env("PARLSCAN_CACHE", cache_setting)
            .output()
            .expect("run parlscan");
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(stderr(&o).contains("s start-up"), "the summary gives the start-up time: {}", stderr(&o));
        std::fs::read(w.path(out)).unwrap()
    };
    let fresh = run("fresh.csv", "off".as_ref());
    assert!(!cache.exists(), "PARLSCAN_CACHE=off writes no cache");
    let filling = run("filling.csv", cache.as_os_str());
    // The cache folder also keeps the default model's integrity verdicts (`verified-*`).
    let entries: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n.to_string_lossy().starts_with("embeddings-")).collect();
    assert_eq!(entries.len(), 1, "one cache entry: {entries:?}");
    let hit = run("hit.csv", cache.as_os_str());
    assert!(fresh == filling && filling == hit, "cached prototypes changed the output");
}

/// Words of a text once Hansard's bracketed procedural markers are taken out.
fn words_outside_brackets(text: &str) -> usize {
    let mut depth = 0;
    let kept: String = text
        .chars()
        .map(|c| match c {
            '[' => { depth += 1; ' ' }
            ']' => { depth -= 1; ' ' }
            c if depth > 0 => { let _ = c; ' ' }
            c => c,
        })
        .collect();
    kept.split_whitespace().count()
}

#[test]
fn stdin_to_stdout_and_row_numbers_as_ids() {
    let w = Workdir::new();
    let out = w.run_with_stdin(&["classify", "-", "--quiet"], b"text,party\nEnd-to-end encryption must not be broken by the state.,Lib\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (h, rows) = parse_csv(&out.stdout);
    assert_eq!(h[..2], ["text", "party"]);
    assert_eq!(rows.len(), 1);
    assert_eq!(col(&h, &rows[0], "status"), "ok");
}

#[test]
fn a_missing_text_column_is_an_error_naming_the_columns_and_leaves_no_output() {
    let w = Workdir::new();
    w.write("in.csv", "id,speech,party\n1,hello,Lab\n");
    w.write("old.csv", "previous output\n");
    let out = w.run(&["classify", "in.csv", "-o", "new.csv"]);
    assert_eq!(out.status.code(), Some(65));
    let err = stderr(&out);
    assert!(err.contains("in.csv") && err.contains("id, speech, party") && err.contains("--text-col"), "{err}");
    assert!(!w.path("new.csv").exists());
    let out = w.run(&["classify", "in.csv", "-o", "old.csv"]);
    assert_eq!(out.status.code(), Some(65));
    assert_eq!(std::fs::read_to_string(w.path("old.csv")).unwrap(), "previous output\n", "previous output intact");
    // The output locks (`.new.csv.lock`, `.old.csv.lock`) stay by design (issue 20).
    let left: Vec<_> = std::fs::read_dir(w.dir.path()).unwrap().map(|e| e.unwrap().file_name()).filter(|n| !n.to_string_lossy().ends_with(".lock")).collect();
    assert_eq!(left.len(), 2, "no temp file left behind: {left:?}");
    // With the right column name it works.
    let out = w.run(&["classify", "in.csv", "-o", "new.csv", "--text-col", "speech", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn bad_rows_keep_their_place_with_a_status_and_good_rows_are_scored() {
    let w = Workdir::new();
    let mut bytes = b"id,text,party\n".to_vec();
    bytes.extend_from_slice(b"a,The Bill lets the agencies intercept messages.,Con\n");
    bytes.extend_from_slice(b"b,,Lab\n");
    bytes.extend_from_slice(b"c,\"broken \xFF\xFE bytes\",SNP\n");
    bytes.extend_from_slice(b"d,too,many,fields\n");
    bytes.extend_from_slice(b"e,   [Interruption.]   ,LD\n");
    bytes.extend_from_slice(b"f,Thank you Madam Deputy Speaker.,Con\n");
    w.write("in.csv", &bytes);
    let out = w.run(&["classify", "in.csv", "-o", "out.csv"]);
    assert_eq!(out.status.code(), Some(1), "some rows not scored: exit 1; {}", stderr(&out));
    let (h, rows) = read_csv(&w.path("out.csv"));
    let ids: Vec<&str> = rows.iter().map(|r| col(&h, r, "id")).collect();
    assert_eq!(ids, ["a", "b", "c", "d", "e", "f"]);
    let status: Vec<&str> = rows.iter().map(|r| col(&h, r, "status")).collect();
    assert_eq!(status, ["ok", "empty", "invalid_utf8", "malformed: 4 fields where the header has 3", "empty", "ok"]);
    for r in &rows[1..5] {
        assert_eq!(col(&h, r, "on_topic"), "", "unscored rows have empty scores");
        assert_eq!(col(&h, r, "n_chunks"), "0");
    }
    let err = stderr(&out);
    assert!(err.contains("6 speeches (2 scored)") && err.contains("2 × empty") && err.contains("1 × malformed"), "{err}");
}

#[test]
fn a_missing_model_names_the_setup_command() {
    let w = Workdir::new();
    w.write("in.csv", "id,text\n1,hello\n");
    let out = w.run(&["classify", "in.csv", "-o", "out.csv", "--model", "no-such-model"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(stderr(&out).contains("scripts/setup.sh"), "{}", stderr(&out));
    std::fs::create_dir(w.path("half")).unwrap();
    w.write("half/config.json", "{}");
    let out = w.run(&["classify", "in.csv", "-o", "out.csv", "--model", "half", "--threads", "1"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(stderr(&out).contains("missing tokenizer.json, model.safetensors"), "{}", stderr(&out));
    assert!(!w.path("out.csv").exists());
}

#[test]
fn configuration_problems_are_reported_together() {
    let w = Workdir::new();
    w.write("bad.toml", "version = 1\n");
    let out = w.run(&["classify", "nope.csv", "--taxonomy", "bad.toml", "--checkpoint-every", "0"]);
    assert_eq!(out.status.code(), Some(66), "{}", stderr(&out));
    let err = stderr(&out);
    for needle in ["nope.csv", "bad.toml", "--checkpoint-every must be at least 1"] {
        assert!(err.contains(needle), "missing {needle} in {err}");
    }
}

#[test]
fn help_explains_every_flag_and_the_exit_codes() {
    let w = Workdir::new();
    let out = w.run(&["classify", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--output", "--text-col", "--id-col", "--model", "--taxonomy", "--threads", "--checkpoint-every", "--quiet", "Example", "Exit codes", "78"] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn evaluate_reports_figures_for_classify_output_against_dev_gold() {
    let w = Workdir::new();
    let dev = dev_csv();
    let out = w.run(&["classify", dev.to_str().unwrap(), "-o", "pred.csv", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = w.run(&["evaluate", "--gold", dev.to_str().unwrap(), "--pred", "pred.csv", "--report", "r.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in ["75 speeches", "micro F1", "on topic: precision", "Brier", "stance: accuracy", "gold \\ pred"] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(w.path("r.json")).unwrap()).unwrap();
    assert_eq!(report["speeches"], 75);
    let f1 = report["on_topic"]["f1"].as_f64().unwrap();
    assert!(f1 > 0.5, "on-topic F1 {f1}: the prototypes do find surveillance speeches");
    // A prediction file that lacks some gold ids is refused, naming them.
    let (h, rows) = read_csv(&w.path("pred.csv"));
    let mut wtr = csv::Writer::from_path(w.path("short.csv")).unwrap();
    wtr.write_record(&h).unwrap();
    for r in &rows[1..] {
        wtr.write_record(r).unwrap();
    }
    wtr.flush().unwrap();
    let out = w.run(&["evaluate", "--gold", dev.to_str().unwrap(), "--pred", "short.csv"]);
    assert_eq!(out.status.code(), Some(65));
    assert!(stderr(&out).contains("1 ids are missing from short.csv: DEV-001"), "{}", stderr(&out));
}

#[test]
fn a_speech_whose_only_on_topic_content_is_quoted_is_scored_with_a_stance_evidence_sentence() {
    let w = Workdir::new();
    let text = "The Minister wrote to me last week. \"The agencies must be able to read the messages of \
                terrorists, and end-to-end encryption must not become a safe haven for them.\" \
                I shall read that letter again.";
    w.write("in.csv", format!("id,text\n{}", csv_row(&["q", text])));
    let out = w.run(&["classify", "in.csv", "-o", "out.csv", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (h, rows) = read_csv(&w.path("out.csv"));
    assert_eq!(col(&h, &rows[0], "status"), "ok");
    assert!(col(&h, &rows[0], "on_topic").parse::<f64>().unwrap() >= 0.5, "the quotation is on topic: {rows:?}");
    assert_ne!(col(&h, &rows[0], "stance"), "none");
    let evidence = col(&h, &rows[0], "stance_evidence");
    assert!(evidence.contains("end-to-end encryption must not become a safe haven"), "the quoted sentence carries the stance: {evidence:?}");
}
