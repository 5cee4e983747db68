//! Organisations on PostgreSQL (see `organisations.rs`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use conclave_actors::AccountId;
use tokio_postgres::Row;
use uuid::Uuid;

use super::organisations::{InvitationRow, MemberRow, OrganisationRow, Organisations};
use super::postgres::{map_err, PgStore};
use super::{StoreError, StoreResult};

const INVITATION: &str =
    "SELECT i.id, i.organisation_id, o.name, i.email, b.display_name, i.created_at \
     FROM organisation_invitations i JOIN organisations o ON o.id = i.organisation_id \
     LEFT JOIN accounts b ON b.id = i.invited_by";

fn invitation(r: &Row) -> StoreResult<InvitationRow> {
    Ok(InvitationRow {
        id: r.try_get(0).map_err(map_err)?,
        organisation: r.try_get(1).map_err(map_err)?,
        organisation_name: r.try_get(2).map_err(map_err)?,
        email: r.try_get(3).map_err(map_err)?,
        invited_by: r.try_get(4).map_err(map_err)?,
        created_at: r.try_get(5).map_err(map_err)?,
    })
}

/// After a change in `tx`: an organisation with members keeps an admin.
pub(super) async fn keeps_an_admin(
    tx: &tokio_postgres::Transaction<'_>,
    organisation: Uuid,
) -> StoreResult<()> {
    let r = tx
        .query_one(
            "SELECT count(*) FILTER (WHERE organisation_role = 'admin'), count(*) \
             FROM accounts WHERE organisation_id = $1",
            &[&organisation],
        )
        .await
        .map_err(map_err)?;
    let (admins, all): (i64, i64) = (
        r.try_get(0).map_err(map_err)?,
        r.try_get(1).map_err(map_err)?,
    );
    if all > 0 && admins == 0 {
        return Err(StoreError::Conflict("last_admin"));
    }
    Ok(())
}

#[async_trait]
impl Organisations for PgStore {
    async fn organisation(&self, id: Uuid) -> StoreResult<OrganisationRow> {
        let r = self
            .client()
            .await?
            .query_opt(
                "SELECT id, name, created_at FROM organisations WHERE id = $1",
                &[&id],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        Ok(OrganisationRow {
            id: r.try_get(0).map_err(map_err)?,
            name: r.try_get(1).map_err(map_err)?,
            created_at: r.try_get(2).map_err(map_err)?,
        })
    }

    async fn rename_organisation(&self, id: Uuid, name: &str) -> StoreResult<()> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE organisations SET name = $2 WHERE id = $1",
                &[&id, &name],
            )
            .await
            .map_err(map_err)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn members(&self, organisation: Uuid) -> StoreResult<Vec<MemberRow>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT id, email, display_name, organisation_role FROM accounts WHERE organisation_id = $1 \
                 ORDER BY organisation_role = 'admin' DESC, display_name, id",
                &[&organisation],
            )
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(MemberRow {
                    account: AccountId(r.try_get(0).map_err(map_err)?),
                    email: r.try_get(1).map_err(map_err)?,
                    display_name: r.try_get(2).map_err(map_err)?,
                    role: r.try_get(3).map_err(map_err)?,
                })
            })
            .collect()
    }

    async fn invite(
        &self,
        organisation: Uuid,
        email: &str,
        by: AccountId,
        at: DateTime<Utc>,
    ) -> StoreResult<InvitationRow> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO organisation_invitations (id, organisation_id, email, invited_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (organisation_id, email) DO NOTHING",
                &[&Uuid::new_v4(), &organisation, &email, &by.0, &at],
            )
            .await
            .map_err(map_err)?;
        let r = client
            .query_one(
                &format!("{INVITATION} WHERE i.organisation_id = $1 AND i.email = $2"),
                &[&organisation, &email],
            )
            .await
            .map_err(map_err)?;
        invitation(&r)
    }

    async fn invitations(&self, organisation: Uuid) -> StoreResult<Vec<InvitationRow>> {
        let rows = self
            .client()
            .await?
            .query(
                &format!("{INVITATION} WHERE i.organisation_id = $1 ORDER BY i.created_at, i.id"),
                &[&organisation],
            )
            .await
            .map_err(map_err)?;
        rows.iter().map(invitation).collect()
    }

    async fn revoke_invitation(&self, organisation: Uuid, id: Uuid) -> StoreResult<()> {
        let n = self
            .client()
            .await?
            .execute(
                "DELETE FROM organisation_invitations WHERE id = $1 AND organisation_id = $2",
                &[&id, &organisation],
            )
            .await
            .map_err(map_err)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn invitations_to(&self, email: &str) -> StoreResult<Vec<InvitationRow>> {
        let rows = self
            .client()
            .await?
            .query(
                &format!("{INVITATION} WHERE i.email = $1 ORDER BY i.created_at, i.id"),
                &[&email],
            )
            .await
            .map_err(map_err)?;
        rows.iter().map(invitation).collect()
    }

    async fn accept_invitation(&self, id: Uuid, account: AccountId) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let found = tx
            .query_opt(
                "SELECT i.organisation_id, a.organisation_id FROM organisation_invitations i \
                 JOIN accounts a ON a.email = i.email WHERE i.id = $1 AND a.id = $2 FOR UPDATE OF a",
                &[&id, &account.0],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        let (joining, leaving): (Uuid, Uuid) = (
            found.try_get(0).map_err(map_err)?,
            found.try_get(1).map_err(map_err)?,
        );
        super::pg_audit_chain::lock_chains(&tx, &[joining, leaving]).await?;
        tx.execute(
            "UPDATE accounts SET organisation_id = $2, organisation_role = 'member' WHERE id = $1",
            &[&account.0, &joining],
        )
        .await
        .map_err(map_err)?;
        tx.execute("DELETE FROM organisation_invitations WHERE id = $1", &[&id])
            .await
            .map_err(map_err)?;
        if leaving != joining {
            keeps_an_admin(&tx, leaving).await?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn set_member_role(
        &self,
        organisation: Uuid,
        account: AccountId,
        role: &str,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let n = tx
            .execute(
                "UPDATE accounts SET organisation_role = $3 WHERE id = $1 AND organisation_id = $2",
                &[&account.0, &organisation, &role],
            )
            .await
            .map_err(map_err)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        keeps_an_admin(&tx, organisation).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn remove_member(&self, organisation: Uuid, account: AccountId) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        super::pg_audit_chain::lock_chains(&tx, &[organisation, account.0]).await?;
        let n = tx
            .execute(
                "UPDATE accounts SET organisation_id = id, organisation_role = 'admin' \
                 WHERE id = $1 AND organisation_id = $2 AND id <> $2",
                &[&account.0, &organisation],
            )
            .await
            .map_err(map_err)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        keeps_an_admin(&tx, organisation).await?;
        tx.commit().await.map_err(map_err)
    }
}
