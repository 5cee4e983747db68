//! The address book on PostgreSQL: each account's named callers, listed,
//! renamed and deleted by their owner. The number stays sealed here; only
//! the HTTP layer opens it, for the owner.

use chrono::{DateTime, Utc};
use conclave_actors::room_state::Millis;
use conclave_actors::AccountId;
use tokio_postgres::Row;

use super::postgres::{map_err, PgStore};
use super::records::ContactRow;
use super::{StoreError, StoreResult};

fn contact(r: &Row) -> StoreResult<ContactRow> {
    Ok(ContactRow {
        number_index: r.try_get(0).map_err(map_err)?,
        number_sealed: r.try_get(1).map_err(map_err)?,
        name: r.try_get(2).map_err(map_err)?,
        updated_at: r
            .try_get::<_, DateTime<Utc>>(3)
            .map_err(map_err)?
            .timestamp_millis(),
    })
}

impl PgStore {
    pub(super) async fn contacts_pg(&self, account: AccountId) -> StoreResult<Vec<ContactRow>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT number_index, number_sealed, name, updated_at \
                 FROM contacts WHERE account_id = $1",
                &[&account.0],
            )
            .await
            .map_err(map_err)?;
        let mut rows = rows.iter().map(contact).collect::<StoreResult<Vec<_>>>()?;
        // Sorted here, not by the database's collation, so both stores agree.
        super::sort_contacts(&mut rows);
        Ok(rows)
    }

    pub(super) async fn rename_contact_pg(
        &self,
        account: AccountId,
        number_index: &str,
        name: &str,
        at: Millis,
    ) -> StoreResult<ContactRow> {
        let at = DateTime::from_timestamp_millis(at).unwrap_or_default();
        let row = self
            .client()
            .await?
            .query_opt(
                "UPDATE contacts SET name = $3, updated_at = $4 \
                 WHERE account_id = $1 AND number_index = $2 \
                 RETURNING number_index, number_sealed, name, updated_at",
                &[&account.0, &number_index, &name, &at],
            )
            .await
            .map_err(map_err)?;
        contact(&row.ok_or(StoreError::NotFound)?)
    }

    pub(super) async fn delete_contact_pg(
        &self,
        account: AccountId,
        number_index: &str,
    ) -> StoreResult<()> {
        let n = self
            .client()
            .await?
            .execute(
                "DELETE FROM contacts WHERE account_id = $1 AND number_index = $2",
                &[&account.0, &number_index],
            )
            .await
            .map_err(map_err)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
