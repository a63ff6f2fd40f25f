//! The optional app lock.
//!
//! The agent may set a passphrase. Only an Argon2id verifier of it (a PHC
//! string: salt, parameters and hash) is kept, in the encrypted database's
//! settings; the passphrase itself never is, and the copies this module
//! handles are zeroized. With a verifier set, the core starts locked and
//! locks again after the configured idle time or on demand. While locked,
//! every data command of the [`Core`] is refused with
//! [`CoreError::Locked`]; the UI only mirrors that. A wrong passphrase is
//! answered after a delay that grows with each failure.
//!
//! What the lock is not: encryption. The database key stays in the OS
//! keyring, so someone logged in as the same OS user can still reach the
//! data with other tools. It keeps a passer-by at an unlocked desktop out
//! of the inbox.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use parley_types::{InboxEvent, LockState};
use zeroize::Zeroizing;

use crate::{now_ms, Core, CoreError};

const SETTING_VERIFIER: &str = "app_lock.verifier";
const SETTING_IDLE: &str = "app_lock.idle_minutes";
/// Lock after this long without activity unless the agent chose otherwise.
pub const DEFAULT_IDLE_MINUTES: u32 = 15;
/// The shortest passphrase accepted.
pub const MIN_PASSPHRASE_CHARS: usize = 8;
/// The longest idle time accepted (a day).
pub const MAX_IDLE_MINUTES: u32 = 24 * 60;

/// The lock's live state, in the core.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    enabled: AtomicBool,
    locked: AtomicBool,
    idle_minutes: AtomicU32,
    last_activity_ms: AtomicI64,
    failures: AtomicU32,
}

impl Gate {
    /// The state read from the settings at open: locked if a verifier is set.
    pub(crate) fn new(verifier_set: bool, idle_minutes: u32, now_ms: i64) -> Gate {
        Gate {
            enabled: AtomicBool::new(verifier_set),
            locked: AtomicBool::new(verifier_set),
            idle_minutes: AtomicU32::new(idle_minutes),
            last_activity_ms: AtomicI64::new(now_ms),
            failures: AtomicU32::new(0),
        }
    }

    /// Lock if the idle time has passed at `now_ms`. True if it locked now.
    fn lock_if_idle(&self, now_ms: i64) -> bool {
        let idle = self.idle_minutes.load(Ordering::SeqCst);
        if !self.enabled.load(Ordering::SeqCst) || idle == 0 || self.locked.load(Ordering::SeqCst) {
            return false;
        }
        let last = self.last_activity_ms.load(Ordering::SeqCst);
        if now_ms - last >= i64::from(idle) * 60_000 {
            return !self.locked.swap(true, Ordering::SeqCst);
        }
        false
    }
}

/// Read the lock settings when the core opens.
pub(crate) fn load(store: &crate::Store) -> Result<Gate, CoreError> {
    let verifier = store.setting(SETTING_VERIFIER)?;
    let idle =
        store.setting(SETTING_IDLE)?.and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_IDLE_MINUTES);
    Ok(Gate::new(verifier.is_some(), idle, now_ms()))
}

fn hash(passphrase: &str) -> Result<String, CoreError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(passphrase.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CoreError::InvalidInput(format!("the passphrase could not be protected: {e}")))
}

fn verify(passphrase: &str, verifier: &str) -> bool {
    PasswordHash::new(verifier)
        .is_ok_and(|h| Argon2::default().verify_password(passphrase.as_bytes(), &h).is_ok())
}

fn check_idle(idle_minutes: u32) -> Result<(), CoreError> {
    if idle_minutes > MAX_IDLE_MINUTES {
        return Err(CoreError::InvalidInput(format!(
            "choose an idle time of at most {MAX_IDLE_MINUTES} minutes, or 0 to lock only at start"
        )));
    }
    Ok(())
}

impl Core {
    /// Refuse data commands while locked; count the call as activity
    /// otherwise. Every data method of the core calls this first.
    pub(crate) fn gate(&self) -> Result<(), CoreError> {
        self.gate_at(now_ms())
    }

    pub(crate) fn gate_at(&self, now_ms: i64) -> Result<(), CoreError> {
        let gate = &self.inner.gate;
        if gate.lock_if_idle(now_ms) {
            self.emit(InboxEvent::Locked);
        }
        if gate.locked.load(Ordering::SeqCst) {
            return Err(CoreError::Locked);
        }
        gate.last_activity_ms.fetch_max(now_ms, Ordering::SeqCst);
        Ok(())
    }

    /// Whether the lock holds the data back now.
    pub fn is_locked(&self) -> bool {
        self.inner.gate.locked.load(Ordering::SeqCst)
    }

    pub fn lock_state(&self) -> LockState {
        let gate = &self.inner.gate;
        LockState {
            enabled: gate.enabled.load(Ordering::SeqCst),
            locked: gate.locked.load(Ordering::SeqCst),
            idle_minutes: gate.idle_minutes.load(Ordering::SeqCst),
        }
    }

    /// The agent is at the keyboard (typing, clicking): postpone the idle
    /// lock. Refused while locked, like any data command.
    pub fn still_here(&self) -> Result<(), CoreError> {
        self.gate()
    }

    /// Lock now, if a passphrase is set.
    pub fn lock(&self) -> Result<LockState, CoreError> {
        let gate = &self.inner.gate;
        if !gate.enabled.load(Ordering::SeqCst) {
            return Err(CoreError::InvalidInput(
                "set a passphrase for the app lock first, in Privacy & data".into(),
            ));
        }
        if !gate.locked.swap(true, Ordering::SeqCst) {
            self.emit(InboxEvent::Locked);
        }
        Ok(self.lock_state())
    }

    /// Lock when the idle time passed at `now_ms`; the watcher behind
    /// [`Core::start`] calls it every few seconds.
    pub fn lock_if_idle(&self, now_ms: i64) -> bool {
        let locked = self.inner.gate.lock_if_idle(now_ms);
        if locked {
            tracing::info!("app locked after the idle time");
            self.emit(InboxEvent::Locked);
        }
        locked
    }

    /// Turn the lock on (or change the passphrase and idle time). Only the
    /// Argon2id verifier is stored.
    pub async fn enable_app_lock(
        &self,
        passphrase: Zeroizing<String>,
        idle_minutes: u32,
    ) -> Result<LockState, CoreError> {
        self.gate()?;
        check_idle(idle_minutes)?;
        if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
            return Err(CoreError::InvalidInput(format!(
                "choose a passphrase of at least {MIN_PASSPHRASE_CHARS} characters"
            )));
        }
        let verifier = tokio::task::spawn_blocking(move || hash(&passphrase))
            .await
            .map_err(|e| CoreError::InvalidInput(format!("the passphrase was not set: {e}")))??;
        self.inner.store.set_setting(SETTING_VERIFIER, &verifier)?;
        self.inner.store.set_setting(SETTING_IDLE, &idle_minutes.to_string())?;
        let gate = &self.inner.gate;
        gate.idle_minutes.store(idle_minutes, Ordering::SeqCst);
        gate.enabled.store(true, Ordering::SeqCst);
        gate.last_activity_ms.fetch_max(now_ms(), Ordering::SeqCst);
        Ok(self.lock_state())
    }

    /// Change how long the app waits before locking.
    pub fn set_lock_idle_minutes(&self, idle_minutes: u32) -> Result<LockState, CoreError> {
        self.gate()?;
        check_idle(idle_minutes)?;
        self.inner.store.set_setting(SETTING_IDLE, &idle_minutes.to_string())?;
        self.inner.gate.idle_minutes.store(idle_minutes, Ordering::SeqCst);
        Ok(self.lock_state())
    }

    /// Turn the lock off; needs the current passphrase.
    pub async fn disable_app_lock(
        &self,
        passphrase: Zeroizing<String>,
    ) -> Result<LockState, CoreError> {
        self.gate()?;
        self.check_passphrase(passphrase).await?;
        self.inner.store.delete_setting(SETTING_VERIFIER)?;
        self.inner.gate.enabled.store(false, Ordering::SeqCst);
        Ok(self.lock_state())
    }

    /// Unlock with the passphrase. A wrong one is refused after a delay
    /// that grows with each failure in a row (1 s, 2 s, … up to 8 s).
    pub async fn unlock(&self, passphrase: Zeroizing<String>) -> Result<LockState, CoreError> {
        if !self.inner.gate.enabled.load(Ordering::SeqCst) {
            self.inner.gate.locked.store(false, Ordering::SeqCst);
            return Ok(self.lock_state());
        }
        self.check_passphrase(passphrase).await?;
        let gate = &self.inner.gate;
        gate.last_activity_ms.fetch_max(now_ms(), Ordering::SeqCst);
        gate.locked.store(false, Ordering::SeqCst);
        Ok(self.lock_state())
    }

    async fn check_passphrase(&self, passphrase: Zeroizing<String>) -> Result<(), CoreError> {
        let verifier = self.inner.store.setting(SETTING_VERIFIER)?.ok_or_else(|| {
            CoreError::InvalidInput("the app lock is off: there is no passphrase to check".into())
        })?;
        let ok = tokio::task::spawn_blocking(move || verify(&passphrase, &verifier))
            .await
            .unwrap_or(false);
        let gate = &self.inner.gate;
        if ok {
            gate.failures.store(0, Ordering::SeqCst);
            return Ok(());
        }
        let failures = gate.failures.fetch_add(1, Ordering::SeqCst);
        tracing::info!(failures = failures + 1, "wrong app-lock passphrase");
        tokio::time::sleep(failure_delay(failures)).await;
        Err(CoreError::WrongPassphrase)
    }

    /// Locks after the idle time even when no command arrives.
    pub(crate) async fn idle_watch(self) {
        let mut stop = self.stop_signal();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = stop.changed() => break,
            }
            self.lock_if_idle(now_ms());
        }
    }
}

/// The pause before a wrong passphrase is answered, after `failures`
/// earlier ones in a row.
pub(crate) fn failure_delay(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.min(3))
}
