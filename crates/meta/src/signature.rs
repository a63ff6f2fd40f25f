//! `X-Hub-Signature-256`: HMAC-SHA256 of the raw request body with the app
//! secret, sent as `sha256=<lowercase hex>`.
//!
//! Verification works on the bytes exactly as received. Re-serialising the
//! JSON first would change whitespace or escapes and break the MAC, and
//! parsing before verifying would let forged input reach the parser.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header Meta signs webhook POSTs with.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Hub-Signature-256 header is missing")]
    Missing,
    #[error("the X-Hub-Signature-256 header is not of the form sha256=<64 hex digits>")]
    Malformed,
    #[error("the webhook signature does not match the app secret")]
    Mismatch,
}

/// The header value Meta would send for `body` signed with `app_secret`.
pub fn sign(app_secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(app_secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Parse the header into the 32 raw MAC bytes.
fn parse_header(header: &str) -> Result<[u8; 32], SignatureError> {
    let hex_part = header.trim().strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
    if hex_part.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut out).map_err(|_| SignatureError::Malformed)?;
    Ok(out)
}

/// Check `header` against the raw `body`, in constant time.
pub fn verify(app_secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let expected = parse_header(header.ok_or(SignatureError::Missing)?)?;
    let mut mac = HmacSha256::new_from_slice(app_secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify_round_trips() {
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let header = sign(b"secret", body);
        assert!(header.starts_with("sha256="));
        assert_eq!(header.len(), 7 + 64);
        assert_eq!(verify(b"secret", body, Some(&header)), Ok(()));
    }

    #[test]
    fn known_vector() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), RFC 4231 style check value.
        let h = sign(b"key", b"The quick brown fox jumps over the lazy dog");
        assert_eq!(h, "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
    }

    #[test]
    fn rejects_missing_malformed_and_forged() {
        let body = b"{}";
        assert_eq!(verify(b"s", body, None), Err(SignatureError::Missing));
        assert_eq!(verify(b"s", body, Some("sha1=abcd")), Err(SignatureError::Malformed));
        assert_eq!(verify(b"s", body, Some("sha256=zz")), Err(SignatureError::Malformed));
        let forged = sign(b"other secret", body);
        assert_eq!(verify(b"s", body, Some(&forged)), Err(SignatureError::Mismatch));
    }

    #[test]
    fn any_change_to_the_raw_bytes_breaks_the_signature() {
        let body = br#"{"a": 1}"#;
        let header = sign(b"s", body);
        // Same JSON value, different bytes: must fail.
        assert_eq!(verify(b"s", br#"{"a":1}"#, Some(&header)), Err(SignatureError::Mismatch));
    }

    #[test]
    fn uppercase_hex_is_accepted() {
        let body = b"x";
        let header = sign(b"s", body).to_uppercase().replace("SHA256=", "sha256=");
        assert_eq!(verify(b"s", body, Some(&header)), Ok(()));
    }
}
