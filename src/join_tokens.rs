//! Join tokens (docs/tokens.md): short-lived JWTs an application mints with
//! one of its account's API keys (`POST /api/v1/join-tokens`), and that the
//! WebSocket `join` takes instead of codes. The server signs them (HS256)
//! with a key derived from its own HMAC key, so API keys are kept only as
//! hashes; each token names the key it was minted with, and a revoked key's
//! tokens stop working at once. A token seats once (its `jti`): a removed
//! participant needs a fresh one, a blocked one gets none past the block.

use std::collections::HashMap;
use std::sync::Mutex;

use conclave_actors::Role;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::crypto;
use crate::secrets::SecretKey;

/// The longest a token may live, in seconds.
pub const MAX_TTL_SECS: i64 = 3600;
const ISSUER: &str = "conclave";
const AUDIENCE: &str = "conclave-join";

/// What a join token says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The application's own id for the person (an identity a block bars).
    pub sub: String,
    pub conference: Uuid,
    pub name: String,
    /// `participant` or `moderator`.
    pub role: String,
    /// The API key it was minted with.
    pub kid: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
}

impl Claims {
    pub fn role(&self) -> Role {
        if self.role == "moderator" {
            Role::Moderator
        } else {
            Role::Participant
        }
    }
}

/// Why a token is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Malformed, unsigned, signed with another key or algorithm, tampered
    /// with, or with missing claims.
    #[error("the join token is not valid")]
    Invalid,
    #[error("the join token has expired")]
    Expired,
    /// Already used to join: mint a fresh one.
    #[error("the join token was already used")]
    Used,
}

impl TokenError {
    pub fn code(self) -> &'static str {
        match self {
            TokenError::Invalid => "invalid_join_token",
            TokenError::Expired => "expired_join_token",
            TokenError::Used => "used_join_token",
        }
    }
}

pub struct JoinTokens {
    key: Vec<u8>,
    /// Tokens that seated someone, until they expire.
    used: Mutex<HashMap<Uuid, i64>>,
}

impl JoinTokens {
    pub fn new(hmac_key: &SecretKey) -> Self {
        Self {
            key: crypto::keyed_hash(hmac_key, b"conclave/join-token/v1", b""),
            used: Mutex::new(HashMap::new()),
        }
    }

    /// Signs a token for `sub` valid from `now` (seconds) for `ttl` seconds.
    #[allow(clippy::too_many_arguments)]
    pub fn mint(
        &self,
        kid: Uuid,
        conference: Uuid,
        sub: &str,
        name: &str,
        role: Role,
        now: i64,
        ttl: i64,
    ) -> (String, i64) {
        let exp = now + ttl.clamp(1, MAX_TTL_SECS);
        let claims = Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: sub.into(),
            conference,
            name: name.into(),
            role: role.as_str().into(),
            kid,
            iat: now,
            exp,
            jti: Uuid::new_v4(),
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&self.key),
        )
        .expect("HS256 signing of plain claims cannot fail");
        (token, exp)
    }

    /// Checks the signature and the claims at `now` (seconds); the token is
    /// not spent yet.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        if token.len() > 4096 {
            return Err(TokenError::Invalid);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // Checked below against the server's clock, with no leeway.
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<Claims>(
            token,
            &DecodingKey::from_secret(&self.key),
            &validation,
        )
        .map_err(|_| TokenError::Invalid)?
        .claims;
        if claims.exp - claims.iat > MAX_TTL_SECS || claims.sub.is_empty() {
            return Err(TokenError::Invalid);
        }
        if now >= claims.exp {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// Spends the token: it seats at most once.
    pub fn spend(&self, claims: &Claims, now: i64) -> Result<(), TokenError> {
        let mut used = self.used.lock().expect("the used-token set");
        used.retain(|_, exp| *exp > now);
        if used.insert(claims.jti, claims.exp).is_some() {
            return Err(TokenError::Used);
        }
        Ok(())
    }

    /// The identity a block bars: keyed, so the application's ids (an
    /// e-mail address, say) are never stored as they are.
    pub fn identity(hmac_key: &SecretKey, account: Uuid, sub: &str) -> String {
        hex::encode(crypto::keyed_hash(
            hmac_key,
            b"conclave/join-token-subject/v1",
            format!("{account}\0{sub}").as_bytes(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> JoinTokens {
        JoinTokens::new(&SecretKey::generate())
    }

    #[test]
    fn a_minted_token_verifies_until_it_expires_and_seats_once() {
        let t = tokens();
        let (token, exp) = t.mint(
            Uuid::new_v4(),
            Uuid::new_v4(),
            "u-1",
            "Ada",
            Role::Moderator,
            1000,
            60,
        );
        assert_eq!(exp, 1060);
        let claims = t.verify(&token, 1059).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.role()),
            ("u-1", Role::Moderator)
        );
        assert_eq!(t.verify(&token, 1060), Err(TokenError::Expired));
        assert_eq!(t.spend(&claims, 1001), Ok(()));
        assert_eq!(t.spend(&claims, 1002), Err(TokenError::Used));
    }

    #[test]
    fn tampered_unsigned_foreign_and_overlong_tokens_are_refused() {
        let t = tokens();
        let (token, _) = t.mint(
            Uuid::new_v4(),
            Uuid::new_v4(),
            "u",
            "Ada",
            Role::Participant,
            1000,
            60,
        );
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        // The payload, with the role raised.
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = String::from_utf8(b64.decode(&parts[1]).unwrap()).unwrap();
        parts[1] = b64.encode(payload.replace("participant", "moderator"));
        assert_eq!(t.verify(&parts.join("."), 1001), Err(TokenError::Invalid));
        // Unsigned (`alg: none`).
        let none = format!(
            "{}.{}.",
            b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(&payload)
        );
        assert_eq!(t.verify(&none, 1001), Err(TokenError::Invalid));
        // Another server's key.
        assert_eq!(tokens().verify(&token, 1001), Err(TokenError::Invalid));
        assert_eq!(t.verify("not a token", 1001), Err(TokenError::Invalid));
        assert_eq!(t.verify(&"a".repeat(5000), 1001), Err(TokenError::Invalid));
    }
}
