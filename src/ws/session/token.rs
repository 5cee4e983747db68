//! A join with a join token (docs/tokens.md) instead of codes: the token's
//! signature and claims, its API key (not revoked), its conference (the
//! key's account's, not past its end), then it is spent.

use conclave_actors::room_state::Identity;
use conclave_actors::ConferenceId;

use super::Gate;
use crate::codes::Admission;
use crate::join_tokens::{JoinTokens, TokenError};
use crate::store::{ConferenceKind, StoreError};

type Refused = (&'static str, String);

impl Gate {
    /// What the token admits to, the identity a block bars, and the name.
    pub(super) async fn token_admission(
        &self,
        token: &str,
    ) -> Result<(Admission, Identity, String), Refused> {
        let services = &self.services;
        let now = services.clock.now();
        let invalid = |why: &str| (TokenError::Invalid.code(), why.to_owned());
        let unavailable = || {
            (
                "unavailable",
                "the server cannot check the token right now; try again shortly".to_owned(),
            )
        };
        let claims = services
            .join_tokens
            .verify(token, now.timestamp())
            .map_err(|e| (e.code(), e.to_string()))?;
        let key = match services.store.api_key(claims.kid).await {
            Ok(k) if k.revoked_at.is_none() => k,
            Ok(_) | Err(StoreError::NotFound) => {
                return Err(invalid("the join token's API key was revoked"))
            }
            Err(_) => return Err(unavailable()),
        };
        let conference = match services
            .store
            .conference(ConferenceId(claims.conference))
            .await
        {
            Ok(c) if c.account_id == key.account_id => c,
            Ok(_) | Err(StoreError::NotFound) => {
                return Err(invalid("the join token's conference is not there"))
            }
            Err(_) => return Err(unavailable()),
        };
        if let (ConferenceKind::Scheduled, Some(end)) = (conference.kind, conference.ends_at) {
            if now > end + services.scheduled_grace {
                return Err(invalid("the join token's conference has ended"));
            }
        }
        services
            .join_tokens
            .spend(&claims, now.timestamp())
            .map_err(|e| (e.code(), e.to_string()))?;
        let identity = Identity::External(JoinTokens::identity(
            &services.secrets.hmac_key,
            key.account_id.0,
            &claims.sub,
        ));
        let admission = Admission {
            conference_id: conference.id,
            account_id: conference.account_id,
            kind: conference.kind,
            title: conference.title,
            role: claims.role(),
            held: None,
        };
        Ok((admission, identity, claims.name))
    }
}
