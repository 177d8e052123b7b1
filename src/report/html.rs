//! The report page: one HTML document, style sheet inline, charts inline SVG, no script, no URL.
//!
//! It owns the page's sections, their order and wording, how figures are printed (each count in
//! an element with a `data-figure` name, so tests and scrapers find it), the print style sheet,
//! and HTML escaping: every text that comes from a file goes through [`escape`]. It computes
//! nothing: figures come from the summary and from `evaluate`.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::evaluate::{self, STANCES};
use crate::manifest::Manifest;

use super::summary::{Granularity, Summary, Tally, ON_STANCES, STANCE_BINS};
use super::svg::{self, Bar, Column, Series, PALETTE, STANCE_COLOURS};

/// Groups shown under "by group".
pub const TOP_GROUPS: usize = 15;

/// Text made safe for HTML text and attribute values: `&`, `<`, `>`, `"` and `'` as
/// references, and control characters HTML does not allow as U+FFFD. Everything else (right-to-left
/// scripts, emoji) stays as it is: the page is UTF-8.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `1234567` as `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// A share of a whole, as a percentage, or a dash when the whole is zero.
fn share(part: u64, whole: u64) -> String {
    if whole == 0 { "–".into() } else { svg::percent(part as f64 / whole as f64) }
}

/// What the page is made of.
pub struct Page<'a> {
    pub title: &'a str,
    pub inputs: &'a [PathBuf],
    pub summary: &'a Summary,
    /// The date and group columns found (for captions), per input when they differ.
    pub date_columns: Vec<String>,
    pub group_columns: Vec<String>,
    /// Rows of the labelled files that could not be read, and scored rows whose labels did not parse.
    pub unreadable: u64,
    pub bad_labels: u64,
    /// What was wrong with the first few such rows.
    pub problems: &'a [String],
    /// The gold file and `evaluate`'s figures, with `--gold`.
    pub gold: Option<(&'a PathBuf, &'a evaluate::Report)>,
    /// Manifests found beside the inputs.
    pub provenance: &'a [(PathBuf, Manifest)],
}

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Helvetica Neue", Arial, sans-serif;
  color: #1b1b1b; background: #fff; max-width: 1040px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 20px; margin: 34px 0 8px; border-bottom: 2px solid #0072b2; padding-bottom: 3px; }
h3 { font-size: 16px; margin: 22px 0 6px; } .sub { color: #555; margin: 0 0 12px; }
nav { font-size: 14px; margin: 10px 0 4px; } nav a { margin-right: 14px; color: #0060a0; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 14px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }
th { background: #f3f6f9; font-weight: 600; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.sub td:first-child { padding-left: 26px; color: #444; }
table.speeches { width: 100%; } table.speeches td.evidence { max-width: 520px; }
figure { margin: 10px 0 18px; } figcaption { font-size: 13px; color: #555; margin-top: 2px; }
svg.chart { display: block; max-width: 100%; height: auto; font-family: inherit; }
svg .label { font-size: 12px; fill: #222; } svg .value, svg .tick { font-size: 11px; fill: #444; }
svg .axis-name { font-size: 12px; fill: #333; } svg .cell { font-size: 11px; fill: #111; } svg .cell.light { fill: #fff; }
svg .grid { stroke: #e6e6e6; } svg .axis { stroke: #555; } svg .diagonal { stroke: #888; stroke-dasharray: 5 4; }
svg .curve { fill: none; stroke: #0072b2; stroke-width: 1.5; }
.note { background: #fff8e1; border-left: 4px solid #e69f00; padding: 6px 12px; margin: 10px 0; }
.empty { font-size: 18px; padding: 18px; background: #f3f6f9; border-radius: 4px; }
footer { margin-top: 40px; padding-top: 10px; border-top: 1px solid #ccc; font-size: 13px; color: #444; }
footer dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 6px 0 14px; }
footer dt { font-weight: 600; } footer dd { margin: 0; overflow-wrap: anywhere; }
code { font-size: 13px; }
@page { margin: 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  nav { display: none; }
  h2 { break-after: avoid; } figure, table, tr, .note { break-inside: avoid; }
  section { break-before: auto; }
  a { color: inherit; text-decoration: none; }
}
"#;

/// The whole page.
pub fn render(page: &Page) -> String {
    let s = page.summary;
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<link rel=\"icon\" href=\"data:,\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(page.title)
    );
    let names: Vec<String> = page.inputs.iter().map(|p| format!("<code>{}</code>", escape(&p.display().to_string()))).collect();
    let _ = write!(
        out,
        "<header>\n<h1>{}</h1>\n<p class=\"sub\">Labelled speeches from {}; summarised by parlscan {}.</p>\n",
        escape(page.title),
        names.join(", "),
        env!("CARGO_PKG_VERSION")
    );
    if s.read == 0 {
        out.push_str("</header>\n<main>\n<section id=\"counts\">\n<h2>Counts</h2>\n");
        let _ = writeln!(out, "<p class=\"empty\" data-figure=\"read\" data-value=\"0\">This output holds no speeches: there is nothing to summarise.</p>");
        problems(&mut out, page);
        out.push_str("</section>\n");
    } else {
        nav(&mut out, page);
        out.push_str("</header>\n<main>\n");
        counts(&mut out, page);
        topics(&mut out, s);
        stance(&mut out, s);
        if let Some(t) = &s.timeline {
            time(&mut out, s, t, &page.date_columns);
        }
        if s.groups.is_some() {
            groups(&mut out, s, &page.group_columns);
        }
        read_first(&mut out, s);
        if let Some((path, report)) = page.gold {
            gold(&mut out, path, report);
        }
    }
    out.push_str("</main>\n");
    footer(&mut out, page);
    out.push_str("</body>\n</html>\n");
    out
}

fn nav(out: &mut String, page: &Page) {
    let s = page.summary;
    let mut links = vec![("counts", "Counts"), ("topics", "Topics"), ("stance", "Stance")];
    if s.timeline.is_some() {
        links.push(("time", "Over time"));
    }
    if s.groups.is_some() {
        links.push(("groups", "By group"));
    }
    links.push(("read-first", "Speeches to read first"));
    if page.gold.is_some() {
        links.push(("gold", "Against gold labels"));
    }
    links.push(("provenance", "Provenance"));
    out.push_str("<nav>");
    for (id, name) in links {
        let _ = write!(out, "<a href=\"#{id}\">{name}</a>");
    }
    out.push_str("</nav>\n");
}

/// A table cell holding a figure that tests can find by name.
fn figure_cell(name: &str, n: u64) -> String {
    format!("<td class=\"num\" data-figure=\"{}\" data-value=\"{n}\">{}</td>", escape(name), count(n))
}

fn counts(out: &mut String, page: &Page) {
    let s = page.summary;
    out.push_str("<section id=\"counts\">\n<h2>Counts</h2>\n<table>\n<tr><th></th><th class=\"num\">speeches</th><th class=\"num\">share</th></tr>\n");
    let _ = writeln!(out, "<tr><td>Read</td>{}<td class=\"num\"></td></tr>", figure_cell("read", s.read));
    let _ = writeln!(out, "<tr><td>Scored</td>{}<td class=\"num\">{}</td></tr>", figure_cell("scored", s.scored), share(s.scored, s.read));
    let not_scored = s.not_scored_total();
    let _ = writeln!(out, "<tr><td>Not scored</td>{}<td class=\"num\">{}</td></tr>", figure_cell("not-scored", not_scored), share(not_scored, s.read));
    for (status, n) in &s.not_scored {
        let _ = writeln!(
            out,
            "<tr class=\"sub\"><td>status <code>{}</code></td>{}<td class=\"num\">{}</td></tr>",
            escape(status),
            figure_cell(&format!("status:{status}"), *n),
            share(*n, s.read)
        );
    }
    let _ = writeln!(
        out,
        "<tr><td>On topic</td>{}<td class=\"num\">{} of scored</td></tr>",
        figure_cell("on-topic", s.on_topic),
        share(s.on_topic, s.scored)
    );
    if let Some(t) = &s.timeline {
        let _ = writeln!(out, "<tr><td>Undated</td>{}<td class=\"num\">{}</td></tr>", figure_cell("undated", t.undated()), share(t.undated(), s.read));
    }
    out.push_str("</table>\n");
    out.push_str(
        "<p class=\"sub\">A speech is <em>on topic</em> when it was scored and its stance is not <code>none</code> \
(its <code>on_topic</code> score reached the threshold), as <code>parlscan evaluate</code> counts it.</p>\n",
    );
    problems(out, page);
    out.push_str("</section>\n");
}

fn problems(out: &mut String, page: &Page) {
    if page.unreadable == 0 && page.bad_labels == 0 {
        return;
    }
    let _ = write!(
        out,
        "<div class=\"note\"><p>{} rows of the labelled file could not be read and are not counted; \
{} rows with status <code>ok</code> had labels that do not parse and are counted as not scored \
(status <code>unreadable labels</code>).</p><ul>",
        count(page.unreadable),
        count(page.bad_labels)
    );
    for p in page.problems {
        let _ = write!(out, "<li>{}</li>", escape(p));
    }
    out.push_str("</ul></div>\n");
}

fn topic_series(s: &Summary) -> Vec<Series<'_>> {
    s.topics.iter().enumerate().map(|(i, t)| (t.as_str(), PALETTE[i % PALETTE.len()])).collect()
}

fn stance_series() -> Vec<Series<'static>> {
    ON_STANCES.iter().copied().zip(STANCE_COLOURS).collect()
}

fn topics(out: &mut String, s: &Summary) {
    out.push_str("<section id=\"topics\">\n<h2>Topics</h2>\n");
    if s.on_topic == 0 {
        out.push_str("<p class=\"empty\">No speech is on topic.</p>\n</section>\n");
        return;
    }
    let bars: Vec<Bar> = s
        .topics
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let c = s.topic_counts[i];
            Bar {
                label: t.clone(),
                value: c as f64,
                text: format!("{} ({})", count(c), share(c, s.on_topic)),
                tip: format!("{t}: listed on {c} of {} on-topic speeches", s.on_topic),
                colour: PALETTE[i % PALETTE.len()].into(),
            }
        })
        .collect();
    let _ = writeln!(
        out,
        "<figure>{}<figcaption>Share of the {} on-topic speeches that list each topic (a speech may list several).</figcaption></figure>",
        svg::hbars("Topic prevalence among on-topic speeches", &bars, 0.0),
        count(s.on_topic)
    );
    out.push_str("<table>\n<tr><th>topic</th><th class=\"num\">on-topic speeches listing it</th><th class=\"num\">share</th>");
    for st in ON_STANCES {
        let _ = write!(out, "<th class=\"num\">{st}</th>");
    }
    out.push_str("</tr>\n");
    for (i, t) in s.topics.iter().enumerate() {
        let _ = write!(out, "<tr><td>{}</td>{}<td class=\"num\">{}</td>", escape(t), figure_cell(&format!("topic:{t}"), s.topic_counts[i]), share(s.topic_counts[i], s.on_topic));
        for (k, st) in ON_STANCES.iter().enumerate() {
            out.push_str(&figure_cell(&format!("topic:{t}:{st}"), s.stance_by_topic[i][k]));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    let n = s.topics.len();
    let off_max = (0..n).flat_map(|a| (0..n).filter(move |&b| b != a).map(move |b| (a, b))).map(|(a, b)| s.cooccur[a][b]).max().unwrap_or(0);
    let max = if off_max > 0 { off_max } else { s.cooccur.iter().enumerate().map(|(i, r)| r[i]).max().unwrap_or(0) };
    let values: Vec<Vec<f64>> = s.cooccur.iter().map(|r| r.iter().map(|&c| c as f64).collect()).collect();
    let text: Vec<Vec<String>> = s.cooccur.iter().map(|r| r.iter().map(|&c| c.to_string()).collect()).collect();
    let _ = write!(
        out,
        "<figure>{}<figcaption>On-topic speeches listing both topics; the diagonal counts the topic alone. Shading is scaled to the largest off-diagonal count.</figcaption></figure>\n</section>\n",
        svg::heatmap("Topic co-occurrence", &s.topics, &s.topics, &values, &text, max as f64, ["topic", "topic"])
    );
}

fn stance(out: &mut String, s: &Summary) {
    out.push_str("<section id=\"stance\">\n<h2>Stance</h2>\n<table>\n<tr>");
    for st in STANCES {
        let _ = write!(out, "<th class=\"num\">{st}</th>");
    }
    out.push_str("</tr>\n<tr>");
    for (k, st) in STANCES.iter().enumerate() {
        out.push_str(&figure_cell(&format!("stance:{st}"), s.stance[k]));
    }
    out.push_str("</tr>\n</table>\n<p class=\"sub\">Scored speeches by stance; <code>none</code> is a speech off topic.</p>\n");
    if s.on_topic == 0 {
        out.push_str("</section>\n");
        return;
    }
    let mut rows = vec![("all on-topic speeches".to_string(), s.stance[..4].to_vec())];
    rows.extend(s.topics.iter().enumerate().map(|(i, t)| (t.clone(), s.stance_by_topic[i].to_vec())));
    let _ = writeln!(
        out,
        "<figure>{}<figcaption>Stance of the on-topic speeches, overall and among those listing each topic.</figcaption></figure>",
        svg::stacked_hbars("Stance overall and per topic", &rows, &stance_series())
    );
    let bins: Vec<(String, Vec<u64>)> = s
        .stance_hist
        .iter()
        .enumerate()
        .map(|(b, counts)| {
            let from = -1.0 + 2.0 * b as f64 / STANCE_BINS as f64;
            (format!("{from:+.1}"), counts.to_vec())
        })
        .collect();
    let _ = write!(
        out,
        "<figure>{}<figcaption><code>stance_score</code> (P(pro_powers) − P(anti_powers)) of the on-topic speeches in bins of 0.1 from −1 to 1, \
coloured by their stance; each bin is labelled by its lower edge.</figcaption></figure>\n</section>\n",
        svg::stacked_columns("stance_score histogram of on-topic speeches", &bins, &stance_series(), false)
    );
}

/// The smallest of a few round numbers at or above `x`.
fn nice_ceiling(x: f64) -> f64 {
    [0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 0.75, 1.0].into_iter().find(|&c| c >= x).unwrap_or(1.0)
}

fn time(out: &mut String, s: &Summary, t: &super::summary::Timeline, date_columns: &[String]) {
    let cols: Vec<String> = date_columns.iter().map(|c| format!("<code>{}</code>", escape(c))).collect();
    let _ = write!(out, "<section id=\"time\">\n<h2>Over time</h2>\n<p class=\"sub\">Dates from the {} column.", cols.join(", "));
    let _ = write!(
        out,
        " <span data-figure=\"undated\" data-value=\"{}\">{}</span> speeches are undated ({} with no date, {} whose date does not parse",
        t.undated(),
        count(t.undated()),
        count(t.blank),
        count(t.unparsable)
    );
    if !t.unparsable_examples.is_empty() {
        let ex: Vec<String> = t.unparsable_examples.iter().map(|e| format!("<code>{}</code>", escape(e))).collect();
        let _ = write!(out, ", such as {}", ex.join(", "));
    }
    out.push_str("): they are counted everywhere else, but not here.</p>\n");
    let (granularity, bins) = t.bins();
    if bins.is_empty() {
        out.push_str("<p class=\"empty\">No date parses.</p>\n</section>\n");
        return;
    }
    let unit = match granularity {
        Granularity::Month => "month",
        Granularity::Year => "year",
    };
    let _ = writeln!(
        out,
        "<p class=\"sub\">Binned by <span data-figure=\"bin\">{unit}</span>: {} bins from {} to {} ({}).</p>",
        bins.len(),
        escape(&bins[0].0),
        escape(&bins[bins.len() - 1].0),
        if granularity == Granularity::Month { "the span is 36 months or less" } else { "the span is longer than 36 months, or some dates give only a year" }
    );
    let max_share = bins.iter().filter_map(|(_, b)| b.on_topic_share()).fold(0.0, f64::max);
    let hi = nice_ceiling(max_share);
    let share_cols: Vec<Column> = bins
        .iter()
        .map(|(label, b)| Column {
            label: label.clone(),
            value: b.on_topic_share(),
            tip: format!("{label}: {} of {} scored speeches on topic ({})", b.on_topic, b.scored, share(b.on_topic, b.scored)),
        })
        .collect();
    let ticks = vec![(0.0, "0%".to_string()), (hi / 2.0, svg::percent(hi / 2.0)), (hi, svg::percent(hi))];
    let _ = writeln!(
        out,
        "<figure>{}<figcaption>Share of the scored speeches that are on topic, per {unit}.</figcaption></figure>",
        svg::columns(&format!("On-topic share per {unit}"), &share_cols, 0.0, hi, &ticks, PALETTE[0])
    );
    let mix: Vec<(String, Vec<u64>)> = bins.iter().map(|(l, b)| (l.clone(), (0..s.topics.len()).map(|i| b.topic(i)).collect())).collect();
    let _ = writeln!(
        out,
        "<figure>{}<figcaption>Of the topics listed by on-topic speeches in each {unit}, the share of each.</figcaption></figure>",
        svg::stacked_columns(&format!("Topic mix per {unit}"), &mix, &topic_series(s), true)
    );
    let m = bins.iter().filter_map(|(_, b)| b.mean_stance_score()).fold(0.0_f64, |a, x| a.max(x.abs()));
    let m = nice_ceiling(m);
    let mean_cols: Vec<Column> = bins
        .iter()
        .map(|(label, b)| Column {
            label: label.clone(),
            value: b.mean_stance_score(),
            tip: match b.mean_stance_score() {
                Some(x) => format!("{label}: mean stance_score {x:+.3} over {} on-topic speeches", b.stance_score_n),
                None => format!("{label}: no on-topic speech"),
            },
        })
        .collect();
    let ticks = vec![(-m, format!("{:+}", -m)), (0.0, "0".into()), (m, format!("{m:+}"))];
    let _ = write!(
        out,
        "<figure>{}<figcaption>Mean <code>stance_score</code> of the on-topic speeches per {unit}: above zero leans pro_powers, below anti_powers.</figcaption></figure>\n</section>\n",
        svg::columns(&format!("Mean stance_score per {unit}"), &mean_cols, -m, m, &ticks, STANCE_COLOURS[2])
    );
}

fn groups(out: &mut String, s: &Summary, group_columns: &[String]) {
    let top = s.top_groups(TOP_GROUPS);
    let total = s.groups.as_ref().map_or(0, |g| g.len());
    let cols: Vec<String> = group_columns.iter().map(|c| format!("<code>{}</code>", escape(c))).collect();
    let _ = write!(
        out,
        "<section id=\"groups\">\n<h2>By group</h2>\n<p class=\"sub\">Groups from the {} column: the {} largest of {} by speeches read.</p>\n",
        cols.join(", "),
        top.len(),
        count(total as u64)
    );
    let bars: Vec<Bar> = top
        .iter()
        .map(|(g, t)| Bar {
            label: g.clone(),
            value: t.on_topic_share().unwrap_or(0.0),
            text: format!("{} of {}", share(t.on_topic, t.scored), count(t.scored)),
            tip: format!("{g}: {} of {} scored speeches on topic", t.on_topic, t.scored),
            colour: PALETTE[0].into(),
        })
        .collect();
    let _ = writeln!(
        out,
        "<figure>{}<figcaption>Share of each group's scored speeches that are on topic.</figcaption></figure>",
        svg::hbars("On-topic share per group", &bars, 0.0)
    );
    let rows: Vec<(String, Vec<u64>)> = top.iter().filter(|(_, t)| t.on_topic > 0).map(|(g, t)| (g.clone(), t.stance.to_vec())).collect();
    if !rows.is_empty() {
        let _ = writeln!(
            out,
            "<figure>{}<figcaption>Stance of each group's on-topic speeches (groups with any).</figcaption></figure>",
            svg::stacked_hbars("Stance per group", &rows, &stance_series())
        );
    }
    out.push_str("<table>\n<tr><th>group</th><th class=\"num\">speeches</th><th class=\"num\">scored</th><th class=\"num\">on topic</th><th class=\"num\">share</th><th class=\"num\">mean stance_score</th></tr>\n");
    for (g, t) in &top {
        group_row(out, g, t);
    }
    out.push_str("</table>\n</section>\n");
}

fn group_row(out: &mut String, g: &str, t: &Tally) {
    let _ = writeln!(
        out,
        "<tr><td dir=\"auto\">{}</td>{}{}{}<td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
        escape(g),
        figure_cell(&format!("group:{g}:speeches"), t.speeches),
        figure_cell(&format!("group:{g}:scored"), t.scored),
        figure_cell(&format!("group:{g}:on-topic"), t.on_topic),
        share(t.on_topic, t.scored),
        t.mean_stance_score().map_or("–".into(), |x| format!("{x:+.3}"))
    );
}

fn read_first(out: &mut String, s: &Summary) {
    out.push_str(
        "<section id=\"read-first\">\n<h2>Speeches to read first</h2>\n<p class=\"sub\">Per topic, the on-topic speeches with the highest \
<code>topic_&lt;name&gt;</code> score, with the sentence that scored highest (<code>evidence</code>).</p>\n",
    );
    let mut any = false;
    for (i, t) in s.topics.iter().enumerate() {
        let top = s.top[i].sorted();
        if top.is_empty() {
            continue;
        }
        any = true;
        let _ = write!(
            out,
            "<h3>{}</h3>\n<table class=\"speeches\" data-topic=\"{}\">\n<tr><th>id</th><th>speaker</th><th>date</th><th class=\"num\">score</th><th>stance</th><th>evidence</th>{}</tr>\n",
            escape(t),
            escape(t),
            if s.has_stance_evidence { "<th>stance evidence</th>" } else { "" }
        );
        for c in top {
            let _ = write!(
                out,
                "<tr><td dir=\"auto\">{}</td><td dir=\"auto\" class=\"speaker\">{}</td><td>{}</td><td class=\"num\">{:.3}</td><td>{}</td><td dir=\"auto\" class=\"evidence\">{}</td>",
                escape(&c.id),
                escape(&c.speaker),
                escape(&c.date),
                c.score,
                escape(&c.stance),
                escape(&c.evidence)
            );
            if s.has_stance_evidence {
                let _ = write!(out, "<td dir=\"auto\" class=\"evidence\">{}</td>", escape(c.stance_evidence.as_deref().unwrap_or("")));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
    }
    if !any {
        out.push_str("<p class=\"empty\">No speech is on topic.</p>\n");
    }
    out.push_str("</section>\n");
}

fn gold(out: &mut String, path: &Path, r: &evaluate::Report) {
    let _ = write!(
        out,
        "<section id=\"gold\">\n<h2>Against gold labels</h2>\n<p class=\"sub\">The figures of <code>parlscan evaluate</code> against \
<code>{}</code>: <span data-figure=\"gold:speeches\">{}</span> speeches joined on id. Topic micro F1 <span data-figure=\"gold:micro-f1\">{:.3}</span>, \
macro F1 <span data-figure=\"gold:macro-f1\">{:.3}</span>; on topic F1 <span data-figure=\"gold:on-topic-f1\">{:.3}</span>; stance accuracy \
<span data-figure=\"gold:stance-accuracy\">{:.3}</span>, macro F1 <span data-figure=\"gold:stance-macro-f1\">{:.3}</span>{}.</p>\n",
        escape(&path.display().to_string()),
        r.speeches,
        r.topic_micro_f1,
        r.topic_macro_f1,
        r.on_topic.f1,
        r.stance_accuracy,
        r.stance_macro_f1,
        r.on_topic_brier.map_or(String::new(), |b| format!("; <code>on_topic</code> Brier score <span data-figure=\"gold:brier\">{b:.4}</span>"))
    );
    let bars: Vec<Bar> = r
        .topics
        .iter()
        .enumerate()
        .map(|(i, (t, p))| Bar {
            label: t.clone(),
            value: p.f1,
            text: format!("{:.3} (n={})", p.f1, p.support),
            tip: format!("{t}: precision {:.3}, recall {:.3}, F1 {:.3}, support {}", p.precision, p.recall, p.f1, p.support),
            colour: PALETTE[i % PALETTE.len()].into(),
        })
        .collect();
    if !bars.is_empty() {
        let _ = writeln!(out, "<figure>{}<figcaption>F1 of each topic against the gold topics (support: gold speeches with the topic).</figcaption></figure>", svg::hbars("F1 per topic", &bars, 1.0));
        out.push_str("<table>\n<tr><th>topic</th><th class=\"num\">precision</th><th class=\"num\">recall</th><th class=\"num\">F1</th><th class=\"num\">support</th></tr>\n");
        for (t, p) in &r.topics {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"num\">{:.3}</td><td class=\"num\">{:.3}</td><td class=\"num\" data-figure=\"f1:{}\" data-value=\"{}\">{:.3}</td><td class=\"num\">{}</td></tr>",
                escape(t),
                p.precision,
                p.recall,
                escape(t),
                p.f1,
                p.f1,
                p.support
            );
        }
        out.push_str("</table>\n");
    }
    let names: Vec<String> = STANCES.iter().map(|s| s.to_string()).collect();
    let values: Vec<Vec<f64>> = r.stance_confusion.iter().map(|row| row.iter().map(|&c| c as f64).collect()).collect();
    let text: Vec<Vec<String>> = r.stance_confusion.iter().map(|row| row.iter().map(|c| c.to_string()).collect()).collect();
    let max = r.stance_confusion.iter().flatten().copied().max().unwrap_or(0) as f64;
    let _ = writeln!(
        out,
        "<figure>{}<figcaption>Speeches by gold stance (rows) and predicted stance (columns); the diagonal is agreement.</figcaption></figure>",
        svg::heatmap("Stance confusion matrix", &names, &names, &values, &text, max, ["gold", "predicted"])
    );
    if !r.on_topic_reliability.is_empty() {
        let bins: Vec<(f64, f64, usize)> = r.on_topic_reliability.iter().map(|b| (b.mean_predicted, b.observed, b.count)).collect();
        let _ = writeln!(
            out,
            "<figure>{}<figcaption>Reliability of <code>on_topic</code>: per tenth of the predicted score, its mean against the share of those speeches that are on topic in the gold labels.</figcaption></figure>",
            svg::reliability("On-topic reliability diagram", &bins)
        );
    }
    out.push_str("</section>\n");
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

fn footer(out: &mut String, page: &Page) {
    out.push_str("<footer id=\"provenance\">\n<h2>Provenance</h2>\n");
    if page.provenance.is_empty() {
        out.push_str("<p>No manifest (<code>OUTPUT.manifest.json</code>) was found beside the labelled files, so their model, head and taxonomy are not known here.</p>\n");
    }
    for (path, m) in page.provenance {
        let f = &m.fingerprints;
        let _ = write!(out, "<p>Manifest of <code>{}</code>:</p>\n<dl>\n", escape(&path.display().to_string()));
        let mut item = |k: &str, v: String| {
            let _ = writeln!(out, "<dt>{k}</dt><dd>{v}</dd>");
        };
        item("parlscan", format!("{} {}", escape(&m.tool), escape(&m.version)));
        item("model", format!("<code>{}</code> (sha256 <code>{}</code>)", escape(&f.model), escape(short(&f.model_sha256))));
        item(
            "head",
            match &f.head {
                Some((h, sha)) => format!("<code>{}</code> (sha256 <code>{}</code>)", escape(h), escape(short(sha))),
                None => "none: label prototypes".into(),
            },
        );
        item("taxonomy", format!("<code>{}</code> (sha256 <code>{}</code>)", escape(&f.taxonomy), escape(short(&f.taxonomy_sha256))));
        if !f.encoder.is_empty() {
            item("engine", escape(&f.encoder));
        }
        item("labels key", format!("<code>{}</code>", escape(short(&m.labels_key))));
        item("command", format!("<code>{}</code>", escape(&m.command_line.join(" "))));
        out.push_str("</dl>\n");
    }
    let _ = writeln!(out, "<p>Page written by parlscan {}; it needs no network: charts are inline SVG.</p>\n</footer>", env!("CARGO_PKG_VERSION"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_quotes_and_controls_and_keeps_the_rest() {
        let table = [
            ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
            ("A & B", "A &amp; B"),
            ("\"double\" 'single'", "&quot;double&quot; &#39;single&#39;"),
            ("already &amp;", "already &amp;amp;"),
            ("שלום עולם", "שלום עולם"),
            ("مرحبا 🔒👩‍⚖️", "مرحبا 🔒👩‍⚖️"),
            ("line\nbreak\ttab", "line\nbreak\ttab"),
            ("nul\u{0}bell\u{7}", "nul\u{FFFD}bell\u{FFFD}"),
        ];
        for (raw, want) in table {
            assert_eq!(escape(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!((count(0), count(999), count(1000), count(1234567)), ("0".into(), "999".into(), "1,000".into(), "1,234,567".into()));
        assert_eq!(share(1, 4), "25.0%");
        assert_eq!(share(1, 0), "–");
    }

    #[test]
    fn an_empty_summary_makes_a_page_that_says_so() {
        let s = Summary::new();
        let inputs = [PathBuf::from("out.csv")];
        let page = Page {
            title: "T <x>",
            inputs: &inputs,
            summary: &s,
            date_columns: vec![],
            group_columns: vec![],
            unreadable: 0,
            bad_labels: 0,
            problems: &[],
            gold: None,
            provenance: &[],
        };
        let html = render(&page);
        assert!(html.contains("<title>T &lt;x&gt;</title>"));
        assert!(html.contains("holds no speeches"));
        assert!(!html.contains("<svg") && !html.contains("<script") && !html.contains("http"));
    }
}
