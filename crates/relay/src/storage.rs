//! What the HTTP layer needs from a storage backend.
//!
//! [`crate::Store`] (SQLite, one file, WAL, group commit) is the embedded
//! default. The trait is shaped for a PostgreSQL backend that lets several
//! relay nodes share one database:
//!
//! - Methods are synchronous and called from the blocking pool, so a backend
//!   may use a blocking client or block on its own runtime.
//! - Queue writes (`submit_*`) answer through a oneshot, so a backend can
//!   group requests into one transaction and one flush, as the SQLite
//!   committer does, without holding a thread per request.
//! - Seqs are allocated per tenant inside the write transaction: the SQLite
//!   committer reads a tenant's counter once per group, hands out seqs from
//!   memory and writes the counter back before the commit (in PostgreSQL,
//!   the same read with `SELECT … FOR UPDATE`), so nodes never hand out the
//!   same seq twice.
//! - Routing decisions (channel → tenant, app secret, active devices) are
//!   re-read inside the write transaction, never trusted from a cache. (The
//!   webhook path keeps a short-lived cache to verify and pre-seal without a
//!   database read; see `store::ROUTING_TTL` for why that stays correct.)
//! - Waking long-polls and streams is per process ([`crate::AppState`]); a
//!   multi-node backend adds a cross-node signal (PostgreSQL `LISTEN/NOTIFY`)
//!   that calls the same wake. Streams also re-query on a timer, so a missed
//!   wake delays delivery but never loses it.

use std::sync::Arc;

use parley_meta::routing::{ChannelKey, ChannelPart};
use parley_protocol::{EnrollResponse, Peer, SealedEvent};
use tokio::sync::oneshot;

use crate::store::{
    AppSecret, AuditEntry, AuthedDevice, DeletionStatus, DeviceInfo, FanoutReport, IngestReport,
    PreparedPart, QueueStats, Routing, Store, StoreError,
};

type Reply<T> = oneshot::Receiver<Result<T, StoreError>>;

/// A relay storage backend. See the module docs for the contract.
pub trait RelayStorage: Send + Sync + 'static {
    /// Why the backend can no longer acknowledge anything, if so (for the
    /// health endpoint, so that a supervisor restarts the relay).
    fn unhealthy(&self) -> Option<&'static str>;
    // webhook side
    fn app_secrets(&self) -> Result<Vec<AppSecret>, StoreError>;
    fn verify_token_matches(&self, token: &str) -> Result<bool, StoreError>;
    fn prepare_parts(&self, parts: Vec<ChannelPart>) -> Result<Vec<PreparedPart>, StoreError>;
    /// Routing data cached in memory, if fresh; never blocks. A backend
    /// without a cache answers `None` and the webhook takes the blocking
    /// path ([`RelayStorage::load_routing`]).
    fn cached_routing(&self) -> Option<Arc<Routing>>;
    /// Read (and cache) the routing data. Blocks.
    fn load_routing(&self) -> Result<Arc<Routing>, StoreError>;
    /// Prepare parts with routing data at hand: CPU only, no I/O. `whole`
    /// is the verified raw body when it is the one part's body as received
    /// ([`parley_meta::routing::Split::whole`]), sealed as is instead of
    /// serialising the parsed part again.
    fn prepare_parts_with(
        &self,
        routing: &Routing,
        parts: Vec<ChannelPart>,
        whole: Option<&[u8]>,
    ) -> Result<Vec<PreparedPart>, StoreError>;
    /// Prepare a verified body that is one channel's part as received,
    /// routed without a parse tree: `key` is its channel, `customer_ids` the
    /// customer ids it names. CPU only, no I/O; sealed as is.
    fn prepare_whole(
        &self,
        routing: &Routing,
        key: ChannelKey,
        customer_ids: &[String],
        raw: &[u8],
    ) -> Result<PreparedPart, StoreError>;
    fn submit_ingest(
        &self,
        secret: AppSecret,
        parts: Vec<PreparedPart>,
        at_ms: i64,
    ) -> Reply<IngestReport>;

    // device side
    fn enroll(
        &self,
        code: &str,
        name: &str,
        public_key: &str,
    ) -> Result<EnrollResponse, StoreError>;
    fn authenticate(&self, token: &str) -> Result<AuthedDevice, StoreError>;
    fn device_active(&self, device_id: &str) -> Result<bool, StoreError>;
    fn events_after(
        &self,
        device_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<SealedEvent>, StoreError>;
    fn submit_ack(&self, device_id: &str, up_to: u64) -> Reply<()>;
    fn peers(&self, device: &AuthedDevice) -> Result<Vec<Peer>, StoreError>;
    /// `customer_ids` are the customers the event concerns; a backend keeps
    /// only their keyed hashes, so data deletion finds the event.
    fn submit_fanout(
        &self,
        sender: AuthedDevice,
        copies: Vec<(String, Vec<u8>)>,
        customer_ids: &[String],
        at_ms: i64,
    ) -> Reply<FanoutReport>;
    fn record_device_access(&self, device: &AuthedDevice, action: &str) -> Result<(), StoreError>;

    // privacy and operations
    fn delete_user_data(
        &self,
        verified_secret: &str,
        user_id: &str,
    ) -> Result<DeletionStatus, StoreError>;
    fn deletion_status(&self, code: &str) -> Result<Option<DeletionStatus>, StoreError>;
    fn queue_stats(&self) -> Result<QueueStats, StoreError>;
    fn audit_event(
        &self,
        action: &str,
        tenant_id: Option<&str>,
        subject: Option<&str>,
    ) -> Result<(), StoreError>;
    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;

    // admin
    fn list_devices(&self, tenant_id: &str) -> Result<Vec<DeviceInfo>, StoreError>;
    fn revoke_device(&self, device_id: &str) -> Result<(), StoreError>;
    fn issue_enrollment_code(
        &self,
        tenant_id: &str,
        ttl: std::time::Duration,
    ) -> Result<String, StoreError>;
}

impl RelayStorage for Store {
    fn unhealthy(&self) -> Option<&'static str> {
        Store::unhealthy(self)
    }
    fn app_secrets(&self) -> Result<Vec<AppSecret>, StoreError> {
        Store::app_secrets(self)
    }
    fn verify_token_matches(&self, token: &str) -> Result<bool, StoreError> {
        Store::verify_token_matches(self, token)
    }
    fn prepare_parts(&self, parts: Vec<ChannelPart>) -> Result<Vec<PreparedPart>, StoreError> {
        Store::prepare_parts(self, parts)
    }
    fn cached_routing(&self) -> Option<Arc<Routing>> {
        Store::cached_routing(self)
    }
    fn load_routing(&self) -> Result<Arc<Routing>, StoreError> {
        Store::load_routing(self)
    }
    fn prepare_parts_with(
        &self,
        routing: &Routing,
        parts: Vec<ChannelPart>,
        whole: Option<&[u8]>,
    ) -> Result<Vec<PreparedPart>, StoreError> {
        Store::prepare_parts_with(self, routing, parts, whole)
    }
    fn prepare_whole(
        &self,
        routing: &Routing,
        key: ChannelKey,
        customer_ids: &[String],
        raw: &[u8],
    ) -> Result<PreparedPart, StoreError> {
        Store::prepare_whole(self, routing, key, customer_ids, raw)
    }
    fn submit_ingest(
        &self,
        secret: AppSecret,
        parts: Vec<PreparedPart>,
        at_ms: i64,
    ) -> Reply<IngestReport> {
        Store::submit_ingest(self, secret, parts, at_ms)
    }
    fn enroll(
        &self,
        code: &str,
        name: &str,
        public_key: &str,
    ) -> Result<EnrollResponse, StoreError> {
        Store::enroll(self, code, name, public_key)
    }
    fn authenticate(&self, token: &str) -> Result<AuthedDevice, StoreError> {
        Store::authenticate(self, token)
    }
    fn device_active(&self, device_id: &str) -> Result<bool, StoreError> {
        Store::device_active(self, device_id)
    }
    fn events_after(
        &self,
        device_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<SealedEvent>, StoreError> {
        Store::events_after(self, device_id, after, limit)
    }
    fn submit_ack(&self, device_id: &str, up_to: u64) -> Reply<()> {
        Store::submit_ack(self, device_id, up_to)
    }
    fn peers(&self, device: &AuthedDevice) -> Result<Vec<Peer>, StoreError> {
        Store::peers(self, device)
    }
    fn submit_fanout(
        &self,
        sender: AuthedDevice,
        copies: Vec<(String, Vec<u8>)>,
        customer_ids: &[String],
        at_ms: i64,
    ) -> Reply<FanoutReport> {
        Store::submit_fanout(self, sender, copies, customer_ids, at_ms)
    }
    fn record_device_access(&self, device: &AuthedDevice, action: &str) -> Result<(), StoreError> {
        Store::record_device_access(self, device, action)
    }
    fn delete_user_data(
        &self,
        verified_secret: &str,
        user_id: &str,
    ) -> Result<DeletionStatus, StoreError> {
        Store::delete_user_data(self, verified_secret, user_id)
    }
    fn deletion_status(&self, code: &str) -> Result<Option<DeletionStatus>, StoreError> {
        Store::deletion_status(self, code)
    }
    fn queue_stats(&self) -> Result<QueueStats, StoreError> {
        Store::queue_stats(self)
    }
    fn audit_event(
        &self,
        action: &str,
        tenant_id: Option<&str>,
        subject: Option<&str>,
    ) -> Result<(), StoreError> {
        Store::audit_event(self, action, tenant_id, subject)
    }
    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        Store::audit_log(self, limit)
    }
    fn list_devices(&self, tenant_id: &str) -> Result<Vec<DeviceInfo>, StoreError> {
        Store::list_devices(self, tenant_id)
    }
    fn revoke_device(&self, device_id: &str) -> Result<(), StoreError> {
        Store::revoke_device(self, device_id)
    }
    fn issue_enrollment_code(
        &self,
        tenant_id: &str,
        ttl: std::time::Duration,
    ) -> Result<String, StoreError> {
        Store::issue_enrollment_code(self, tenant_id, ttl)
    }
}
