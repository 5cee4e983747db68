//! Table tests of the IVR: every call flow, key by key.

use super::*;
use Action::*;
use Prompt::*;

fn keys(ivr: &mut Ivr, keys: &str) -> Vec<Action> {
    keys.chars()
        .flat_map(|k| ivr.handle(Input::Key(k)))
        .collect()
}

fn entry(access: &str, security: Option<&str>, pin: Option<&str>) -> Entry {
    Entry {
        access_code: access.into(),
        security_code: security.map(Into::into),
        moderator_pin: pin.map(Into::into),
    }
}

/// One step of a call: keys typed (or a result fed back), and what the
/// IVR must do in answer.
enum Step {
    Keys(&'static str),
    Feed(Input),
}

#[test]
fn call_flows() {
    let conf = ConferenceId::new();
    let admitted = |role| {
        Input::Checked(Checked::Admitted {
            conference: conf,
            role,
        })
    };
    use Step::*;
    // (name, steps with what each must do, whether the call ended)
    type Case = (&'static str, Vec<(Step, Vec<Action>)>, bool);
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("no security code, no PIN", vec![
            (Keys("4829105736#"), vec![Check(entry("4829105736", None, None))]),
            (Feed(admitted(Role::Participant)), vec![Play(EnterModeratorPin)]),
            (Keys("#"), vec![Join { conference: conf, role: Role::Participant }]),
            (Feed(Input::Joined(JoinOutcome::Seated)), vec![Play(Prompt::Joined)]),
            (Keys("*5"), vec![Play(NotAllowed)]),
        ], false),
        ("security code and PIN", vec![
            (Keys("4829105736#"), vec![Check(entry("4829105736", None, None))]),
            (Feed(Input::Checked(Checked::SecurityCodeRequired)), vec![Play(EnterSecurityCode)]),
            (Keys("2468#"), vec![Check(entry("4829105736", Some("2468"), None))]),
            (Feed(admitted(Role::Participant)), vec![Play(EnterModeratorPin)]),
            (Keys("40718263#"), vec![Check(entry("4829105736", Some("2468"), Some("40718263")))]),
            (Feed(admitted(Role::Moderator)), vec![Join { conference: conf, role: Role::Moderator }]),
            (Feed(Input::Joined(JoinOutcome::Seated)), vec![Play(Prompt::Joined)]),
            (Keys("*5"), vec![ToggleLock]),
            (Keys("1*9*5"), vec![ToggleLock]),
        ], false),
        ("three wrong codes hang up", vec![
            (Keys("1#"), vec![Check(entry("1", None, None))]),
            (Feed(Input::Checked(Checked::InvalidCredentials)), vec![Play(InvalidAccessCode), Play(EnterAccessCode)]),
            (Keys("2#"), vec![Check(entry("2", None, None))]),
            (Feed(Input::Checked(Checked::InvalidCredentials)), vec![Play(InvalidAccessCode), Play(EnterAccessCode)]),
            (Keys("3#"), vec![Check(entry("3", None, None))]),
            (Feed(Input::Checked(Checked::InvalidCredentials)), vec![Play(TooManyAttempts), HangUp]),
            (Keys("4829105736#"), vec![]),
        ], true),
        ("wrong entries across stages add up", vec![
            (Keys("4829105736#"), vec![Check(entry("4829105736", None, None))]),
            (Feed(Input::Checked(Checked::SecurityCodeRequired)), vec![Play(EnterSecurityCode)]),
            (Keys("9*"), vec![Play(EnterSecurityCode)]),
            (Keys("1111#"), vec![Check(entry("4829105736", Some("1111"), None))]),
            (Feed(Input::Checked(Checked::InvalidCredentials)), vec![Play(InvalidSecurityCode), Play(EnterSecurityCode)]),
            (Keys("2468#"), vec![Check(entry("4829105736", Some("2468"), None))]),
            (Feed(admitted(Role::Participant)), vec![Play(EnterModeratorPin)]),
            (Keys("00000000#"), vec![Check(entry("4829105736", Some("2468"), Some("00000000")))]),
            (Feed(Input::Checked(Checked::InvalidModeratorPin)), vec![Play(Prompt::InvalidModeratorPin), Play(EnterModeratorPin)]),
            (Keys("00000001#"), vec![Check(entry("4829105736", Some("2468"), Some("00000001")))]),
            (Feed(Input::Checked(Checked::InvalidModeratorPin)), vec![Play(TooManyAttempts), HangUp]),
        ], true),
        ("an overlong entry is a wrong one; * starts over and replays the prompt; # alone re-prompts", vec![
            (Keys("123456789012345678901"), vec![Play(InvalidAccessCode), Play(EnterAccessCode)]),
            (Keys("99*"), vec![Play(EnterAccessCode)]),
            (Keys("#"), vec![Play(EnterAccessCode)]),
            (Keys("12#"), vec![Check(entry("12", None, None))]),
            (Keys("999#"), vec![]),
        ], false),
        ("throttled or unavailable: try later and hang up", vec![
            (Keys("4829105736#"), vec![Check(entry("4829105736", None, None))]),
            (Feed(Input::Checked(Checked::TryLater)), vec![Play(TryLater), HangUp]),
        ], true),
        ("a locked room", vec![
            (Keys("4829105736#"), vec![Check(entry("4829105736", None, None))]),
            (Feed(admitted(Role::Participant)), vec![Play(EnterModeratorPin)]),
            (Keys("#"), vec![Join { conference: conf, role: Role::Participant }]),
            (Feed(Input::Joined(JoinOutcome::Locked)), vec![Play(RoomLocked), HangUp]),
        ], true),
        ("a blocked number", vec![
            (Keys("4829105736#"), vec![Check(entry("4829105736", None, None))]),
            (Feed(admitted(Role::Participant)), vec![Play(EnterModeratorPin)]),
            (Keys("#"), vec![Join { conference: conf, role: Role::Participant }]),
            (Feed(Input::Joined(JoinOutcome::Blocked)), vec![Play(Prompt::Blocked), HangUp]),
        ], true),
        ("a waiting caller hears so, then joins when admitted", vec![
            (Keys("4829105736#"), vec![Check(entry("4829105736", None, None))]),
            (Feed(admitted(Role::Participant)), vec![Play(EnterModeratorPin)]),
            (Keys("#"), vec![Join { conference: conf, role: Role::Participant }]),
            (Feed(Input::Joined(JoinOutcome::Waiting)), vec![Play(Prompt::Waiting)]),
            (Keys("*5"), vec![]),
            (Feed(Input::Joined(JoinOutcome::Seated)), vec![Play(Prompt::Joined)]),
        ], false),
        ("a waiting caller a moderator denies", vec![
            (Keys("4829105736#"), vec![Check(entry("4829105736", None, None))]),
            (Feed(admitted(Role::Participant)), vec![Play(EnterModeratorPin)]),
            (Keys("#"), vec![Join { conference: conf, role: Role::Participant }]),
            (Feed(Input::Joined(JoinOutcome::Waiting)), vec![Play(Prompt::Waiting)]),
            (Feed(Input::Joined(JoinOutcome::Denied)), vec![Play(Prompt::Denied), HangUp]),
        ], true),
        ("a promoted caller may toggle the lock", vec![
            (Keys("4829105736#"), vec![Check(entry("4829105736", None, None))]),
            (Feed(admitted(Role::Participant)), vec![Play(EnterModeratorPin)]),
            (Keys("#"), vec![Join { conference: conf, role: Role::Participant }]),
            (Feed(Input::Joined(JoinOutcome::Seated)), vec![Play(Prompt::Joined)]),
            (Keys("*5"), vec![Play(NotAllowed)]),
            (Feed(Input::RoleChanged(Role::Moderator)), vec![]),
            (Keys("*5"), vec![ToggleLock]),
        ], false),
    ];
    for (name, steps, ends) in cases {
        let mut ivr = Ivr::new();
        assert_eq!(ivr.start(), vec![Play(EnterAccessCode)]);
        for (i, (step, expected)) in steps.into_iter().enumerate() {
            let got = match step {
                Keys(k) => keys(&mut ivr, k),
                Feed(input) => ivr.handle(input),
            };
            assert_eq!(got, expected, "{name}, step {i}");
        }
        assert_eq!(ivr.ended(), ends, "{name}");
    }
}

#[test]
fn keys_typed_ahead_of_a_check_wait_for_it() {
    let conf = ConferenceId::new();
    let mut ivr = Ivr::new();
    assert_eq!(
        keys(&mut ivr, "12#2468#40718263#"),
        vec![Check(entry("12", None, None))]
    );
    assert_eq!(
        ivr.handle(Input::Checked(Checked::SecurityCodeRequired)),
        vec![
            Play(EnterSecurityCode),
            Check(entry("12", Some("2468"), None))
        ]
    );
    assert_eq!(
        ivr.handle(Input::Checked(Checked::Admitted {
            conference: conf,
            role: Role::Participant
        })),
        vec![
            Play(EnterModeratorPin),
            Check(entry("12", Some("2468"), Some("40718263")))
        ]
    );
    assert_eq!(
        ivr.handle(Input::Checked(Checked::Admitted {
            conference: conf,
            role: Role::Moderator
        })),
        vec![Join {
            conference: conf,
            role: Role::Moderator
        }]
    );
    // Keys typed while joining are dropped (nothing to enter then), as
    // are keys typed ahead of the last entry.
    assert_eq!(keys(&mut ivr, "*5"), vec![]);
    assert_eq!(
        ivr.handle(Input::Joined(JoinOutcome::Seated)),
        vec![Play(Prompt::Joined)]
    );
    assert_eq!(ivr.role(), Some(Role::Moderator));
    // Typing ahead is bounded.
    let mut ivr = Ivr::new();
    keys(&mut ivr, "1#");
    keys(&mut ivr, &"9".repeat(1000));
    assert!(format!("{ivr:?}").len() < 1000);
}
