//! Graph API failures, what to do about each, and how to say it to an agent.
//!
//! Classification follows Meta's advice to branch on `code` (not on the
//! message text, the subcode, or the HTTP status): the HTTP status is only a
//! fallback for codes this table does not know.

use serde::Deserialize;
use std::time::Duration;

/// An error answer from the Graph API: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaApiError {
    pub http_status: u16,
    pub code: i64,
    /// `error_subcode`; Meta stopped sending it for most WhatsApp errors.
    pub subcode: Option<i64>,
    pub message: String,
    /// `error_data.details`, else `error_user_msg`: Meta's most specific words.
    pub details: Option<String>,
    /// Quote this to Meta support.
    pub fbtrace_id: Option<String>,
}

impl MetaApiError {
    /// Parse Meta's error body. `None` when the body is not Meta's shape
    /// (a proxy's HTML page, an empty body, ...).
    pub fn from_body(http_status: u16, body: &[u8]) -> Option<Self> {
        #[derive(Deserialize)]
        struct Envelope {
            error: Inner,
        }
        #[derive(Deserialize)]
        struct Inner {
            #[serde(default)]
            message: Option<String>,
            #[serde(default)]
            code: Option<i64>,
            #[serde(default)]
            error_subcode: Option<i64>,
            #[serde(default)]
            error_data: Option<ErrorData>,
            #[serde(default)]
            error_user_msg: Option<String>,
            #[serde(default)]
            fbtrace_id: Option<String>,
        }
        #[derive(Deserialize)]
        struct ErrorData {
            #[serde(default)]
            details: Option<String>,
        }
        let envelope: Envelope = serde_json::from_slice(body).ok()?;
        let inner = envelope.error;
        Some(MetaApiError {
            http_status,
            code: inner.code?,
            subcode: inner.error_subcode,
            message: inner.message.unwrap_or_default(),
            details: inner
                .error_data
                .and_then(|d| d.details)
                .or(inner.error_user_msg)
                .filter(|d| !d.is_empty()),
            fbtrace_id: inner.fbtrace_id,
        })
    }

    /// Meta's own words for the error, most specific first.
    fn words(&self) -> &str {
        self.details.as_deref().filter(|d| !d.trim().is_empty()).unwrap_or(&self.message)
    }
}

/// Why a Graph API call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// Meta answered with its error object.
    #[error("Meta error {} (HTTP {}): {}", .0.code, .0.http_status, .0.message)]
    Meta(MetaApiError),
    /// A non-success answer that is not Meta's error object.
    #[error("HTTP {status} from the Graph API without a Meta error body")]
    Http { status: u16 },
    /// No connection could be made (DNS, connect, TLS handshake): the
    /// request certainly did not reach Meta, so resending cannot duplicate it.
    #[error("could not reach the Graph API: {0}")]
    NotSent(String),
    /// The request may have reached Meta but no answer came back (timeout,
    /// connection reset). Meta has no idempotency keys, so a resend may
    /// deliver the message twice.
    #[error("no answer from the Graph API: {0}")]
    Transport(String),
    /// A success answer whose body is not what the endpoint documents.
    #[error("unexpected Graph API answer: {0}")]
    Decode(String),
    /// Refused before sending: the message breaks a documented limit.
    #[error("invalid message: {0}")]
    InvalidInput(String),
    /// The client's configuration cannot work (bad base URL or version).
    #[error("invalid Graph API configuration: {0}")]
    Config(String),
    /// A media file is larger than allowed (upload limit, or the caller's
    /// download cap).
    #[error("the media file is {size} bytes; the limit is {limit}")]
    MediaTooLarge { size: u64, limit: u64 },
    /// A downloaded file does not match the sha256 Meta announced.
    #[error("the downloaded media does not match its sha256")]
    MediaChecksum,
    /// Refused before sending: the messaging window does not allow this
    /// message (Instagram's 24 h / 7 day `HUMAN_AGENT` rules).
    #[error("outside the messaging window: {0}")]
    OutsideWindow(String),
}

/// What the outbox (or the agent) should do after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryClass {
    /// Temporary: Meta is busy, throttling, or unreachable. Retry with
    /// [`backoff`].
    RetryLater,
    /// Only the customer can unblock this (the 24-hour window closed, they
    /// opted out). Send an approved template or wait for them to write.
    WaitForCustomer,
    /// This exact request will never succeed: change the message, the
    /// recipient or the template.
    FixInput,
    /// The channel's token, permissions or account need an administrator:
    /// reconnect the channel or fix the account in Meta's tools.
    Reconnect,
}

impl GraphError {
    /// Which [`RetryClass`] this failure belongs to.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            GraphError::Meta(e) => classify(e),
            GraphError::Http { status } => class_for_status(*status),
            // A lost answer says nothing about the request: try again.
            GraphError::NotSent(_) | GraphError::Transport(_) | GraphError::Decode(_) => {
                RetryClass::RetryLater
            }
            GraphError::InvalidInput(_) | GraphError::MediaTooLarge { .. } => RetryClass::FixInput,
            GraphError::Config(_) => RetryClass::Reconnect,
            // A corrupted transfer: fetching again may well work.
            GraphError::MediaChecksum => RetryClass::RetryLater,
            GraphError::OutsideWindow(_) => RetryClass::WaitForCustomer,
        }
    }

    /// The Meta error code, when Meta gave one.
    pub fn code(&self) -> Option<i64> {
        match self {
            GraphError::Meta(e) => Some(e.code),
            _ => None,
        }
    }

    /// Whether resending this exact request is safe: Meta answered with a
    /// refusal, or the request never left this machine. A lost answer
    /// (`Transport`) or an unreadable success (`Decode`) is not safe: Meta may
    /// already have accepted the message.
    pub fn certainly_not_accepted(&self) -> bool {
        // A bare HTTP status (no Meta error body) may come from an edge proxy
        // after Meta accepted the request, so it is not proof.
        matches!(
            self,
            GraphError::Meta(_)
                | GraphError::NotSent(_)
                | GraphError::InvalidInput(_)
                | GraphError::Config(_)
                | GraphError::MediaTooLarge { .. }
                | GraphError::OutsideWindow(_)
        )
    }

    /// How long to wait before attempt number `attempt` (0-based) of the
    /// same request, or `None` when retrying would not help. Pair limits
    /// (one message per ~6 s to the same user) and account-wide limits wait
    /// longer than throughput limits.
    pub fn retry_after(&self, attempt: u32) -> Option<Duration> {
        if self.retry_class() != RetryClass::RetryLater {
            return None;
        }
        let floor = match self.code() {
            Some(131056) => Duration::from_secs(6),
            Some(80007 | 4 | 17 | 32 | 613 | 131048 | 131049) => Duration::from_secs(60),
            _ => Duration::ZERO,
        };
        Some(backoff(attempt).max(floor))
    }

    /// A sentence an agent can act on. Never raw JSON, never the token.
    pub fn user_message(&self) -> String {
        match self {
            GraphError::Meta(e) => meta_message(e),
            GraphError::Http { status } if *status >= 500 => {
                "Meta's servers are having trouble right now; the message will be retried shortly.".into()
            }
            GraphError::Http { status: 401 | 403 } => {
                "Meta rejected this channel's credentials. Reconnect the channel in Settings.".into()
            }
            GraphError::Http { status: 429 } => {
                "Meta is limiting how fast this number can send; the message will be retried shortly.".into()
            }
            GraphError::Http { status } => {
                format!("Meta refused the request (HTTP {status}). Check the message and try again.")
            }
            GraphError::NotSent(_) => {
                "Could not reach Meta. Check the internet connection; the message will be retried.".into()
            }
            GraphError::Transport(_) => "The connection to Meta broke before it answered, so this \
                message may or may not have been sent. Check the conversation before sending it again."
                .into(),
            GraphError::Decode(_) => "Meta's answer could not be understood, so this message may \
                or may not have been sent. Check the conversation before sending it again."
                .into(),
            GraphError::InvalidInput(why) => format!("This message cannot be sent: {why}."),
            GraphError::Config(why) => format!("The channel is misconfigured ({why}). Check it in Settings."),
            GraphError::MediaTooLarge { size, limit } => format!(
                "The file is too large ({} MB; the limit is {} MB). Send a smaller file.",
                size.div_ceil(1024 * 1024),
                limit / (1024 * 1024)
            ),
            GraphError::MediaChecksum => "The file arrived damaged (its checksum does not match); it will be downloaded again.".into(),
            GraphError::OutsideWindow(why) => format!("This message cannot be sent: {why}."),
        }
    }
}

fn class_for_status(status: u16) -> RetryClass {
    match status {
        401 | 403 => RetryClass::Reconnect,
        408 | 429 => RetryClass::RetryLater,
        s if s >= 500 => RetryClass::RetryLater,
        _ => RetryClass::FixInput,
    }
}

/// Instagram's "outside the allowed window" is code 10 with this subcode;
/// plain code 10 is a permission problem.
const IG_OUTSIDE_WINDOW_SUBCODE: i64 = 2018278;

fn classify(e: &MetaApiError) -> RetryClass {
    use RetryClass::*;
    match (e.code, e.subcode) {
        (10, Some(IG_OUTSIDE_WINDOW_SUBCODE)) => WaitForCustomer,
        // Token expired or revoked, missing permissions, account locked,
        // restricted, unpaid or unregistered: only an administrator helps.
        (
            0 | 3 | 10 | 102 | 190 | 200..=299 | 368 | 131031 | 131042 | 131045 | 131037 | 133010,
            _,
        ) => Reconnect,
        // The customer-service window is closed, or the customer opted out.
        (131047 | 131050 | 130472, _) => WaitForCustomer,
        // Throughput, pair, spam and account rate limits; Meta holding back.
        (4 | 17 | 32 | 341 | 613 | 80007 | 130429 | 131048 | 131049 | 131056 | 132069, _) => {
            RetryLater
        }
        // Meta-side trouble.
        (1 | 2 | 131000 | 131016 | 131057, _) => RetryLater,
        // Undeliverable, bad parameters, media problems, template mistakes.
        (100 | 131008 | 131009 | 131021 | 131026 | 131051 | 131052 | 131053 | 131062, _) => {
            FixInput
        }
        (132000..=132999, _) => FixInput,
        _ => class_for_status(e.http_status),
    }
}

const WINDOW_CLOSED: &str = "It has been more than 24 hours since the customer last wrote; \
send an approved template instead, or wait for them to write.";

fn meta_message(e: &MetaApiError) -> String {
    let words = e.words().trim().trim_end_matches('.');
    if e.code == 10 && e.subcode == Some(IG_OUTSIDE_WINDOW_SUBCODE) {
        return WINDOW_CLOSED.into();
    }
    match e.code {
        190 | 102 | 0 => "The access token for this channel has expired or was revoked. Reconnect the channel in Settings.".into(),
        3 | 10 | 200..=299 => "This channel's token lacks a permission Meta requires. Reconnect the channel and grant all requested permissions.".into(),
        131047 => WINDOW_CLOSED.into(),
        131050 => "The customer has stopped marketing messages from this business; wait for them to write.".into(),
        130472 => "Meta held this message back for a marketing experiment on the customer's number; try again after they write.".into(),
        130429 => "This number is sending faster than Meta allows; the message will be retried shortly.".into(),
        131056 => "Too many messages to this customer in a short time; the message will be retried in a few seconds.".into(),
        80007 | 4 | 17 | 32 | 613 | 341 | 132069 => "Meta's rate limit for this account was reached; the message will be retried in a minute or so.".into(),
        131048 => "Meta is limiting this number because recent messages were reported or blocked; the message will be retried later. Review message quality in WhatsApp Manager.".into(),
        131049 => "Meta chose not to deliver this message to protect the customer's experience; try again later or send something else.".into(),
        131026 => "The message could not be delivered: the number may not be on WhatsApp, or the customer's app is outdated. Check the number or reach the customer another way.".into(),
        131051 => "WhatsApp does not support this message type. Send it as text or another type.".into(),
        131052 | 131053 => format!("The attachment could not be processed ({words}). Check the file's type and size."),
        131062 => "This message type cannot be sent to a customer known only by their user id; it needs their phone number.".into(),
        131021 => "The recipient is the business's own number. Choose a customer's number.".into(),
        132000 => "The number of template variables does not match the template. Fill in every variable exactly once.".into(),
        132001 => "That template does not exist in that language, or is not approved yet. Pick an approved template.".into(),
        132005 => "The template text is too long once the variables are filled in. Shorten the variables.".into(),
        132007 => "The template's content breaks WhatsApp's formatting policy. Edit the variables or choose another template.".into(),
        132012 => "A template variable has the wrong format for the template. Check the variables.".into(),
        132015 => "That template is paused because of low quality. Choose another template.".into(),
        132016 => "That template has been disabled by Meta. Choose another template.".into(),
        c if (132000..=132999).contains(&c) => format!("The template could not be sent: {words}. Check the template and its variables."),
        100 | 131008 | 131009 => format!("Meta rejected a value in this message: {words}. Check the message and try again."),
        131031 | 368 => "The WhatsApp Business Account is locked or restricted by Meta. An administrator must resolve it in WhatsApp Manager.".into(),
        131042 => "There is a billing problem with the WhatsApp Business Account. An administrator must fix the payment method in Meta's Business tools.".into(),
        133010 => "This phone number is not registered with the WhatsApp Cloud API. An administrator must register it.".into(),
        131000 | 131016 | 131057 | 1 | 2 => "Meta is having a temporary problem; the message will be retried shortly.".into(),
        _ => match classify(e) {
            RetryClass::RetryLater => format!("Meta could not take the message right now ({words}); it will be retried."),
            RetryClass::Reconnect => format!("Meta rejected this channel's access ({words}). Reconnect the channel in Settings."),
            RetryClass::WaitForCustomer => format!("Meta will not deliver this until the customer writes again ({words})."),
            RetryClass::FixInput => format!("Meta refused the message ({words}). Change it and try again."),
        },
    }
}

/// A sentence for a failure Meta reported in a `failed` status webhook: the
/// message was accepted earlier and then could not be delivered, so nothing
/// retries it by itself.
pub fn explain_delivery_failure(code: i64, title: Option<&str>, details: Option<&str>) -> String {
    let error = MetaApiError {
        http_status: 200,
        code,
        subcode: None,
        message: title.unwrap_or_default().to_owned(),
        details: details.map(str::to_owned),
        fbtrace_id: None,
    };
    match classify(&error) {
        // The retry wording of the send path would promise a retry that
        // will not happen.
        RetryClass::RetryLater => {
            let words = error.words().trim().trim_end_matches('.');
            if words.is_empty() {
                format!("WhatsApp could not deliver this message (error {code}). Try sending it again later.")
            } else {
                format!("WhatsApp could not deliver this message ({words}). Try sending it again later.")
            }
        }
        _ => meta_message(&error),
    }
}

/// Wait before retry number `attempt` (0-based): exponential from 1 s,
/// capped at 5 minutes, with "equal jitter" (half fixed, half random) so a
/// broadcast's many failed sends do not retry in lockstep.
pub fn backoff(attempt: u32) -> Duration {
    use rand::Rng;
    const BASE_MS: u64 = 1_000;
    const CAP_MS: u64 = 300_000;
    let ceiling = BASE_MS.saturating_mul(1u64 << attempt.min(20)).min(CAP_MS);
    let half = ceiling / 2;
    Duration::from_millis(half + rand::thread_rng().gen_range(0..=half))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(code: i64) -> GraphError {
        GraphError::Meta(MetaApiError {
            http_status: 400,
            code,
            subcode: None,
            message: "m".into(),
            details: None,
            fbtrace_id: None,
        })
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 0..40 {
            let d = backoff(attempt);
            let ceiling = Duration::from_millis((1_000u64 << attempt.min(20)).min(300_000));
            assert!(d >= ceiling / 2 && d <= ceiling, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn retry_after_respects_pair_and_account_limits() {
        assert!(meta(131056).retry_after(0).unwrap() >= Duration::from_secs(6));
        assert!(meta(80007).retry_after(0).unwrap() >= Duration::from_secs(60));
        assert!(meta(130429).retry_after(0).unwrap() <= Duration::from_secs(1));
        assert_eq!(meta(131047).retry_after(0), None);
    }

    #[test]
    fn instagram_window_subcode() {
        let e = GraphError::Meta(MetaApiError {
            http_status: 400,
            code: 10,
            subcode: Some(IG_OUTSIDE_WINDOW_SUBCODE),
            message: "(#10) This message is sent outside of allowed window.".into(),
            details: None,
            fbtrace_id: None,
        });
        assert_eq!(e.retry_class(), RetryClass::WaitForCustomer);
        assert!(e.user_message().contains("24 hours"));
        assert_eq!(meta(10).retry_class(), RetryClass::Reconnect);
    }

    #[test]
    fn unknown_codes_fall_back_to_http_status() {
        let mut e = MetaApiError {
            http_status: 503,
            code: 999_999,
            subcode: None,
            message: "x".into(),
            details: None,
            fbtrace_id: None,
        };
        assert_eq!(GraphError::Meta(e.clone()).retry_class(), RetryClass::RetryLater);
        e.http_status = 400;
        assert_eq!(GraphError::Meta(e).retry_class(), RetryClass::FixInput);
    }
}
