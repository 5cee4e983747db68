//! The retention job (docs/privacy.md "Retention"): every
//! `[retention] interval_secs` (an hour), on every server, each account
//! whose organisation has a retention set loses the summaries that ended
//! more than its `summary_days` ago (with their documents and recordings,
//! bytes included) and the chat posted more than its `chat_days` ago. A
//! run that deletes anything in an account's conferences appends a
//! `retention` link with its counts to the organisation's audit chain;
//! each deleted summary also has its own `history_deleted` link, written
//! with the deletion.
//!
//! Safe to re-run and to run on several servers at once: what it deletes
//! is picked by age alone, a summary's rows go in one transaction that
//! locks them first (a second run finds them gone and deletes nothing),
//! and a run that deleted nothing writes nothing.

use std::time::Duration;

use conclave_actors::registry::FindRoom;
use serde::Deserialize;

use crate::error::AppError;
use crate::http::summary::{delete_summaries, sweep_recordings};
use crate::rooms::Rooms;
use crate::services::Services;
use crate::store::retention::RetentionDays;

const DAY_MS: i64 = 86_400_000;

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Seconds between runs; the first comes a minute after start.
    pub interval_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            interval_secs: 3600,
        }
    }
}

/// What one run deleted, over every account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionRun {
    pub accounts: usize,
    pub summaries: usize,
    pub chat_messages: u64,
}

/// One run over every account whose organisation has a retention set.
pub async fn run_once(services: &Services, rooms: &Rooms) -> Result<RetentionRun, AppError> {
    let mut run = RetentionRun::default();
    for (account, days) in services.store.retention_accounts().await? {
        let (summaries, chat_messages) = expire(services, rooms, account, days).await?;
        if summaries == 0 && chat_messages == 0 {
            continue;
        }
        let detail = serde_json::json!({
            "summaries": summaries,
            "chat_messages": chat_messages,
            "summary_days": days.summary_days,
            "chat_days": days.chat_days,
        });
        services.chain(account, "retention", detail).await?;
        run.accounts += 1;
        run.summaries += summaries;
        run.chat_messages += chat_messages;
    }
    Ok(run)
}

async fn expire(
    services: &Services,
    rooms: &Rooms,
    account: conclave_actors::AccountId,
    days: RetentionDays,
) -> Result<(usize, u64), AppError> {
    let now = services.clock.now().timestamp_millis();
    let mut summaries = 0;
    if let Some(d) = days.summary_days {
        let cutoff = now - i64::from(d) * DAY_MS;
        for conference in services.store.conferences(account).await? {
            // A meeting under way is left alone until a later run: its
            // recording folder may not have its session's row yet.
            let live = rooms
                .registry
                .send(FindRoom {
                    conference: conference.id,
                })
                .await
                .map_err(|_| AppError::Unavailable)?;
            if live.is_some() {
                continue;
            }
            match services.store.expired_before(conference.id, cutoff).await? {
                Some(before) => {
                    let deleted =
                        delete_summaries(services, rooms, conference.id, before, now).await?;
                    summaries += deleted.sessions;
                }
                // Recordings of summaries another server deleted.
                None => {
                    sweep_recordings(services, rooms, conference.id).await?;
                }
            }
        }
    }
    let mut chat = 0;
    if let Some(d) = days.chat_days {
        chat = services
            .store
            .delete_chat_before(account, now - i64::from(d) * DAY_MS)
            .await?;
    }
    Ok((summaries, chat))
}

/// Runs the job every `interval`, the first a minute after start (or
/// after one interval, if shorter).
pub fn spawn(
    services: actix_web::web::Data<Services>,
    rooms: actix_web::web::Data<Rooms>,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    actix_web::rt::spawn(async move {
        let mut next = interval.min(Duration::from_secs(60));
        loop {
            tokio::time::sleep(next).await;
            next = interval;
            match run_once(&services, &rooms).await {
                Ok(run) if run.accounts > 0 => tracing::info!(
                    accounts = run.accounts,
                    summaries = run.summaries,
                    chat_messages = run.chat_messages,
                    "retention deleted expired data"
                ),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = ?e, "the retention job failed; it runs again later")
                }
            }
        }
    })
}
