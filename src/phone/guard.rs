//! What a phone call's credential checks are counted against, so that
//! guessing codes through the gateway is no faster than from one web
//! address (docs/codes.md):
//!
//! - every failure counts against the caller's number and against the
//!   gateway connection carrying the call (`[join_throttle]`, as a web
//!   address): fresh numbers on one connection do not reset anything;
//! - every unknown access code also counts toward one ceiling for the
//!   whole gateway (`[gateway_throttle]`): once reached, every access code
//!   typed through any connection is answered `try_later` without a lookup,
//!   known or not, so the answer says nothing about the code.
//!
//! Security codes and PINs are already counted per conference as well.

use chrono::{DateTime, Utc};

use super::ivr::{Checked, Entry};
use crate::throttle::{Locked, Throttle, ThrottleKey};

/// One call's identities for counting.
#[derive(Clone, Debug)]
pub struct CallKeys {
    /// Keyed hash of the caller's number.
    pub caller: String,
    /// The gateway connection carrying the call.
    pub connection: u64,
}

impl CallKeys {
    /// The keys every failure of this call counts against.
    pub fn keys(&self) -> Vec<ThrottleKey> {
        vec![
            ThrottleKey::Caller(self.caller.clone()),
            ThrottleKey::GatewayConnection(self.connection),
        ]
    }
}

/// An entry of the access code alone: the stage an unknown code fails at.
fn access_code_only(entry: &Entry) -> bool {
    entry.security_code.is_none() && entry.moderator_pin.is_none()
}

/// Refuses an access code while the gateway-wide ceiling is reached.
pub fn before_check(ceiling: &Throttle, entry: &Entry, now: DateTime<Utc>) -> Result<(), Locked> {
    if !access_code_only(entry) {
        return Ok(());
    }
    ceiling.check(&[ThrottleKey::Gateway], now)
}

/// Counts an unknown access code toward the ceiling; true when it did.
pub fn after_check(
    ceiling: &Throttle,
    entry: &Entry,
    checked: Checked,
    now: DateTime<Utc>,
) -> bool {
    let unknown = checked == Checked::InvalidCredentials && access_code_only(entry);
    if unknown {
        ceiling.record_failure(&[ThrottleKey::Gateway], now);
    }
    unknown
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ThrottleConfig;

    fn throttle() -> Throttle {
        Throttle::new(&ThrottleConfig {
            max_failures: 10,
            window_secs: 900,
        })
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn code(digits: &str) -> Entry {
        Entry {
            access_code: digits.into(),
            security_code: None,
            moderator_pin: None,
        }
    }

    /// A call from a fresh number on `connection`, as the leg counts it.
    fn call(n: u32, connection: u64) -> CallKeys {
        CallKeys {
            caller: format!("hash-of-number-{n}"),
            connection,
        }
    }

    #[test]
    fn fresh_numbers_on_one_connection_share_its_count() {
        let join = throttle();
        for n in 0..10 {
            assert!(join.check(&call(n, 1).keys(), at(n as i64)).is_ok());
            join.record_failure(&call(n, 1).keys(), at(n as i64));
        }
        assert!(
            join.check(&call(99, 1).keys(), at(20)).is_err(),
            "the 11th number on the same connection is refused"
        );
        assert!(join.check(&call(99, 2).keys(), at(20)).is_ok());
        assert!(
            join.check(&call(99, 1).keys(), at(900)).is_ok(),
            "after the window"
        );
    }

    #[test]
    fn unknown_codes_reach_one_ceiling_across_connections() {
        let ceiling = throttle();
        for n in 0..10 {
            let entry = code("1111111111");
            assert!(before_check(&ceiling, &entry, at(n)).is_ok());
            assert!(after_check(
                &ceiling,
                &entry,
                Checked::InvalidCredentials,
                at(n)
            ));
        }
        // Any access code now, right or wrong, on any connection.
        let locked = before_check(&ceiling, &code("4829105736"), at(30)).unwrap_err();
        assert_eq!(locked.retry_after_secs, 870);
        // Callers past the access code carry on: their conference counts them.
        let later = Entry {
            security_code: Some("2468".into()),
            ..code("4829105736")
        };
        assert!(before_check(&ceiling, &later, at(30)).is_ok());
        assert!(before_check(&ceiling, &code("1"), at(900)).is_ok());
    }

    #[test]
    fn only_unknown_access_codes_count_toward_the_ceiling() {
        let ceiling = throttle();
        let wrong_security = Entry {
            security_code: Some("0000".into()),
            ..code("4829105736")
        };
        for n in 0..20 {
            assert!(!after_check(
                &ceiling,
                &wrong_security,
                Checked::InvalidCredentials,
                at(n)
            ));
            assert!(!after_check(
                &ceiling,
                &code("4829105736"),
                Checked::SecurityCodeRequired,
                at(n)
            ));
            assert!(!after_check(
                &ceiling,
                &code("4829105736"),
                Checked::TryLater,
                at(n)
            ));
        }
        assert!(before_check(&ceiling, &code("1"), at(30)).is_ok());
    }
}
