//! Token-bucket rate limits per source IP and per device.
//!
//! In memory and per process: limits protect this relay's CPU and disk, so
//! they need not be shared between nodes. A bucket that has refilled
//! completely carries no information and is pruned when the map grows.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use crate::store::lock;
use crate::tls::ClientAddr;

/// Buckets kept before idle ones are pruned.
const PRUNE_ABOVE: usize = 10_000;

/// A rate and burst; a rate of 0 disables the limit.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct Limit {
    pub per_sec: f64,
    pub burst: f64,
}

impl Limit {
    pub const fn new(per_sec: f64, burst: f64) -> Self {
        Limit { per_sec, burst }
    }

    pub const OFF: Limit = Limit::new(0.0, 0.0);
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

pub(crate) struct RateLimiter {
    limit: Limit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub(crate) fn new(limit: Limit) -> Self {
        RateLimiter { limit, buckets: Mutex::new(HashMap::new()) }
    }

    /// Take one token for `key`, or say how long until one is available.
    pub(crate) fn check(&self, key: &str) -> Result<(), Duration> {
        if self.limit.per_sec <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let burst = self.limit.burst.max(1.0);
        let mut buckets = lock(&self.buckets);
        if buckets.len() > PRUNE_ABOVE {
            let rate = self.limit.per_sec;
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket { tokens: burst, at: now });
        let refill = now.duration_since(bucket.at).as_secs_f64() * self.limit.per_sec;
        bucket.tokens = (bucket.tokens + refill).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.limit.per_sec))
        }
    }
}

/// The client's address: the socket peer, or, when the relay is told it sits
/// behind a proxy, the last `X-Forwarded-For` hop (the one the proxy added;
/// earlier hops are whatever the client claimed).
pub(crate) fn client_ip(parts: &Parts, trust_forwarded_for: bool) -> Option<IpAddr> {
    if trust_forwarded_for {
        if let Some(ip) = forwarded_for(&parts.headers) {
            return Some(ip);
        }
    }
    parts.extensions.get::<ConnectInfo<ClientAddr>>().map(|c| c.0 .0.ip())
}

fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let value = headers.get_all("x-forwarded-for").iter().next_back()?.to_str().ok()?;
    value.rsplit(',').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_the_rate_holds() {
        let rl = RateLimiter::new(Limit::new(1.0, 3.0));
        for _ in 0..3 {
            assert!(rl.check("a").is_ok());
        }
        let wait = rl.check("a").unwrap_err();
        assert!(wait > Duration::from_millis(500) && wait <= Duration::from_secs(1));
        // Keys are independent.
        assert!(rl.check("b").is_ok());
        assert!(RateLimiter::new(Limit::OFF).check("a").is_ok());
    }

    #[test]
    fn only_the_last_forwarded_hop_counts() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "1.2.3.4, 10.0.0.7".parse().unwrap());
        assert_eq!(forwarded_for(&h), Some("10.0.0.7".parse().unwrap()));
    }
}
