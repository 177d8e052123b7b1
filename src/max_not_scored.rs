//! `classify --max-not-scored N|P%`: how many rows a run may leave unscored before a nightly
//! script should treat it as failed. Above the limit the run still writes its output and
//! manifest, then exits 65 instead of 1.
//!
//! Owns the limit (a count, or a percentage of the rows read) and the exit code it gives; which
//! rows were not scored and why is counted by `pipeline`.

use std::fmt;
use std::str::FromStr;

use crate::error::exit;
use crate::manifest::Counts;

/// The most rows a run may leave unscored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxNotScored {
    /// At most this many rows.
    Rows(usize),
    /// At most this percentage (0 to 100) of the rows read.
    Percent(f64),
}

impl FromStr for MaxNotScored {
    type Err = String;

    /// `N` (a count) or `P%` (a percentage of the rows read, decimals allowed).
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        match s.strip_suffix('%') {
            Some(p) => match p.trim().parse::<f64>() {
                Ok(p) if (0.0..=100.0).contains(&p) => Ok(MaxNotScored::Percent(p)),
                _ => Err(format!("`{s}` is not a percentage from 0% to 100%")),
            },
            None => s
                .parse()
                .map(MaxNotScored::Rows)
                .map_err(|_| format!("`{s}` is neither a number of rows (50) nor a percentage (0.5%)")),
        }
    }
}

impl fmt::Display for MaxNotScored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxNotScored::Rows(n) => write!(f, "{n}"),
            MaxNotScored::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// Rows kept with a status other than `ok`, whatever the reason.
pub fn not_scored(counts: &Counts) -> usize {
    counts.not_scored.values().sum()
}

impl MaxNotScored {
    /// Whether a run with these counts left more rows unscored than allowed.
    pub fn exceeded_by(&self, counts: &Counts) -> bool {
        let n = not_scored(counts);
        match *self {
            MaxNotScored::Rows(max) => n > max,
            MaxNotScored::Percent(p) => n as f64 * 100.0 > p * counts.read as f64,
        }
    }
}

/// A finished run's exit code: 65 when it went over `limit`, else `code` (the summary's 0 or 1).
pub fn exit_code(code: i32, counts: &Counts, limit: Option<MaxNotScored>) -> i32 {
    if limit.is_some_and(|l| l.exceeded_by(counts)) { exit::DATA } else { code }
}

/// Why a run ends with 65, for stderr.
pub fn explain(counts: &Counts, limit: MaxNotScored) -> String {
    format!(
        "{} of {} rows were not scored, more than --max-not-scored {limit} allows: exit 65 (the output was written)",
        not_scored(counts),
        counts.read
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(read: usize, not_scored: &[(&str, usize)]) -> Counts {
        Counts { read, not_scored: not_scored.iter().map(|(k, v)| (k.to_string(), *v)).collect(), ..Counts::default() }
    }

    #[test]
    fn parsing() {
        let ok = [
            ("0", MaxNotScored::Rows(0)),
            ("50", MaxNotScored::Rows(50)),
            (" 7 ", MaxNotScored::Rows(7)),
            ("0.5%", MaxNotScored::Percent(0.5)),
            ("10%", MaxNotScored::Percent(10.0)),
            ("0%", MaxNotScored::Percent(0.0)),
            ("100%", MaxNotScored::Percent(100.0)),
        ];
        for (text, limit) in ok {
            assert_eq!(text.parse::<MaxNotScored>(), Ok(limit), "{text}");
        }
        for bad in ["", "%", "-1", "1.5", "ten", "101%", "-2%", "NaN%", "5%%", "1e400%"] {
            assert!(bad.parse::<MaxNotScored>().is_err(), "{bad}");
        }
        assert_eq!(MaxNotScored::Rows(3).to_string(), "3");
        assert_eq!(MaxNotScored::Percent(2.5).to_string(), "2.5%");
    }

    #[test]
    fn above_the_limit_is_65_at_or_below_it_the_usual_code() {
        let c = counts(200, &[("empty", 3), ("malformed", 2)]);
        let table = [
            (MaxNotScored::Rows(4), exit::DATA),
            (MaxNotScored::Rows(5), exit::PARTIAL),
            (MaxNotScored::Percent(2.0), exit::DATA),
            (MaxNotScored::Percent(2.5), exit::PARTIAL),
            (MaxNotScored::Percent(0.0), exit::DATA),
        ];
        for (limit, code) in table {
            assert_eq!(exit_code(exit::PARTIAL, &c, Some(limit)), code, "{limit}");
        }
        assert_eq!(exit_code(exit::PARTIAL, &c, None), exit::PARTIAL, "no limit, no change");
        let clean = counts(200, &[]);
        assert_eq!(exit_code(exit::OK, &clean, Some(MaxNotScored::Rows(0))), exit::OK);
        assert_eq!(exit_code(exit::OK, &counts(0, &[]), Some(MaxNotScored::Percent(0.0))), exit::OK, "nothing read");
        assert_eq!(explain(&c, MaxNotScored::Rows(4)), "5 of 200 rows were not scored, more than --max-not-scored 4 allows: exit 65 (the output was written)");
    }
}
