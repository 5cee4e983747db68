//! Organisations on SQLite (see `organisations.rs`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use conclave_actors::AccountId;
use rusqlite::{params, OptionalExtension, Row, Transaction, TransactionBehavior};
use uuid::Uuid;

use super::organisations::{InvitationRow, MemberRow, OrganisationRow, Organisations};
use super::sqlite::{map_err, uuid_col, SqliteStore};
use super::{StoreError, StoreResult};

const INVITATION: &str =
    "SELECT i.id, i.organisation_id, o.name, i.email, b.display_name, i.created_at \
     FROM organisation_invitations i JOIN organisations o ON o.id = i.organisation_id \
     LEFT JOIN accounts b ON b.id = i.invited_by";

fn time(ms: i64) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or(rusqlite::Error::IntegralValueOutOfRange(0, ms))
}

fn invitation(r: &Row) -> rusqlite::Result<InvitationRow> {
    Ok(InvitationRow {
        id: uuid_col(r, 0)?,
        organisation: uuid_col(r, 1)?,
        organisation_name: r.get(2)?,
        email: r.get(3)?,
        invited_by: r.get(4)?,
        created_at: time(r.get(5)?)?,
    })
}

fn invitations_where(
    c: &rusqlite::Connection,
    filter: &str,
    key: &str,
) -> StoreResult<Vec<InvitationRow>> {
    let mut q = c
        .prepare(&format!(
            "{INVITATION} WHERE {filter} ORDER BY i.created_at, i.id"
        ))
        .map_err(map_err)?;
    let rows = q
        .query_map([key], invitation)
        .map_err(map_err)?
        .collect::<Result<_, _>>()
        .map_err(map_err)?;
    Ok(rows)
}

/// After a change in `tx`: an organisation with members keeps an admin.
pub(super) fn keeps_an_admin(tx: &Transaction<'_>, organisation: &str) -> StoreResult<()> {
    let (admins, all): (i64, i64) = tx
        .query_row(
            "SELECT count(*) FILTER (WHERE organisation_role = 'admin'), count(*) \
             FROM accounts WHERE organisation_id = ?1",
            [organisation],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(map_err)?;
    if all > 0 && admins == 0 {
        return Err(StoreError::Conflict("last_admin"));
    }
    Ok(())
}

/// Runs `change` in a write transaction, then checks that `organisation`
/// keeps an admin; `NotFound` when `change` touched no row.
fn changing(
    conn: &mut rusqlite::Connection,
    organisation: String,
    change: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<usize>,
) -> StoreResult<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    if change(&tx).map_err(map_err)? == 0 {
        return Err(StoreError::NotFound);
    }
    keeps_an_admin(&tx, &organisation)?;
    tx.commit().map_err(map_err)
}

#[async_trait]
impl Organisations for SqliteStore {
    async fn organisation(&self, id: Uuid) -> StoreResult<OrganisationRow> {
        self.call(move |c| {
            c.query_row(
                "SELECT id, name, created_at FROM organisations WHERE id = ?1",
                [id.to_string()],
                |r| {
                    Ok(OrganisationRow {
                        id: uuid_col(r, 0)?,
                        name: r.get(1)?,
                        created_at: time(r.get(2)?)?,
                    })
                },
            )
            .optional()
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)
        })
        .await
    }

    async fn rename_organisation(&self, id: Uuid, name: &str) -> StoreResult<()> {
        let name = name.to_owned();
        self.call(move |c| {
            let n = c
                .execute(
                    "UPDATE organisations SET name = ?2 WHERE id = ?1",
                    params![id.to_string(), name],
                )
                .map_err(map_err)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
        .await
    }

    async fn members(&self, organisation: Uuid) -> StoreResult<Vec<MemberRow>> {
        self.call(move |c| {
            let mut q = c
                .prepare(
                    "SELECT id, email, display_name, organisation_role FROM accounts WHERE organisation_id = ?1 \
                     ORDER BY organisation_role = 'admin' DESC, display_name, id",
                )
                .map_err(map_err)?;
            let rows = q
                .query_map([organisation.to_string()], |r| {
                    Ok(MemberRow {
                        account: AccountId(uuid_col(r, 0)?),
                        email: r.get(1)?,
                        display_name: r.get(2)?,
                        role: r.get(3)?,
                    })
                })
                .map_err(map_err)?
                .collect::<Result<_, _>>()
                .map_err(map_err)?;
            Ok(rows)
        })
        .await
    }

    async fn invite(
        &self,
        organisation: Uuid,
        email: &str,
        by: AccountId,
        at: DateTime<Utc>,
    ) -> StoreResult<InvitationRow> {
        let email = email.to_owned();
        self.call(move |c| {
            c.execute(
                "INSERT INTO organisation_invitations (id, organisation_id, email, invited_by, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (organisation_id, email) DO NOTHING",
                params![Uuid::new_v4().to_string(), organisation.to_string(), email, by.0.to_string(), at.timestamp_millis()],
            )
            .map_err(map_err)?;
            c.query_row(
                &format!("{INVITATION} WHERE i.organisation_id = ?1 AND i.email = ?2"),
                params![organisation.to_string(), email],
                invitation,
            )
            .map_err(map_err)
        })
        .await
    }

    async fn invitations(&self, organisation: Uuid) -> StoreResult<Vec<InvitationRow>> {
        self.call(move |c| {
            invitations_where(c, "i.organisation_id = ?1", &organisation.to_string())
        })
        .await
    }

    async fn revoke_invitation(&self, organisation: Uuid, id: Uuid) -> StoreResult<()> {
        self.call(move |c| {
            let n = c
                .execute(
                    "DELETE FROM organisation_invitations WHERE id = ?1 AND organisation_id = ?2",
                    params![id.to_string(), organisation.to_string()],
                )
                .map_err(map_err)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
        .await
    }

    async fn invitations_to(&self, email: &str) -> StoreResult<Vec<InvitationRow>> {
        let email = email.to_owned();
        self.call(move |c| invitations_where(c, "i.email = ?1", &email))
            .await
    }

    async fn accept_invitation(&self, id: Uuid, account: AccountId) -> StoreResult<()> {
        self.call(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let (joining, leaving): (String, String) = tx
                .query_row(
                    "SELECT i.organisation_id, a.organisation_id FROM organisation_invitations i \
                     JOIN accounts a ON a.email = i.email WHERE i.id = ?1 AND a.id = ?2",
                    params![id.to_string(), account.0.to_string()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(map_err)?
                .ok_or(StoreError::NotFound)?;
            tx.execute(
                "UPDATE accounts SET organisation_id = ?2, organisation_role = 'member' WHERE id = ?1",
                params![account.0.to_string(), joining],
            )
            .map_err(map_err)?;
            tx.execute("DELETE FROM organisation_invitations WHERE id = ?1", [id.to_string()])
                .map_err(map_err)?;
            if leaving != joining {
                keeps_an_admin(&tx, &leaving)?;
            }
            tx.commit().map_err(map_err)
        })
        .await
    }

    async fn set_member_role(
        &self,
        organisation: Uuid,
        account: AccountId,
        role: &str,
    ) -> StoreResult<()> {
        let role = role.to_owned();
        self.call(move |c| {
            changing(c, organisation.to_string(), |tx| {
                tx.execute(
                    "UPDATE accounts SET organisation_role = ?3 WHERE id = ?1 AND organisation_id = ?2",
                    params![account.0.to_string(), organisation.to_string(), role],
                )
            })
        })
        .await
    }

    async fn remove_member(&self, organisation: Uuid, account: AccountId) -> StoreResult<()> {
        self.call(move |c| {
            changing(c, organisation.to_string(), |tx| {
                tx.execute(
                    "UPDATE accounts SET organisation_id = id, organisation_role = 'admin' \
                     WHERE id = ?1 AND organisation_id = ?2 AND id <> ?2",
                    params![account.0.to_string(), organisation.to_string()],
                )
            })
        })
        .await
    }
}
