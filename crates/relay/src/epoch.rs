//! The relay's epoch keys: how webhook events are sealed cheaply.
//!
//! A libsodium sealed box costs two X25519 scalar multiplications (ephemeral
//! key generation and Diffie-Hellman) per device per event; with three
//! devices that was well over half of the relay's CPU. Instead the relay
//! keeps one ephemeral X25519 key pair, the *epoch key*, in memory only. For
//! each (epoch, device) it computes the shared key once
//! ([`parley_protocol::EpochKey::sealer`], libsodium's `crypto_box_beforenm`)
//! and seals each event with a random nonce and XSalsa20-Poly1305 alone:
//! the event once under a fresh body key, and that key once per device
//! ([`Epochs::wrap`], `0x03` envelopes).
//! Devices open with `crypto_box(epoch_pk, device_sk)`, which they cache per
//! epoch (see [`parley_protocol::DeviceSecretKey`]).
//!
//! What this keeps and what it trades:
//!
//! - Zero knowledge at rest holds: the epoch secret is never written to the
//!   database, a log or any file, so a copy of the relay's disk opens
//!   nothing. A new epoch starts at every start.
//! - Forward secrecy holds per epoch instead of per event: whoever can read
//!   the relay process's memory can open the events sealed earlier in the
//!   current epoch, at most [`EPOCH_LIFETIME`] back. (Such an attacker sees
//!   new webhooks arrive in clear anyway.) When an epoch ends its secret and
//!   every shared key derived from it are dropped, which zeroizes them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use parley_protocol::{DevicePublicKey, EpochKey, EpochSealer, SharedBody};

use crate::store::StoreError;

/// How long one epoch key seals events. Short enough that a memory
/// compromise exposes little past traffic, long enough that the per-device
/// key agreement is amortised over many events.
pub(crate) const EPOCH_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// Precomputed shared keys kept per epoch, at most. A relay with more active
/// devices recomputes some (correct, only slower); the bound keeps a flood of
/// enrollments from growing memory without limit.
const MAX_CACHED_DEVICES: usize = 4096;

struct Epoch {
    key: EpochKey,
    started: Instant,
    /// Keyed by the device's public key as stored (base64), so a device that
    /// re-enrolls with a new key never meets a stale entry.
    sealers: Mutex<HashMap<String, Arc<EpochSealer>>>,
}

impl Epoch {
    fn new() -> Arc<Epoch> {
        Arc::new(Epoch {
            key: EpochKey::generate(),
            started: Instant::now(),
            sealers: Mutex::new(HashMap::new()),
        })
    }
}

/// The current epoch, rotated on a timer and lazily on use.
pub(crate) struct Epochs {
    current: RwLock<Arc<Epoch>>,
    lifetime: Duration,
}

impl std::fmt::Debug for Epochs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Epochs(<redacted>)")
    }
}

impl Epochs {
    pub(crate) fn new(lifetime: Duration) -> Epochs {
        Epochs { current: RwLock::new(Epoch::new()), lifetime }
    }

    /// The epoch to seal with now, starting a new one if this one is over.
    fn current(&self) -> Arc<Epoch> {
        let epoch = self.current.read().unwrap_or_else(|e| e.into_inner()).clone();
        if epoch.started.elapsed() < self.lifetime {
            return epoch;
        }
        self.rotate_if_due();
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// End the current epoch if its lifetime is over. Its key is zeroized as
    /// soon as the last seal in flight with it finishes.
    pub(crate) fn rotate_if_due(&self) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        // Checked again under the write lock: two callers must not both rotate.
        if current.started.elapsed() >= self.lifetime {
            *current = Epoch::new();
            tracing::debug!("relay epoch key rotated");
        }
    }

    /// Start a new epoch now, whatever the age of the current one.
    #[cfg(test)]
    pub(crate) fn rotate(&self) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Epoch::new();
    }

    /// The current epoch's public key (tests check envelopes against it).
    #[cfg(test)]
    pub(crate) fn public_bytes(&self) -> [u8; 32] {
        self.current().key.public_bytes()
    }

    /// Seal `plaintext` for the device whose stored public key is
    /// `public_key_b64`, as a single-device epoch box (`0x02`). The queue
    /// uses shared bodies ([`Epochs::wrap`]); tests check the key with this.
    #[cfg(test)]
    pub(crate) fn seal(
        &self,
        public_key_b64: &str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        self.sealer(public_key_b64)?.seal_bytes(plaintext).map_err(StoreError::Seal)
    }

    /// The per-device header of a shared-body epoch box (see
    /// [`parley_protocol::ENVELOPE_EPOCH_SHARED`]): the body's key, boxed
    /// for the device whose stored public key is `public_key_b64`.
    pub(crate) fn wrap(
        &self,
        public_key_b64: &str,
        body: &SharedBody,
    ) -> Result<Vec<u8>, StoreError> {
        self.sealer(public_key_b64)?.wrap(body).map_err(StoreError::Seal)
    }

    fn sealer(&self, public_key_b64: &str) -> Result<Arc<EpochSealer>, StoreError> {
        let epoch = self.current();
        let cached = lock(&epoch.sealers).get(public_key_b64).cloned();
        if let Some(sealer) = cached {
            return Ok(sealer);
        }
        let device = DevicePublicKey::from_base64(public_key_b64).map_err(StoreError::Seal)?;
        // The key agreement runs outside the lock; two threads racing on a
        // new device both compute it and one result is kept.
        let sealer = Arc::new(epoch.key.sealer(&device));
        let mut sealers = lock(&epoch.sealers);
        if sealers.len() >= MAX_CACHED_DEVICES {
            sealers.clear();
        }
        Ok(sealers.entry(public_key_b64.to_owned()).or_insert(sealer).clone())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the cache inconsistent:
    // every entry is a complete (key, sealer) pair.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_protocol::{DeviceSecretKey, ENVELOPE_EPOCH_BOX};

    #[test]
    fn seals_open_for_the_device_and_carry_the_current_epoch_key() {
        let epochs = Epochs::new(EPOCH_LIFETIME);
        let sk = DeviceSecretKey::generate();
        let pk = sk.public_key().to_base64();
        let first = epochs.seal(&pk, b"one").unwrap();
        assert_eq!(first[0], ENVELOPE_EPOCH_BOX);
        assert_eq!(first[1..33], epochs.public_bytes());
        assert_eq!(sk.open_bytes(&first).unwrap().as_slice(), b"one");
        epochs.rotate();
        let second = epochs.seal(&pk, b"two").unwrap();
        assert_ne!(first[1..33], second[1..33], "a rotation changes the epoch key");
        assert_eq!(sk.open_bytes(&second).unwrap().as_slice(), b"two");
        // Boxes of the ended epoch still open on the device.
        assert_eq!(sk.open_bytes(&first).unwrap().as_slice(), b"one");
    }

    #[test]
    fn an_expired_epoch_is_replaced_on_use_and_on_the_timer() {
        let epochs = Epochs::new(Duration::ZERO);
        let sk = DeviceSecretKey::generate();
        let pk = sk.public_key().to_base64();
        let a = epochs.seal(&pk, b"a").unwrap();
        let b = epochs.seal(&pk, b"b").unwrap();
        assert_ne!(a[1..33], b[1..33]);
        let before = epochs.current.read().unwrap().key.public_bytes();
        epochs.rotate_if_due();
        assert_ne!(before, epochs.current.read().unwrap().key.public_bytes());
        let long = Epochs::new(EPOCH_LIFETIME);
        let before = long.public_bytes();
        long.rotate_if_due();
        assert_eq!(before, long.public_bytes(), "a young epoch is kept");
    }

    #[test]
    fn a_bad_stored_key_is_an_error_not_a_panic() {
        let epochs = Epochs::new(EPOCH_LIFETIME);
        assert!(epochs.seal("not base64!", b"x").is_err());
        assert!(epochs.seal("AAAA", b"x").is_err());
    }
}
