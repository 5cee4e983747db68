//! The phone IVR under arbitrary input: any sequence of keys, check
//! results, join outcomes and role changes. It never panics; it asks for a
//! check only with digit-only entries of bounded length; after hanging up
//! it does nothing more; it asks to toggle the lock only for a caller seated
//! as a moderator; and its memory stays bounded.
#![no_main]

use conclave::phone::ivr::{Action, Checked, Input, Ivr, JoinOutcome, MAX_ENTRY};
use conclave_actors::{ConferenceId, Role};
use libfuzzer_sys::fuzz_target;

fn input(byte: u8, conference: ConferenceId) -> Input {
    let role = if byte & 1 == 0 { Role::Participant } else { Role::Moderator };
    match byte % 24 {
        0..=9 => Input::Key(char::from(b'0' + byte % 10)),
        10 => Input::Key('*'),
        11 | 12 => Input::Key('#'),
        13 => Input::Checked(Checked::Admitted { conference, role }),
        14 => Input::Checked(Checked::InvalidCredentials),
        15 => Input::Checked(Checked::SecurityCodeRequired),
        16 => Input::Checked(Checked::InvalidModeratorPin),
        17 => Input::Checked(Checked::TryLater),
        18 => Input::Joined(JoinOutcome::Seated),
        19 => Input::Joined(match byte % 4 {
            0 => JoinOutcome::Locked,
            1 => JoinOutcome::Blocked,
            2 => JoinOutcome::Full,
            _ => JoinOutcome::Failed,
        }),
        20 => Input::RoleChanged(role),
        _ => Input::Key(char::from(byte)),
    }
}

fuzz_target!(|data: &[u8]| {
    let conference = ConferenceId::new();
    let mut ivr = Ivr::new();
    let mut hung_up = false;
    for &byte in data {
        let before = ivr.role();
        let actions = ivr.handle(input(byte, conference));
        if hung_up {
            assert!(actions.is_empty(), "acted after hanging up: {actions:?}");
        }
        for action in &actions {
            match action {
                Action::Check(entry) => {
                    for code in [Some(&entry.access_code), entry.security_code.as_ref(), entry.moderator_pin.as_ref()]
                        .into_iter()
                        .flatten()
                    {
                        assert!(code.len() <= MAX_ENTRY && code.bytes().all(|b| b.is_ascii_digit()), "{entry:?}");
                    }
                    assert!(!entry.access_code.is_empty());
                }
                Action::ToggleLock => assert_eq!(before, Some(Role::Moderator)),
                Action::HangUp => hung_up = true,
                _ => {}
            }
        }
        assert_eq!(hung_up, ivr.ended());
        assert!(format!("{ivr:?}").len() < 4096, "bounded state");
    }
});
