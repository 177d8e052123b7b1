//! Cleaning and segmentation: strips procedural markers and invisible characters, splits a speech
//! into sentences, and packs sentences into chunks that fit the model's window.
//!
//! Owns text-level decisions only. Counting word-pieces and cutting an over-long sentence at word
//! boundaries is `tokenize.rs`'s job; packing here works on the counts it returns.

use std::ops::Range;

/// Cleans a speech: removes Hansard procedural markers (`[Interruption.]`, `[Hon. Members: "Hear,
/// hear!"]`), zero-width and control characters, and folds runs of spaces. Paragraph breaks are
/// kept as `\n` because they are sentence boundaries.
pub fn clean(text: &str) -> String {
    let without_markers = strip_markers(text);
    let mut out = String::with_capacity(without_markers.len());
    let mut pending_space = false;
    let mut pending_break = false;
    for c in without_markers.chars() {
        match c {
            '\n' | '\r' | '\u{2028}' | '\u{2029}' => pending_break = true,
            c if c.is_whitespace() || c.is_control() => pending_space = true,
            // Zero-width characters, bidi marks and the BOM carry no words.
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}' | '\u{FFFD}' => {}
            c => {
                if !out.is_empty() {
                    if pending_break {
                        out.push('\n');
                    } else if pending_space {
                        out.push(' ');
                    }
                }
                pending_space = false;
                pending_break = false;
                out.push(c);
            }
        }
    }
    out
}

/// Removes bracketed procedural markers: `[...]` spans of at most 200 characters on one line.
fn strip_markers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        match after.find(']') {
            Some(close) if after[..close].chars().count() <= 200 && !after[..close].contains('\n') => {
                out.push_str(&rest[..open]);
                out.push(' ');
                rest = &after[close + 1..];
            }
            _ => {
                out.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Abbreviations after which a full stop never ends a sentence (lower-cased, without the dot).
const ABBREVIATIONS: &[&str] = &[
    "hon", "rt", "mr", "mrs", "ms", "dr", "prof", "e.g", "i.e", "etc", "st", "gen", "lt", "cf",
    "viz", "jr", "sr", "inc", "ltd", "co", "v", "vs", "approx", "govt", "u.s", "u.k", "a.m", "p.m",
];

/// Abbreviations that only count as such before a number: "No. 5", "col. 1234", "s. 7".
const NUMBER_ABBREVIATIONS: &[&str] = &[
    "no", "nos", "col", "cols", "c", "cc", "vol", "para", "paras", "art", "s", "ss", "sec", "sch",
    "cl", "op", "fig", "p", "pp",
];

/// Splits cleaned text into sentences (byte ranges into `text`), on paragraph breaks and on `.`,
/// `!` or `?` (with any closing quotes or brackets) followed by a space and a capital, digit or
/// opening quote, except after a known abbreviation or a single initial.
pub fn sentences(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        if c == '\n' {
            push_trimmed(text, start..pos, &mut out);
            start = pos + 1;
        } else if matches!(c, '.' | '!' | '?' | '…') {
            // Take the closing punctuation that belongs to this sentence.
            let mut j = i + 1;
            while j < chars.len() && matches!(chars[j].1, '.' | '!' | '?' | '"' | '\'' | '”' | '’' | ')' | ']') {
                j += 1;
            }
            let end = chars.get(j).map_or(text.len(), |&(p, _)| p);
            let next_starts = chars.get(j).is_some_and(|&(_, c)| c == ' ')
                && chars.get(j + 1).is_some_and(|&(_, c)| {
                    c.is_uppercase() || c.is_ascii_digit() || matches!(c, '"' | '“' | '‘' | '\'' | '(' | '—')
                });
            let next_is_digit = chars.get(j + 1).is_some_and(|&(_, c)| c.is_ascii_digit());
            if next_starts && !(c == '.' && ends_with_abbreviation(&text[start..pos], next_is_digit)) {
                push_trimmed(text, start..end, &mut out);
                start = end;
            }
            i = j;
            continue;
        }
        i += 1;
    }
    push_trimmed(text, start..text.len(), &mut out);
    out
}

fn ends_with_abbreviation(before_dot: &str, next_is_digit: bool) -> bool {
    let word = before_dot
        .rsplit(|c: char| c.is_whitespace() || c == '(' || c == '“' || c == '"')
        .next()
        .unwrap_or("");
    let lower = word.to_lowercase();
    let single_initial = word.chars().count() == 1 && word.chars().all(char::is_uppercase);
    single_initial
        || ABBREVIATIONS.contains(&lower.as_str())
        || (next_is_digit && NUMBER_ABBREVIATIONS.contains(&lower.as_str()))
}

fn push_trimmed(text: &str, range: Range<usize>, out: &mut Vec<Range<usize>>) {
    let piece = &text[range.clone()];
    let lead = piece.len() - piece.trim_start().len();
    let trail = piece.len() - piece.trim_end().len();
    if lead + trail < piece.len() {
        out.push(range.start + lead..range.end - trail);
    }
}

/// Packs consecutive pieces (each `lengths[i]` word-pieces, each at most `budget`) into chunks of
/// at most `budget` word-pieces; returns the piece ranges. Nothing is dropped: every piece lands in
/// exactly one chunk, in order.
pub fn pack(lengths: &[usize], budget: usize) -> Vec<Range<usize>> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut used = 0;
    for (i, &len) in lengths.iter().enumerate() {
        if i > start && used + len > budget {
            chunks.push(start..i);
            start = i;
            used = 0;
        }
        used += len;
    }
    if start < lengths.len() {
        chunks.push(start..lengths.len());
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<&str> {
        sentences(text).into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn cleaning() {
        let cases = [
            ("  Order.   Order. ", "Order. Order."),
            ("I give way. [Interruption.] Thank you.", "I give way. Thank you."),
            ("Yes [Hon. Members: “Hear, hear!”] indeed", "Yes indeed"),
            ("a\u{200B}b\u{202E}c\u{FEFF}", "abc"),
            ("one\r\ntwo\n\n\nthree", "one\ntwo\nthree"),
            ("tab\tand\u{0}nul", "tab and nul"),
            ("[Lords] Investigatory Powers Bill", "Investigatory Powers Bill"),
            ("an unclosed [bracket stays", "an unclosed [bracket stays"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(clean(input), want, "input {input:?}");
        }
    }

    #[test]
    fn sentence_splitting() {
        let cases: &[(&str, &[&str])] = &[
            ("One. Two! Three? Four", &["One.", "Two!", "Three?", "Four"]),
            ("The hon. Member for Bath is right. He is.", &["The hon. Member for Bath is right.", "He is."]),
            ("See col. 4 and Mr. Smith. Then stop.", &["See col. 4 and Mr. Smith.", "Then stop."]),
            ("He said “No.” Then he sat.", &["He said “No.”", "Then he sat."]),
            ("Version 2.5 is out. J. Smith agreed.", &["Version 2.5 is out.", "J. Smith agreed."]),
            ("first para\nsecond para", &["first para", "second para"]),
            ("lower. case does not split", &["lower. case does not split"]),
            ("   ", &[]),
        ];
        for (input, want) in cases {
            assert_eq!(split(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn packing_keeps_every_piece_in_order() {
        let cases: &[(&[usize], usize, &[Range<usize>])] = &[
            (&[10, 10, 10], 25, &[0..2, 2..3]),
            (&[10, 10, 10], 30, &[0..3]),
            (&[30, 1, 30], 30, &[0..1, 1..2, 2..3]),
            (&[5], 10, &[0..1]),
            (&[], 10, &[]),
        ];
        for (lengths, budget, want) in cases {
            assert_eq!(pack(lengths, *budget), *want, "lengths {lengths:?} budget {budget}");
        }
    }
}
