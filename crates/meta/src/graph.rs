//! The Graph API client: sending WhatsApp (and Instagram) messages, read
//! receipts and media look-ups, with Meta's errors mapped to what an agent
//! or the outbox should do next.
//!
//! Architecture invariants:
//! - The access token lives in a [`Zeroizing`] string, travels only in the
//!   `Authorization` header (which reqwest marks sensitive), and never appears
//!   in `Debug`, errors or logs.
//! - Base URL and API version are configuration: the sandbox and the tests
//!   point the client at loopback.
//! - Ids from outside go into URL paths only after [`path_segment`] checks
//!   them, so a hostile id cannot redirect a request to another endpoint.

mod error;
mod instagram;
mod manage;
mod media;
mod outgoing;

pub use error::{backoff, explain_delivery_failure, GraphError, MetaApiError, RetryClass};
pub use instagram::{
    instagram_body, instagram_tag, InstagramAttachment, InstagramBody, HUMAN_AGENT_WINDOW,
    INSTAGRAM_WINDOW,
};
pub use manage::{
    valid_template_name, BusinessProfile, NewTemplate, PhoneNumber, Template, TemplateCategory,
    TemplateCreated, TemplatePage,
};
pub use media::{
    max_upload_bytes, sha256_hex, MAX_AUDIO_VIDEO_BYTES, MAX_DOCUMENT_BYTES, MAX_IMAGE_BYTES,
    MAX_MEDIA_BYTES, MAX_STICKER_BYTES,
};
pub use outgoing::{
    ListRow, ListSection, MediaSource, OutgoingBody, OutgoingMessage, Recipient, ReplyButton,
    MAX_BUTTONS, MAX_CAPTION_CHARS, MAX_LIST_ROWS, MAX_TEXT_CHARS,
};

use serde_json::{json, Value};
use std::fmt;
use std::time::Duration;
use zeroize::Zeroizing;

/// The Graph API version Parley is written against.
pub const DEFAULT_VERSION: &str = "v23.0";
/// Meta's production Graph API.
pub const META_BASE_URL: &str = "https://graph.facebook.com";

/// Instagram text messages are limited in UTF-8 bytes, not characters.
pub const MAX_INSTAGRAM_TEXT_BYTES: usize = 1000;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Media files run to tens of megabytes.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// Where the Graph API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphConfig {
    /// `https://graph.facebook.com`, or `http://127.0.0.1:PORT` for the sandbox.
    pub base_url: String,
    /// `v23.0` and the like.
    pub version: String,
}

impl Default for GraphConfig {
    fn default() -> Self {
        GraphConfig { base_url: META_BASE_URL.into(), version: DEFAULT_VERSION.into() }
    }
}

/// How [`GraphClient::send_with_retry`] retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// No single wait is longer than this (tests shrink it; the floors of
    /// [`GraphError::retry_after`] still apply below it).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 4, max_delay: Duration::from_secs(120) }
    }
}

/// Meta accepted a message. Its fate arrives later as status webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendAccepted {
    /// The `wamid.…` (or Instagram `mid`) status webhooks will refer to.
    pub message_id: String,
    /// The customer's WhatsApp id as Meta resolved it (absent for BSUID sends).
    pub wa_id: Option<String>,
}

/// `GET /{media_id}`: where to fetch a media file, briefly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaInfo {
    /// Expires within minutes; fetch it with [`GraphClient::download_media`].
    pub url: String,
    pub mime_type: Option<String>,
    pub sha256: Option<String>,
    pub file_size: Option<u64>,
}

/// A Graph API client for one access token.
pub struct GraphClient {
    http: reqwest::Client,
    base_url: String,
    version: String,
    token: Zeroizing<String>,
}

impl fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphClient")
            .field("base_url", &self.base_url)
            .field("version", &self.version)
            .field("access_token", &"<redacted>")
            .finish()
    }
}

/// `localhost` or a loopback IP: the only hosts plain http may reach.
fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl GraphClient {
    pub fn new(config: GraphConfig, access_token: Zeroizing<String>) -> Result<Self, GraphError> {
        let base_url = config.base_url.trim().trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base_url)
            .map_err(|e| GraphError::Config(format!("base URL {base_url:?} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(GraphError::Config(format!("base URL {base_url:?} is not an http(s) URL")));
        }
        // The token and customer data travel on every call: plain http is
        // allowed only to loopback (the sandbox), never across a network.
        if parsed.scheme() == "http" && !is_loopback(&parsed) {
            return Err(GraphError::Config(format!(
                "base URL {base_url:?} must start with https:// (plain http is only for a sandbox on this computer)"
            )));
        }
        let version = config.version.trim().trim_matches('/').to_owned();
        path_segment("API version", &version)
            .map_err(|_| GraphError::Config(format!("API version {version:?} is not valid")))?;
        if access_token.trim().is_empty() {
            return Err(GraphError::Config("the access token is empty".into()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("parley/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GraphError::Config(format!("HTTP client: {e}")))?;
        Ok(GraphClient { http, base_url, version, token: access_token })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// Send a text, optionally quoting `reply_to`. `to` is a phone number or
    /// a business-scoped user id (see [`Recipient::from_address`]).
    pub async fn send_text(
        &self,
        phone_number_id: &str,
        to: &str,
        text: &str,
        reply_to: Option<&str>,
    ) -> Result<SendAccepted, GraphError> {
        let mut message = OutgoingMessage::text(to, text);
        message.reply_to = reply_to.map(str::to_owned);
        self.send(phone_number_id, &message).await
    }

    /// Send any WhatsApp message. 200 means *accepted*, not delivered.
    pub async fn send(
        &self,
        phone_number_id: &str,
        message: &OutgoingMessage,
    ) -> Result<SendAccepted, GraphError> {
        message.validate()?;
        let url = self.url(&[path_segment("phone number id", phone_number_id)?, "messages"]);
        let answer = self.post_json(&url, &message.to_json()).await?;
        let message_id = answer
            .pointer("/messages/0/id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| GraphError::Decode("the send answer has no messages[0].id".into()))?;
        Ok(SendAccepted {
            message_id: message_id.to_owned(),
            wa_id: answer.pointer("/contacts/0/wa_id").and_then(Value::as_str).map(str::to_owned),
        })
    }

    /// [`Self::send`], retried with jittered backoff while Meta *refuses*
    /// with a retry-later code (130429, 131056, 80007, 4, 5xx, ...) or the
    /// request never left. A lost answer is never retried: the Cloud API has
    /// no idempotency key, so that could deliver the message twice.
    pub async fn send_with_retry(
        &self,
        phone_number_id: &str,
        message: &OutgoingMessage,
        policy: RetryPolicy,
    ) -> Result<SendAccepted, GraphError> {
        let mut attempt = 0;
        loop {
            let error = match self.send(phone_number_id, message).await {
                Ok(accepted) => return Ok(accepted),
                Err(e) => e,
            };
            attempt += 1;
            let wait = match error.retry_after(attempt - 1) {
                Some(wait) if error.certainly_not_accepted() && attempt < policy.max_attempts => {
                    wait.min(policy.max_delay)
                }
                _ => return Err(error),
            };
            tracing::info!(
                code = error.code(),
                attempt,
                wait_ms = wait.as_millis() as u64,
                "send refused; retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Tell the customer their message was read (blue ticks).
    pub async fn mark_read(
        &self,
        phone_number_id: &str,
        message_id: &str,
    ) -> Result<(), GraphError> {
        if message_id.trim().is_empty() {
            return Err(GraphError::InvalidInput("the message id to mark as read is empty".into()));
        }
        let url = self.url(&[path_segment("phone number id", phone_number_id)?, "messages"]);
        let body =
            json!({ "messaging_product": "whatsapp", "status": "read", "message_id": message_id });
        let answer = self.post_json(&url, &body).await?;
        if answer.get("success").and_then(Value::as_bool) != Some(true) {
            return Err(GraphError::Decode(
                "the mark-as-read answer did not report success".into(),
            ));
        }
        Ok(())
    }

    /// Send an Instagram text to a customer's IGSID. `human_agent` adds the
    /// `HUMAN_AGENT` tag, which allows a reply up to 7 days after the
    /// customer's last message; it must only be set for a person's reply,
    /// never for automation.
    pub async fn send_instagram_text(
        &self,
        instagram_account_id: &str,
        igsid: &str,
        text: &str,
        human_agent: bool,
    ) -> Result<SendAccepted, GraphError> {
        if text.trim().is_empty() {
            return Err(GraphError::InvalidInput("the text is empty".into()));
        }
        if text.len() > MAX_INSTAGRAM_TEXT_BYTES {
            return Err(GraphError::InvalidInput(format!(
                "the text is {} bytes; Instagram allows {MAX_INSTAGRAM_TEXT_BYTES}",
                text.len()
            )));
        }
        if igsid.trim().is_empty() {
            return Err(GraphError::InvalidInput("it has no recipient".into()));
        }
        let url =
            self.url(&[path_segment("Instagram account id", instagram_account_id)?, "messages"]);
        let mut body = json!({ "recipient": { "id": igsid }, "message": { "text": text } });
        if human_agent {
            body["messaging_type"] = json!("MESSAGE_TAG");
            body["tag"] = json!("HUMAN_AGENT");
        }
        let answer = self.post_json(&url, &body).await?;
        let message_id = answer
            .get("message_id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                GraphError::Decode("the Instagram send answer has no message_id".into())
            })?;
        Ok(SendAccepted { message_id: message_id.to_owned(), wa_id: None })
    }

    /// Look up a webhook media id: a short-lived download URL and checksums.
    pub async fn media_info(&self, media_id: &str) -> Result<MediaInfo, GraphError> {
        let url = self.url(&[path_segment("media id", media_id)?]);
        let answer = self.send_request(self.http.get(&url)).await?;
        let text = |key: &str| answer.get(key).and_then(Value::as_str).map(str::to_owned);
        Ok(MediaInfo {
            url: text("url")
                .ok_or_else(|| GraphError::Decode("the media answer has no url".into()))?,
            mime_type: text("mime_type"),
            sha256: text("sha256"),
            // Meta has sent the size both as a number and as a string.
            file_size: answer
                .get("file_size")
                .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok())),
        })
    }

    /// Fetch the bytes behind a [`MediaInfo::url`] with the same token. The
    /// token is only sent over HTTPS, or to the configured base URL's origin
    /// (the loopback sandbox), so a strange URL cannot collect it.
    pub async fn download_media(&self, url: &str) -> Result<Vec<u8>, GraphError> {
        let response = self.media_response(url).await?;
        let bytes = response.bytes().await.map_err(transport)?;
        Ok(bytes.to_vec())
    }

    /// A successful response for a media URL, body unread.
    async fn media_response(&self, url: &str) -> Result<reqwest::Response, GraphError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|_| GraphError::InvalidInput("the media URL is not a URL".into()))?;
        let same_origin =
            reqwest::Url::parse(&self.base_url).is_ok_and(|base| base.origin() == parsed.origin());
        if parsed.scheme() != "https" && !same_origin {
            return Err(GraphError::InvalidInput("the media URL is not HTTPS".into()));
        }
        tracing::debug!(host = parsed.host_str().unwrap_or(""), "downloading media");
        let response = self
            .http
            .get(parsed)
            .bearer_auth(self.token.as_str())
            .timeout(DOWNLOAD_TIMEOUT)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            let bytes = response.bytes().await.map_err(transport)?;
            return Err(error_from(status.as_u16(), &bytes));
        }
        Ok(response)
    }

    fn url(&self, segments: &[&str]) -> String {
        format!("{}/{}/{}", self.base_url, self.version, segments.join("/"))
    }

    async fn post_json(&self, url: &str, body: &Value) -> Result<Value, GraphError> {
        self.send_request(self.http.post(url).json(body)).await
    }

    async fn send_request(&self, request: reqwest::RequestBuilder) -> Result<Value, GraphError> {
        self.finish(request.bearer_auth(self.token.as_str())).await
    }

    /// Sends an authorised request and reads Meta's JSON answer.
    async fn finish(&self, request: reqwest::RequestBuilder) -> Result<Value, GraphError> {
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        if !status.is_success() {
            let error = error_from(status.as_u16(), &bytes);
            tracing::warn!(
                http_status = status.as_u16(),
                code = error.code(),
                "Graph API call failed"
            );
            return Err(error);
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| GraphError::Decode(format!("the answer is not JSON: {e}")))
    }
}

/// Meta's error object when the body has one, else the bare status.
fn error_from(status: u16, body: &[u8]) -> GraphError {
    match MetaApiError::from_body(status, body) {
        Some(meta) => GraphError::Meta(meta),
        None => GraphError::Http { status },
    }
}

/// reqwest's message names the URL but never headers, so the token stays out.
/// A failed connect means the request never left; anything later may have
/// reached Meta.
fn transport(e: reqwest::Error) -> GraphError {
    if e.is_connect() || e.is_builder() {
        GraphError::NotSent(e.without_url().to_string())
    } else {
        GraphError::Transport(e.without_url().to_string())
    }
}

/// `id` if it is safe as one path segment: ids are digits (or a version like
/// `v23.0`), so anything that could change the path or query is refused.
fn path_segment<'a>(what: &str, id: &'a str) -> Result<&'a str, GraphError> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(id)
    } else {
        Err(GraphError::InvalidInput(format!("the {what} {id:?} is not a valid id")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_token() {
        let client =
            GraphClient::new(GraphConfig::default(), Zeroizing::new("EAAG-secret-token".into()))
                .unwrap();
        let debug = format!("{client:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn config_is_checked() {
        let token = || Zeroizing::new("t".to_owned());
        let bad_url = GraphConfig { base_url: "ftp://x".into(), version: "v23.0".into() };
        assert!(matches!(GraphClient::new(bad_url, token()), Err(GraphError::Config(_))));
        let bad_version =
            GraphConfig { base_url: META_BASE_URL.into(), version: "v23.0/../x".into() };
        assert!(matches!(GraphClient::new(bad_version, token()), Err(GraphError::Config(_))));
        let empty = Zeroizing::new(String::new());
        assert!(matches!(
            GraphClient::new(GraphConfig::default(), empty),
            Err(GraphError::Config(_))
        ));
        let trailing =
            GraphConfig { base_url: "http://127.0.0.1:9/".into(), version: "/v23.0/".into() };
        let client = GraphClient::new(trailing, token()).unwrap();
        assert_eq!(client.url(&["1", "messages"]), "http://127.0.0.1:9/v23.0/1/messages");
    }

    #[test]
    fn plain_http_reaches_only_loopback() {
        let token = || Zeroizing::new("t".to_owned());
        let config = |base: &str| GraphConfig { base_url: base.into(), version: "v23.0".into() };
        for ok in ["https://graph.example.com", "http://localhost:8080", "http://[::1]:9"] {
            GraphClient::new(config(ok), token()).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in ["http://graph.example.com", "http://10.0.0.5:8080", "http://127.0.0.1.nip.io"] {
            match GraphClient::new(config(bad), token()) {
                Err(GraphError::Config(msg)) => assert!(msg.contains("https://"), "{msg}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    /// The core spawns sends on its runtime, so the futures must be `Send`.
    #[test]
    fn futures_are_send() {
        fn assert_send<T: Send>(_: &T) {}
        let client = GraphClient::new(GraphConfig::default(), Zeroizing::new("t".into())).unwrap();
        let message = OutgoingMessage::text("1555", "hi");
        assert_send(&client.send_text("1", "1555", "hi", None));
        assert_send(&client.send("1", &message));
        assert_send(&client.mark_read("1", "wamid.A"));
        assert_send(&client.download_media("https://example.com/x"));
    }

    #[test]
    fn path_segments_cannot_escape() {
        assert!(path_segment("id", "106540352242922").is_ok());
        for bad in ["", "..", "1/2", "1?x=2", "1#f", "a b", "%2e%2e"] {
            assert!(path_segment("id", bad).is_err(), "{bad:?}");
        }
    }
}
