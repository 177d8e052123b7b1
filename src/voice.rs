//! Whose voice a sentence is in: the speaker's own, or speech the speaker reports (a quotation,
//! or a view introduced by "they say", "we are told", "the hon. Member claims", ...).
//!
//! Members quote the other side in order to answer it, so a quoted sentence says little about the
//! speaker's own stance. The stance evidence prefers sentences in the speaker's own voice.

/// How much a reported sentence counts, against 1 for one in the speaker's own voice, when the
/// stance evidence is chosen.
pub const REPORTED_WEIGHT: f64 = 0.25;

/// Phrases that introduce a view that is not the speaker's own (matched in lower case).
const REPORTING: &[&str] = &[
    "they say",
    "they said",
    "they claim",
    "they argue",
    "they tell us",
    "they would have us",
    "would have us believe",
    "we are told",
    "we have been told",
    "we were told",
    "we keep being told",
    "it has been suggested",
    "it is suggested",
    "it has been said",
    "it is said",
    "it is argued",
    "it has been argued",
    "some say",
    "some argue",
    "some claim",
    "critics say",
    "critics argue",
    "opponents say",
    "opponents argue",
    "officials say",
    "providers say",
    "companies say",
    "campaigners say",
    "others say",
    "others argue",
    "member claims",
    "member says",
    "gentleman claims",
    "gentleman says",
    "lady claims",
    "lady says",
    "the argument goes",
    "their argument is",
];

/// For each sentence of a speech, in order, whether it is reported speech: mostly inside quotation
/// marks (which may open in an earlier sentence), or introduced by a reporting phrase.
pub fn reported(sentences: &[&str]) -> Vec<bool> {
    let mut open = false;
    sentences
        .iter()
        .map(|s| {
            let (quoted, total, still_open) = quoted_letters(s, open);
            open = still_open;
            let lower = s.to_lowercase();
            (quoted > 0 && 2 * quoted >= total) || REPORTING.iter().any(|p| lower.contains(p))
        })
        .collect()
}

/// For each sentence of a segmented speech (its pieces, in order), whether it is reported speech.
pub fn reported_pieces(seg: &crate::tokenize::Segmented) -> Vec<bool> {
    let n = seg.chunks.last().map_or(0, |c| c.pieces.end);
    reported(&(0..n).map(|j| seg.piece_text(j)).collect::<Vec<_>>())
}

/// The voice weight of a sentence: 1 in the speaker's own voice, [`REPORTED_WEIGHT`] if reported.
pub fn weight(reported: bool) -> f64 {
    if reported { REPORTED_WEIGHT } else { 1.0 }
}

/// Letters inside quotation marks, all letters, and whether a quotation is still open at the end.
/// Double quotes (straight or curly) always count; single quotes only where they cannot be an
/// apostrophe: an opening one after a space or at the start and before a letter, a closing one
/// after a letter or punctuation and before a space, punctuation or the end, while a quote is open.
fn quoted_letters(s: &str, mut open: bool) -> (usize, usize, bool) {
    let chars: Vec<char> = s.chars().collect();
    let (mut quoted, mut total) = (0, 0);
    for (i, &c) in chars.iter().enumerate() {
        let before = i.checked_sub(1).map(|j| chars[j]);
        let after = chars.get(i + 1).copied();
        match c {
            '"' => open = !open,
            '\u{201c}' => open = true,
            '\u{201d}' => open = false,
            '\u{2018}' | '\'' if !open && before.is_none_or(|b| b.is_whitespace() || b == '(') && after.is_some_and(char::is_alphanumeric) => {
                open = true
            }
            '\u{2019}' | '\'' if open && !before.is_some_and(char::is_whitespace) && after.is_none_or(|a| a.is_whitespace() || a.is_ascii_punctuation()) => {
                open = false
            }
            c if c.is_alphabetic() => {
                total += 1;
                quoted += usize::from(open);
            }
            _ => {}
        }
    }
    (quoted, total, open)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotations_and_reporting_phrases_are_reported_speech() {
        let speech = [
            "The providers tell me, \"We are not in that jurisdiction so we will comply with the laws where we are.\"",
            "That is not good enough.",
            "We are told that encryption makes lawful access impossible.",
            "The hon. Member claims the Bill is a snooper's charter.",
            "I say that there must be order in this ungoverned space.",
        ];
        assert_eq!(reported(&speech), vec![true, false, true, true, false]);
    }

    #[test]
    fn a_quotation_may_run_over_sentences_and_apostrophes_are_not_quotes() {
        let speech = ["The Minister said: \u{201c}This is necessary.", "It is proportionate.\u{201d}", "The Home Secretary's powers are wide.", "Members' interests matter."];
        assert_eq!(reported(&speech), vec![true, true, false, false]);
        let single = ["The officials say a sunset would create 'operational uncertainty'.", "Surely that is the point."];
        assert_eq!(reported(&single), vec![true, false], "a reporting phrase");
        assert_eq!(reported(&["A sunset would create 'operational uncertainty and delay for every agency'."]), vec![true]);
        let weights: Vec<f64> = reported(&["Mine.", "\"Theirs.\""]).into_iter().map(weight).collect();
        assert_eq!(weights, vec![1.0, REPORTED_WEIGHT]);
    }
}
