//! Accounts: sign up, sign in, sign out, and turning a bearer token back
//! into an account. Sign-in failures are throttled per client address and
//! per account, and an unknown e-mail costs the same argon2 check and gets
//! the same answer as a wrong password.

use crate::codes::{with_fresh_code, LINE_CODE_DIGITS, PIN_DIGITS};
use crate::crypto;
use crate::error::AppError;
use crate::services::Services;
use crate::store::{Account, Conference, NewAccount, StoreError};
use crate::throttle::ThrottleKey;
use crate::validate;
use conclave_actors::{AccountId, ConferenceId};

/// A new account, with the secrets shown this once.
pub struct SignedUp {
    pub account: Account,
    pub line: Conference,
    /// The moderator PIN in clear: returned once, stored only as argon2id.
    pub moderator_pin: String,
    pub session: Session,
}

/// A bearer token and when it stops working.
pub struct Session {
    pub token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl Services {
    pub async fn sign_up(
        &self,
        email: &str,
        password: &str,
        display_name: &str,
    ) -> Result<SignedUp, AppError> {
        let email = validate::email(email)?;
        validate::new_password(password)?;
        let display_name = validate::text("display_name", display_name, 100)?;
        let moderator_pin = crypto::random_digits(PIN_DIGITS);
        let password_hash = self.hasher.hash(password.to_owned()).await?;
        let moderator_pin_hash = self.hasher.hash(moderator_pin.clone()).await?;
        let now = self.clock.now();
        let (account, line) = with_fresh_code(LINE_CODE_DIGITS, |line_access_code| {
            self.store.create_account(NewAccount {
                id: AccountId::new(),
                email: email.clone(),
                display_name: display_name.clone(),
                password_hash: password_hash.clone(),
                moderator_pin_hash: moderator_pin_hash.clone(),
                line_id: ConferenceId::new(),
                line_access_code,
                now,
            })
        })
        .await?;
        tracing::info!(account = %account.id, "account created");
        let session = self.open_session(account.id).await?;
        Ok(SignedUp {
            account,
            line,
            moderator_pin,
            session,
        })
    }

    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        client: &str,
    ) -> Result<Session, AppError> {
        let now = self.clock.now();
        // A malformed e-mail is a failed sign-in like any other, so it is
        // counted and answered the same way.
        let email = validate::email(email).unwrap_or_else(|_| String::new());
        let keys = [
            ThrottleKey::Address(client.to_owned()),
            ThrottleKey::Account(email.clone()),
        ];
        if let Err(locked) = self.signin_throttle.check(&keys, now) {
            self.metrics.signin("throttled");
            return Err(AppError::Throttled {
                retry_after_secs: locked.retry_after_secs,
            });
        }
        let account = match self.store.account_by_email(&email).await {
            Ok(a) => Some(a),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let stored = account.as_ref().map(|a| a.password_hash.clone());
        let ok = self.hasher.verify(password.to_owned(), stored).await?;
        match account {
            Some(account) if ok => {
                self.signin_throttle.clear(&keys[1..]);
                self.metrics.signin("ok");
                tracing::info!(account = %account.id, "signed in");
                self.open_session(account.id).await
            }
            _ => {
                self.signin_throttle.record_failure(&keys, now);
                self.metrics.signin("invalid");
                Err(AppError::InvalidCredentials)
            }
        }
    }

    /// The account behind a live bearer token.
    pub async fn authenticate(&self, token: &str) -> Result<Account, AppError> {
        match self
            .store
            .session_account(&crypto::token_hash(token), self.clock.now())
            .await
        {
            Ok(account) => Ok(account),
            Err(StoreError::NotFound) => Err(AppError::Unauthorized),
            Err(e) => Err(e.into()),
        }
    }

    /// Revokes the token; it is refused from now on.
    pub async fn sign_out(&self, token: &str) -> Result<(), AppError> {
        match self
            .store
            .revoke_session(&crypto::token_hash(token), self.clock.now())
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound) => Err(AppError::Unauthorized),
            Err(e) => Err(e.into()),
        }
    }

    async fn open_session(&self, account_id: AccountId) -> Result<Session, AppError> {
        let token = crypto::new_token();
        let now = self.clock.now();
        let expires_at = now + self.session_ttl;
        self.store
            .insert_session(&crypto::token_hash(&token), account_id, now, expires_at)
            .await?;
        Ok(Session { token, expires_at })
    }
}

impl Services {
    /// Checks the signed-in account's password again before an
    /// irreversible step (deleting the account), throttled like a sign-in
    /// so that a stolen token cannot guess it.
    pub async fn confirm_password(
        &self,
        account: &Account,
        password: &str,
        client: &str,
    ) -> Result<(), AppError> {
        let now = self.clock.now();
        let keys = [
            ThrottleKey::Address(client.to_owned()),
            ThrottleKey::Account(account.email.clone()),
        ];
        if let Err(locked) = self.signin_throttle.check(&keys, now) {
            return Err(AppError::Throttled {
                retry_after_secs: locked.retry_after_secs,
            });
        }
        let ok = self
            .hasher
            .verify(password.to_owned(), Some(account.password_hash.clone()))
            .await?;
        if !ok {
            self.signin_throttle.record_failure(&keys, now);
            return Err(AppError::InvalidCredentials);
        }
        Ok(())
    }
}
