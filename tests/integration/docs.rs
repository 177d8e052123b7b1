//! The documentation names only flags that exist: every `parlscan COMMAND ... --flag` in
//! README.md and docs/, and every row of the README's classify flag table, is in that command's
//! `--help`. Also: usage errors exit 64, and the README stays a README (at most 15 KB).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use crate::util::project;

const COMMANDS: [&str; 6] = ["classify", "evaluate", "fit", "tune", "merge", "report"];

/// The `--flag` tokens of a piece of a command line.
fn flags(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("--") {
        let start = i + at;
        let before = start.checked_sub(1).map(|b| bytes[b]);
        let mut end = start + 2;
        while end < bytes.len() && (bytes[end].is_ascii_lowercase() || bytes[end].is_ascii_digit() || bytes[end] == b'-') {
            end += 1;
        }
        if end > start + 2 && before.is_none_or(|b| !b.is_ascii_alphanumeric() && b != b'-') {
            out.push(text[start..end].to_string());
        }
        i = end;
    }
    out
}

/// Every (command, flag) the docs use: in `parlscan COMMAND ...` up to the end of the command
/// (end of line or inline code, a pipe, `&&` or `;`; `\` continues a line), and the README's
/// classify flag table.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = vec![project().join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(project().join("docs")).expect("docs/").flatten().map(|e| e.path()).collect();
    docs.retain(|p| p.extension().is_some_and(|e| e == "md"));
    docs.sort();
    files.extend(docs);
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read a doc").replace("\\\n", " ");
        let mut in_classify_table = false;
        for line in text.lines() {
            if line.starts_with('#') {
                in_classify_table = file.ends_with("README.md") && line.contains("`classify` flags");
            }
            if in_classify_table && line.starts_with("| `-") {
                let cell = line.split('|').nth(1).unwrap_or("");
                found.entry("classify".into()).or_default().extend(flags(cell));
            }
            let mut rest = line;
            while let Some(at) = rest.find("parlscan ") {
                rest = &rest[at + "parlscan ".len()..];
                let Some(command) = COMMANDS.iter().find(|c| rest.starts_with(&format!("{c} ")) || rest == **c) else { continue };
                let end = ["`", " | ", "&&", ";"].iter().filter_map(|s| rest.find(s)).min().unwrap_or(rest.len());
                found.entry(command.to_string()).or_default().extend(flags(&rest[..end]));
            }
        }
    }
    found
}

#[test]
fn every_flag_the_docs_name_is_in_that_commands_help() {
    let found = documented();
    assert!(found.get("classify").is_some_and(|f| f.len() > 15), "the classify flag table was read: {found:?}");
    let mut missing = Vec::new();
    for (command, flags) in &found {
        let out = Command::new(env!("CARGO_BIN_EXE_parlscan")).args([command, "--help"]).output().expect("run parlscan");
        assert!(out.status.success(), "parlscan {command} --help failed");
        let help = String::from_utf8_lossy(&out.stdout);
        for flag in flags {
            let named = help.match_indices(flag.as_str()).any(|(at, _)| {
                help[at + flag.len()..].chars().next().is_none_or(|c| !c.is_ascii_alphanumeric() && c != '-')
            });
            if !named {
                missing.push(format!("parlscan {command} {flag}"));
            }
        }
    }
    assert!(missing.is_empty(), "named in README.md or docs/ but not in --help: {missing:?}");
}

#[test]
fn the_flag_scanner_reads_commands_and_stops_where_they_end() {
    assert_eq!(flags("classify a.csv --fast=int8 -o x --no-head"), ["--fast", "--no-head"]);
    assert_eq!(flags("classify a.csv em--dash"), Vec::<String>::new());
}

#[test]
fn usage_errors_exit_64_and_help_exits_0() {
    let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_parlscan")).args(args).output().expect("run parlscan");
    let out = run(&["classify", "a.csv", "--output-format", "csv"]);
    assert_eq!(out.status.code(), Some(64), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--output-format"));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(64));
    assert_eq!(run(&["classify", "a.csv", "--format", "xlsx"]).status.code(), Some(64));
    assert_eq!(run(&["--help"]).status.code(), Some(0));
    assert_eq!(run(&["--version"]).status.code(), Some(0));
}

#[test]
fn the_readme_is_a_readme() {
    let readme = std::fs::read_to_string(project().join("README.md")).unwrap();
    assert!(readme.len() <= 15 * 1024, "README.md is {} bytes; details belong in docs/", readme.len());
    for doc in ["formats.md", "scoring.md", "performance.md", "nightly.md", "cluster.md", "experiments.md"] {
        assert!(project().join("docs").join(doc).is_file(), "docs/{doc}");
        assert!(readme.contains(&format!("docs/{doc}")), "README.md links docs/{doc}");
    }
}
