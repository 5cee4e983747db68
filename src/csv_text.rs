//! CSV for spreadsheets (RFC 4180): fields with a comma, a quote or a line
//! break are quoted with inner quotes doubled, records end in CRLF, and a
//! field a spreadsheet would run as a formula (starting with `=`, `+`, `-`,
//! `@`, a tab or a carriage return) gets a leading `'`. People name
//! themselves; an attendance report must not become a program when the
//! owner opens it.

/// Characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// One field, neutralised and quoted as needed, appended to `out`.
fn push_field(out: &mut String, raw: &str) {
    let neutral = raw.starts_with(FORMULA_STARTS);
    let quoted = raw.contains([',', '"', '\n', '\r']);
    if quoted {
        out.push('"');
    }
    if neutral {
        out.push('\'');
    }
    for c in raw.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quoted {
        out.push('"');
    }
}

/// One record, CRLF-terminated, appended to `out`.
pub fn push_record<S: AsRef<str>>(out: &mut String, fields: &[S]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_field(out, field.as_ref());
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fields: &[&str]) -> String {
        let mut out = String::new();
        push_record(&mut out, fields);
        out
    }

    #[test]
    fn plain_fields_stay_as_they_are() {
        assert_eq!(record(&["Ada", "web", "", "12"]), "Ada,web,,12\r\n");
        assert_eq!(record(&["Zoë 山田"]), "Zoë 山田\r\n");
    }

    #[test]
    fn commas_quotes_and_line_breaks_are_quoted() {
        assert_eq!(record(&["Lovelace, Ada"]), "\"Lovelace, Ada\"\r\n");
        assert_eq!(
            record(&["Ada \"the\" first"]),
            "\"Ada \"\"the\"\" first\"\r\n"
        );
        assert_eq!(record(&["two\nlines", "x"]), "\"two\nlines\",x\r\n");
        assert_eq!(record(&["a\r\nb"]), "\"a\r\nb\"\r\n");
    }

    #[test]
    fn formula_starts_are_neutralised() {
        for (raw, csv) in [
            ("=1+1", "'=1+1"),
            ("+441234567890", "'+441234567890"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"",
            ),
            ("\rx", "\"'\rx\""),
        ] {
            assert_eq!(record(&[raw]), format!("{csv}\r\n"), "{raw:?}");
        }
        // Only at the start.
        assert_eq!(record(&["a=b-c"]), "a=b-c\r\n");
    }
}
