//! Conference lines and codes, the semantics the product is sold on:
//!
//! - every account has a permanent line with an access code and a moderator
//!   PIN; resetting either refuses the old value from that moment on;
//! - an account default security code applies to conferences scheduled after
//!   it is set (and to the line, which follows it); conferences already
//!   scheduled keep what they had;
//! - a scheduled conference has a one-time access code that admits until its
//!   end plus a grace period;
//! - [`Services::resolve`] turns (access code, security code?, moderator
//!   PIN?) into a conference and a role, or a typed [`Refusal`]. The lockout
//!   is checked before any hashing.
//!
//! See `docs/codes.md` for the decisions behind these rules.

use std::future::Future;

use chrono::{DateTime, Utc};
use conclave_actors::{AccountId, ConferenceId, Role};

use crate::crypto;
use crate::error::AppError;
use crate::services::Services;
use crate::store::{Account, Conference, ConferenceKind, NewScheduled, SecurityChoice, StoreError};
use crate::throttle::ThrottleKey;
use crate::validate;

/// Digits of a line's access code.
pub const LINE_CODE_DIGITS: usize = 10;
/// Digits of a scheduled conference's one-time access code.
pub const SCHEDULED_CODE_DIGITS: usize = 10;
/// Digits of a moderator PIN.
pub const PIN_DIGITS: usize = 8;
/// Longest access code or PIN accepted as input; longer input is refused
/// before any lookup.
const MAX_CODE_INPUT: usize = 32;
/// Longest a scheduled conference may last.
const MAX_CONFERENCE_DAYS: i64 = 31;
/// Draws of a random access code before giving up on collisions.
const CODE_ATTEMPTS: usize = 8;

/// What a caller presents to join a conference.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    pub access_code: String,
    pub security_code: Option<String>,
    pub moderator_pin: Option<String>,
}

/// A successful resolve: which conference, in which role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admission {
    pub conference_id: ConferenceId,
    pub account_id: AccountId,
    pub kind: ConferenceKind,
    pub title: String,
    pub role: Role,
    /// The conference's failure limit is reached (someone is guessing its
    /// codes): a participant with the right codes waits for a moderator
    /// instead of being refused. The seconds until the limit lifts.
    pub held: Option<u64>,
}

/// Why a join was refused. Unknown, retired and expired access codes and a
/// wrong security code are all `InvalidCredentials`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("invalid access code or security code")]
    InvalidCredentials,
    /// The access code is right; this conference also needs its security code.
    #[error("this conference needs its security code")]
    SecurityCodeRequired,
    #[error("wrong moderator PIN")]
    InvalidModeratorPin,
    #[error("too many failed attempts; retry in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error("the server is busy; retry shortly")]
    Busy,
    #[error("the store is unavailable; retry shortly")]
    Unavailable,
    /// A wrong security code while the conference's failure limit is
    /// reached: answered as a right one is (the newcomer seems to wait), so
    /// a guesser cannot tell them apart. Never seated or shown to anyone.
    #[error("too many failed attempts; retry in {retry_after_secs} s")]
    Deflected {
        conference: ConferenceId,
        retry_after_secs: u64,
    },
}

impl Refusal {
    /// The stable wire code.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::InvalidCredentials => "invalid_credentials",
            Refusal::SecurityCodeRequired => "security_code_required",
            Refusal::InvalidModeratorPin => "invalid_moderator_pin",
            Refusal::Throttled { .. } | Refusal::Deflected { .. } => "throttled",
            Refusal::Busy => "busy",
            Refusal::Unavailable => "unavailable",
        }
    }
}

/// How the account owner asks for a conference's security code.
#[derive(Clone, Debug)]
pub enum SecurityRequest {
    None,
    AccountDefault,
    Own(String),
}

/// Runs `attempt` with fresh random codes until one is not taken.
pub(crate) async fn with_fresh_code<T, F, Fut>(digits: usize, mut attempt: F) -> Result<T, AppError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    for _ in 0..CODE_ATTEMPTS {
        match attempt(crypto::random_digits(digits)).await {
            Err(StoreError::Conflict("access_code")) => continue,
            other => return other.map_err(AppError::from),
        }
    }
    tracing::error!(digits, "no free access code after {CODE_ATTEMPTS} draws");
    Err(AppError::Internal)
}

impl Services {
    /// The account's permanent line.
    pub async fn line(&self, account: &Account) -> Result<Conference, AppError> {
        Ok(self.store.line(account.id).await?)
    }

    /// A new line access code; the old one is refused from now on.
    pub async fn reset_access_code(&self, account: &Account) -> Result<String, AppError> {
        let line = self.store.line(account.id).await?;
        let now = self.clock.now();
        let code = with_fresh_code(LINE_CODE_DIGITS, |code| async move {
            self.store
                .replace_access_code(line.id, &code, now)
                .await
                .map(|()| code)
        })
        .await?;
        self.last_known.forget_all();
        tracing::info!(account = %account.id, conference = %line.id, "line access code reset");
        Ok(code)
    }

    /// A new moderator PIN, returned this once; the old one is refused from now on.
    pub async fn reset_moderator_pin(&self, account: &Account) -> Result<String, AppError> {
        let pin = crypto::random_digits(PIN_DIGITS);
        let hash = self.hasher.hash(pin.clone()).await?;
        self.store.set_moderator_pin(account.id, &hash).await?;
        self.last_known.forget_all();
        tracing::info!(account = %account.id, "moderator PIN reset");
        Ok(pin)
    }

    /// Sets (or with `None` removes) the account default security code.
    pub async fn set_default_security_code(
        &self,
        account: &Account,
        code: Option<&str>,
    ) -> Result<(), AppError> {
        let hash = match code {
            Some(c) => Some(crypto::security_code_hash(
                &self.secrets.hmac_key,
                &validate::security_code(c)?,
            )),
            None => None,
        };
        self.store.set_default_security(account.id, hash).await?;
        self.last_known.forget_all();
        tracing::info!(account = %account.id, set = code.is_some(), "default security code changed");
        Ok(())
    }

    pub async fn schedule(
        &self,
        account: &Account,
        title: &str,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        security: SecurityRequest,
    ) -> Result<Conference, AppError> {
        let title = validate::text("title", title, 200)?;
        let now = self.clock.now();
        if ends_at <= starts_at {
            return Err(AppError::invalid("ends_at", "must be after starts_at"));
        }
        if ends_at <= now {
            return Err(AppError::invalid("ends_at", "must be in the future"));
        }
        if ends_at - starts_at > chrono::Duration::days(MAX_CONFERENCE_DAYS) {
            return Err(AppError::invalid(
                "ends_at",
                format!("a conference lasts at most {MAX_CONFERENCE_DAYS} days"),
            ));
        }
        let security = self.security_choice(security)?;
        let conference = with_fresh_code(SCHEDULED_CODE_DIGITS, |access_code| {
            let new = NewScheduled {
                id: ConferenceId::new(),
                account_id: account.id,
                title: title.clone(),
                starts_at,
                ends_at,
                security: security.clone(),
                access_code,
                now,
            };
            self.store.create_scheduled(new)
        })
        .await?;
        tracing::info!(account = %account.id, conference = %conference.id, "conference scheduled");
        Ok(conference)
    }

    /// A conference the account owns; someone else's is `NotFound`, as if it did not exist.
    pub async fn owned_conference(
        &self,
        account: &Account,
        id: ConferenceId,
    ) -> Result<Conference, AppError> {
        let conference = self.store.conference(id).await?;
        if conference.account_id != account.id {
            return Err(AppError::NotFound);
        }
        Ok(conference)
    }

    /// A conference whose reports and summaries the account may read and
    /// delete (docs/organisations.md): its own, or, for an admin, one of a
    /// member of its organisation. Anyone else's is `NotFound`, the same
    /// answer as for a conference that does not exist.
    pub async fn reported_conference(
        &self,
        account: &Account,
        id: ConferenceId,
    ) -> Result<Conference, AppError> {
        let conference = self.store.conference(id).await?;
        if conference.account_id == account.id {
            return Ok(conference);
        }
        if !account.is_admin() {
            return Err(AppError::NotFound);
        }
        match self.store.account(conference.account_id).await {
            Ok(owner) if owner.organisation == account.organisation => Ok(conference),
            Ok(_) | Err(crate::store::StoreError::NotFound) => Err(AppError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Changes a scheduled conference's security code; effective for the next join.
    pub async fn set_conference_security(
        &self,
        account: &Account,
        id: ConferenceId,
        security: SecurityRequest,
    ) -> Result<Conference, AppError> {
        let conference = self.owned_conference(account, id).await?;
        if conference.kind == ConferenceKind::Line {
            return Err(AppError::invalid(
                "conference",
                "the line follows the account default security code; change that instead",
            ));
        }
        let choice = self.security_choice(security)?;
        let conference = self.store.set_conference_security(id, choice).await?;
        self.last_known.forget_all();
        Ok(conference)
    }

    fn security_choice(&self, request: SecurityRequest) -> Result<SecurityChoice, AppError> {
        Ok(match request {
            SecurityRequest::None => SecurityChoice::None,
            SecurityRequest::AccountDefault => SecurityChoice::AccountDefault,
            SecurityRequest::Own(code) => SecurityChoice::Own(crypto::security_code_hash(
                &self.secrets.hmac_key,
                &validate::security_code(&code)?,
            )),
        })
    }

    /// Admits a signed-in account to one of its own conferences by id,
    /// without codes: its owner, as moderator. Someone else's conference, a
    /// missing one and a scheduled one past its end plus the grace are all
    /// `InvalidCredentials`, as an unknown access code is. Not throttled:
    /// the account token is the credential, and ids are not guessable.
    pub async fn admit_owner(
        &self,
        account: &Account,
        id: ConferenceId,
    ) -> Result<Admission, Refusal> {
        let conference = match self.store.conference(id).await {
            Ok(c) if c.account_id == account.id => c,
            Ok(_) | Err(StoreError::NotFound) => return Err(Refusal::InvalidCredentials),
            Err(e) => {
                tracing::warn!(error = %e, "owner join: store unavailable");
                return Err(Refusal::Unavailable);
            }
        };
        if let (ConferenceKind::Scheduled, Some(end)) = (conference.kind, conference.ends_at) {
            if self.clock.now() > end + self.scheduled_grace {
                return Err(Refusal::InvalidCredentials);
            }
        }
        Ok(Admission {
            conference_id: conference.id,
            account_id: conference.account_id,
            kind: conference.kind,
            title: conference.title,
            role: Role::Moderator,
            held: None,
        })
    }

    /// Decides who may join. `client` is what failures are counted against
    /// besides the conference: the client address, or the caller for phones.
    pub async fn resolve(
        &self,
        creds: &Credentials,
        client: ThrottleKey,
    ) -> Result<Admission, Refusal> {
        self.resolve_for(creds, vec![client]).await
    }

    /// [`Self::resolve`] with failures counted against every one of
    /// `clients` (a phone call: its caller and its gateway connection).
    pub async fn resolve_for(
        &self,
        creds: &Credentials,
        clients: Vec<ThrottleKey>,
    ) -> Result<Admission, Refusal> {
        let outcome = self.resolve_inner(creds, clients).await;
        self.metrics.resolve(match &outcome {
            Ok(a) => a.role.as_str(),
            Err(r) => r.code(),
        });
        outcome
    }

    async fn resolve_inner(
        &self,
        creds: &Credentials,
        mut clients: Vec<ThrottleKey>,
    ) -> Result<Admission, Refusal> {
        let now = self.clock.now();
        let throttled = |l: crate::throttle::Locked| Refusal::Throttled {
            retry_after_secs: l.retry_after_secs,
        };
        self.join_throttle.check(&clients, now).map_err(throttled)?;

        let code = creds.access_code.as_str();
        let well_formed = !code.is_empty()
            && code.len() <= MAX_CODE_INPUT
            && code.bytes().all(|b| b.is_ascii_digit());
        let found = if well_formed {
            match self.store.find_access_code(code).await {
                Ok(m) => {
                    self.last_known.remember(code, &m);
                    Some(m)
                }
                Err(StoreError::NotFound) => None,
                Err(e) => match self.last_known.recall(code) {
                    Some(m) => {
                        tracing::warn!(error = %e, "resolve: store unavailable; using the last known credentials");
                        Some(m)
                    }
                    None => {
                        tracing::warn!(error = %e, "resolve: store unavailable");
                        return Err(Refusal::Unavailable);
                    }
                },
            }
        } else {
            None
        };
        // An expired one-time code is as good as unknown.
        let found = found.filter(|m| match (m.conference.kind, m.conference.ends_at) {
            (ConferenceKind::Scheduled, Some(end)) => now <= end + self.scheduled_grace,
            _ => true,
        });
        let Some(found) = found else {
            // Same work as the wrong-security-code path, so both take similar time.
            let _ = crypto::security_code_hash(
                &self.secrets.hmac_key,
                creds.security_code.as_deref().unwrap_or(""),
            );
            self.join_throttle.record_failure(&clients, now);
            return Err(Refusal::InvalidCredentials);
        };
        let conference = &found.conference;
        // The conference's own limit does not refuse the right codes: it
        // holds them for a moderator (so guessing cannot shut everyone
        // out), but a moderator PIN is not tried while it stands.
        let conference_key = ThrottleKey::Conference(conference.id.to_string());
        let held = self
            .join_throttle
            .check(std::slice::from_ref(&conference_key), now)
            .map_err(throttled);
        clients.push(conference_key);
        let keys = clients;

        // While held no PIN is tried, before anything could tell a right
        // security code from a wrong one.
        if let (Err(e), Some(_)) = (held, &creds.moderator_pin) {
            return Err(e);
        }
        if let Some(required) = &conference.security {
            let Some(given) = creds.security_code.as_deref() else {
                return Err(Refusal::SecurityCodeRequired);
            };
            let given = crypto::security_code_hash(&self.secrets.hmac_key, given);
            if !crypto::constant_time_eq(&given, required) {
                self.join_throttle.record_failure(&keys, now);
                if let Err(Refusal::Throttled { retry_after_secs }) = held {
                    return Err(Refusal::Deflected {
                        conference: conference.id,
                        retry_after_secs,
                    });
                }
                return Err(Refusal::InvalidCredentials);
            }
        }

        let role = match creds.moderator_pin.as_deref() {
            None => Role::Participant,
            Some(pin) if pin.is_empty() || pin.len() > MAX_CODE_INPUT => {
                self.join_throttle.record_failure(&keys, now);
                return Err(Refusal::InvalidModeratorPin);
            }
            Some(pin) => {
                let ok = self
                    .hasher
                    .verify(pin.to_owned(), Some(found.moderator_pin_hash.clone()))
                    .await
                    .map_err(|_| Refusal::Busy)?;
                if !ok {
                    self.join_throttle.record_failure(&keys, now);
                    return Err(Refusal::InvalidModeratorPin);
                }
                Role::Moderator
            }
        };
        Ok(Admission {
            conference_id: conference.id,
            account_id: conference.account_id,
            kind: conference.kind,
            title: conference.title.clone(),
            role,
            held: match held {
                Err(Refusal::Throttled { retry_after_secs }) => Some(retry_after_secs),
                _ => None,
            },
        })
    }
}
