//! argon2id hashing for account passwords and moderator PINs, run in a small
//! bounded pool: at most `workers` hashes run at once and at most `queue`
//! wait, so a flood of wrong PINs is refused as busy instead of starving the
//! server's threads.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::config::HashingConfig;

/// argon2id with m = 19 MiB, t = 2, p = 1 (OWASP's recommended minimum).
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The pool is saturated: too many hashes are already waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks are waiting")]
pub struct Busy;

/// The bounded argon2 pool.
#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    /// argon2 verifications started, for metrics and for tests that prove a
    /// refusal came before any hashing.
    verifications: Arc<AtomicU64>,
    /// A real hash of a random secret, verified against when there is no
    /// stored hash (unknown e-mail), so that path costs the same time.
    decoy: Arc<String>,
}

impl Hasher {
    pub fn new(config: &HashingConfig) -> Self {
        let decoy = hash_now(&crate::crypto::new_token());
        Self {
            permits: Arc::new(Semaphore::new(config.workers)),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting: config.workers + config.queue,
            verifications: Arc::new(AtomicU64::new(0)),
            decoy: Arc::new(decoy),
        }
    }

    /// How many verifications have run since start.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// Hashes a new secret (argon2id PHC string with a random salt).
    pub async fn hash(&self, secret: String) -> Result<String, Busy> {
        self.run(move || hash_now(&secret)).await
    }

    /// Checks `secret` against a stored PHC string; `None` checks against the
    /// decoy and fails, taking the same time as a real check.
    pub async fn verify(&self, secret: String, stored: Option<String>) -> Result<bool, Busy> {
        let decoy = self.decoy.clone();
        let count = self.verifications.clone();
        self.run(move || match stored {
            Some(phc) => {
                count.fetch_add(1, Ordering::Relaxed);
                verify_now(&secret, &phc)
            }
            None => {
                count.fetch_add(1, Ordering::Relaxed);
                verify_now(&secret, &decoy);
                false
            }
        })
        .await
    }

    async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, Busy> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Busy);
        }
        let _slot = Slot(&self.waiting);
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the hashing semaphore is never closed");
        Ok(tokio::task::spawn_blocking(work)
            .await
            .expect("argon2 does not panic on any input"))
    }
}

/// Gives back a waiting slot however the future ends (also when dropped).
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn hash_now(secret: &str) -> String {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2()
        .hash_password(secret.as_bytes(), &salt)
        .expect("argon2 hashing with valid parameters cannot fail")
        .to_string()
}

fn verify_now(secret: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        // The parameters come from the stored string, so hashes made with
        // stronger settings later still verify.
        Ok(parsed) => argon2().verify_password(secret.as_bytes(), &parsed).is_ok(),
        Err(_) => {
            tracing::error!("a stored password hash is not a valid PHC string");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_use_argon2id_with_the_agreed_cost() {
        let h = Hasher::new(&HashingConfig {
            workers: 1,
            queue: 4,
        });
        let phc = h.hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(h
            .verify("correct horse".into(), Some(phc.clone()))
            .await
            .unwrap());
        assert!(!h.verify("wrong horse".into(), Some(phc)).await.unwrap());
        assert!(!h.verify("anything".into(), None).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_is_refused_as_busy_not_queued_without_bound() {
        let h = Hasher::new(&HashingConfig {
            workers: 1,
            queue: 2,
        });
        let phc = h.hash("x".into()).await.unwrap();
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let h = h.clone();
                let phc = phc.clone();
                tokio::spawn(async move { h.verify("y".into(), Some(phc)).await })
            })
            .collect();
        let mut busy = 0;
        let mut done = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => done += 1,
                Err(Busy) => busy += 1,
            }
        }
        assert!(
            (1..=3).contains(&done),
            "at most workers + queue ran: {done}"
        );
        assert_eq!(busy + done, 20);
        assert_eq!(
            h.waiting.load(Ordering::Acquire),
            0,
            "every slot was given back"
        );
    }
}
