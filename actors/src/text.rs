//! What text a person may show others: display names and chat here, and
//! (through the server crate) titles and document names. Two tricks are
//! kept out: characters a terminal or log viewer acts on (NUL, `ESC[2J`),
//! and names that look like something else or like nothing (only
//! zero-width characters; a right-to-left override that reverses what
//! follows it on everyone's screen).

/// Bidirectional embeddings, overrides and isolates (U+202A-U+202E,
/// U+2066-U+2069): they reorder the text around them, so a name could read
/// as another. Removed from names, never refused (a right-to-left name
/// does not need them: the browser orders it by its letters).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that draw nothing: whitespace, the format characters
/// (Unicode general category Cf: zero-width spaces and joiners, word
/// joiner, byte-order mark, tags...), and the Hangul fillers, which are
/// letters that render blank.
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || is_format(c)
        || matches!(c, '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}')
}

/// Unicode general category Cf (Unicode 15.1).
fn is_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}'
        | '\u{0600}'..='\u{0605}'
        | '\u{061C}'
        | '\u{06DD}'
        | '\u{070F}'
        | '\u{0890}'..='\u{0891}'
        | '\u{08E2}'
        | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{110BD}'
        | '\u{110CD}'
        | '\u{13430}'..='\u{1343F}'
        | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0001}'
        | '\u{E0020}'..='\u{E007F}')
}

/// Why a text was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextError {
    /// Nothing visible (empty, whitespace or format characters only).
    Empty,
    TooLong,
    /// A control character (C0, DEL, C1) where none may be.
    Control,
}

/// A name as shown to others: bidirectional controls removed, invisible
/// characters trimmed from both ends, 1 to `max` characters, no control
/// character.
pub fn name(raw: &str, max: usize) -> Result<String, TextError> {
    let stripped: String = raw.chars().filter(|&c| !is_bidi_control(c)).collect();
    if stripped.chars().any(char::is_control) {
        return Err(TextError::Control);
    }
    let name = stripped.trim_matches(is_invisible);
    if name.is_empty() {
        return Err(TextError::Empty);
    }
    if name.chars().count() > max {
        return Err(TextError::TooLong);
    }
    Ok(name.to_owned())
}

/// A chat message: trimmed, 1 to `max` characters, no control character
/// but newline and tab (a message may have lines and indentation).
pub fn chat(raw: &str, max: usize) -> Result<String, TextError> {
    let text = raw.trim();
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(TextError::Control);
    }
    if text.is_empty() {
        return Err(TextError::Empty);
    }
    if text.chars().count() > max {
        return Err(TextError::TooLong);
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_show_something_and_cannot_reorder_text() {
        assert_eq!(name("  Ada ", 10), Ok("Ada".into()));
        assert_eq!(name("\u{200B}Ada\u{FEFF} ", 10), Ok("Ada".into()));
        assert_eq!(name("Ada\u{202E}nimda", 20), Ok("Adanimda".into()));
        assert_eq!(name("\u{2067}שרה\u{2069}", 10), Ok("שרה".into()));
        // Joiners inside a name are kept: emoji sequences need them.
        assert_eq!(
            name("A\u{200D}da", 10),
            Ok("A\u{200D}da".into()),
            "a joiner between letters is kept"
        );
        for empty in [
            "",
            "   ",
            "\u{200B}",
            "\u{2060}\u{FEFF}",
            "\u{202E}",
            " \u{200B} \u{3164}",
            "\u{E0041}",
        ] {
            assert_eq!(name(empty, 10), Err(TextError::Empty), "{empty:?}");
        }
        for control in ["bell\u{7}", "a\u{0}b", "\u{1b}[2J", "a\u{9f}"] {
            assert_eq!(name(control, 10), Err(TextError::Control), "{control:?}");
        }
        assert_eq!(name(&"é".repeat(11), 10), Err(TextError::TooLong));
        // Stripped controls do not count towards the length.
        assert!(name(&format!("{}\u{202E}", "é".repeat(10)), 10).is_ok());
    }

    #[test]
    fn chat_keeps_lines_and_tabs_and_refuses_other_controls() {
        assert_eq!(chat(" a\n\tb ", 10), Ok("a\n\tb".into()));
        for control in ["a\u{0}b", "\u{1b}[2J", "x\ry", "del\u{7f}", "c1\u{85}x"] {
            assert_eq!(chat(control, 10), Err(TextError::Control), "{control:?}");
        }
        assert_eq!(chat("  \n ", 10), Err(TextError::Empty));
        assert_eq!(chat("0123456789X", 10), Err(TextError::TooLong));
    }
}
