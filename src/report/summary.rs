//! The report's streaming summary: one pass over labelled speeches into counters, histograms,
//! per-month and per-group aggregates and, per topic, a small heap of the strongest speeches.
//!
//! It owns what is counted and how (on topic, dates and their bins, groups, the top-N), never the
//! rows themselves: memory depends on the number of topics, months and groups, not on the number
//! of speeches. It does not read files (`labelled`) nor draw anything (`page`).

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap, HashMap};

/// The four stance classes of an on-topic speech, in report order (`none` is off topic).
pub const ON_STANCES: [&str; 4] = ["pro_powers", "anti_powers", "mixed", "neutral"];

/// Bins of the `stance_score` histogram, over [-1, 1].
pub const STANCE_BINS: usize = 20;

/// Speeches kept per topic under "speeches to read first".
pub const TOP_PER_TOPIC: usize = 5;

/// Distinct groups counted one by one; later new ones share one "other groups" row.
pub const MAX_GROUPS: usize = 10_000;

/// Characters of an evidence sentence kept for the page.
const EVIDENCE_CHARS: usize = 600;

/// One labelled speech as the summary sees it (borrowed from the row being read).
#[derive(Debug, Clone, Default)]
pub struct SpeechRow<'a> {
    pub id: &'a str,
    pub speaker: &'a str,
    /// The date column's value, when the input has a date column.
    pub date: Option<&'a str>,
    /// The group column's value, when the input has a group column.
    pub group: Option<&'a str>,
    /// `ok` when the speech was scored, else why not.
    pub status: &'a str,
    /// The labels, when the speech was scored.
    pub labels: Option<RowLabels<'a>>,
}

/// The labels of a scored speech.
#[derive(Debug, Clone, Default)]
pub struct RowLabels<'a> {
    pub on_topic: f64,
    /// Listed topics (names), strongest first.
    pub topics: Vec<&'a str>,
    /// Per topic name, its `topic_<name>` score.
    pub topic_scores: Vec<(&'a str, f64)>,
    /// One of [`crate::evaluate::STANCES`].
    pub stance: &'a str,
    pub stance_score: Option<f64>,
    pub evidence: &'a str,
    pub stance_evidence: Option<&'a str>,
}

impl RowLabels<'_> {
    /// On topic: the speech has a stance other than `none` (what `evaluate` counts as on topic).
    pub fn is_on(&self) -> bool {
        self.stance != "none"
    }
}

/// A date as far as it is known: the year, and the month when the date has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    /// 1-12, or 0 for a date that gives only the year.
    pub month: u8,
}

/// Parses the dates parliamentary corpora use: `YYYY-MM-DD` (ParlaMint, ParlParse; a time may
/// follow after `T` or a space), `YYYY/MM/DD`, `YYYY-MM`, `YYYY`, `YYYYMMDD` and `DD.MM.YYYY`.
/// Anything else (and years outside 1000-2999) is `None`: the speech is undated.
pub fn parse_date(s: &str) -> Option<Month> {
    let s = s.trim();
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let valid = |year: u32, month: u32, day: Option<u32>| -> Option<Month> {
        let ok = (1000..=2999).contains(&year) && (1..=12).contains(&month) && day.is_none_or(|d| (1..=31).contains(&d));
        ok.then_some(Month { year: year as i32, month: month as u8 })
    };
    // DD.MM.YYYY
    if b.len() >= 10 && b[2] == b'.' && b[5] == b'.' {
        let rest = &s[10..];
        if rest.is_empty() || rest.starts_with([' ', 'T']) {
            return valid(digits(6..10)?, digits(3..5)?, Some(digits(0..2)?));
        }
        return None;
    }
    let year = digits(0..4)?;
    match b.get(4) {
        None => (1000..=2999).contains(&year).then_some(Month { year: year as i32, month: 0 }),
        Some(b'-' | b'/') => {
            let sep = b[4];
            let month_end = (5..b.len().min(8)).find(|&i| !b[i].is_ascii_digit()).unwrap_or(b.len());
            let month = digits(5..month_end)?;
            if month_end - 5 > 2 {
                return None;
            }
            if month_end == b.len() {
                return valid(year, month, None);
            }
            if b[month_end] != sep {
                return None;
            }
            let day_end = (month_end + 1..b.len()).find(|&i| !b[i].is_ascii_digit()).unwrap_or(b.len());
            if day_end - month_end - 1 > 2 {
                return None;
            }
            let day = digits(month_end + 1..day_end)?;
            let rest = &s[day_end..];
            if rest.is_empty() || rest.starts_with([' ', 'T']) {
                valid(year, month, Some(day))
            } else {
                None
            }
        }
        Some(c) if c.is_ascii_digit() && b.len() == 8 => valid(year, digits(4..6)?, Some(digits(6..8)?)),
        _ => None,
    }
}

/// How dates are binned: by month when the span is short enough to read month by month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Month,
    Year,
}

/// Months spanned at most for monthly bins; longer spans are binned by year.
pub const MAX_MONTHLY_SPAN: i32 = 36;

/// Counts for one time bin or one group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub speeches: u64,
    pub scored: u64,
    pub on_topic: u64,
    /// Listed topics of on-topic speeches, by topic index.
    pub topics: Vec<u64>,
    /// On-topic speeches by stance, in [`ON_STANCES`] order.
    pub stance: [u64; 4],
    pub stance_score_sum: f64,
    pub stance_score_n: u64,
}

impl Tally {
    fn add(&mut self, labels: Option<&RowLabels>, topic_ix: &[usize]) {
        self.speeches += 1;
        let Some(l) = labels else { return };
        self.scored += 1;
        if !l.is_on() {
            return;
        }
        self.on_topic += 1;
        for &t in topic_ix {
            if self.topics.len() <= t {
                self.topics.resize(t + 1, 0);
            }
            self.topics[t] += 1;
        }
        if let Some(k) = ON_STANCES.iter().position(|&s| s == l.stance) {
            self.stance[k] += 1;
        }
        if let Some(x) = l.stance_score {
            self.stance_score_sum += x;
            self.stance_score_n += 1;
        }
    }

    fn merge(&mut self, other: &Tally) {
        self.speeches += other.speeches;
        self.scored += other.scored;
        self.on_topic += other.on_topic;
        if self.topics.len() < other.topics.len() {
            self.topics.resize(other.topics.len(), 0);
        }
        for (a, b) in self.topics.iter_mut().zip(&other.topics) {
            *a += b;
        }
        for k in 0..4 {
            self.stance[k] += other.stance[k];
        }
        self.stance_score_sum += other.stance_score_sum;
        self.stance_score_n += other.stance_score_n;
    }

    /// On-topic speeches among the scored ones, when any were scored.
    pub fn on_topic_share(&self) -> Option<f64> {
        (self.scored > 0).then(|| self.on_topic as f64 / self.scored as f64)
    }

    /// Mean `stance_score` of the on-topic speeches, when there are any.
    pub fn mean_stance_score(&self) -> Option<f64> {
        (self.stance_score_n > 0).then(|| self.stance_score_sum / self.stance_score_n as f64)
    }

    /// The count of listed topic `t`.
    pub fn topic(&self, t: usize) -> u64 {
        self.topics.get(t).copied().unwrap_or(0)
    }
}

/// Speeches by month, plus those whose date is blank or does not parse.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pub months: BTreeMap<Month, Tally>,
    /// Speeches with an empty date.
    pub blank: u64,
    /// Speeches whose date does not parse.
    pub unparsable: u64,
    /// A few of the dates that did not parse, to show.
    pub unparsable_examples: Vec<String>,
}

impl Timeline {
    pub fn undated(&self) -> u64 {
        self.blank + self.unparsable
    }

    /// The bin the span calls for, and the bins in order (gaps filled with empty bins when that
    /// keeps the chart readable), each with its label.
    pub fn bins(&self) -> (Granularity, Vec<(String, Tally)>) {
        let (Some(first), Some(last)) = (self.months.keys().next(), self.months.keys().next_back()) else {
            return (Granularity::Month, Vec::new());
        };
        let year_only = self.months.keys().any(|m| m.month == 0);
        let span = (last.year - first.year) * 12 + i32::from(last.month) - i32::from(first.month) + 1;
        if !year_only && span <= MAX_MONTHLY_SPAN {
            let mut out = Vec::new();
            let (mut y, mut m) = (first.year, first.month);
            while (y, m) <= (last.year, last.month) {
                let tally = self.months.get(&Month { year: y, month: m }).cloned().unwrap_or_default();
                out.push((format!("{y:04}-{m:02}"), tally));
                (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            }
            return (Granularity::Month, out);
        }
        let mut years: BTreeMap<i32, Tally> = BTreeMap::new();
        for (m, tally) in &self.months {
            years.entry(m.year).or_default().merge(tally);
        }
        let fill = last.year - first.year < 120;
        let out = if fill {
            (first.year..=last.year).map(|y| (y.to_string(), years.remove(&y).unwrap_or_default())).collect()
        } else {
            years.into_iter().map(|(y, t)| (y.to_string(), t)).collect()
        };
        (Granularity::Year, out)
    }
}

/// A speech worth reading first for one topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub score: f64,
    /// Position in the reading order (earlier wins a tie).
    pub seq: u64,
    pub id: String,
    pub speaker: String,
    pub date: String,
    pub stance: String,
    pub evidence: String,
    pub stance_evidence: Option<String>,
}

impl Eq for Candidate {}

impl Ord for Candidate {
    /// Stronger first: a higher score, then the earlier speech.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score.total_cmp(&other.score).then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The `n` strongest candidates seen: a min-heap, so the weakest kept is the one to replace.
#[derive(Debug, Clone, Default)]
pub struct TopN {
    heap: BinaryHeap<Reverse<Candidate>>,
}

impl TopN {
    /// Whether a speech with this score (and position) would be kept: checked before any string
    /// is copied.
    fn wants(&self, score: f64, seq: u64, n: usize) -> bool {
        if self.heap.len() < n {
            return true;
        }
        let weakest = &self.heap.peek().expect("full").0;
        score.total_cmp(&weakest.score).then_with(|| weakest.seq.cmp(&seq)) == Ordering::Greater
    }

    fn push(&mut self, c: Candidate, n: usize) {
        self.heap.push(Reverse(c));
        if self.heap.len() > n {
            self.heap.pop();
        }
    }

    /// Strongest first.
    pub fn sorted(&self) -> Vec<Candidate> {
        let mut v: Vec<Candidate> = self.heap.iter().map(|r| r.0.clone()).collect();
        v.sort_by(|a, b| b.cmp(a));
        v
    }
}

/// Everything the page shows that comes from the labelled speeches.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Topic names in first-seen order (the taxonomy's order for a classify output).
    pub topics: Vec<String>,
    /// Rows read.
    pub read: u64,
    /// Rows scored (`status` ok).
    pub scored: u64,
    /// Rows not scored, by status (the part before any `:`).
    pub not_scored: BTreeMap<String, u64>,
    pub on_topic: u64,
    /// Listed topics of on-topic speeches, by topic.
    pub topic_counts: Vec<u64>,
    /// On-topic speeches listing both topics (the diagonal: listing the topic).
    pub cooccur: Vec<Vec<u64>>,
    /// Scored speeches by stance, in [`crate::evaluate::STANCES`] order (`none` last).
    pub stance: [u64; 5],
    /// On-topic speeches listing the topic, by stance ([`ON_STANCES`] order).
    pub stance_by_topic: Vec<[u64; 4]>,
    /// On-topic speeches by `stance_score` bin ([`STANCE_BINS`] over [-1, 1]) and stance.
    pub stance_hist: Vec<[u64; 4]>,
    /// When some input has a date column.
    pub timeline: Option<Timeline>,
    /// When some input has a group column: counts by group value.
    pub groups: Option<HashMap<String, Tally>>,
    /// Per topic, the strongest on-topic speeches by `topic_<name>` score.
    pub top: Vec<TopN>,
    /// Whether some input has a `stance_evidence` column.
    pub has_stance_evidence: bool,
    seq: u64,
    index: HashMap<String, usize>,
}

/// The group row that stands for every group past [`MAX_GROUPS`].
pub const OTHER_GROUPS: &str = "(other groups)";
/// The group of a speech with an empty group value (or ParlaMint's `-`).
pub const NO_GROUP: &str = "(none)";

impl Summary {
    pub fn new() -> Self {
        Summary { stance_hist: vec![[0; 4]; STANCE_BINS], ..Default::default() }
    }

    /// The index of a topic, registering it when new.
    pub fn topic_index(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.topics.len();
        self.topics.push(name.to_string());
        self.index.insert(name.to_string(), i);
        self.topic_counts.push(0);
        for row in &mut self.cooccur {
            row.push(0);
        }
        self.cooccur.push(vec![0; i + 1]);
        self.stance_by_topic.push([0; 4]);
        self.top.push(TopN::default());
        i
    }

    /// Counts one speech.
    pub fn add(&mut self, row: &SpeechRow) {
        self.read += 1;
        self.seq += 1;
        let labels = row.labels.as_ref();
        let listed: Vec<usize> = match labels {
            Some(l) if l.is_on() => l.topics.iter().map(|t| self.topic_index(t)).collect(),
            _ => Vec::new(),
        };
        match labels {
            None => {
                let status = row.status.split(':').next().unwrap_or("").trim();
                let status = if status.is_empty() { "(no status)" } else { status };
                *self.not_scored.entry(status.to_string()).or_default() += 1;
            }
            Some(l) => {
                self.scored += 1;
                let k = crate::evaluate::STANCES.iter().position(|&s| s == l.stance).unwrap_or(4);
                self.stance[k] += 1;
                if l.is_on() {
                    self.on_topic += 1;
                    for &a in &listed {
                        self.topic_counts[a] += 1;
                        for &b in &listed {
                            self.cooccur[a][b] += 1;
                        }
                        self.stance_by_topic[a][k.min(3)] += 1;
                    }
                    if let Some(x) = l.stance_score {
                        let bin = (((x.clamp(-1.0, 1.0) + 1.0) / 2.0) * STANCE_BINS as f64) as usize;
                        self.stance_hist[bin.min(STANCE_BINS - 1)][k.min(3)] += 1;
                    }
                    self.consider_top(row, l);
                }
            }
        }
        if let Some(date) = row.date {
            let timeline = self.timeline.get_or_insert_with(Timeline::default);
            match parse_date(date) {
                Some(m) => timeline.months.entry(m).or_default().add(labels, &listed),
                None if date.trim().is_empty() => timeline.blank += 1,
                None => {
                    timeline.unparsable += 1;
                    if timeline.unparsable_examples.len() < 5 && !timeline.unparsable_examples.iter().any(|e| e == date) {
                        timeline.unparsable_examples.push(date.chars().take(40).collect());
                    }
                }
            }
        }
        if let Some(group) = row.group {
            let groups = self.groups.get_or_insert_with(HashMap::new);
            let name = match group.trim() {
                "" | "-" => NO_GROUP,
                g => g,
            };
            let key = if groups.contains_key(name) || groups.len() < MAX_GROUPS { name } else { OTHER_GROUPS };
            match groups.get_mut(key) {
                Some(t) => t.add(labels, &listed),
                None => groups.entry(key.to_string()).or_default().add(labels, &listed),
            }
        }
    }

    fn consider_top(&mut self, row: &SpeechRow, l: &RowLabels) {
        for &(name, score) in &l.topic_scores {
            let t = self.topic_index(name);
            if !self.top[t].wants(score, self.seq, TOP_PER_TOPIC) {
                continue;
            }
            let candidate = Candidate {
                score,
                seq: self.seq,
                id: row.id.to_string(),
                speaker: row.speaker.to_string(),
                date: row.date.unwrap_or("").to_string(),
                stance: l.stance.to_string(),
                evidence: shorten(l.evidence, EVIDENCE_CHARS),
                stance_evidence: l.stance_evidence.map(|e| shorten(e, EVIDENCE_CHARS)),
            };
            self.top[t].push(candidate, TOP_PER_TOPIC);
        }
    }

    /// The `n` largest groups by speeches (ties by name), largest first.
    pub fn top_groups(&self, n: usize) -> Vec<(String, Tally)> {
        let Some(groups) = &self.groups else { return Vec::new() };
        let mut all: Vec<(&String, &Tally)> = groups.iter().collect();
        all.sort_by(|a, b| b.1.speeches.cmp(&a.1.speeches).then_with(|| a.0.cmp(b.0)));
        all.into_iter().take(n).map(|(g, t)| (g.clone(), t.clone())).collect()
    }

    /// Rows not scored, over every status.
    pub fn not_scored_total(&self) -> u64 {
        self.not_scored.values().sum()
    }
}

/// At most `n` characters, with an ellipsis when cut.
fn shorten(s: &str, n: usize) -> String {
    let s = s.trim();
    match s.char_indices().nth(n) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_in_the_forms_corpora_use() {
        let m = |year, month| Some(Month { year, month });
        let table = [
            ("2016-06-07", m(2016, 6)),
            (" 2016-06-07 ", m(2016, 6)),
            ("2016-06-07T14:30:00", m(2016, 6)),
            ("2016-06-07 14:30", m(2016, 6)),
            ("2016-6-7", m(2016, 6)),
            ("2016/06/07", m(2016, 6)),
            ("2016-06", m(2016, 6)),
            ("2016", m(2016, 0)),
            ("20160607", m(2016, 6)),
            ("07.06.2016", m(2016, 6)),
            ("", None),
            ("-", None),
            ("n/a", None),
            ("2016-13-01", None),
            ("2016-00-01", None),
            ("2016-06-32", None),
            ("2016-06/07", None),
            ("0999-01-01", None),
            ("June 2016", None),
            ("2016-06-07x", None),
            ("12/06/2016", None),
        ];
        for (s, want) in table {
            assert_eq!(parse_date(s), want, "{s:?}");
        }
    }

    fn timeline(dates: &[&str]) -> Timeline {
        let mut s = Summary::new();
        for d in dates {
            s.add(&SpeechRow { date: Some(d), status: "ok", labels: Some(on(&[], "neutral")), ..Default::default() });
        }
        s.timeline.unwrap()
    }

    #[test]
    fn a_short_span_is_binned_by_month_with_gaps_filled() {
        let t = timeline(&["2016-01-05", "2016-03-01", "2016-03-31", "", "soon"]);
        assert_eq!((t.blank, t.unparsable, t.undated()), (1, 1, 2));
        assert_eq!(t.unparsable_examples, ["soon"]);
        let (g, bins) = t.bins();
        assert_eq!(g, Granularity::Month);
        let got: Vec<(&str, u64)> = bins.iter().map(|(l, t)| (l.as_str(), t.speeches)).collect();
        assert_eq!(got, [("2016-01", 1), ("2016-02", 0), ("2016-03", 2)]);
    }

    #[test]
    fn a_long_span_or_a_year_only_date_is_binned_by_year() {
        let (g, bins) = timeline(&["2013-12-05", "2016-12-01", "2016-03-31"]).bins();
        assert_eq!(g, Granularity::Year, "37 months");
        let got: Vec<(&str, u64)> = bins.iter().map(|(l, t)| (l.as_str(), t.speeches)).collect();
        assert_eq!(got, [("2013", 1), ("2014", 0), ("2015", 0), ("2016", 2)]);
        assert_eq!(timeline(&["2014-01-05", "2016-12-01"]).bins().0, Granularity::Month, "36 months");
        let (g, bins) = timeline(&["2016-01-05", "2016"]).bins();
        assert_eq!((g, bins.len()), (Granularity::Year, 1));
        let (g, bins) = timeline(&["2016-01-05", "2016-12-01"]).bins();
        assert_eq!((g, bins.len()), (Granularity::Month, 12), "36 months or less stay monthly");
        let (_, bins) = timeline(&["1800-01-01", "2016-12-01"]).bins();
        assert_eq!(bins.len(), 2, "a span too long to fill keeps the years present");
    }

    fn on<'a>(topics: &[&'a str], stance: &'a str) -> RowLabels<'a> {
        RowLabels {
            on_topic: if stance == "none" { 0.1 } else { 0.9 },
            topics: topics.to_vec(),
            topic_scores: Vec::new(),
            stance,
            stance_score: Some(if stance == "pro_powers" { 0.5 } else { -0.5 }),
            evidence: "",
            stance_evidence: None,
        }
    }

    /// Five speeches, counts worked out by hand.
    #[test]
    fn counts_topics_cooccurrence_stance_and_groups() {
        let mut s = Summary::new();
        let rows = [
            (Some(on(&["encryption", "oversight"], "anti_powers")), "ok", "LAB"),
            (Some(on(&["encryption"], "pro_powers")), "ok", "CON"),
            (Some(on(&[], "none")), "ok", "CON"),
            (None, "empty", "-"),
            (None, "malformed: 3 fields where the header has 4", "LAB"),
        ];
        for (labels, status, group) in rows {
            s.add(&SpeechRow { status, group: Some(group), labels, ..Default::default() });
        }
        assert_eq!((s.read, s.scored, s.on_topic, s.not_scored_total()), (5, 3, 2, 2));
        assert_eq!(s.not_scored, BTreeMap::from([("empty".into(), 1), ("malformed".into(), 1)]));
        assert_eq!(s.topics, ["encryption", "oversight"]);
        assert_eq!(s.topic_counts, [2, 1]);
        assert_eq!(s.cooccur, [vec![2, 1], vec![1, 1]]);
        assert_eq!(s.stance, [1, 1, 0, 0, 1]);
        assert_eq!(s.stance_by_topic, [[1, 1, 0, 0], [0, 1, 0, 0]]);
        assert_eq!(s.stance_hist[15], [1, 0, 0, 0], "0.5 falls in bin 15 of 20");
        assert_eq!(s.stance_hist[5], [0, 1, 0, 0]);
        let groups = s.top_groups(15);
        let got: Vec<(&str, u64, u64, u64)> = groups.iter().map(|(g, t)| (g.as_str(), t.speeches, t.scored, t.on_topic)).collect();
        assert_eq!(got, [("CON", 2, 2, 1), ("LAB", 2, 1, 1), (NO_GROUP, 1, 0, 0)]);
        assert_eq!(groups[0].1.on_topic_share(), Some(0.5));
        assert_eq!(groups[1].1.mean_stance_score(), Some(-0.5));
        assert_eq!(groups[2].1.on_topic_share(), None);
    }

    #[test]
    fn the_strongest_speeches_per_topic_are_kept_and_ties_go_to_the_earlier() {
        let mut s = Summary::new();
        let scores = [0.2, 0.9, 0.5, 0.9, 0.1, 0.7, 0.8, 0.3];
        let ids: Vec<String> = (0..scores.len()).map(|i| format!("s{i}")).collect();
        for (i, &x) in scores.iter().enumerate() {
            let mut l = on(&["encryption"], "mixed");
            l.topic_scores = vec![("encryption", x)];
            s.add(&SpeechRow { id: &ids[i], status: "ok", labels: Some(l), ..Default::default() });
        }
        let mut off = on(&[], "none");
        off.topic_scores = vec![("encryption", 1.0)];
        s.add(&SpeechRow { id: "off", status: "ok", labels: Some(off), ..Default::default() });
        let top: Vec<String> = s.top[0].sorted().into_iter().map(|c| c.id).collect();
        assert_eq!(top, ["s1", "s3", "s6", "s5", "s2"], "an off-topic speech is never among them");
    }

    #[test]
    fn groups_past_the_cap_share_one_row() {
        let mut s = Summary::new();
        let names: Vec<String> = (0..MAX_GROUPS + 3).map(|i| format!("g{i}")).collect();
        for g in &names {
            s.add(&SpeechRow { status: "ok", group: Some(g), labels: Some(on(&[], "none")), ..Default::default() });
        }
        let groups = s.groups.as_ref().unwrap();
        assert_eq!(groups.len(), MAX_GROUPS + 1);
        assert_eq!(groups[OTHER_GROUPS].speeches, 3);
    }

    #[test]
    fn long_evidence_is_shortened_on_a_character_boundary() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("ééé🔒x", 3), "ééé…");
    }
}
