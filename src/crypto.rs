//! Small cryptographic helpers: random digit codes, bearer tokens (stored as
//! SHA-256, since they carry 256 random bits), keyed hashes of security codes
//! (HMAC-SHA256 with the server secret) and constant-time comparison.

use base64::Engine;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::secrets::SecretKey;

/// `n` uniformly random decimal digits from the operating system's generator.
pub fn random_digits(n: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..n)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

/// A new bearer token: 32 random bytes, URL-safe base64 without padding.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the store keeps of a bearer token.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The keyed hash stored for a security code. The domain tag keeps these
/// hashes apart from other uses of the same key.
pub fn security_code_hash(key: &SecretKey, code: &str) -> Vec<u8> {
    keyed_hash(key, b"conclave/security-code/v1", code.as_bytes())
}

/// HMAC-SHA256 of `domain || 0 || data`.
pub fn keyed_hash(key: &SecretKey, domain: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key.expose()).expect("HMAC takes a key of any size");
    mac.update(domain);
    mac.update(&[0]);
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Seals `plain` with the server's encryption key (XChaCha20-Poly1305, a
/// random 24-byte nonce in front of the ciphertext), for phone numbers at rest.
pub fn seal(key: &SecretKey, plain: &[u8]) -> Vec<u8> {
    use chacha20poly1305::aead::{Aead, AeadCore, KeyInit};
    use chacha20poly1305::XChaCha20Poly1305;
    let cipher = XChaCha20Poly1305::new(key.expose().into());
    let nonce = XChaCha20Poly1305::generate_nonce(&mut rand::rngs::OsRng);
    let sealed = cipher
        .encrypt(&nonce, plain)
        .expect("encryption of a short message cannot fail");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    out
}

/// Opens what [`seal`] made; `None` when the key is wrong or the bytes were altered.
pub fn open(key: &SecretKey, sealed: &[u8]) -> Option<Vec<u8>> {
    use chacha20poly1305::aead::{Aead, KeyInit};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    if sealed.len() < 24 {
        return None;
    }
    let (nonce, body) = sealed.split_at(24);
    XChaCha20Poly1305::new(key.expose().into())
        .decrypt(XNonce::from_slice(nonce), body)
        .ok()
}

/// Seals `plain` as [`seal`] does, bound to `context` (authenticated, not
/// stored): it opens only with the same context, so a sealed value cannot
/// be moved to another row.
pub fn seal_bound(key: &SecretKey, context: &[u8], plain: &[u8]) -> Vec<u8> {
    use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, Payload};
    use chacha20poly1305::XChaCha20Poly1305;
    let cipher = XChaCha20Poly1305::new(key.expose().into());
    let nonce = XChaCha20Poly1305::generate_nonce(&mut rand::rngs::OsRng);
    let sealed = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plain,
                aad: context,
            },
        )
        .expect("encryption of a short message cannot fail");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    out
}

/// Opens what [`seal_bound`] made with the same `context`.
pub fn open_bound(key: &SecretKey, context: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    if sealed.len() < 24 {
        return None;
    }
    let (nonce, body) = sealed.split_at(24);
    XChaCha20Poly1305::new(key.expose().into())
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: body,
                aad: context,
            },
        )
        .ok()
}

/// The keyed hash that indexes a phone number (blocks, contacts) without
/// storing it.
pub fn phone_index(key: &SecretKey, number: &str) -> String {
    hex::encode(keyed_hash(key, b"conclave/phone/v1", number.as_bytes()))
}

/// Equality that takes the same time wherever the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_digits_of_the_right_length() {
        let code = random_digits(10);
        assert_eq!(code.len(), 10);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
        assert_ne!(random_digits(12), random_digits(12));
    }

    #[test]
    fn tokens_carry_256_bits_and_hash_stably() {
        let t = new_token();
        assert_eq!(t.len(), 43);
        assert_eq!(token_hash(&t), token_hash(&t));
        assert_ne!(token_hash(&t), token_hash(&new_token()));
    }

    #[test]
    fn security_hash_depends_on_key_and_code() {
        let k1 = SecretKey::from_hex("k", &"11".repeat(32)).unwrap();
        let k2 = SecretKey::from_hex("k", &"22".repeat(32)).unwrap();
        assert_eq!(
            security_code_hash(&k1, "1234"),
            security_code_hash(&k1, "1234")
        );
        assert_ne!(
            security_code_hash(&k1, "1234"),
            security_code_hash(&k1, "1235")
        );
        assert_ne!(
            security_code_hash(&k1, "1234"),
            security_code_hash(&k2, "1234")
        );
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn sealed_numbers_open_only_with_their_key_and_never_repeat() {
        let k1 = SecretKey::from_hex("k", &"11".repeat(32)).unwrap();
        let k2 = SecretKey::from_hex("k", &"22".repeat(32)).unwrap();
        let a = seal(&k1, b"+441234567890");
        let b = seal(&k1, b"+441234567890");
        assert_ne!(a, b, "a fresh nonce each time");
        assert!(!a.windows(13).any(|w| w == b"+441234567890"));
        assert_eq!(open(&k1, &a).as_deref(), Some(&b"+441234567890"[..]));
        assert_eq!(open(&k2, &a), None);
        let mut tampered = a.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(open(&k1, &tampered), None);
        assert_eq!(open(&k1, &a[..10]), None);
    }
}
