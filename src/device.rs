//! The device credential: a random token a client presents at each join,
//! known to rooms only by its hash, so that a block can bar the device. A
//! non-browser client keeps the token `joined` gives it and sends it back
//! as `device_token`. A browser keeps it in a cookie the server sets (the
//! page never sees it): `HttpOnly`, `SameSite=Strict`, `Secure` when the
//! public URL is `https`, for 400 days, renewed on each load of the page.
//! A reload, a new tab or a restarted browser sends it again; a fresh
//! profile does not, and looks like a new device.

use actix_web::cookie::{time::Duration, Cookie, SameSite};
use actix_web::HttpRequest;

/// The cookie's name.
pub const COOKIE: &str = "conclave_device";
/// Browsers cap a cookie's lifetime at 400 days.
const LIFETIME_DAYS: i64 = 400;

/// Whether `token` has the shape of one this server issues (32 random
/// bytes, base64url without padding), so nothing else is ever hashed in.
pub fn is_token(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The device token of the request's cookie, when it has a well-formed one.
pub fn from_request(req: &HttpRequest) -> Option<String> {
    req.cookie(COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|t| is_token(t))
}

/// The cookie that keeps `token` in the browser.
pub fn cookie(token: &str, secure: bool) -> Cookie<'static> {
    Cookie::build(COOKIE, token.to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(Duration::days(LIFETIME_DAYS))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_out_of_the_page_s_reach_and_lasts() {
        let token = crate::crypto::new_token();
        assert!(is_token(&token));
        let text = cookie(&token, false).to_string();
        for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=34560000"] {
            assert!(text.contains(part), "{text}");
        }
        assert!(!text.contains("Secure"), "{text}");
        assert!(cookie(&token, true).to_string().contains("Secure"));
        for bad in [
            "",
            "short",
            &"x".repeat(44),
            &format!("{}=", "x".repeat(42)),
        ] {
            assert!(!is_token(bad), "{bad:?}");
        }
    }
}
