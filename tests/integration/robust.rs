//! The segmenter with the real tokenizer on hostile text (issue 4): never a panic, never a chunk
//! over the window, never a word-piece dropped.

use parlscan::tokenize::WordPieces;
use proptest::prelude::*;

use crate::util::model_dir;

fn words() -> WordPieces {
    WordPieces::load(&model_dir()).unwrap()
}

fn check(words: &WordPieces, text: &str) {
    let seg = words.segment(text).unwrap();
    let special = words.max_len() - words.budget();
    let mut from_chunks = 0;
    for c in &seg.chunks {
        assert!(c.ids.len() <= words.max_len(), "chunk of {} word-pieces", c.ids.len());
        from_chunks += c.ids.len() - special;
    }
    let in_pieces: usize = seg.pieces.iter().map(|p| p.ids.len()).sum();
    assert_eq!(from_chunks, in_pieces, "every piece lands in a chunk");
    // Tokenizing each sentence gives the same word-pieces as tokenizing the cleaned text whole.
    let direct = words.encode_one(&seg.cleaned).unwrap().len();
    if direct < words.max_len() {
        assert_eq!(in_pieces + special, direct, "no word-piece dropped or added by splitting: {text:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn any_text_segments_without_loss(text in "\\PC{0,400}") {
        check(&words(), &text);
    }

    #[test]
    fn hansard_like_text_segments_without_loss(
        parts in proptest::collection::vec(prop_oneof![
            Just("The hon. Member for Bath (Mr. Smith) is right. "),
            Just("[Interruption.] "),
            Just("“Hear, hear!” "),
            Just("Column 1234, No. 5, s. 7 of the Act. "),
            Just("\u{200B}\u{202E}\u{FEFF}"),
            Just("\r\n"),
            Just("\0"),
            Just("Ó Súilleabháin said — naïvely — that… "),
            Just("supercalifragilisticexpialidocious"),
            Just("? ! . "),
        ], 0..200)
    ) {
        check(&words(), &parts.concat());
    }
}

#[test]
fn a_five_megabyte_speech_is_chunked_whole() {
    let words = words();
    let sentence = "The interception of communications must be authorised by a judge, not a minister. ";
    let text = sentence.repeat(5_000_000 / sentence.len());
    let seg = words.segment(&text).unwrap();
    let per_sentence = words.encode_one(sentence).unwrap().len() - (words.max_len() - words.budget());
    let in_pieces: usize = seg.pieces.iter().map(|p| p.ids.len()).sum();
    assert_eq!(in_pieces, per_sentence * (5_000_000 / sentence.len()));
    assert!(seg.chunks.iter().all(|c| c.ids.len() <= words.max_len()));
    // One sentence longer than a window is cut at word boundaries, not dropped. (BERT maps a single
    // "word" of over 100 characters to one [UNK], as sentence-transformers does.)
    let seg = words.segment(&"surveillance without end ".repeat(2_000)).unwrap();
    let in_pieces: usize = seg.pieces.iter().map(|p| p.ids.len()).sum();
    assert_eq!(in_pieces, 2_000 * (words.encode_one("surveillance without end").unwrap().len() - 2));
    assert!(seg.chunks.len() > 1 && seg.chunks.iter().all(|c| c.ids.len() <= words.max_len()));
}
