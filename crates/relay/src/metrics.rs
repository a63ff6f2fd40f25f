//! Prometheus text metrics. Hand-rolled atomics: the relay needs a dozen
//! counters and one histogram, not a metrics framework. No label ever holds
//! a tenant, device or channel id, so the endpoint reveals volume only.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use parley_meta::signature::SignatureError;

use crate::store::{IngestReport, QueueStats};

/// Why a request or a webhook part was refused or dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reject {
    MissingSignature,
    MalformedSignature,
    BadSignature,
    TooLarge,
    InvalidBody,
    UnknownObject,
    UnknownChannel,
    WrongApp,
    Unroutable,
    RateLimited,
    Unauthorized,
}

impl Reject {
    const ALL: [Reject; 11] = [
        Reject::MissingSignature,
        Reject::MalformedSignature,
        Reject::BadSignature,
        Reject::TooLarge,
        Reject::InvalidBody,
        Reject::UnknownObject,
        Reject::UnknownChannel,
        Reject::WrongApp,
        Reject::Unroutable,
        Reject::RateLimited,
        Reject::Unauthorized,
    ];

    fn label(self) -> &'static str {
        match self {
            Reject::MissingSignature => "missing_signature",
            Reject::MalformedSignature => "malformed_signature",
            Reject::BadSignature => "bad_signature",
            Reject::TooLarge => "too_large",
            Reject::InvalidBody => "invalid_body",
            Reject::UnknownObject => "unknown_object",
            Reject::UnknownChannel => "unknown_channel",
            Reject::WrongApp => "wrong_app",
            Reject::Unroutable => "unroutable",
            Reject::RateLimited => "rate_limited",
            Reject::Unauthorized => "unauthorized",
        }
    }
}

impl From<SignatureError> for Reject {
    fn from(e: SignatureError) -> Self {
        match e {
            SignatureError::Missing => Reject::MissingSignature,
            SignatureError::Malformed => Reject::MalformedSignature,
            SignatureError::Mismatch => Reject::BadSignature,
        }
    }
}

/// Upper bounds (ms) of the delivery-lag histogram buckets.
const LAG_BUCKETS_MS: [u64; 10] =
    [10, 50, 100, 250, 1_000, 5_000, 30_000, 300_000, 3_600_000, 86_400_000];

#[derive(Default)]
pub(crate) struct Metrics {
    webhooks_ok: AtomicU64,
    parts_accepted: AtomicU64,
    copies_queued: AtomicU64,
    rejected: [AtomicU64; 11],
    served: AtomicU64,
    lag_buckets: [AtomicU64; 10],
    lag_sum_ms: AtomicU64,
    fanouts: AtomicU64,
    deletions: AtomicU64,
    streams_open: AtomicU64,
}

impl Metrics {
    pub(crate) fn rejected(&self, why: Reject) {
        self.rejected[why as usize].fetch_add(1, Relaxed);
    }

    fn rejected_n(&self, why: Reject, n: usize) {
        self.rejected[why as usize].fetch_add(n as u64, Relaxed);
    }

    pub(crate) fn ingested(&self, report: &IngestReport, unroutable: usize) {
        self.webhooks_ok.fetch_add(1, Relaxed);
        self.parts_accepted.fetch_add(report.accepted as u64, Relaxed);
        self.copies_queued.fetch_add(report.deliveries as u64, Relaxed);
        self.rejected_n(Reject::UnknownChannel, report.unknown_channel);
        self.rejected_n(Reject::WrongApp, report.wrong_app);
        self.rejected_n(Reject::Unroutable, unroutable);
    }

    /// An event handed to a device `lag_ms` after the relay accepted it.
    pub(crate) fn served(&self, lag_ms: i64) {
        let lag = u64::try_from(lag_ms).unwrap_or(0);
        self.served.fetch_add(1, Relaxed);
        self.lag_sum_ms.fetch_add(lag, Relaxed);
        if let Some(i) = LAG_BUCKETS_MS.iter().position(|b| lag <= *b) {
            self.lag_buckets[i].fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn fanout(&self, copies: usize) {
        self.fanouts.fetch_add(1, Relaxed);
        self.copies_queued.fetch_add(copies as u64, Relaxed);
    }

    pub(crate) fn deletion(&self) {
        self.deletions.fetch_add(1, Relaxed);
    }

    pub(crate) fn stream_opened(&self) {
        self.streams_open.fetch_add(1, Relaxed);
    }

    pub(crate) fn stream_closed(&self) {
        self.streams_open.fetch_sub(1, Relaxed);
    }

    /// The text exposition format, with queue figures read at scrape time.
    pub(crate) fn render(&self, queue: Option<QueueStats>, now_ms: i64) -> String {
        let mut out = String::with_capacity(4096);
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
        };
        counter(
            "parley_relay_webhooks_accepted_total",
            "Signed webhook POSTs answered 200.",
            self.webhooks_ok.load(Relaxed),
        );
        counter(
            "parley_relay_events_accepted_total",
            "Webhook channel parts queued for a tenant.",
            self.parts_accepted.load(Relaxed),
        );
        counter(
            "parley_relay_sealed_copies_total",
            "Sealed per-device copies written (webhooks and fan-out).",
            self.copies_queued.load(Relaxed),
        );
        counter(
            "parley_relay_fanouts_total",
            "Team fan-out events accepted.",
            self.fanouts.load(Relaxed),
        );
        counter(
            "parley_relay_data_deletions_total",
            "Verified data-deletion requests honoured.",
            self.deletions.load(Relaxed),
        );
        counter(
            "parley_relay_events_served_total",
            "Sealed events handed to devices (poll or stream).",
            self.served.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP parley_relay_rejected_total Requests refused or webhook parts dropped, by reason.\n# TYPE parley_relay_rejected_total counter"
        );
        for why in Reject::ALL {
            let _ = writeln!(
                out,
                "parley_relay_rejected_total{{reason=\"{}\"}} {}",
                why.label(),
                self.rejected[why as usize].load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP parley_relay_delivery_lag_ms Time from acceptance to hand-out, per served event.\n# TYPE parley_relay_delivery_lag_ms histogram"
        );
        let mut cumulative = 0;
        for (i, bound) in LAG_BUCKETS_MS.iter().enumerate() {
            cumulative += self.lag_buckets[i].load(Relaxed);
            let _ =
                writeln!(out, "parley_relay_delivery_lag_ms_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let served = self.served.load(Relaxed);
        let _ = writeln!(out, "parley_relay_delivery_lag_ms_bucket{{le=\"+Inf\"}} {served}");
        let _ = writeln!(out, "parley_relay_delivery_lag_ms_sum {}", self.lag_sum_ms.load(Relaxed));
        let _ = writeln!(out, "parley_relay_delivery_lag_ms_count {served}");
        let mut gauge = |name: &str, help: &str, value: String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        };
        gauge(
            "parley_relay_streams_open",
            "Push streams currently open.",
            self.streams_open.load(Relaxed).to_string(),
        );
        if let Some(q) = queue {
            gauge(
                "parley_relay_queue_depth",
                "Sealed copies waiting for devices.",
                q.depth.to_string(),
            );
            let age = q.oldest_received_at_ms.map_or(0, |t| now_ms.saturating_sub(t).max(0));
            gauge(
                "parley_relay_oldest_queued_age_ms",
                "Age of the oldest undelivered copy (queue lag).",
                age.to_string(),
            );
            gauge(
                "parley_relay_active_devices",
                "Enrolled, unrevoked devices.",
                q.active_devices.to_string(),
            );
        }
        out
    }
}
