//! Input and output formats (issue 5), end to end with the real model.

use crate::util::{col, parse_csv, project, read_csv, stderr, Workdir};

fn fixture(name: &str) -> String {
    project().join("tests/fixtures/formats").join(name).display().to_string()
}

/// The label columns of the row whose text starts with `prefix`.
fn labels_of(path: &std::path::Path, prefix: &str) -> Vec<String> {
    let (h, rows) = read_csv(path);
    let row = rows.iter().find(|r| col(&h, r, "text").starts_with(prefix)).unwrap_or_else(|| panic!("no `{prefix}` row in {}", path.display()));
    let first = h.iter().rposition(|c| c == "on_topic").unwrap();
    row[first..].to_vec()
}

#[test]
fn the_same_speech_gets_the_same_labels_whatever_its_format() {
    let w = Workdir::new();
    let inputs = ["speeches.csv", "speeches.csv.gz", "speeches.jsonl", "ParlaMint-GB_2016-06-07-commons.txt", "debates2016-06-07a.xml"];
    let mut seen = Vec::new();
    for (k, input) in inputs.iter().enumerate() {
        let out = w.run(&["classify", &fixture(input), "-o", &format!("out{k}.csv"), "--quiet"]);
        assert_eq!(out.status.code(), Some(0), "{input}: {}", stderr(&out));
        seen.push((input, labels_of(&w.path(&format!("out{k}.csv")), "The Bill would let the Secretary of State")));
    }
    for (input, labels) in &seen[1..] {
        assert_eq!(labels, &seen[0].1, "{input} labels differ from the CSV's");
    }
    assert_ne!(seen[0].1[0], "", "scored");
}

#[test]
fn parlamint_and_parlparse_rows_carry_speaker_party_date_and_heading() {
    let w = Workdir::new();
    let out = w.run(&["classify", &fixture("ParlaMint-GB_2016-06-07-commons.txt"), "-o", "pm.csv", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (h, rows) = read_csv(&w.path("pm.csv"));
    assert!(h.len() >= 23 + 2 + 24, "id, text, 23 metadata columns, labels: {h:?}");
    for r in &rows {
        for c in ["Speaker_name", "Speaker_party", "Date", "Speaker_ID"] {
            assert!(!col(&h, r, c).is_empty(), "{c} empty in {r:?}");
        }
    }
    let out = w.run(&["classify", &fixture("debates2016-06-07a.xml"), "-o", "pp.csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("speeches with no text"), "the summary counts skipped speeches: {}", stderr(&out));
    let (h, rows) = read_csv(&w.path("pp.csv"));
    for r in &rows {
        assert_eq!(col(&h, r, "date"), "2016-06-07");
        assert!(!col(&h, r, "speakername").is_empty() && !col(&h, r, "major_heading").is_empty(), "{r:?}");
        assert!(!col(&h, r, "person_id").is_empty() || !col(&h, r, "speakerid").is_empty(), "{r:?}");
    }
}

#[test]
fn a_broken_input_is_named_and_the_others_are_still_processed() {
    let w = Workdir::new();
    w.write("orphan.txt", "ParlaMint-GB_x.u1\tA speech whose metadata file is missing.\n");
    let good = fixture("speeches.csv");
    let out = w.run(&["classify", &fixture("malformed.xml"), &fixture("truncated.csv.gz"), "orphan.txt", &good, "-o", "out.csv"]);
    assert_eq!(out.status.code(), Some(1), "partial: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("malformed.xml") && err.contains("line"), "{err}");
    assert!(err.contains("truncated.csv.gz") && err.contains("truncated"), "{err}");
    assert!(err.contains("orphan.txt") && err.contains("meta"), "{err}");
    let (h, rows) = read_csv(&w.path("out.csv"));
    let from_good = rows.iter().filter(|r| col(&h, r, "source_file") == good).count();
    let (_, good_rows) = read_csv(std::path::Path::new(&good));
    assert_eq!(from_good, good_rows.len(), "every row of the good input");
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(w.path("out.csv.manifest.json")).unwrap()).unwrap();
    assert_eq!(m["skipped_inputs"].as_array().unwrap().len(), 3, "{}", m["skipped_inputs"]);
}

#[test]
fn every_output_format_is_written_and_readable() {
    let w = Workdir::new();
    let input = fixture("speeches.csv");
    let (_, in_rows) = read_csv(std::path::Path::new(&input));
    let n = in_rows.len();
    for (format, file) in [("tsv", "o.tsv"), ("jsonl", "o.jsonl"), ("parquet", "o.parquet"), ("labelstudio", "o.json"), ("prodigy", "p.jsonl"), ("doccano", "d.jsonl")] {
        let out = w.run(&["classify", &input, "--format", format, "-o", file, "--quiet"]);
        assert_eq!(out.status.code(), Some(0), "{format}: {}", stderr(&out));
        let bytes = std::fs::read(w.path(file)).unwrap();
        match format {
            "tsv" => assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), n + 1),
            "parquet" => assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1")),
            "labelstudio" => {
                let tasks: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                assert_eq!(tasks.as_array().unwrap().len(), n);
                assert!(tasks[0]["data"]["text"].is_string());
                assert_eq!(tasks[0]["predictions"][0]["result"][0]["type"], "choices");
            }
            _ => {
                let lines: Vec<serde_json::Value> = bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
                assert_eq!(lines.len(), n, "{format}");
                match format {
                    "jsonl" => assert!(lines[0]["on_topic"].is_number() && lines[0]["topics"].is_array()),
                    "prodigy" => assert!(lines[0]["options"].is_array() && lines[0]["accept"].is_array() && lines[0]["meta"].is_object()),
                    _ => assert!(lines[0]["label"].is_array() && lines[0]["text"].is_string()),
                }
            }
        }
        assert!(!w.path(&format!(".{file}.canonical.csv")).exists(), "no journal left behind");
    }
    let out = w.run(&["classify", &input, "--excel", "-o", "x.csv", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let bytes = std::fs::read(w.path("x.csv")).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "--excel writes a byte-order mark");
    let (_, rows) = parse_csv(&bytes[3..]);
    assert_eq!(rows.len(), n);
    // To stdout too.
    let out = w.run(&["classify", &input, "--format", "jsonl", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count(), n);
}
