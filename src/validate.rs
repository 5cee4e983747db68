//! Input rules shared by every endpoint, so a field means the same thing
//! wherever it appears. Each returns a typed [`AppError::InvalidField`].

use crate::error::AppError;

/// Trimmed, lower-cased, at most 254 bytes, one `@` with text on both sides.
pub fn email(raw: &str) -> Result<String, AppError> {
    let e = raw.trim().to_lowercase();
    if e.len() > 254 {
        return Err(AppError::invalid("email", "at most 254 characters"));
    }
    let valid = match e.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if !valid {
        return Err(AppError::invalid("email", "not an e-mail address"));
    }
    Ok(e)
}

/// 10 to 256 characters. Never echoed in an error.
pub fn new_password(raw: &str) -> Result<(), AppError> {
    let n = raw.chars().count();
    if n < 10 {
        return Err(AppError::invalid("password", "at least 10 characters"));
    }
    if raw.len() > 256 {
        return Err(AppError::invalid("password", "at most 256 bytes"));
    }
    Ok(())
}

/// A name or title, by the same rule as a participant's name
/// (`conclave_actors::text::name`): bidirectional controls removed, trimmed
/// of invisible characters, 1 to `max` characters, no control characters.
pub fn text(field: &'static str, raw: &str, max: usize) -> Result<String, AppError> {
    use conclave_actors::text::{name, TextError};
    name(raw, max).map_err(|e| match e {
        TextError::Empty => AppError::invalid(field, "must not be empty"),
        TextError::TooLong => AppError::invalid(field, format!("at most {max} characters")),
        TextError::Control => AppError::invalid(field, "must not contain control characters"),
    })
}

/// A security code: 4 to 16 digits, so it can be typed on a phone keypad.
pub fn security_code(raw: &str) -> Result<String, AppError> {
    let ok = (4..=16).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_digit());
    if !ok {
        return Err(AppError::invalid("security_code", "4 to 16 digits"));
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(email("  Ada@Example.ORG ").unwrap(), "ada@example.org");
        for bad in [
            "",
            "ada",
            "@x",
            "a@",
            "a@b@c",
            "a b@c",
            &format!("{}@x.org", "a".repeat(260)),
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_and_texts_and_codes() {
        assert!(new_password("short").is_err());
        assert!(new_password(&"x".repeat(257)).is_err());
        assert!(new_password("long enough pass").is_ok());
        assert_eq!(text("title", "  Board  ", 10).unwrap(), "Board");
        assert!(text("title", "   ", 10).is_err());
        assert!(text("title", "\u{200B}\u{2060}", 10).is_err());
        assert_eq!(text("title", "a\u{202E}b", 10).unwrap(), "ab");
        assert!(text("title", "a\u{0}b", 10).is_err());
        assert!(text("title", &"é".repeat(11), 10).is_err());
        assert!(security_code("1234").is_ok());
        for bad in ["123", "12a4", "", &"1".repeat(17), "١٢٣٤"] {
            assert!(security_code(bad).is_err(), "{bad:?}");
        }
    }
}
