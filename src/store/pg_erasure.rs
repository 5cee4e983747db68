//! Erasing an account on PostgreSQL (see `erasure.rs`).

use async_trait::async_trait;
use conclave_actors::room_state::Millis;
use conclave_actors::{AccountId, ConferenceId};
use uuid::Uuid;

use super::audit_chain::account_deletion_links;
use super::erasure::Erasure;
use super::postgres::{map_err, PgStore};
use super::{StoreError, StoreResult};

#[async_trait]
impl Erasure for PgStore {
    async fn delete_account(
        &self,
        account: AccountId,
        at: Millis,
    ) -> StoreResult<Vec<ConferenceId>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let conferences = tx
            .query(
                "SELECT id FROM conferences WHERE account_id = $1",
                &[&account.0],
            )
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| r.try_get::<_, Uuid>(0).map(ConferenceId))
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_err)?;
        let ids: Vec<Uuid> = conferences.iter().map(|c| c.0).collect();
        let chains = super::pg_audit_chain::rows_by_chain(&tx, "conference_id", &ids).await?;
        tx.execute(
            "DELETE FROM webhook_events WHERE conference_id = ANY($1)",
            &[&ids],
        )
        .await
        .map_err(map_err)?;
        let row = tx
            .query_opt(
                "SELECT email, organisation_id FROM accounts WHERE id = $1",
                &[&account.0],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        let (email, organisation): (String, Uuid) = (
            row.try_get(0).map_err(map_err)?,
            row.try_get(1).map_err(map_err)?,
        );
        tx.execute("DELETE FROM accounts WHERE id = $1", &[&account.0])
            .await
            .map_err(map_err)?;
        // Its organisation keeps an admin if it has members left; its own
        // goes once empty; invitations to its address go.
        super::pg_organisations::keeps_an_admin(&tx, organisation).await?;
        tx.execute(
            "DELETE FROM organisation_invitations WHERE email = $1",
            &[&email],
        )
        .await
        .map_err(map_err)?;
        tx.execute(
            "DELETE FROM organisations WHERE id = $1 \
             AND NOT EXISTS (SELECT 1 FROM accounts WHERE organisation_id = $1)",
            &[&account.0],
        )
        .await
        .map_err(map_err)?;
        let links = account_deletion_links(organisation, &chains, conferences.len(), at);
        super::pg_history::write_in(&tx, &links, &self.chain_key()).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(conferences)
    }

    async fn erase_participants(
        &self,
        account: AccountId,
        participants: &[(Uuid, String)],
        at: conclave_actors::room_state::Millis,
    ) -> StoreResult<(u64, u64)> {
        let (ids, names): (Vec<Uuid>, Vec<String>) = participants.iter().cloned().unzip();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let seats = tx
            .execute(
                "UPDATE attendance a SET name = v.name, phone_sealed = NULL \
                 FROM unnest($2::uuid[], $3::text[]) AS v(p, name), \
                 conference_sessions s JOIN conferences c ON c.id = s.conference_id \
                 WHERE a.participant_id = v.p AND a.session_id = s.id AND c.account_id = $1",
                &[&account.0, &ids, &names],
            )
            .await
            .map_err(map_err)?;
        let at = chrono::DateTime::from_timestamp_millis(at).unwrap_or_default();
        let messages = tx
            .execute(
                "UPDATE chat_messages m SET sender_name = v.name, text = NULL, deleted_at = COALESCE(m.deleted_at, $4) \
                 FROM unnest($2::uuid[], $3::text[]) AS v(p, name), conferences c \
                 WHERE m.sender = v.p AND c.id = m.conference_id AND c.account_id = $1",
                &[&account.0, &ids, &names, &at],
            )
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok((seats, messages))
    }
}
