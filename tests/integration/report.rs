//! `parlscan report` (issue 19): pages made from real classify outputs, opened in headless Chromium.
//!
//! The browser tests fail, never skip, when `chromium` is missing (scripts/test.sh installs it).
//! They check that the page loads with no console message and fetches nothing but itself, that
//! the DOM holds the expected charts (each `<svg>` opens with its `<title>`), and that the
//! figures printed on the page equal counts computed here from the labelled CSV.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{col, dev_csv, project, read_csv, stderr, Workdir};

/// What headless Chromium made of a page.
struct Loaded {
    dom: String,
    /// Console messages and files the page loaded other than itself.
    problems: Vec<String>,
}

fn chromium() -> &'static str {
    let found = Command::new("chromium").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(found, "chromium is missing: run scripts/test.sh (it installs Debian's chromium); these tests never skip");
    "chromium"
}

fn browser_flags(profile: &Path) -> Vec<String> {
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect()
}

/// Loads `page` and dumps its DOM; logging shows console messages (`:CONSOLE`) and every file
/// the page makes the browser read (`FileURLLoader::Start`).
fn load(page: &Path) -> Loaded {
    let profile = tempfile::tempdir().expect("a profile dir");
    let url = format!("file://{}", page.canonicalize().expect("the page exists").display());
    let out = Command::new(chromium())
        .args(browser_flags(profile.path()))
        .args(["--enable-logging=stderr", "--log-level=0", "--v=1", "--dump-dom", &url])
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium failed on {url}: {}", stderr(&out));
    let log = stderr(&out);
    let problems = log
        .lines()
        .filter(|l| l.contains(":CONSOLE") || (l.contains("FileURLLoader::Start") && !l.trim_end().ends_with(&url)))
        .map(String::from)
        .collect();
    Loaded { dom: String::from_utf8(out.stdout).expect("a UTF-8 DOM"), problems }
}

/// Saves a screenshot of `page` as `target/report-screenshots/NAME.png`.
fn screenshot(page: &Path, name: &str) -> PathBuf {
    let dir = project().join("target/report-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    let png = dir.join(format!("{name}.png"));
    let profile = tempfile::tempdir().expect("a profile dir");
    let url = format!("file://{}", page.canonicalize().expect("the page exists").display());
    let out = Command::new(chromium())
        .args(browser_flags(profile.path()))
        .args([format!("--screenshot={}", png.display()), "--window-size=1280,2400".into(), url])
        .output()
        .expect("run chromium");
    assert!(out.status.success() && png.is_file(), "no screenshot: {}", stderr(&out));
    png
}

/// The titles of the `<svg>` elements, in order (each must open with one).
fn chart_titles(dom: &str) -> Vec<String> {
    let mut titles = Vec::new();
    for part in dom.split("<svg").skip(1) {
        let body = &part[part.find('>').expect("an svg tag ends") + 1..];
        let title = body.strip_prefix("<title>").unwrap_or_else(|| panic!("an svg without a leading title: {}", &body[..80.min(body.len())]));
        titles.push(title[..title.find("</title>").expect("a title ends")].to_string());
    }
    titles
}

/// Every figure named `name` on the page: its `data-value` and the text shown, which must agree.
fn figures(dom: &str, name: &str) -> Vec<u64> {
    let key = format!("data-figure=\"{name}\" data-value=\"");
    dom.match_indices(&key)
        .map(|(at, _)| {
            let rest = &dom[at + key.len()..];
            let value: u64 = rest[..rest.find('"').unwrap()].parse().expect("a number");
            let shown = &rest[rest.find('>').unwrap() + 1..];
            let shown = &shown[..shown.find('<').unwrap()];
            let shown = shown.split_whitespace().next().unwrap_or("");
            assert_eq!(shown.replace(',', ""), value.to_string(), "{name}: shown {shown:?}, value {value}");
            value
        })
        .collect()
}

fn figure(dom: &str, name: &str) -> u64 {
    let all = figures(dom, name);
    assert!(!all.is_empty(), "no figure {name} on the page");
    assert!(all.iter().all(|&v| v == all[0]), "{name} differs across the page: {all:?}");
    all[0]
}

/// Counts worked out here from a labelled CSV, as the page should print them.
struct Expected {
    read: u64,
    scored: u64,
    on_topic: u64,
    not_scored: BTreeMap<String, u64>,
    stance: BTreeMap<String, u64>,
    topics: BTreeMap<String, u64>,
    groups: BTreeMap<String, (u64, u64, u64)>,
    undated: u64,
}

fn expected(csv: &Path, date_col: &str, group_col: &str) -> Expected {
    let (header, rows) = read_csv(csv);
    let first = |name: &str| header.iter().position(|h| h == name);
    let mut e = Expected {
        read: rows.len() as u64,
        scored: 0,
        on_topic: 0,
        not_scored: BTreeMap::new(),
        stance: BTreeMap::new(),
        topics: BTreeMap::new(),
        groups: BTreeMap::new(),
        undated: 0,
    };
    for row in &rows {
        let status = col(&header, row, "status");
        let scored = status == "ok";
        let on = scored && col(&header, row, "stance") != "none";
        if scored {
            e.scored += 1;
            *e.stance.entry(col(&header, row, "stance").to_string()).or_default() += 1;
        } else {
            *e.not_scored.entry(status.split(':').next().unwrap().to_string()).or_default() += 1;
        }
        if on {
            e.on_topic += 1;
            for t in col(&header, row, "topics").split(';').filter(|t| !t.is_empty()) {
                *e.topics.entry(t.to_string()).or_default() += 1;
            }
        }
        if let Some(i) = first(date_col) {
            let d = row[i].trim();
            let looks_like_a_date = d.len() == 10 && d.as_bytes()[4] == b'-' && d.as_bytes()[7] == b'-' && d[..4].parse::<u32>().is_ok();
            e.undated += u64::from(!looks_like_a_date);
        }
        if let Some(i) = first(group_col) {
            let g = match row[i].trim() {
                "" | "-" => "(none)".to_string(),
                g => g.to_string(),
            };
            let t = e.groups.entry(g).or_default();
            *t = (t.0 + 1, t.1 + u64::from(scored), t.2 + u64::from(on));
        }
    }
    e
}

/// The checks every real page gets: it loads cleanly, has no URL, and prints the CSV's counts.
fn check_counts(dom: &str, html: &str, e: &Expected) {
    for scheme in ["http://", "https://"] {
        assert!(!html.contains(scheme), "the page names a URL ({scheme})");
    }
    assert!(!dom.contains("<script"), "the page has no script");
    assert_eq!(figure(dom, "read"), e.read);
    assert_eq!(figure(dom, "scored"), e.scored);
    assert_eq!(figure(dom, "on-topic"), e.on_topic);
    assert_eq!(figure(dom, "not-scored"), e.read - e.scored);
    for (status, n) in &e.not_scored {
        assert_eq!(figure(dom, &format!("status:{status}")), *n, "status {status}");
    }
    for s in ["pro_powers", "anti_powers", "mixed", "neutral", "none"] {
        assert_eq!(figure(dom, &format!("stance:{s}")), e.stance.get(s).copied().unwrap_or(0), "stance {s}");
    }
    if e.on_topic > 0 {
        for (t, n) in &e.topics {
            assert_eq!(figure(dom, &format!("topic:{t}")), *n, "topic {t}");
        }
    }
}

#[test]
fn report_of_dev_with_gold_shows_the_csv_counts_and_the_evaluate_figures() {
    let wd = Workdir::new();
    let out = wd.run(&["classify", dev_csv().to_str().unwrap(), "-o", "labelled.csv", "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = wd.run(&["report", "labelled.csv", "--gold", dev_csv().to_str().unwrap(), "-o", "report.html"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = wd.path("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.len() < 5 << 20, "the page is under 5 MB");
    let loaded = load(&page);
    assert!(loaded.problems.is_empty(), "console messages or fetches: {:#?}", loaded.problems);
    let dom = &loaded.dom;

    let e = expected(&wd.path("labelled.csv"), "date", "party");
    check_counts(dom, &html, &e);
    assert!(e.undated > 0 && e.undated < e.read, "dev.csv has some speeches without a date");
    assert_eq!(figure(dom, "undated"), e.undated);
    for (g, (speeches, scored, on)) in e.groups.iter().filter(|(_, t)| t.0 >= 2) {
        assert_eq!(figure(dom, &format!("group:{g}:speeches")), *speeches, "{g}");
        assert_eq!(figure(dom, &format!("group:{g}:scored")), *scored, "{g}");
        assert_eq!(figure(dom, &format!("group:{g}:on-topic")), *on, "{g}");
    }

    let titles = chart_titles(dom);
    let bin = if dom.contains("data-figure=\"bin\">year<") { "year" } else { "month" };
    let want = [
        "Topic prevalence among on-topic speeches".to_string(),
        "Topic co-occurrence".into(),
        "Stance overall and per topic".into(),
        "stance_score histogram of on-topic speeches".into(),
        format!("On-topic share per {bin}"),
        format!("Topic mix per {bin}"),
        format!("Mean stance_score per {bin}"),
        "On-topic share per group".into(),
        "Stance per group".into(),
        "F1 per topic".into(),
        "Stance confusion matrix".into(),
        "On-topic reliability diagram".into(),
    ];
    assert_eq!(titles, want);
    assert_eq!(dom.matches("<svg").count(), want.len());

    // The gold figures are evaluate's.
    let out = wd.run(&["evaluate", "--gold", dev_csv().to_str().unwrap(), "--pred", "labelled.csv", "--report", "eval.json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let eval: serde_json::Value = serde_json::from_slice(&std::fs::read(wd.path("eval.json")).unwrap()).unwrap();
    let speeches = eval["speeches"].as_u64().unwrap();
    assert!(dom.contains(&format!("data-figure=\"gold:speeches\">{speeches}<")));
    for (topic, prf) in eval["topics"].as_object().unwrap() {
        let key = format!("data-figure=\"f1:{topic}\" data-value=\"");
        let at = dom.find(&key).unwrap_or_else(|| panic!("no F1 of {topic}")) + key.len();
        let shown: f64 = dom[at..at + dom[at..].find('"').unwrap()].parse().unwrap();
        // serde_json parses floats to within an ulp, not exactly.
        let want = prf["f1"].as_f64().unwrap();
        assert!((shown - want).abs() < 1e-12, "F1 of {topic}: {shown} on the page, {want} from evaluate");
    }
    for (name, key) in [("gold:micro-f1", "topic_micro_f1"), ("gold:stance-accuracy", "stance_accuracy")] {
        assert!(dom.contains(&format!("data-figure=\"{name}\">{:.3}<", eval[key].as_f64().unwrap())), "{name}");
    }
    assert!(dom.contains("Provenance") && dom.contains("models/heads/default.json"), "the manifest's head is in the footer");
    screenshot(&page, "dev");
}

/// A ParlaMint corpus over two sittings nine months apart, one speech with a date that does not
/// parse; labelled and reported in one `classify --report` run.
#[test]
fn classify_report_of_parlamint_shows_months_parties_and_undated_speeches() {
    let wd = Workdir::new();
    let fixtures = project().join("tests/fixtures/formats");
    for (day, unparsable) in [("2016-06-07", false), ("2017-02-01", true)] {
        let rename = |s: String| s.replace("2016-06-07", day);
        let text = rename(std::fs::read_to_string(fixtures.join("ParlaMint-GB_2016-06-07-commons.txt")).unwrap());
        let meta = rename(std::fs::read_to_string(fixtures.join("ParlaMint-GB_2016-06-07-commons-meta.tsv")).unwrap());
        let meta: Vec<String> = meta
            .lines()
            .enumerate()
            .map(|(i, line)| {
                if unparsable && i == 3 {
                    let mut fields: Vec<&str> = line.split('\t').collect();
                    fields[3] = "n/a";
                    fields.join("\t")
                } else {
                    line.to_string()
                }
            })
            .collect();
        wd.write(&format!("ParlaMint-GB_{day}-commons.txt"), text);
        wd.write(&format!("ParlaMint-GB_{day}-commons-meta.tsv"), meta.join("\n") + "\n");
    }
    let out = wd.run(&[
        "classify",
        "ParlaMint-GB_2016-06-07-commons.txt",
        "ParlaMint-GB_2017-02-01-commons.txt",
        "-o",
        "labelled.csv",
        "--report",
        "report.html",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("report of 8 speeches: wrote report.html"), "{}", stderr(&out));
    let page = wd.path("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    let loaded = load(&page);
    assert!(loaded.problems.is_empty(), "console messages or fetches: {:#?}", loaded.problems);
    let dom = &loaded.dom;
    let e = expected(&wd.path("labelled.csv"), "Date", "Speaker_party");
    assert_eq!((e.read, e.undated), (8, 1));
    check_counts(dom, &html, &e);
    assert_eq!(figure(dom, "undated"), 1);
    assert!(dom.contains("<code>n/a</code>"), "the date that does not parse is shown");
    assert!(dom.contains("data-figure=\"bin\">month<") && dom.contains("9 bins from 2016-06 to 2017-02"));
    assert_eq!(e.groups.len(), 4, "CON, LAB, LD and the chair's `-`");
    for (g, (speeches, scored, on)) in &e.groups {
        assert_eq!(figure(dom, &format!("group:{g}:speeches")), *speeches, "{g}");
        assert_eq!(figure(dom, &format!("group:{g}:scored")), *scored, "{g}");
        assert_eq!(figure(dom, &format!("group:{g}:on-topic")), *on, "{g}");
    }
    let titles: BTreeSet<String> = chart_titles(dom).into_iter().collect();
    for t in ["On-topic share per month", "Topic mix per month", "Mean stance_score per month", "On-topic share per group"] {
        assert!(titles.contains(t), "{t} in {titles:?}");
    }
    assert!(e.on_topic > 0, "the fixture's encryption speech is on topic");
    assert!(titles.contains("Topic prevalence among on-topic speeches") && titles.contains("Stance per group"));
    assert!(!titles.iter().any(|t| t.contains("F1")), "no gold, no gold charts");
    assert!(dom.contains("Speaker_party") && dom.contains("Rowe, Imogen"), "speakers come from Speaker_name");
    screenshot(&page, "parlamint");

    // --report reads the output back: a file in a classify-shaped format.
    let input = "ParlaMint-GB_2016-06-07-commons.txt";
    for args in [&["classify", input, "--report", "r.html"][..], &["classify", input, "-o", "x.json", "--format", "labelstudio", "--report", "r.html"]] {
        let out = wd.run(args);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("--report"), "{}", stderr(&out));
    }
}

const LABEL_HEADER: &str = "id,speaker,date,party,text,on_topic,topics,top_topic,topic_encryption,topic_oversight,stance,stance_score,\
stance_pro_powers,stance_anti_powers,stance_mixed,stance_neutral,evidence,stance_evidence,n_words,n_chunks,status";

fn csv_line(fields: &[&str]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(fields).unwrap();
    String::from_utf8(w.into_inner().unwrap()).unwrap()
}

/// What Chromium's DOM serialiser writes for a text node holding `s`.
fn as_dom_text(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[test]
fn speech_texts_with_markup_quotes_rtl_and_emoji_render_as_text() {
    let wd = Workdir::new();
    let speaker = "<script>alert(\"pwned\")</script> O'Brien & Sons";
    let evidence = "Encryption <b>matters</b> & \"backdoors\" aren't safe <img src=x onerror=alert(1)> — הצפנה חשובה 🔒🇬🇧";
    let stance_evidence = "مرحبا <iframe src=x></iframe> 'quoted' \"twice\"";
    let party = "<Labour & Co>";
    let id = "id\"><svg onload=alert(1)>";
    let mut csv = format!("{LABEL_HEADER}\n");
    csv += &csv_line(&[id, speaker, "2016-06-07", party, "t", "0.9", "encryption", "encryption", "0.95", "0.2", "anti_powers", "-0.5", "0.1", "0.6", "0.2", "0.1", evidence, stance_evidence, "9", "1", "ok"]);
    csv += &csv_line(&["plain", "Ann", "2016-07-01", "CON", "t", "0.1", "", "", "0.1", "0.1", "none", "0.0", "0", "0", "0", "0", "", "", "3", "1", "ok"]);
    wd.write("labelled.csv", csv);
    let out = wd.run(&["report", "labelled.csv", "-o", "report.html", "--title", "Title <i>&</i> \"q\""]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let loaded = load(&wd.path("report.html"));
    assert!(loaded.problems.is_empty(), "an injected script or image would show here: {:#?}", loaded.problems);
    let dom = &loaded.dom;
    for tag in ["<script", "<img", "<iframe", "<b>", "<i>", "onerror=\"", "onload=\""] {
        assert!(!dom.contains(tag), "{tag} was injected");
    }
    for text in [speaker, evidence, stance_evidence, party, id, "Title <i>&</i> \"q\""] {
        assert!(dom.contains(&as_dom_text(text)), "{text} does not round-trip as text");
    }
    let titles = chart_titles(dom);
    assert_eq!(dom.matches("<svg").count(), titles.len(), "every svg is a chart of ours");
    assert_eq!((figure(dom, "read"), figure(dom, "on-topic"), figure(dom, "topic:encryption")), (2, 1, 1));
}

/// The browser check itself: a page with a console error and a missing image is caught.
#[test]
fn the_browser_check_sees_console_errors_and_fetches() {
    let wd = Workdir::new();
    let page = wd.write("bad.html", "<!DOCTYPE html><html><head><link rel=\"icon\" href=\"data:,\"></head><body><img src=\"x.png\"><script>console.error('boom')</script></body></html>");
    let problems = load(&page).problems;
    assert!(problems.iter().any(|p| p.contains("boom")), "{problems:#?}");
    assert!(problems.iter().any(|p| p.contains("x.png")), "{problems:#?}");
}

#[test]
fn bad_inputs_exit_with_their_codes() {
    let wd = Workdir::new();
    // Not a classify output: 65, naming the file and the missing columns.
    wd.write("speeches.csv", "id,text,topics\n1,hello,\n");
    let out = wd.run(&["report", "speeches.csv", "-o", "r.html"]);
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("speeches.csv") && err.contains("`on_topic`, `stance` columns"), "{err}");
    assert!(!wd.path("r.html").exists());

    // An empty output (a header alone, or an empty JSON Lines file): a page that says so.
    wd.write("empty.csv", format!("{LABEL_HEADER}\n"));
    wd.write("empty.jsonl", "");
    for input in ["empty.csv", "empty.jsonl"] {
        let out = wd.run(&["report", input, "-o", "r.html"]);
        assert_eq!(out.status.code(), Some(0), "{input}: {}", stderr(&out));
        let html = std::fs::read_to_string(wd.path("r.html")).unwrap();
        assert!(html.contains("This output holds no speeches"), "{input}");
    }

    // A --date-col that is not there names the column.
    let out = wd.run(&["report", "empty.csv", "-o", "r.html", "--date-col", "sitting"]);
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    assert!(stderr(&out).contains("no `sitting` column"), "{}", stderr(&out));

    // The report would replace its input: refused.
    let out = wd.run(&["report", "empty.csv", "-o", "empty.csv"]);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));

    // An unwritable -o: 74, the previous report intact.
    let locked = wd.path("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::write(locked.join("report.html"), "previous").unwrap();
    lock(&locked, true);
    let out = wd.run(&["report", "empty.csv", "-o", "locked/report.html"]);
    lock(&locked, false);
    assert_eq!(out.status.code(), Some(74), "{}", stderr(&out));
    assert!(stderr(&out).contains("locked/report.html"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(locked.join("report.html")).unwrap(), "previous");
    assert_eq!(std::fs::read_dir(&locked).unwrap().count(), 1, "no temporary file left");
}

/// Makes a folder unwritable even for root (read-only mode, and the immutable flag where `chattr`
/// works), or writable again.
fn lock(dir: &Path, on: bool) {
    use std::os::unix::fs::PermissionsExt;
    let chattr = || Command::new("chattr").arg(if on { "+i" } else { "-i" }).arg(dir).output();
    if !on {
        let _ = chattr();
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(if on { 0o555 } else { 0o755 })).unwrap();
    if on {
        let _ = chattr();
        let probe = dir.join(".probe");
        let writable = std::fs::write(&probe, "").is_ok();
        let _ = std::fs::remove_file(&probe);
        assert!(!writable, "cannot make {} unwritable here (no chattr?): the test cannot check exit 74", dir.display());
    }
}

/// Every figure on a page, for comparing pages.
fn all_figures(html: &str) -> Vec<String> {
    let mut out: Vec<String> = html.match_indices("data-figure=\"").map(|(at, _)| html[at..at + html[at..].find('>').unwrap()].to_string()).collect();
    out.sort();
    out
}

#[test]
fn the_page_is_the_same_from_csv_jsonl_gzip_and_parquet_outputs() {
    let wd = Workdir::new();
    let input = project().join("tests/fixtures/formats/ParlaMint-GB_2016-06-07-commons.txt");
    let mut pages = Vec::new();
    for format in ["csv", "jsonl", "parquet"] {
        let (out, page) = (format!("out.{format}"), format!("{format}.html"));
        let run = wd.run(&["classify", input.to_str().unwrap(), "-o", &out, "--format", format, "--report", &page, "--quiet"]);
        assert!(run.status.success(), "{format}: {}", stderr(&run));
        pages.push((format.to_string(), std::fs::read_to_string(wd.path(&page)).unwrap()));
    }
    let gz = gzipped(&wd.path("out.jsonl"));
    let run = wd.run(&["report", gz.to_str().unwrap(), "-o", "gz.html"]);
    assert!(run.status.success(), "{}", stderr(&run));
    pages.push(("jsonl.gz".into(), std::fs::read_to_string(wd.path("gz.html")).unwrap()));
    let csv = all_figures(&pages[0].1);
    assert!(csv.iter().any(|f| f.starts_with("data-figure=\"read\" data-value=\"4\"")), "{csv:?}");
    for (format, html) in &pages[1..] {
        assert_eq!(all_figures(html), csv, "{format} gives other figures than csv");
    }

    // An empty Parquet output (no rows, a schema) is an empty output too.
    wd.write("empty.csv", "id,text\n");
    let run = wd.run(&["classify", "empty.csv", "-o", "empty.parquet", "--format", "parquet", "--report", "empty.html", "--quiet"]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(std::fs::read_to_string(wd.path("empty.html")).unwrap().contains("This output holds no speeches"));
}

/// `path` gzipped beside it, with the system's gzip (the test crate has no gzip dependency).
fn gzipped(path: &Path) -> PathBuf {
    let st = Command::new("gzip").args(["-k", "-f"]).arg(path).status().expect("run gzip");
    assert!(st.success());
    let mut gz = path.as_os_str().to_owned();
    gz.push(".gz");
    PathBuf::from(gz)
}
