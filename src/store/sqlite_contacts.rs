//! The address book on SQLite: the same as `pg_contacts.rs`, with UUIDs as
//! text and times as milliseconds.

use conclave_actors::room_state::Millis;
use conclave_actors::AccountId;
use rusqlite::{params, OptionalExtension, Row};

use super::records::ContactRow;
use super::sqlite::{map_err, SqliteStore};
use super::{StoreError, StoreResult};

fn contact(r: &Row) -> rusqlite::Result<ContactRow> {
    Ok(ContactRow {
        number_index: r.get(0)?,
        number_sealed: r.get(1)?,
        name: r.get(2)?,
        updated_at: r.get(3)?,
    })
}

impl SqliteStore {
    pub(super) async fn contacts_sqlite(&self, account: AccountId) -> StoreResult<Vec<ContactRow>> {
        let mut rows = self
            .call(move |c| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT number_index, number_sealed, name, updated_at \
                         FROM contacts WHERE account_id = ?1",
                    )
                    .map_err(map_err)?;
                let rows = stmt
                    .query_map(params![account.to_string()], contact)
                    .map_err(map_err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(map_err)?;
                Ok(rows)
            })
            .await?;
        super::sort_contacts(&mut rows);
        Ok(rows)
    }

    pub(super) async fn rename_contact_sqlite(
        &self,
        account: AccountId,
        number_index: &str,
        name: &str,
        at: Millis,
    ) -> StoreResult<ContactRow> {
        let (number_index, name) = (number_index.to_owned(), name.to_owned());
        self.call(move |c| {
            c.query_row(
                "UPDATE contacts SET name = ?3, updated_at = ?4 \
                 WHERE account_id = ?1 AND number_index = ?2 \
                 RETURNING number_index, number_sealed, name, updated_at",
                params![account.to_string(), number_index, name, at],
                contact,
            )
            .optional()
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)
        })
        .await
    }

    pub(super) async fn delete_contact_sqlite(
        &self,
        account: AccountId,
        number_index: &str,
    ) -> StoreResult<()> {
        let number_index = number_index.to_owned();
        self.call(move |c| {
            let n = c
                .execute(
                    "DELETE FROM contacts WHERE account_id = ?1 AND number_index = ?2",
                    params![account.to_string(), number_index],
                )
                .map_err(map_err)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
        .await
    }
}
