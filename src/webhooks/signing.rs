//! Signatures in the manner of the Standard Webhooks specification: the
//! secret is `whsec_` and base64 of random bytes; the signature is
//! `v1,` and base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}` keyed
//! with those bytes. Receivers verify with any Standard Webhooks library.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const PREFIX: &str = "whsec_";

/// A new endpoint secret, shown to its account once.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{PREFIX}{}", B64.encode(bytes))
}

/// The `webhook-signature` header's value; `None` for a secret that is
/// not one of ours.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = B64.decode(secret.strip_prefix(PREFIX)?).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    Some(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_webhooks_example() {
        // The example in the Standard Webhooks specification.
        assert_eq!(
            sign(
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                r#"{"test": 2432232314}"#
            )
            .as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn secrets_are_fresh_and_usable() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(sign(&a, "x", 1, "{}").is_some());
        assert_eq!(sign("not-a-secret", "x", 1, "{}"), None);
        assert_ne!(sign(&a, "x", 1, "{}"), sign(&a, "x", 2, "{}"));
    }
}
