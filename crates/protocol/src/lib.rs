//! The contract between the relay and the desktops: HTTP paths, JSON bodies
//! and the sealing of events to device keys.
//!
//! Architecture invariant: no I/O here. Both `parley-relay` (server side) and
//! `parley-core` (client side) depend on this crate, so the two ends cannot
//! drift apart.
//!
//! Sealing uses libsodium-compatible sealed boxes (`crypto_box_seal`:
//! X25519 + XSalsa20-Poly1305 with an ephemeral sender key). The relay holds
//! only device *public* keys, so what it stores is unreadable to whoever runs it.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use crypto_box::aead::OsRng;
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
/// Prometheus text metrics.
pub const PATH_METRICS: &str = "/metrics";

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

/// Body of `POST /v1/events/fanout`: one logical event, sealed by the
/// sending device once per peer. The relay gives it one seq and queues each
/// copy for its device only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanoutRequest {
    pub copies: Vec<FanoutCopy>,
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

    /// Seal `plaintext` so that only the holder of the matching secret key can
    /// open it. Returns standard base64.
    pub fn seal(&self, plaintext: &[u8]) -> Result<String, SealError> {
        let sealed = self.0.seal(&mut OsRng, plaintext).map_err(|_| SealError::Seal)?;
        Ok(B64.encode(sealed))
    }

    /// [`DevicePublicKey::seal`] without the base64, for storing raw bytes.
    pub fn seal_bytes(&self, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        self.0.seal(&mut OsRng, plaintext).map_err(|_| SealError::Seal)
    }

    /// Serialise and seal an event payload.
    pub fn seal_payload(&self, payload: &EventPayload) -> Result<String, SealError> {
        let json = Zeroizing::new(
            serde_json::to_vec(payload).map_err(|e| SealError::Payload(e.to_string()))?,
        );
        self.seal(&json)
    }
}

/// A device's secret key. Held in the OS keyring at rest, zeroized on drop,
/// and never printed.
pub struct DeviceSecretKey(crypto_box::SecretKey);

impl std::fmt::Debug for DeviceSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceSecretKey(<redacted>)")
    }
}

impl DeviceSecretKey {
    pub fn generate() -> Self {
        DeviceSecretKey(crypto_box::SecretKey::generate(&mut OsRng))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| SealError::KeyLength)?;
        Ok(DeviceSecretKey(crypto_box::SecretKey::from(arr)))
    }

    /// The raw 32 bytes, for the keyring. Zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    pub fn public_key(&self) -> DevicePublicKey {
        DevicePublicKey(self.0.public_key())
    }

    /// Open a base64 sealed box.
    pub fn open(&self, sealed_b64: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let sealed = B64.decode(sealed_b64).map_err(|_| SealError::Base64)?;
        self.0.unseal(&sealed).map(Zeroizing::new).map_err(|_| SealError::Open)
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
        };
        let back: FanoutRequest =
            serde_json::from_str(&serde_json::to_string(&req).unwrap()).unwrap();
        assert_eq!(back, req);
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
}
