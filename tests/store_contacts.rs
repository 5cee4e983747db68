//! The address book on both stores (the `store_conformance.rs` pattern):
//! contacts saved by naming callers are listed per account by name,
//! renamed and deleted only by their own account (another account's id is
//! `NotFound`, as a missing one), and a caller named again after a rename
//! takes the new name.

mod common;

use common::Backend;
use conclave::store::{self, ContactRow, NewAccount, Record, SharedStore, StoreError};
use conclave_actors::{AccountId, ConferenceId};
use uuid::Uuid;

on_both_stores!(tokio: contacts_are_per_account_and_renamed_or_deleted_by_their_owner);

async fn open(backend: Backend) -> (SharedStore, tempfile::TempDir) {
    let (config, dir) = common::config(backend);
    (store::open(&config).await.expect("the store opens"), dir)
}

/// A fresh account; returns it with its line.
async fn account(s: &SharedStore) -> (AccountId, ConferenceId) {
    let (account, line) = s
        .create_account(NewAccount {
            id: AccountId::new(),
            email: format!("{}@example.org", Uuid::new_v4().simple()),
            display_name: "Ada".into(),
            password_hash: "$argon2id$pw".into(),
            moderator_pin_hash: "$argon2id$pin".into(),
            line_id: ConferenceId::new(),
            line_access_code: conclave::crypto::random_digits(12),
            now: chrono::DateTime::from_timestamp(1_900_000_000, 0).unwrap(),
        })
        .await
        .unwrap();
    (account.id, line.id)
}

fn saved(conference: ConferenceId, index: &str, name: &str, at: i64) -> Record {
    Record::ContactSaved {
        conference: conference.0,
        number_index: index.into(),
        number_sealed: format!("sealed-{index}").into_bytes(),
        name: name.into(),
        at,
    }
}

fn names(rows: &[ContactRow]) -> Vec<(&str, &str)> {
    rows.iter()
        .map(|r| (r.number_index.as_str(), r.name.as_str()))
        .collect()
}

async fn contacts_are_per_account_and_renamed_or_deleted_by_their_owner(b: Backend) {
    let (s, _dir) = open(b).await;
    let (ada, ada_line) = account(&s).await;
    let (bob, bob_line) = account(&s).await;
    s.write_records(&[
        saved(ada_line, "aa", "grace", 1_000),
        saved(ada_line, "bb", "Alan", 2_000),
        saved(ada_line, "cc", "Alan", 3_000),
        saved(bob_line, "dd", "Bob's caller", 4_000),
    ])
    .await
    .unwrap();

    // By name (byte order, the same on both stores), then by id.
    let list = s.contacts(ada).await.unwrap();
    assert_eq!(
        names(&list),
        [("bb", "Alan"), ("cc", "Alan"), ("aa", "grace")]
    );
    assert_eq!(list[2].number_sealed, b"sealed-aa");
    assert_eq!(list[2].updated_at, 1_000);
    assert_eq!(
        names(&s.contacts(bob).await.unwrap()),
        [("dd", "Bob's caller")]
    );
    assert!(s.contacts(AccountId::new()).await.unwrap().is_empty());

    // Renamed by its owner only; another account's id is as missing.
    let renamed = s
        .rename_contact(ada, "aa", "Grace Hopper", 5_000)
        .await
        .unwrap();
    assert_eq!(
        (
            renamed.name.as_str(),
            renamed.updated_at,
            renamed.number_sealed.as_slice()
        ),
        ("Grace Hopper", 5_000, &b"sealed-aa"[..])
    );
    for (who, id) in [(ada, "dd"), (bob, "aa"), (ada, "zz")] {
        assert!(matches!(
            s.rename_contact(who, id, "Mallory", 6_000).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            s.delete_contact(who, id).await,
            Err(StoreError::NotFound)
        ));
    }
    assert_eq!(
        names(&s.contacts(bob).await.unwrap()),
        [("dd", "Bob's caller")]
    );

    // Deleted by its owner: gone from the list and from caller lookup.
    s.delete_contact(ada, "bb").await.unwrap();
    assert!(matches!(
        s.delete_contact(ada, "bb").await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        names(&s.contacts(ada).await.unwrap()),
        [("cc", "Alan"), ("aa", "Grace Hopper")]
    );
    assert_eq!(s.contact_name(ada_line, "bb").await.unwrap(), None);
    assert_eq!(
        s.contact_name(ada_line, "aa").await.unwrap().as_deref(),
        Some("Grace Hopper")
    );

    // A moderator naming the caller again overwrites the rename, and a
    // deleted contact comes back when named again.
    s.write_records(&[
        saved(ada_line, "aa", "Dr Hopper", 7_000),
        saved(ada_line, "bb", "Alan T", 8_000),
    ])
    .await
    .unwrap();
    assert_eq!(
        names(&s.contacts(ada).await.unwrap()),
        [("cc", "Alan"), ("bb", "Alan T"), ("aa", "Dr Hopper")]
    );
}
