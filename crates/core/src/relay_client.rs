//! HTTP client for the relay's device API (see `parley-protocol`).

use std::time::Duration;

use parley_protocol::{
    AckRequest, ApiError, EnrollRequest, EnrollResponse, EventsResponse, FanoutRequest,
    FanoutResponse, PeersResponse, PATH_ACK, PATH_DEREGISTER, PATH_ENROLL, PATH_EVENTS,
    PATH_FANOUT, PATH_PEERS,
};
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The relay could not be reached or broke off; try again later.
    #[error("the relay is unreachable ({0})")]
    Unreachable(String),
    /// The relay refused this device for good (revoked or unknown token).
    #[error("the relay no longer accepts this device ({0}); enroll it again")]
    Rejected(String),
    /// Any other refusal, with the relay's own sentence.
    #[error("the relay refused: {0}")]
    Refused(String),
}

/// Only `https` reaches a relay, except on loopback (the sandbox and tests):
/// webhooks carry customer data, so it must never cross a network in clear.
pub fn check_relay_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| format!("{url:?} is not a valid address"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!("the relay address must start with https:// (got {url:?})")),
    }
}

/// Events per poll: the page size asked of the relay.
pub const POLL_LIMIT: u64 = 500;

#[derive(Clone)]
pub struct RelayClient {
    http: reqwest::Client,
    base: String,
    token: Zeroizing<String>,
}

impl std::fmt::Debug for RelayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayClient")
            .field("base", &self.base)
            .field("token", &"<redacted>")
            .finish()
    }
}

fn transport(e: reqwest::Error) -> RelayError {
    // Without the URL: it is ours, but keep error strings free of anything
    // that is not needed.
    RelayError::Unreachable(e.without_url().to_string())
}

async fn refusal(resp: reqwest::Response) -> RelayError {
    let status = resp.status();
    let body: Option<ApiError> = resp.json().await.ok();
    let text = body.map(|b| b.message).unwrap_or_else(|| status.to_string());
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        RelayError::Rejected(text)
    } else if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        // Busy or rate-limited: temporary, like an outage.
        RelayError::Unreachable(text)
    } else {
        RelayError::Refused(text)
    }
}

impl RelayClient {
    pub fn new(http: reqwest::Client, base: &str, token: Zeroizing<String>) -> RelayClient {
        RelayClient { http, base: base.trim_end_matches('/').to_owned(), token }
    }

    /// Redeem an enrollment code for this device's public key.
    pub async fn enroll(
        http: &reqwest::Client,
        base: &str,
        request: &EnrollRequest,
    ) -> Result<EnrollResponse, RelayError> {
        check_relay_url(base).map_err(RelayError::Refused)?;
        let url = format!("{}{}", base.trim_end_matches('/'), PATH_ENROLL);
        let resp = http.post(url).json(request).send().await.map_err(transport)?;
        if !resp.status().is_success() {
            return Err(match refusal(resp).await {
                RelayError::Rejected(m) => RelayError::Refused(m),
                other => other,
            });
        }
        resp.json().await.map_err(transport)
    }

    /// Events after `after`, at most [`POLL_LIMIT`], waiting up to `wait`
    /// for new ones.
    pub async fn poll(&self, after: u64, wait: Duration) -> Result<EventsResponse, RelayError> {
        let url = format!("{}{}", self.base, PATH_EVENTS);
        let resp = self
            .http
            .get(url)
            .bearer_auth(self.token.as_str())
            .query(&[("after", after), ("wait_secs", wait.as_secs()), ("limit", POLL_LIMIT)])
            .timeout(wait + Duration::from_secs(15))
            .send()
            .await
            .map_err(transport)?;
        if !resp.status().is_success() {
            return Err(refusal(resp).await);
        }
        resp.json().await.map_err(transport)
    }

    /// Tell the relay everything up to `up_to` is stored.
    pub async fn ack(&self, up_to: u64) -> Result<(), RelayError> {
        let url = format!("{}{}", self.base, PATH_ACK);
        let resp = self
            .http
            .post(url)
            .bearer_auth(self.token.as_str())
            .json(&AckRequest { up_to })
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .map_err(transport)?;
        if !resp.status().is_success() {
            return Err(refusal(resp).await);
        }
        Ok(())
    }
}

impl RelayClient {
    /// The tenant's other active devices, with their public keys.
    pub async fn peers(&self) -> Result<PeersResponse, RelayError> {
        let resp = self
            .http
            .get(format!("{}{}", self.base, PATH_PEERS))
            .bearer_auth(self.token.as_str())
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .map_err(transport)?;
        if !resp.status().is_success() {
            return Err(refusal(resp).await);
        }
        resp.json().await.map_err(transport)
    }

    /// Leave the tenant: the relay drops this device's queue and token.
    pub async fn deregister(&self) -> Result<(), RelayError> {
        let resp = self
            .http
            .post(format!("{}{}", self.base, PATH_DEREGISTER))
            .bearer_auth(self.token.as_str())
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .map_err(transport)?;
        if !resp.status().is_success() {
            return Err(refusal(resp).await);
        }
        Ok(())
    }

    /// Hand the relay copies of one event, each sealed for one peer.
    pub async fn fanout(&self, request: &FanoutRequest) -> Result<FanoutResponse, RelayError> {
        let resp = self
            .http
            .post(format!("{}{}", self.base, PATH_FANOUT))
            .bearer_auth(self.token.as_str())
            .json(request)
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .map_err(transport)?;
        if !resp.status().is_success() {
            return Err(refusal(resp).await);
        }
        resp.json().await.map_err(transport)
    }
}

#[cfg(test)]
mod tests {
    use super::check_relay_url;

    #[test]
    fn relay_must_be_https_except_loopback() {
        assert!(check_relay_url("https://relay.example.com").is_ok());
        assert!(check_relay_url("http://127.0.0.1:8080").is_ok());
        assert!(check_relay_url("http://localhost:9000/").is_ok());
        assert!(check_relay_url("http://[::1]:80").is_ok());
        assert!(check_relay_url("http://relay.example.com").is_err());
        assert!(check_relay_url("http://localhost.evil.com").is_err());
        assert!(check_relay_url("ftp://x").is_err());
        assert!(check_relay_url("http://127.0.0.1.evil.com").is_err());
    }
}
