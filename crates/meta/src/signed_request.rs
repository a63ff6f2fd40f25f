//! Meta's `signed_request`, as posted to the data-deletion callback.
//!
//! The form field is `<signature>.<payload>`, both base64url. The signature
//! is HMAC-SHA256 over the *encoded* payload text (not the decoded JSON) with
//! the app secret. The payload is JSON carrying at least `algorithm`
//! (always `HMAC-SHA256`) and `user_id`, the app-scoped id of the person who
//! asked for their data to be deleted.
//!
//! As with webhook signatures, nothing is decoded as JSON until the MAC
//! holds, and the MAC is compared in constant time.

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The only algorithm Meta uses, and the only one accepted.
pub const ALGORITHM: &str = "HMAC-SHA256";

/// Longest `signed_request` accepted. Real ones are a few hundred bytes;
/// the cap keeps a forged megabyte from being MACed with every secret.
pub const MAX_LEN: usize = 8 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignedRequestError {
    #[error("the signed_request is not of the form <signature>.<payload>")]
    Malformed,
    #[error("the signed_request is longer than {MAX_LEN} bytes")]
    TooLong,
    #[error("the signed_request signature does not match the app secret")]
    Mismatch,
    #[error("the signed_request payload is not valid JSON: {0}")]
    Payload(String),
    #[error("the signed_request algorithm {0:?} is not HMAC-SHA256")]
    Algorithm(String),
    #[error("the signed_request carries no user_id")]
    NoUser,
}

/// The verified payload. Only the fields the relay acts on are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// The app-scoped user id whose data is to be deleted.
    pub user_id: String,
    /// Seconds since the epoch, when Meta issued the request, if present.
    pub issued_at: Option<i64>,
}

#[derive(Deserialize)]
struct RawPayload {
    algorithm: Option<String>,
    user_id: Option<serde_json::Value>,
    issued_at: Option<i64>,
}

/// Meta omits base64 padding; tolerate it anyway.
fn b64url(s: &str) -> Result<Vec<u8>, SignedRequestError> {
    let s = s.trim();
    let engine = if s.ends_with('=') { &URL_SAFE } else { &URL_SAFE_NO_PAD };
    engine.decode(s).map_err(|_| SignedRequestError::Malformed)
}

/// The split and decoded MAC, before any secret is tried. Parsing once lets a
/// caller try several app secrets cheaply.
#[derive(Debug, Clone)]
pub struct Parsed<'a> {
    mac: [u8; 32],
    encoded_payload: &'a str,
}

/// Split `signed_request` and decode its MAC. Nothing of the payload is
/// interpreted yet.
pub fn parse(signed_request: &str) -> Result<Parsed<'_>, SignedRequestError> {
    if signed_request.len() > MAX_LEN {
        return Err(SignedRequestError::TooLong);
    }
    let (sig, payload) =
        signed_request.trim().split_once('.').ok_or(SignedRequestError::Malformed)?;
    if sig.is_empty() || payload.is_empty() {
        return Err(SignedRequestError::Malformed);
    }
    let mac: [u8; 32] = b64url(sig)?.try_into().map_err(|_| SignedRequestError::Malformed)?;
    Ok(Parsed { mac, encoded_payload: payload.trim() })
}

impl Parsed<'_> {
    /// Whether `app_secret` produced this MAC, in constant time.
    pub fn signed_by(&self, app_secret: &[u8]) -> bool {
        let mut mac =
            HmacSha256::new_from_slice(app_secret).expect("HMAC accepts keys of any length");
        mac.update(self.encoded_payload.as_bytes());
        mac.verify_slice(&self.mac).is_ok()
    }

    /// Decode the payload. Call only after [`Parsed::signed_by`] held.
    pub fn payload(&self) -> Result<SignedRequest, SignedRequestError> {
        let json = b64url(self.encoded_payload)?;
        let raw: RawPayload = serde_json::from_slice(&json)
            .map_err(|e| SignedRequestError::Payload(e.to_string()))?;
        match raw.algorithm.as_deref() {
            Some(a) if a.eq_ignore_ascii_case(ALGORITHM) => {}
            other => return Err(SignedRequestError::Algorithm(other.unwrap_or("").to_owned())),
        }
        // Ids are strings in Meta's payloads, but accept a number too so an
        // exact match on the digits still works.
        let user_id = match raw.user_id {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => return Err(SignedRequestError::NoUser),
        };
        Ok(SignedRequest { user_id, issued_at: raw.issued_at })
    }
}

/// Verify `signed_request` with one app secret and return its payload.
pub fn verify(
    signed_request: &str,
    app_secret: &[u8],
) -> Result<SignedRequest, SignedRequestError> {
    let parsed = parse(signed_request)?;
    if !parsed.signed_by(app_secret) {
        return Err(SignedRequestError::Mismatch);
    }
    parsed.payload()
}

/// Build a `signed_request` the way Meta does: for tests and the sandbox.
pub fn sign(payload: &serde_json::Value, app_secret: &[u8]) -> String {
    let encoded = URL_SAFE_NO_PAD.encode(payload.to_string());
    let mut mac = HmacSha256::new_from_slice(app_secret).expect("HMAC accepts keys of any length");
    mac.update(encoded.as_bytes());
    format!("{}.{encoded}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload(user: &str) -> serde_json::Value {
        json!({"algorithm": "HMAC-SHA256", "expires": 0, "issued_at": 1_700_000_000, "user_id": user})
    }

    #[test]
    fn a_correctly_signed_request_verifies() {
        let sr = sign(&payload("1234567890"), b"app-secret");
        let v = verify(&sr, b"app-secret").unwrap();
        assert_eq!(v.user_id, "1234567890");
        assert_eq!(v.issued_at, Some(1_700_000_000));
    }

    #[test]
    fn padding_is_tolerated() {
        let sr = sign(&payload("42"), b"s");
        let (sig, body) = sr.split_once('.').unwrap();
        let pad = |s: &str| format!("{s}{}", "=".repeat((4 - s.len() % 4) % 4));
        assert_eq!(verify(&format!("{}.{}", pad(sig), body), b"s").unwrap().user_id, "42");
    }

    #[test]
    fn forged_tampered_and_malformed_requests_fail() {
        let sr = sign(&payload("1"), b"right");
        assert_eq!(verify(&sr, b"wrong"), Err(SignedRequestError::Mismatch));
        // Swap in another user's payload under the old signature.
        let other = sign(&payload("2"), b"right");
        let forged =
            format!("{}.{}", sr.split_once('.').unwrap().0, other.split_once('.').unwrap().1);
        assert_eq!(verify(&forged, b"right"), Err(SignedRequestError::Mismatch));
        for bad in ["", "abc", ".", "abc.", ".abc", "!!!.abc", "YWJj.abc"] {
            assert_eq!(verify(bad, b"right"), Err(SignedRequestError::Malformed), "{bad:?}");
        }
        assert_eq!(verify(&"a".repeat(MAX_LEN + 1), b"right"), Err(SignedRequestError::TooLong));
    }

    #[test]
    fn the_algorithm_and_user_are_required() {
        let no_alg = sign(&json!({"user_id": "1"}), b"s");
        assert!(matches!(verify(&no_alg, b"s"), Err(SignedRequestError::Algorithm(_))));
        let md5 = sign(&json!({"algorithm": "HMAC-MD5", "user_id": "1"}), b"s");
        assert!(matches!(verify(&md5, b"s"), Err(SignedRequestError::Algorithm(_))));
        let no_user = sign(&json!({"algorithm": "HMAC-SHA256"}), b"s");
        assert_eq!(verify(&no_user, b"s"), Err(SignedRequestError::NoUser));
        let numeric = sign(&json!({"algorithm": "HMAC-SHA256", "user_id": 77}), b"s");
        assert_eq!(verify(&numeric, b"s").unwrap().user_id, "77");
    }
}
