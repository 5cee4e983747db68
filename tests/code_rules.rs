//! The code rules the product is sold on, driven through the same service
//! calls the HTTP API and the room engine use, on both stores, with a clock
//! the tests move.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use common::Backend;
use conclave::clock::ManualClock;
use conclave::codes::{Credentials, Refusal, SecurityRequest};
use conclave::error::AppError;
use conclave::services::Services;
use conclave::store::Account;
use conclave::throttle::ThrottleKey;
use conclave_actors::Role;

struct World {
    services: Services,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_900_000_000, 0).unwrap()
}

async fn world(b: Backend) -> World {
    let (config, dir) = common::config(b);
    let clock = Arc::new(ManualClock::new(t0()));
    let services = conclave::server::build_services(&config, clock.clone())
        .await
        .unwrap();
    World {
        services,
        clock,
        _dir: dir,
    }
}

impl World {
    /// A new account; returns it with its moderator PIN.
    async fn account(&self) -> (Account, String) {
        let email = format!("{}@example.org", uuid::Uuid::new_v4().simple());
        let done = self
            .services
            .sign_up(&email, "correct horse battery", "Ada")
            .await
            .unwrap();
        (done.account, done.moderator_pin)
    }

    async fn join(
        &self,
        code: &str,
        security: Option<&str>,
        pin: Option<&str>,
    ) -> Result<Role, Refusal> {
        self.join_from("198.51.100.7", code, security, pin).await
    }

    async fn join_from(
        &self,
        addr: &str,
        code: &str,
        security: Option<&str>,
        pin: Option<&str>,
    ) -> Result<Role, Refusal> {
        self.admit_from(addr, code, security, pin)
            .await
            .map(|a| a.role)
    }

    async fn admit_from(
        &self,
        addr: &str,
        code: &str,
        security: Option<&str>,
        pin: Option<&str>,
    ) -> Result<conclave::codes::Admission, Refusal> {
        let creds = Credentials {
            access_code: code.to_owned(),
            security_code: security.map(str::to_owned),
            moderator_pin: pin.map(str::to_owned),
        };
        self.services
            .resolve(&creds, ThrottleKey::Address(addr.to_owned()))
            .await
    }

    async fn schedule(
        &self,
        account: &Account,
        security: SecurityRequest,
        hours: i64,
    ) -> conclave::store::Conference {
        let start = self.clock_now() + Duration::hours(1);
        self.services
            .schedule(
                account,
                "Board",
                start,
                start + Duration::hours(hours),
                security,
            )
            .await
            .unwrap()
    }

    fn clock_now(&self) -> DateTime<Utc> {
        conclave::clock::Clock::now(&*self.clock)
    }
}

on_both_stores!(tokio:
    every_credential_combination_on_the_line,
    reset_access_code_refuses_the_old_code_at_once,
    reset_moderator_pin_refuses_the_old_pin_at_once,
    default_security_code_applies_only_to_later_conferences,
    conference_security_code_can_change_any_time,
    one_time_codes_die_after_their_conference,
    lockout_engages_before_any_hashing,
    conference_lockout_counts_across_addresses,
    sign_in_is_throttled_and_does_not_reveal_accounts,
    tokens_expire_and_sign_out_revokes,
);

async fn every_credential_combination_on_the_line(b: Backend) {
    let w = world(b).await;
    let (account, pin) = w.account().await;
    let code = w.services.line(&account).await.unwrap().access_code;
    assert_eq!(w.join(&code, None, None).await, Ok(Role::Participant));
    assert_eq!(w.join(&code, None, Some(&pin)).await, Ok(Role::Moderator));
    assert_eq!(
        w.join(&code, None, Some("00000000")).await,
        Err(Refusal::InvalidModeratorPin)
    );
    assert_eq!(
        w.join(&code, Some("1234"), None).await,
        Ok(Role::Participant),
        "an unneeded code is ignored"
    );
    assert_eq!(
        w.join("1234567890", None, None).await,
        Err(Refusal::InvalidCredentials)
    );
    assert_eq!(
        w.join("not digits", None, None).await,
        Err(Refusal::InvalidCredentials)
    );
    assert_eq!(
        w.join(&"9".repeat(5000), None, None).await,
        Err(Refusal::InvalidCredentials)
    );

    w.services
        .set_default_security_code(&account, Some("2468"))
        .await
        .unwrap();
    assert_eq!(
        w.join(&code, None, None).await,
        Err(Refusal::SecurityCodeRequired)
    );
    assert_eq!(
        w.join(&code, Some("2468"), None).await,
        Ok(Role::Participant)
    );
    assert_eq!(
        w.join(&code, Some("2468"), Some(&pin)).await,
        Ok(Role::Moderator)
    );
    // Unknown access code and wrong security code: one refusal.
    assert_eq!(
        w.join(&code, Some("1357"), None).await,
        Err(Refusal::InvalidCredentials)
    );
    assert_eq!(
        w.join(&code, Some("1357"), Some(&pin)).await,
        Err(Refusal::InvalidCredentials)
    );
    assert_eq!(
        w.join("1234567890", Some("2468"), None).await,
        Err(Refusal::InvalidCredentials)
    );
}

async fn reset_access_code_refuses_the_old_code_at_once(b: Backend) {
    let w = world(b).await;
    let (account, _) = w.account().await;
    let old = w.services.line(&account).await.unwrap().access_code;
    let new = w.services.reset_access_code(&account).await.unwrap();
    assert_ne!(old, new);
    assert!(new.len() >= 10 && new.bytes().all(|c| c.is_ascii_digit()));
    assert_eq!(
        w.join(&old, None, None).await,
        Err(Refusal::InvalidCredentials)
    );
    assert_eq!(w.join(&new, None, None).await, Ok(Role::Participant));
    assert_eq!(w.services.line(&account).await.unwrap().access_code, new);
}

async fn reset_moderator_pin_refuses_the_old_pin_at_once(b: Backend) {
    let w = world(b).await;
    let (account, old_pin) = w.account().await;
    let code = w.services.line(&account).await.unwrap().access_code;
    let scheduled = w.schedule(&account, SecurityRequest::None, 1).await;
    let new_pin = w.services.reset_moderator_pin(&account).await.unwrap();
    assert_ne!(old_pin, new_pin);
    assert!(new_pin.len() >= 6 && new_pin.bytes().all(|c| c.is_ascii_digit()));
    for c in [&code, &scheduled.access_code] {
        assert_eq!(
            w.join(c, None, Some(&old_pin)).await,
            Err(Refusal::InvalidModeratorPin)
        );
        assert_eq!(w.join(c, None, Some(&new_pin)).await, Ok(Role::Moderator));
    }
}

async fn default_security_code_applies_only_to_later_conferences(b: Backend) {
    let w = world(b).await;
    let (account, _) = w.account().await;
    let before = w
        .schedule(&account, SecurityRequest::AccountDefault, 1)
        .await;
    w.services
        .set_default_security_code(&account, Some("1111"))
        .await
        .unwrap();
    let after_first = w
        .schedule(&account, SecurityRequest::AccountDefault, 1)
        .await;
    assert_eq!(
        w.join(&before.access_code, None, None).await,
        Ok(Role::Participant),
        "scheduled before: no code"
    );
    assert_eq!(
        w.join(&after_first.access_code, None, None).await,
        Err(Refusal::SecurityCodeRequired)
    );
    assert_eq!(
        w.join(&after_first.access_code, Some("1111"), None).await,
        Ok(Role::Participant)
    );

    // Changing the default: the earlier conference keeps the earlier code.
    w.services
        .set_default_security_code(&account, Some("2222"))
        .await
        .unwrap();
    let after_second = w
        .schedule(&account, SecurityRequest::AccountDefault, 1)
        .await;
    assert_eq!(
        w.join(&after_first.access_code, Some("1111"), None).await,
        Ok(Role::Participant)
    );
    assert_eq!(
        w.join(&after_first.access_code, Some("2222"), None).await,
        Err(Refusal::InvalidCredentials)
    );
    assert_eq!(
        w.join(&after_second.access_code, Some("2222"), None).await,
        Ok(Role::Participant)
    );

    // Removing the default: existing conferences keep theirs, new ones need none.
    w.services
        .set_default_security_code(&account, None)
        .await
        .unwrap();
    let after_removal = w
        .schedule(&account, SecurityRequest::AccountDefault, 1)
        .await;
    assert_eq!(
        w.join(&after_second.access_code, None, None).await,
        Err(Refusal::SecurityCodeRequired)
    );
    assert_eq!(
        w.join(&after_removal.access_code, None, None).await,
        Ok(Role::Participant)
    );
    // The line follows the default live.
    let line = w.services.line(&account).await.unwrap().access_code;
    assert_eq!(w.join(&line, None, None).await, Ok(Role::Participant));
    // A conference can opt out of the default, or bring its own.
    w.services
        .set_default_security_code(&account, Some("3333"))
        .await
        .unwrap();
    let none = w.schedule(&account, SecurityRequest::None, 1).await;
    let own = w
        .schedule(&account, SecurityRequest::Own("9999".into()), 1)
        .await;
    assert_eq!(
        w.join(&none.access_code, None, None).await,
        Ok(Role::Participant)
    );
    assert_eq!(
        w.join(&own.access_code, Some("3333"), None).await,
        Err(Refusal::InvalidCredentials)
    );
    assert_eq!(
        w.join(&own.access_code, Some("9999"), None).await,
        Ok(Role::Participant)
    );
    assert_eq!(
        w.join(&line, None, None).await,
        Err(Refusal::SecurityCodeRequired)
    );
}

async fn conference_security_code_can_change_any_time(b: Backend) {
    let w = world(b).await;
    let (account, _) = w.account().await;
    let c = w
        .schedule(&account, SecurityRequest::Own("4444".into()), 1)
        .await;
    assert_eq!(
        w.join(&c.access_code, Some("4444"), None).await,
        Ok(Role::Participant)
    );
    w.services
        .set_conference_security(&account, c.id, SecurityRequest::Own("5555".into()))
        .await
        .unwrap();
    assert_eq!(
        w.join(&c.access_code, Some("4444"), None).await,
        Err(Refusal::InvalidCredentials)
    );
    assert_eq!(
        w.join(&c.access_code, Some("5555"), None).await,
        Ok(Role::Participant)
    );
    w.services
        .set_conference_security(&account, c.id, SecurityRequest::None)
        .await
        .unwrap();
    assert_eq!(
        w.join(&c.access_code, None, None).await,
        Ok(Role::Participant)
    );
    // Someone else's conference does not exist as far as they can tell.
    let (stranger, _) = w.account().await;
    let err = w
        .services
        .set_conference_security(&stranger, c.id, SecurityRequest::None)
        .await
        .unwrap_err();
    assert_eq!(err, AppError::NotFound);
    let err = w
        .services
        .set_conference_security(
            &account,
            w.services.line(&account).await.unwrap().id,
            SecurityRequest::None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_field");
}

async fn one_time_codes_die_after_their_conference(b: Backend) {
    let w = world(b).await;
    let (account, pin) = w.account().await;
    let c = w.schedule(&account, SecurityRequest::None, 2).await; // from +1 h to +3 h
    let grace = w.services.scheduled_grace;
    assert_eq!(
        w.join(&c.access_code, None, None).await,
        Ok(Role::Participant),
        "early joins are allowed"
    );
    w.clock.set(c.ends_at.unwrap() + grace);
    assert_eq!(
        w.join(&c.access_code, None, None).await,
        Ok(Role::Participant),
        "still within the grace"
    );
    w.clock
        .set(c.ends_at.unwrap() + grace + Duration::seconds(1));
    assert_eq!(
        w.join(&c.access_code, None, None).await,
        Err(Refusal::InvalidCredentials)
    );
    assert_eq!(
        w.join(&c.access_code, None, Some(&pin)).await,
        Err(Refusal::InvalidCredentials),
        "even for the moderator"
    );
    // The line is permanent.
    let line = w.services.line(&account).await.unwrap().access_code;
    w.clock.advance(Duration::days(400));
    assert_eq!(w.join(&line, None, None).await, Ok(Role::Participant));
    // A one-time code is valid only for its own conference: it is not the line's.
    assert_ne!(line, c.access_code);
}

async fn lockout_engages_before_any_hashing(b: Backend) {
    let w = world(b).await;
    let (account, pin) = w.account().await;
    let code = w.services.line(&account).await.unwrap().access_code;
    let max = 10;
    for i in 0..max {
        let r = w
            .join_from("203.0.113.9", &code, None, Some(&format!("{i:08}")))
            .await;
        assert_eq!(r, Err(Refusal::InvalidModeratorPin));
    }
    let hashed = w.services.hasher.verifications();
    // Locked out now, even with the right PIN, and no argon2 ran to say so.
    let r = w.join_from("203.0.113.9", &code, None, Some(&pin)).await;
    assert!(
        matches!(r, Err(Refusal::Throttled { retry_after_secs }) if retry_after_secs > 0 && retry_after_secs <= 900),
        "{r:?}"
    );
    assert_eq!(
        w.services.hasher.verifications(),
        hashed,
        "the refusal came before hashing"
    );
    // Unknown codes from a locked address are refused the same way, before any lookup.
    let r = w.join_from("203.0.113.9", "1234567890", None, None).await;
    assert!(matches!(r, Err(Refusal::Throttled { .. })));
    // The window passes; the right PIN works again.
    w.clock.advance(Duration::minutes(15));
    assert_eq!(
        w.join_from("203.0.113.9", &code, None, Some(&pin)).await,
        Ok(Role::Moderator)
    );
}

async fn conference_lockout_counts_across_addresses(b: Backend) {
    let w = world(b).await;
    let (account, pin) = w.account().await;
    w.services
        .set_default_security_code(&account, Some("8642"))
        .await
        .unwrap();
    let code = w.services.line(&account).await.unwrap().access_code;
    for i in 0..10 {
        let r = w
            .join_from(&format!("192.0.2.{i}"), &code, Some("0000"), None)
            .await;
        assert_eq!(r, Err(Refusal::InvalidCredentials));
    }
    // A distributed guesser has used up the conference's budget: the
    // right codes are held for a moderator rather than refused...
    let r = w
        .admit_from("192.0.2.200", &code, Some("8642"), None)
        .await
        .unwrap();
    assert_eq!(r.role, Role::Participant);
    assert!(r.held.is_some_and(|s| s > 0 && s <= 900), "{:?}", r.held);
    // ...a wrong one is deflected: answered as waiting too, so the answer
    // tells a guesser nothing...
    let r = w.join_from("192.0.2.201", &code, Some("0000"), None).await;
    assert!(matches!(r, Err(Refusal::Deflected { .. })), "{r:?}");
    // ...and no moderator PIN is tried, right code or wrong.
    for security in ["8642", "0000"] {
        let r = w
            .join_from("192.0.2.202", &code, Some(security), Some(&pin))
            .await;
        assert!(matches!(r, Err(Refusal::Throttled { .. })), "{r:?}");
    }
    // Other conferences are untouched.
    let (other, _) = w.account().await;
    let other_code = w.services.line(&other).await.unwrap().access_code;
    let r = w
        .admit_from("192.0.2.200", &other_code, None, None)
        .await
        .unwrap();
    assert_eq!((r.role, r.held), (Role::Participant, None));
}

async fn sign_in_is_throttled_and_does_not_reveal_accounts(b: Backend) {
    let w = world(b).await;
    let email = format!("{}@example.org", uuid::Uuid::new_v4().simple());
    w.services
        .sign_up(&email, "correct horse battery", "Ada")
        .await
        .unwrap();
    let wrong = w
        .services
        .sign_in(&email, "wrong password!", "198.51.100.1")
        .await
        .unwrap_err();
    let unknown = w
        .services
        .sign_in("nobody@example.org", "wrong password!", "198.51.100.1")
        .await
        .unwrap_err();
    assert_eq!(wrong, AppError::InvalidCredentials);
    assert_eq!(unknown, AppError::InvalidCredentials);
    assert_eq!(wrong.to_string(), unknown.to_string());
    assert!(w
        .services
        .sign_in(
            &email.to_uppercase(),
            "correct horse battery",
            "198.51.100.1"
        )
        .await
        .is_ok());
    // Per account: guesses from many addresses lock the account's sign-in.
    for i in 0..10 {
        let _ = w
            .services
            .sign_in(&email, "wrong password!", &format!("198.51.100.{}", 10 + i))
            .await;
    }
    let hashed = w.services.hasher.verifications();
    let locked = w
        .services
        .sign_in(&email, "correct horse battery", "198.51.100.99")
        .await
        .unwrap_err();
    assert_eq!(locked.code(), "throttled");
    assert_eq!(
        w.services.hasher.verifications(),
        hashed,
        "no argon2 for a locked account"
    );
    w.clock.advance(Duration::minutes(16));
    assert!(w
        .services
        .sign_in(&email, "correct horse battery", "198.51.100.99")
        .await
        .is_ok());
}

async fn tokens_expire_and_sign_out_revokes(b: Backend) {
    let w = world(b).await;
    let email = format!("{}@example.org", uuid::Uuid::new_v4().simple());
    let done = w
        .services
        .sign_up(&email, "correct horse battery", "Ada")
        .await
        .unwrap();
    let token = done.session.token;
    assert!(token.len() >= 22, "at least 128 bits");
    assert_eq!(
        w.services.authenticate(&token).await.unwrap().id,
        done.account.id
    );
    let second = w
        .services
        .sign_in(&email, "correct horse battery", "198.51.100.1")
        .await
        .unwrap();
    w.services.sign_out(&token).await.unwrap();
    assert_eq!(
        w.services.authenticate(&token).await.unwrap_err(),
        AppError::Unauthorized
    );
    assert_eq!(
        w.services.authenticate(&second.token).await.unwrap().id,
        done.account.id,
        "other sessions stay"
    );
    w.clock.set(second.expires_at);
    assert_eq!(
        w.services.authenticate(&second.token).await.unwrap_err(),
        AppError::Unauthorized
    );
}
