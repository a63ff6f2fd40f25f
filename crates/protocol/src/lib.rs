//! The contract between the relay and the desktops: HTTP paths, JSON bodies
//! and the sealing of events to device keys.
//!
//! Architecture invariant: no I/O here. Both `parley-relay` (server side) and
//! `parley-core` (client side) depend on this crate, so the two ends cannot
//! drift apart.
//!
//! Sealing. Every sealed blob starts with a version byte:
//!
//! - [`ENVELOPE_SEALED_BOX`] (`0x01`): a libsodium sealed box
//!   (`crypto_box_seal`: a fresh ephemeral X25519 key per box, then
//!   XSalsa20-Poly1305). Devices seal team fan-out events for each other
//!   this way ([`DevicePublicKey::seal`]).
//! - [`ENVELOPE_EPOCH_BOX`] (`0x02`): `0x02 ‖ epoch public key (32) ‖ nonce
//!   (24) ‖ crypto_box ciphertext`. The relay seals webhook events this way
//!   ([`EpochKey`], [`EpochSealer`]): it keeps one ephemeral X25519 "epoch"
//!   key pair in memory only, rotates it every few minutes and at every
//!   start, and precomputes `crypto_box_beforenm(device_pk, epoch_sk)` once
//!   per (epoch, device). Each event then costs a random 192-bit nonce and
//!   XSalsa20-Poly1305 — no curve operation — where a sealed box costs two
//!   scalar multiplications per device per event, which held the relay to a
//!   tenth of a bare handler's throughput.
//! - [`ENVELOPE_EPOCH_SHARED`] (`0x03`): an epoch box whose plaintext is the
//!   key of a [`SharedBody`], followed by that body. The relay encrypts each
//!   event once and stores one 105-byte header per device
//!   ([`EpochSealer::wrap`]), instead of one full ciphertext per device.
//!
//! Either way the relay holds only device *public* keys and nothing that
//! survives on its disk can open a box, so what it stores is unreadable to
//! whoever runs it. The trade-off of epoch boxes: forward secrecy holds per
//! epoch, not per event. Someone who reads the relay's *memory* (not disk)
//! can open the boxes sealed earlier in the current epoch (at most one epoch
//! lifetime back); a sealed box's ephemeral key is gone right after sealing.
//! Whoever reads the relay's memory sees the webhooks arrive in clear anyway,
//! so the exposure added is one epoch of past events.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use std::sync::{Arc, Mutex};

use crypto_box::aead::{Aead, AeadCore, OsRng};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Meta's webhook endpoint (GET verification, POST events).
pub const PATH_WEBHOOK: &str = "/webhooks/meta";
/// Meta's data-deletion callback.
pub const PATH_DATA_DELETION: &str = "/meta/data-deletion";
/// Device enrollment: [`EnrollRequest`] → [`EnrollResponse`].
pub const PATH_ENROLL: &str = "/v1/devices/enroll";
/// Long-poll for sealed events: `GET ?after=<seq>&wait_secs=<n>&limit=<n>` → [`EventsResponse`].
pub const PATH_EVENTS: &str = "/v1/events";
/// Acknowledge events: [`AckRequest`] → 204.
pub const PATH_ACK: &str = "/v1/events/ack";
/// Liveness.
pub const PATH_HEALTH: &str = "/healthz";
/// Human-readable status of a data-deletion request: `GET ?code=<confirmation_code>`.
pub const PATH_DATA_DELETION_STATUS: &str = "/meta/data-deletion/status";
/// Server-sent events push stream of [`SealedEvent`]s. Resume with the
/// `Last-Event-ID` header or `?after=<seq>`; each SSE `id` is the event's seq.
pub const PATH_STREAM: &str = "/v1/stream";
/// The tenant's other active devices: `GET` → [`PeersResponse`].
pub const PATH_PEERS: &str = "/v1/peers";
/// A device's own sealed events for its peers: [`FanoutRequest`] → [`FanoutResponse`].
pub const PATH_FANOUT: &str = "/v1/events/fanout";
/// A device leaves its tenant for good: `POST` with its own token → 204.
/// Its queue is dropped and its token stops working (the "delete all my
/// data" and "disconnect" actions of the desktop).
pub const PATH_DEREGISTER: &str = "/v1/devices/self/deregister";
/// Prometheus text metrics. Needs the relay's metrics bearer token when one
/// is configured; without one, only loopback clients are answered.
pub const PATH_METRICS: &str = "/metrics";

/// Leading byte of a libsodium sealed box envelope.
pub const ENVELOPE_SEALED_BOX: u8 = 0x01;
/// Leading byte of an epoch box envelope: epoch public key, nonce, ciphertext.
pub const ENVELOPE_EPOCH_BOX: u8 = 0x02;
/// Leading byte of an epoch box with a shared body: `0x03 ‖ epoch public key
/// (32) ‖ nonce (24) ‖ crypto_box of the body key (32 + 16) ‖ body nonce (24)
/// ‖ XSalsa20-Poly1305 of the event under the body key`. The event is
/// encrypted once ([`SharedBody`]); only the 105-byte header before the body
/// differs per device ([`EpochSealer::wrap`]).
pub const ENVELOPE_EPOCH_SHARED: u8 = 0x03;
/// Length of an [`ENVELOPE_EPOCH_SHARED`] header (everything before the body).
pub const EPOCH_SHARED_HEADER: usize = 1 + 32 + 24 + 32 + 16;
/// Bytes an envelope adds to its plaintext, at least (sealed box: version,
/// ephemeral key, tag).
pub const MIN_ENVELOPE_OVERHEAD: usize = 1 + 32 + 16;
const EPOCH_HEADER: usize = 1 + 32 + 24;

/// SSE event name of a [`SealedEvent`] on [`PATH_STREAM`].
pub const STREAM_EVENT_SEALED: &str = "sealed";
/// Largest single sealed copy a device may fan out, in base64 characters.
pub const MAX_FANOUT_SEALED_CHARS: usize = 128 * 1024;

/// Longest long-poll the relay honours.
pub const MAX_WAIT_SECS: u64 = 30;
/// Most events one poll returns.
pub const MAX_BATCH: usize = 500;

/// Body of `POST /v1/devices/enroll`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollRequest {
    /// The one-time code an admin issued for the tenant.
    pub code: String,
    /// A label for the admin's device list (for example the host name).
    pub device_name: String,
    /// The device's X25519 public key, standard base64 of 32 bytes.
    pub public_key: String,
}

/// Answer to a successful enrollment.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub device_id: String,
    /// Bearer token for the device API. The relay keeps only its hash.
    pub token: String,
    pub tenant_id: String,
}

impl std::fmt::Debug for EnrollResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollResponse")
            .field("device_id", &self.device_id)
            .field("token", &"<redacted>")
            .field("tenant_id", &self.tenant_id)
            .finish()
    }
}

/// One event as the relay hands it to a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedEvent {
    /// Per-tenant, strictly increasing. A device's cursor is the highest
    /// `seq` it has acknowledged.
    pub seq: u64,
    /// When the relay accepted it, ms since the epoch.
    pub received_at_ms: i64,
    /// A sealed box for this device, standard base64.
    pub sealed: String,
}

/// Answer to `GET /v1/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EventsResponse {
    pub events: Vec<SealedEvent>,
}

/// Body of `POST /v1/events/ack`: everything up to and including `up_to` is
/// safely stored on the device and may be dropped by the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckRequest {
    pub up_to: u64,
}

/// Error body of every relay API answer that is not 2xx.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Stable machine code, for example `invalid_code` or `revoked`.
    pub code: String,
    pub message: String,
}

/// Answer to the data-deletion callback, in the shape Meta requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataDeletionResponse {
    /// Absolute URL of the human-readable status page for this request.
    pub url: String,
    /// Alphanumeric code identifying the request.
    pub confirmation_code: String,
}

/// One of the tenant's other active devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub device_id: String,
    pub name: String,
    /// X25519 public key, standard base64, to seal fan-out events with.
    pub public_key: String,
}

/// Answer to `GET /v1/peers`: never the asking device, never revoked
/// devices, never another tenant's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PeersResponse {
    pub peers: Vec<Peer>,
}

/// One peer's sealed copy of a fan-out event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanoutCopy {
    pub device_id: String,
    /// A sealed box for that device's public key, standard base64.
    pub sealed: String,
}

/// Most customer ids one fan-out may name.
pub const MAX_FANOUT_CUSTOMER_IDS: usize = 8;
/// Longest customer id accepted in a fan-out, in bytes.
pub const MAX_CUSTOMER_ID_BYTES: usize = 256;

/// Body of `POST /v1/events/fanout`: one logical event, sealed by the
/// sending device once per peer. The relay gives it one seq and queues each
/// copy for its device only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanoutRequest {
    pub copies: Vec<FanoutCopy>,
    /// The customer(s) the event concerns: WhatsApp `wa_id` (or `user_id`),
    /// Instagram-scoped id. The relay keeps only their keyed hashes, as for
    /// webhook events, so that Meta's data-deletion callback for that
    /// customer purges this event too. Sent over TLS; never stored in clear.
    #[serde(default)]
    pub customer_ids: Vec<String>,
}

impl std::fmt::Debug for FanoutRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Customer ids are phone numbers: never printed.
        f.debug_struct("FanoutRequest")
            .field("copies", &self.copies)
            .field("customer_ids", &format_args!("<{} redacted>", self.customer_ids.len()))
            .finish()
    }
}

/// Answer to a fan-out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanoutResponse {
    /// The seq the event got; `None` when no copy was queued.
    pub seq: Option<u64>,
    /// Devices a copy was queued for.
    pub queued: Vec<String>,
    /// Active peers the request had no copy for (for example a device that
    /// enrolled after the sender last fetched its peers). The sender should
    /// refresh its peers and fan out again to these.
    pub missing: Vec<String>,
}

/// What is inside a sealed box.
///
/// Non-exhaustive: a device must keep (not drop) a payload kind it does not
/// know, since its cursor moves past it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventPayload {
    /// One channel's part of a verified Meta webhook, in Meta's own shape.
    MetaWebhook { body: serde_json::Value },
    /// A message an agent sent from another device of the same tenant,
    /// fanned out so every agent sees the whole thread.
    AgentSent {
        /// The sending device's idempotency key for the send.
        client_txn_id: String,
        /// Meta's id for the sent message (`wamid…` / Instagram `mid`).
        provider_id: String,
        /// `whatsapp` or `instagram`.
        channel_kind: String,
        /// Phone number id or Instagram account id the message went out from.
        channel_id: String,
        /// The customer (`wa_id` / user id, or Instagram-scoped id).
        to: String,
        body: String,
        /// `text`, `template`, `image`, ….
        message_kind: String,
        sent_at_ms: i64,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("not valid base64")]
    Base64,
    #[error("a public key must be 32 bytes")]
    KeyLength,
    #[error("the sealed box could not be opened with this device's key")]
    Open,
    #[error("sealing failed")]
    Seal,
    #[error("unknown sealed envelope version {0:#04x}")]
    Version(u8),
    #[error("the opened event is not a valid payload: {0}")]
    Payload(String),
}

/// A device's public key, as the relay stores it.
#[derive(Clone, PartialEq, Eq)]
pub struct DevicePublicKey(crypto_box::PublicKey);

impl std::fmt::Debug for DevicePublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DevicePublicKey({})", self.to_base64())
    }
}

impl DevicePublicKey {
    pub fn from_base64(s: &str) -> Result<Self, SealError> {
        let bytes = B64.decode(s.trim()).map_err(|_| SealError::Base64)?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| SealError::KeyLength)?;
        Ok(DevicePublicKey(crypto_box::PublicKey::from(arr)))
    }

    pub fn to_base64(&self) -> String {
        B64.encode(self.0.as_bytes())
    }

    /// Seal `plaintext` in a sealed box envelope ([`ENVELOPE_SEALED_BOX`]) so
    /// that only the holder of the matching secret key can open it. Returns
    /// standard base64.
    pub fn seal(&self, plaintext: &[u8]) -> Result<String, SealError> {
        Ok(B64.encode(self.seal_bytes(plaintext)?))
    }

    /// [`DevicePublicKey::seal`] without the base64, for storing raw bytes.
    pub fn seal_bytes(&self, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let sealed = self.0.seal(&mut OsRng, plaintext).map_err(|_| SealError::Seal)?;
        let mut out = Vec::with_capacity(1 + sealed.len());
        out.push(ENVELOPE_SEALED_BOX);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Serialise and seal an event payload.
    pub fn seal_payload(&self, payload: &EventPayload) -> Result<String, SealError> {
        let json = Zeroizing::new(
            serde_json::to_vec(payload).map_err(|e| SealError::Payload(e.to_string()))?,
        );
        self.seal(&json)
    }
}

/// The relay's in-memory epoch key pair (see the crate docs). Never stored:
/// whoever holds it can open everything sealed under it, so the relay keeps
/// it in memory only and drops it (the secret is zeroized on drop) when the
/// epoch ends.
pub struct EpochKey {
    secret: crypto_box::SecretKey,
    public: [u8; 32],
}

impl std::fmt::Debug for EpochKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EpochKey(<redacted>)")
    }
}

impl EpochKey {
    pub fn generate() -> Self {
        let secret = crypto_box::SecretKey::generate(&mut OsRng);
        let public = secret.public_key().to_bytes();
        EpochKey { secret, public }
    }

    /// The epoch's public key, which every envelope sealed under it carries.
    pub fn public_bytes(&self) -> [u8; 32] {
        self.public
    }

    /// Precompute the shared key with one device (`crypto_box_beforenm`):
    /// the only curve operation per (epoch, device).
    pub fn sealer(&self, device: &DevicePublicKey) -> EpochSealer {
        EpochSealer {
            epoch_public: self.public,
            cipher: crypto_box::SalsaBox::new(&device.0, &self.secret),
        }
    }
}

/// Seals for one device under one epoch: symmetric work only. Holds the
/// precomputed shared key, zeroized on drop.
pub struct EpochSealer {
    epoch_public: [u8; 32],
    cipher: crypto_box::SalsaBox,
}

impl std::fmt::Debug for EpochSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EpochSealer(<redacted>)")
    }
}

impl EpochSealer {
    /// An [`ENVELOPE_EPOCH_BOX`] of `plaintext`, raw bytes. The nonce is 24
    /// random bytes from the OS: at 192 bits a collision under one key is
    /// out of reach however many events an epoch seals.
    pub fn seal_bytes(&self, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let nonce = crypto_box::SalsaBox::generate_nonce(&mut OsRng);
        let ciphertext = self.cipher.encrypt(&nonce, plaintext).map_err(|_| SealError::Seal)?;
        let mut out = Vec::with_capacity(EPOCH_HEADER + ciphertext.len());
        out.push(ENVELOPE_EPOCH_BOX);
        out.extend_from_slice(&self.epoch_public);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// The per-device header of an [`ENVELOPE_EPOCH_SHARED`] envelope: the
    /// body's key boxed for this device. The device's envelope is this
    /// header followed by [`SharedBody::bytes`].
    pub fn wrap(&self, body: &SharedBody) -> Result<Vec<u8>, SealError> {
        let nonce = crypto_box::SalsaBox::generate_nonce(&mut OsRng);
        let wrapped =
            self.cipher.encrypt(&nonce, body.key.as_slice()).map_err(|_| SealError::Seal)?;
        let mut out = Vec::with_capacity(EPOCH_SHARED_HEADER);
        out.push(ENVELOPE_EPOCH_SHARED);
        out.extend_from_slice(&self.epoch_public);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&wrapped);
        Ok(out)
    }

    /// [`EpochSealer::seal_bytes`] in standard base64.
    pub fn seal(&self, plaintext: &[u8]) -> Result<String, SealError> {
        Ok(B64.encode(self.seal_bytes(plaintext)?))
    }
}

/// One event encrypted once, for all of a tenant's devices: XSalsa20-Poly1305
/// (`crypto_secretbox`) under a fresh random 256-bit key, which each device
/// gets boxed in its own header ([`EpochSealer::wrap`]). With three devices
/// this writes the event's ciphertext once instead of three times. The key
/// is zeroized on drop.
pub struct SharedBody {
    key: Zeroizing<[u8; 32]>,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for SharedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedBody").field("bytes", &self.bytes.len()).finish_non_exhaustive()
    }
}

impl SharedBody {
    pub fn seal(plaintext: &[u8]) -> Result<SharedBody, SealError> {
        use crypto_secretbox::aead::KeyInit as _;
        let key: Zeroizing<[u8; 32]> =
            Zeroizing::new(crypto_secretbox::XSalsa20Poly1305::generate_key(&mut OsRng).into());
        let cipher = crypto_secretbox::XSalsa20Poly1305::new(&(*key).into());
        let nonce = crypto_secretbox::XSalsa20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = cipher.encrypt(&nonce, plaintext).map_err(|_| SealError::Seal)?;
        let mut bytes = Vec::with_capacity(24 + ciphertext.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ciphertext);
        Ok(SharedBody { key, bytes })
    }

    /// Body nonce and ciphertext: what follows every device's header.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// A device's secret key. Held in the OS keyring at rest, zeroized on drop,
/// and never printed.
pub struct DeviceSecretKey {
    key: crypto_box::SecretKey,
    /// The shared key with the last epoch seen: a batch of events from one
    /// epoch costs one curve operation, not one each. Zeroized on drop.
    epoch: Mutex<Option<([u8; 32], Arc<crypto_box::SalsaBox>)>>,
}

impl std::fmt::Debug for DeviceSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceSecretKey(<redacted>)")
    }
}

impl DeviceSecretKey {
    fn new(key: crypto_box::SecretKey) -> Self {
        DeviceSecretKey { key, epoch: Mutex::new(None) }
    }

    pub fn generate() -> Self {
        Self::new(crypto_box::SecretKey::generate(&mut OsRng))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| SealError::KeyLength)?;
        Ok(Self::new(crypto_box::SecretKey::from(arr)))
    }

    /// The raw 32 bytes, for the keyring. Zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    pub fn public_key(&self) -> DevicePublicKey {
        DevicePublicKey(self.key.public_key())
    }

    /// Open a base64 envelope of either version.
    pub fn open(&self, sealed_b64: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let sealed = B64.decode(sealed_b64).map_err(|_| SealError::Base64)?;
        self.open_bytes(&sealed)
    }

    /// Open a raw envelope of either version.
    pub fn open_bytes(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        match sealed.split_first() {
            Some((&ENVELOPE_SEALED_BOX, rest)) => {
                self.key.unseal(rest).map(Zeroizing::new).map_err(|_| SealError::Open)
            }
            Some((&ENVELOPE_EPOCH_BOX, rest)) if rest.len() >= EPOCH_HEADER - 1 + 16 => {
                let (epoch_public, rest) = rest.split_at(32);
                let (nonce, ciphertext) = rest.split_at(24);
                let epoch_public: [u8; 32] =
                    epoch_public.try_into().map_err(|_| SealError::Open)?;
                let cipher = self.epoch_cipher(epoch_public);
                cipher
                    .decrypt(crypto_box::Nonce::from_slice(nonce), ciphertext)
                    .map(Zeroizing::new)
                    .map_err(|_| SealError::Open)
            }
            // Too short to hold the epoch key, nonce and tag.
            Some((&ENVELOPE_EPOCH_BOX, _)) => Err(SealError::Open),
            Some((&ENVELOPE_EPOCH_SHARED, rest))
                if rest.len() >= EPOCH_SHARED_HEADER - 1 + 24 + 16 =>
            {
                use crypto_secretbox::aead::KeyInit as _;
                let (epoch_public, rest) = rest.split_at(32);
                let (nonce, rest) = rest.split_at(24);
                let (wrapped, body) = rest.split_at(48);
                let epoch_public: [u8; 32] =
                    epoch_public.try_into().map_err(|_| SealError::Open)?;
                let key = Zeroizing::new(
                    self.epoch_cipher(epoch_public)
                        .decrypt(crypto_box::Nonce::from_slice(nonce), wrapped)
                        .map_err(|_| SealError::Open)?,
                );
                let key: [u8; 32] = key.as_slice().try_into().map_err(|_| SealError::Open)?;
                let key = Zeroizing::new(key);
                let (body_nonce, ciphertext) = body.split_at(24);
                crypto_secretbox::XSalsa20Poly1305::new(&(*key).into())
                    .decrypt(crypto_secretbox::Nonce::from_slice(body_nonce), ciphertext)
                    .map(Zeroizing::new)
                    .map_err(|_| SealError::Open)
            }
            Some((&ENVELOPE_EPOCH_SHARED, _)) => Err(SealError::Open),
            Some((&version, _)) => Err(SealError::Version(version)),
            None => Err(SealError::Open),
        }
    }

    fn epoch_cipher(&self, epoch_public: [u8; 32]) -> Arc<crypto_box::SalsaBox> {
        // A poisoned lock only means another open panicked; the cache is
        // still a valid (key, cipher) pair or empty.
        let mut cached = self.epoch.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((key, cipher)) = cached.as_ref() {
            if *key == epoch_public {
                return cipher.clone();
            }
        }
        let cipher = Arc::new(crypto_box::SalsaBox::new(
            &crypto_box::PublicKey::from(epoch_public),
            &self.key,
        ));
        *cached = Some((epoch_public, cipher.clone()));
        cipher
    }

    /// Open and parse an event payload.
    pub fn open_payload(&self, sealed_b64: &str) -> Result<EventPayload, SealError> {
        let plain = self.open(sealed_b64)?;
        serde_json::from_slice(&plain).map_err(|e| SealError::Payload(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip() {
        let sk = DeviceSecretKey::generate();
        let pk = DevicePublicKey::from_base64(&sk.public_key().to_base64()).unwrap();
        let payload = EventPayload::MetaWebhook {
            body: serde_json::json!({"object":"instagram","entry":[]}),
        };
        let sealed = pk.seal_payload(&payload).unwrap();
        assert!(!sealed.contains("instagram"));
        assert_eq!(sk.open_payload(&sealed).unwrap(), payload);
    }

    #[test]
    fn another_device_cannot_open() {
        let a = DeviceSecretKey::generate();
        let b = DeviceSecretKey::generate();
        let sealed = a.public_key().seal(b"hello").unwrap();
        assert_eq!(b.open(&sealed).unwrap_err(), SealError::Open);
        assert_eq!(a.open(&sealed).unwrap().as_slice(), b"hello");
    }

    #[test]
    fn each_seal_differs_even_for_the_same_plaintext() {
        let a = DeviceSecretKey::generate();
        let pk = a.public_key();
        assert_ne!(pk.seal(b"same").unwrap(), pk.seal(b"same").unwrap());
    }

    #[test]
    fn secret_key_bytes_round_trip_and_debug_redacts() {
        let a = DeviceSecretKey::generate();
        let b = DeviceSecretKey::from_bytes(a.to_bytes().as_slice()).unwrap();
        assert_eq!(a.public_key(), b.public_key());
        assert_eq!(format!("{a:?}"), "DeviceSecretKey(<redacted>)");
        assert!(DeviceSecretKey::from_bytes(&[1, 2, 3]).is_err());
        assert_eq!(DevicePublicKey::from_base64("AAAA").unwrap_err(), SealError::KeyLength);
    }

    #[test]
    fn agent_sent_has_a_stable_wire_shape() {
        let payload = EventPayload::AgentSent {
            client_txn_id: "txn-1".into(),
            provider_id: "wamid.X".into(),
            channel_kind: "whatsapp".into(),
            channel_id: "111".into(),
            to: "15551234567".into(),
            body: "hello".into(),
            message_kind: "text".into(),
            sent_at_ms: 1_700_000_000_000,
        };
        let json = serde_json::to_value(&payload).unwrap();
        assert_eq!(json["kind"], "agent_sent");
        assert_eq!(json["client_txn_id"], "txn-1");
        assert_eq!(json["sent_at_ms"], 1_700_000_000_000i64);
        let sk = DeviceSecretKey::generate();
        let sealed = sk.public_key().seal_payload(&payload).unwrap();
        assert_eq!(sk.open_payload(&sealed).unwrap(), payload);
        // The existing variant keeps its tag.
        let meta = EventPayload::MetaWebhook { body: serde_json::json!({}) };
        assert_eq!(serde_json::to_value(&meta).unwrap()["kind"], "meta_webhook");
    }

    #[test]
    fn fanout_bodies_round_trip() {
        let req = FanoutRequest {
            copies: vec![FanoutCopy { device_id: "d".into(), sealed: "AAAA".into() }],
            customer_ids: vec!["15551234567".into()],
        };
        let back: FanoutRequest =
            serde_json::from_str(&serde_json::to_string(&req).unwrap()).unwrap();
        assert_eq!(back, req);
        assert!(!format!("{req:?}").contains("15551234567"), "Debug must not print customer ids");
        // A sender that names no customer still parses.
        let bare: FanoutRequest = serde_json::from_str(r#"{"copies":[]}"#).unwrap();
        assert!(bare.customer_ids.is_empty());
        let resp: FanoutResponse =
            serde_json::from_str(r#"{"seq":3,"queued":["d"],"missing":[]}"#).unwrap();
        assert_eq!(resp.seq, Some(3));
    }

    #[test]
    fn enroll_response_debug_redacts_token() {
        let r = EnrollResponse {
            device_id: "d".into(),
            token: "tok-secret".into(),
            tenant_id: "t".into(),
        };
        assert!(!format!("{r:?}").contains("tok-secret"));
    }

    #[test]
    fn sealed_boxes_carry_their_version_byte() {
        let sk = DeviceSecretKey::generate();
        let raw = sk.public_key().seal_bytes(b"hello").unwrap();
        assert_eq!(raw[0], ENVELOPE_SEALED_BOX);
        assert_eq!(raw.len(), 5 + MIN_ENVELOPE_OVERHEAD);
        assert_eq!(sk.open_bytes(&raw).unwrap().as_slice(), b"hello");
        // The bare libsodium box (no version byte) is not an envelope.
        assert!(sk.open_bytes(&raw[1..]).is_err());
    }

    #[test]
    fn epoch_boxes_open_for_their_device_only() {
        let a = DeviceSecretKey::generate();
        let b = DeviceSecretKey::generate();
        let epoch = EpochKey::generate();
        let sealer = epoch.sealer(&a.public_key());
        let raw = sealer.seal_bytes(b"event one").unwrap();
        assert_eq!(raw[0], ENVELOPE_EPOCH_BOX);
        assert_eq!(&raw[1..33], &epoch.public_bytes());
        assert!(!raw.windows(9).any(|w| w == b"event one"));
        assert_eq!(a.open_bytes(&raw).unwrap().as_slice(), b"event one");
        assert_eq!(b.open_bytes(&raw).unwrap_err(), SealError::Open);
        // Two boxes of the same plaintext differ (random nonces).
        assert_ne!(sealer.seal_bytes(b"x").unwrap(), sealer.seal_bytes(b"x").unwrap());
        // Base64 payload helpers go through the same path.
        let payload = EventPayload::MetaWebhook { body: serde_json::json!({"object": "x"}) };
        let sealed = sealer.seal(&serde_json::to_vec(&payload).unwrap()).unwrap();
        assert_eq!(a.open_payload(&sealed).unwrap(), payload);
    }

    #[test]
    fn a_device_opens_boxes_of_several_epochs_in_any_order() {
        let sk = DeviceSecretKey::generate();
        let (e1, e2) = (EpochKey::generate(), EpochKey::generate());
        let one = e1.sealer(&sk.public_key()).seal_bytes(b"1").unwrap();
        let two = e2.sealer(&sk.public_key()).seal_bytes(b"2").unwrap();
        let classic = sk.public_key().seal_bytes(b"3").unwrap();
        for _ in 0..2 {
            assert_eq!(sk.open_bytes(&one).unwrap().as_slice(), b"1");
            assert_eq!(sk.open_bytes(&two).unwrap().as_slice(), b"2");
            assert_eq!(sk.open_bytes(&classic).unwrap().as_slice(), b"3");
        }
    }

    #[test]
    fn tampered_truncated_and_unknown_envelopes_fail() {
        let sk = DeviceSecretKey::generate();
        let epoch = EpochKey::generate();
        let raw = epoch.sealer(&sk.public_key()).seal_bytes(b"payload").unwrap();
        // Any flipped byte after the version (epoch key, nonce, ciphertext)
        // fails authentication.
        for i in [1, 20, 33, 50, 57, raw.len() - 1] {
            let mut bad = raw.clone();
            bad[i] ^= 1;
            assert_eq!(sk.open_bytes(&bad).unwrap_err(), SealError::Open, "byte {i}");
        }
        assert_eq!(sk.open_bytes(&raw[..60]).unwrap_err(), SealError::Open);
        assert_eq!(sk.open_bytes(&[]).unwrap_err(), SealError::Open);
        let mut future = raw.clone();
        future[0] = 0x7f;
        assert_eq!(sk.open_bytes(&future).unwrap_err(), SealError::Version(0x7f));
        // After all that the cached epoch key still opens the good box.
        assert_eq!(sk.open_bytes(&raw).unwrap().as_slice(), b"payload");
    }

    #[test]
    fn epoch_types_never_print_key_material() {
        let epoch = EpochKey::generate();
        let sealer = epoch.sealer(&DeviceSecretKey::generate().public_key());
        assert_eq!(format!("{epoch:?}"), "EpochKey(<redacted>)");
        assert_eq!(format!("{sealer:?}"), "EpochSealer(<redacted>)");
    }

    #[test]
    fn shared_bodies_open_for_each_wrapped_device_only() {
        let (a, b, c) =
            (DeviceSecretKey::generate(), DeviceSecretKey::generate(), DeviceSecretKey::generate());
        let epoch = EpochKey::generate();
        let body = SharedBody::seal(b"one event for all").unwrap();
        assert!(!body.bytes().windows(9).any(|w| w == b"one event"));
        let envelope = |sk: &DeviceSecretKey| {
            let mut e = epoch.sealer(&sk.public_key()).wrap(&body).unwrap();
            assert_eq!(e.len(), EPOCH_SHARED_HEADER);
            assert_eq!(e[0], ENVELOPE_EPOCH_SHARED);
            e.extend_from_slice(body.bytes());
            e
        };
        let (for_a, for_b) = (envelope(&a), envelope(&b));
        assert_eq!(a.open_bytes(&for_a).unwrap().as_slice(), b"one event for all");
        assert_eq!(b.open_bytes(&for_b).unwrap().as_slice(), b"one event for all");
        assert_eq!(c.open_bytes(&for_a).unwrap_err(), SealError::Open);
        assert_eq!(b.open_bytes(&for_a).unwrap_err(), SealError::Open);
        // A header joined to another event's body does not open.
        let other = SharedBody::seal(b"another event").unwrap();
        let mut spliced = for_a[..EPOCH_SHARED_HEADER].to_vec();
        spliced.extend_from_slice(other.bytes());
        assert_eq!(a.open_bytes(&spliced).unwrap_err(), SealError::Open);
        for i in [1, 40, 60, 100, EPOCH_SHARED_HEADER + 3, for_a.len() - 1] {
            let mut bad = for_a.clone();
            bad[i] ^= 1;
            assert_eq!(a.open_bytes(&bad).unwrap_err(), SealError::Open, "byte {i}");
        }
        assert_eq!(a.open_bytes(&for_a[..EPOCH_SHARED_HEADER + 10]).unwrap_err(), SealError::Open);
        assert!(!format!("{body:?}").contains("key:"));
    }
}
