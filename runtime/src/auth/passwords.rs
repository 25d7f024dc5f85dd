//! Password hashing for modules granted `auth.passwords`: argon2id with the
//! operator's costs, on the blocking pool and never on the async workers,
//! at most `max_concurrent` at a time, so a flood of logins waits for a
//! seat (until its request's deadline) instead of taking every core. A
//! hash a module hands back to be verified is read only when its costs are
//! at most the host's own: a stored hash cannot make the host spend more.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The longest stored hash read, in bytes.
const MAX_HASH_BYTES: usize = 512;

/// `[passwords]`: the costs of a hash and how many run at once.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordConfig {
    /// Memory per hash, in KiB (argon2's m).
    pub memory_kib: u32,
    /// Passes over that memory (argon2's t).
    pub iterations: u32,
    /// Lanes (argon2's p).
    pub parallelism: u32,
    /// Hashes running at once, host-wide; by default half the cores.
    pub max_concurrent: Option<usize>,
    /// The longest password accepted, in bytes.
    pub max_password_bytes: usize,
}

impl Default for PasswordConfig {
    /// OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        Self {
            memory_kib: Params::DEFAULT_M_COST,
            iterations: Params::DEFAULT_T_COST,
            parallelism: Params::DEFAULT_P_COST,
            max_concurrent: None,
            max_password_bytes: 1024,
        }
    }
}

/// Why a password call did not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordError {
    /// The password is empty or too long.
    InvalidPassword(String),
    /// The stored hash is not one this host accepts.
    InvalidHash(String),
    /// No seat came free before the deadline.
    Busy(String),
}

impl std::fmt::Display for PasswordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PasswordError::InvalidPassword(why)
            | PasswordError::InvalidHash(why)
            | PasswordError::Busy(why) => f.write_str(why),
        }
    }
}

/// The host's hashing: its costs and its seats.
pub struct PasswordHashing {
    params: Params,
    seats: Arc<Semaphore>,
    max_password_bytes: usize,
}

/// What a hash or a check answers, and the time it took on its thread
/// (charged to the calling module's CPU budget).
pub type Spent<T> = (T, Duration);

impl PasswordHashing {
    /// The hashing `config` describes; errors name `file` and the key.
    pub fn from_config(config: &PasswordConfig, file: &Path) -> Result<Self> {
        let file = file.display();
        let params = Params::new(config.memory_kib, config.iterations, config.parallelism, None)
            .map_err(|err| {
                anyhow::anyhow!("{file}: [passwords] memory_kib, iterations, parallelism: {err}; the defaults are 19456, 2 and 1")
            })?;
        let seats = match config.max_concurrent {
            Some(0) => bail!(
                "{file}: passwords.max_concurrent is 0; at least one hash must be able to run"
            ),
            Some(seats) => seats,
            None => {
                std::thread::available_parallelism().map_or(1, |cores| (cores.get() / 2).max(1))
            }
        };
        if config.max_password_bytes == 0 {
            bail!("{file}: passwords.max_password_bytes is 0; allow at least 64 bytes");
        }
        Ok(Self {
            params,
            seats: Arc::new(Semaphore::new(seats)),
            max_password_bytes: config.max_password_bytes,
        })
    }

    /// An argon2id hash of `password` with a fresh salt, as a PHC string.
    pub async fn hash(
        &self,
        password: String,
        deadline: Instant,
    ) -> Result<Spent<String>, PasswordError> {
        self.check_password(&password)?;
        let params = self.params.clone();
        self.on_a_seat(deadline, move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2(params)
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|err| PasswordError::InvalidPassword(format!("cannot hash it: {err}")))
        })
        .await
    }

    /// Whether `password` matches `hash`, compared in constant time.
    pub async fn verify(
        &self,
        password: String,
        hash: String,
        deadline: Instant,
    ) -> Result<Spent<bool>, PasswordError> {
        self.check_password(&password)?;
        self.check_hash(&hash)?;
        self.on_a_seat(deadline, move || {
            let parsed = PasswordHash::new(&hash).map_err(invalid_hash)?;
            Ok(Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok())
        })
        .await
    }

    fn check_password(&self, password: &str) -> Result<(), PasswordError> {
        if password.is_empty() || password.len() > self.max_password_bytes {
            return Err(PasswordError::InvalidPassword(format!(
                "a password must be 1 to {} bytes",
                self.max_password_bytes
            )));
        }
        Ok(())
    }

    /// Whether `hash` is an argon2id PHC string whose costs are at most the
    /// host's.
    fn check_hash(&self, hash: &str) -> Result<(), PasswordError> {
        if hash.len() > MAX_HASH_BYTES {
            return Err(PasswordError::InvalidHash(format!(
                "the hash is longer than {MAX_HASH_BYTES} bytes"
            )));
        }
        let parsed = PasswordHash::new(hash).map_err(invalid_hash)?;
        if parsed.algorithm != Algorithm::Argon2id.ident() {
            return Err(PasswordError::InvalidHash(
                "the hash is not an argon2id hash".into(),
            ));
        }
        let params = Params::try_from(&parsed).map_err(invalid_hash)?;
        let host = &self.params;
        let within = params.m_cost() <= host.m_cost()
            && params.t_cost() <= host.t_cost()
            && params.p_cost() <= host.p_cost()
            && params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN) <= 64;
        if !within {
            return Err(PasswordError::InvalidHash(format!(
                "the hash asks for more work than this host's m={},t={},p={}",
                host.m_cost(),
                host.t_cost(),
                host.p_cost()
            )));
        }
        Ok(())
    }

    /// Runs `work` on the blocking pool once a seat is free, waiting at
    /// most until `deadline`. The seat is held by the work itself: should
    /// the caller go, the work still ends before its seat is free again.
    async fn on_a_seat<T: Send + 'static>(
        &self,
        deadline: Instant,
        work: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<Spent<T>, PasswordError> {
        let seat = tokio::time::timeout_at(deadline.into(), self.seats.clone().acquire_owned())
            .await
            .map_err(|_| {
                PasswordError::Busy(
                    "every hashing seat stayed taken until the request's deadline".into(),
                )
            })?
            .expect("the seats are never closed");
        let run = move |_seat: OwnedSemaphorePermit| {
            let started = Instant::now();
            let answer = work();
            answer.map(|answer| (answer, started.elapsed()))
        };
        tokio::task::spawn_blocking(move || run(seat))
            .await
            .unwrap_or_else(|_| {
                Err(PasswordError::InvalidHash(
                    "the hashing thread failed".into(),
                ))
            })
    }
}

fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn invalid_hash(err: impl std::fmt::Display) -> PasswordError {
    PasswordError::InvalidHash(format!("the hash is not a PHC string argon2 reads: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cheap costs, so the tests run fast; one seat.
    fn hashing() -> PasswordHashing {
        let config = PasswordConfig {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            max_concurrent: Some(1),
            max_password_bytes: 64,
        };
        PasswordHashing::from_config(&config, Path::new("runtime.toml")).unwrap()
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let hashing = hashing();
        let (hash, spent) = hashing.hash("correct horse".into(), soon()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        assert!(spent > Duration::ZERO);
        let (again, _) = hashing.hash("correct horse".into(), soon()).await.unwrap();
        assert_ne!(hash, again, "each hash has its own salt");
        let check = |password: &str| hashing.verify(password.into(), hash.clone(), soon());
        assert!(check("correct horse").await.unwrap().0);
        assert!(!check("correct horsE").await.unwrap().0);
    }

    #[tokio::test]
    async fn passwords_out_of_bounds_are_refused_unhashed() {
        let hashing = hashing();
        for password in [String::new(), "x".repeat(65)] {
            let refused = hashing.hash(password, soon()).await;
            assert!(matches!(refused, Err(PasswordError::InvalidPassword(_))));
        }
    }

    #[tokio::test]
    async fn a_hash_costlier_than_the_hosts_or_not_argon2id_is_not_read() {
        let hashing = hashing();
        let costly = "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let argon2i = "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        for hash in [costly, argon2i, "plain text", &"$".repeat(600)] {
            let refused = hashing.verify("pw".into(), hash.into(), soon()).await;
            assert!(
                matches!(refused, Err(PasswordError::InvalidHash(_))),
                "{hash}: {refused:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_call_that_finds_every_seat_taken_until_its_deadline_is_busy() {
        let hashing = hashing();
        let _held = hashing.seats.clone().acquire_owned().await.unwrap();
        let deadline = Instant::now() + Duration::from_millis(50);
        let refused = hashing.hash("pw".into(), deadline).await;
        assert!(
            matches!(refused, Err(PasswordError::Busy(_))),
            "{refused:?}"
        );
    }
}
