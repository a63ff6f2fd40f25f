//! First run and channels: the "Connect your business" form's request and
//! its validation (shared by the UI's live checks and the shell's re-check),
//! and what the Channels screen shows, with the words for Meta's quality
//! ratings and messaging-limit tiers.
//!
//! Formats, from Meta's documentation: Graph object ids (WhatsApp Business
//! Account, phone number, Instagram account) are numeric ids of a 64-bit
//! integer, so digits only and at most 20 of them; a phone number *id* is the
//! 15–16 digit number WhatsApp Manager shows next to the number, not the
//! number itself. Lengths are not fixed by the docs beyond that, so they are
//! not checked more tightly. Access tokens are opaque; only whitespace and
//! control characters are refused.

use serde::{Deserialize, Serialize};

use crate::{AppInfo, SyncState};

/// The form of "Connect your business". `Debug` never prints the token.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectRequest {
    pub waba_id: String,
    pub phone_number_id: String,
    pub access_token: String,
    pub relay_url: String,
    pub enrollment_code: String,
    /// Empty when the business has no Instagram account to connect.
    #[serde(default)]
    pub instagram_account_id: String,
}

impl std::fmt::Debug for ConnectRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectRequest")
            .field("waba_id", &self.waba_id)
            .field("phone_number_id", &self.phone_number_id)
            .field("access_token", &"<redacted>")
            .field("relay_url", &self.relay_url)
            .field("enrollment_code", &"<redacted>")
            .field("instagram_account_id", &self.instagram_account_id)
            .finish()
    }
}

/// A field of the form, so an error shows next to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectField {
    WabaId,
    PhoneNumberId,
    AccessToken,
    RelayUrl,
    EnrollmentCode,
    InstagramAccountId,
}

impl ConnectField {
    pub const ALL: [ConnectField; 6] = [
        ConnectField::WabaId,
        ConnectField::PhoneNumberId,
        ConnectField::AccessToken,
        ConnectField::RelayUrl,
        ConnectField::EnrollmentCode,
        ConnectField::InstagramAccountId,
    ];

    /// The field's label in the form.
    pub fn label(self) -> &'static str {
        match self {
            ConnectField::WabaId => "WhatsApp Business Account id",
            ConnectField::PhoneNumberId => "Phone number id",
            ConnectField::AccessToken => "Access token",
            ConnectField::RelayUrl => "Relay address",
            ConnectField::EnrollmentCode => "Enrollment code",
            ConnectField::InstagramAccountId => "Instagram account id (optional)",
        }
    }

    /// Stable name for element ids and test hooks.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectField::WabaId => "waba_id",
            ConnectField::PhoneNumberId => "phone_number_id",
            ConnectField::AccessToken => "access_token",
            ConnectField::RelayUrl => "relay_url",
            ConnectField::EnrollmentCode => "enrollment_code",
            ConnectField::InstagramAccountId => "instagram_account_id",
        }
    }
}

/// A sentence saying what to fix, for one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: ConnectField,
    pub message: String,
}

impl FieldError {
    pub fn new(field: ConnectField, message: impl Into<String>) -> FieldError {
        FieldError { field, message: message.into() }
    }
}

/// The answer of `connect_business`. A refusal names the fields to fix;
/// failures that are no field's (the keyring, the disk) are `IpcError`s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ConnectOutcome {
    /// The account profile runs now; the UI reloads its state.
    Connected {
        info: AppInfo,
    },
    Refused {
        errors: Vec<FieldError>,
    },
}

/// The most digits a Graph id (a 64-bit integer) has.
const MAX_ID_DIGITS: usize = 20;

fn looks_like_a_phone_number(value: &str) -> bool {
    value.starts_with('+') || value.contains([' ', '-', '(', ')'])
}

fn graph_id(value: &str, what: &str, where_to_find: &str) -> Result<(), String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(format!("Enter the {what}; {where_to_find}."));
    }
    if !value.bytes().all(|b| b.is_ascii_digit()) || value.len() > MAX_ID_DIGITS {
        return Err(format!(
            "The {what} is a number of up to {MAX_ID_DIGITS} digits with nothing else in it; \
             {where_to_find}."
        ));
    }
    Ok(())
}

pub fn check_waba_id(value: &str) -> Result<(), String> {
    graph_id(
        value,
        "WhatsApp Business Account id",
        "copy it from WhatsApp Manager → Account tools → Phone numbers, or from the app's \
         WhatsApp → API Setup page in the Meta developer dashboard",
    )
}

pub fn check_phone_number_id(value: &str) -> Result<(), String> {
    const HINT: &str = "A phone number id is the 15–16 digit number shown in WhatsApp Manager → \
                        Phone numbers (and on the app's WhatsApp → API Setup page), not the \
                        phone number itself";
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(format!("Enter the phone number id. {HINT}."));
    }
    if looks_like_a_phone_number(trimmed) {
        return Err(format!("This looks like a phone number. {HINT}."));
    }
    if !trimmed.bytes().all(|b| b.is_ascii_digit()) || trimmed.len() > MAX_ID_DIGITS {
        return Err(format!("{HINT}; it has digits only."));
    }
    Ok(())
}

pub fn check_access_token(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("Enter the access token: a permanent System User token with the \
                    whatsapp_business_messaging and whatsapp_business_management permissions, \
                    from Meta Business Settings → System users → Generate new token."
            .into());
    }
    if value.trim().chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(
            "An access token has no spaces or line breaks; copy it again in one piece.".into()
        );
    }
    Ok(())
}

/// `https://`, or `http://` only to this computer (`localhost`, `127.x`,
/// `[::1]`): webhooks carry customer data. The core checks again with a full
/// URL parser (`relay_client::check_relay_url`) before it connects.
pub fn check_relay_url(value: &str) -> Result<(), String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("Enter the relay address your administrator gave you, for example \
                    https://relay.example.com."
            .into());
    }
    let lower = value.to_ascii_lowercase();
    let (https, rest) = if let Some(rest) = lower.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = lower.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err("The relay address starts with https://, for example \
                    https://relay.example.com."
            .into());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or("");
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(
            "The relay address needs a host name, for example https://relay.example.com.".into()
        );
    }
    let loopback = host == "localhost" || host == "::1" || host.starts_with("127.");
    if !https && !loopback {
        return Err("The relay address must start with https:// so messages never cross the \
                    network unencrypted (http:// is allowed only for this computer)."
            .into());
    }
    Ok(())
}

pub fn check_enrollment_code(value: &str) -> Result<(), String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("Enter the one-time enrollment code your relay administrator issued \
                    (parley-relay issue-code)."
            .into());
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("An enrollment code has no spaces; copy it again in one piece.".into());
    }
    Ok(())
}

/// Optional: empty is fine.
pub fn check_instagram_account_id(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Ok(());
    }
    graph_id(
        value,
        "Instagram account id",
        "it is the numeric id of the Instagram professional account (Meta Business Settings → \
         Instagram accounts), not the @username",
    )
}

/// The check of one field.
pub fn check_field(request: &ConnectRequest, field: ConnectField) -> Result<(), String> {
    match field {
        ConnectField::WabaId => check_waba_id(&request.waba_id),
        ConnectField::PhoneNumberId => check_phone_number_id(&request.phone_number_id),
        ConnectField::AccessToken => check_access_token(&request.access_token),
        ConnectField::RelayUrl => check_relay_url(&request.relay_url),
        ConnectField::EnrollmentCode => check_enrollment_code(&request.enrollment_code),
        ConnectField::InstagramAccountId => {
            check_instagram_account_id(&request.instagram_account_id)
        }
    }
}

/// Every field's error, in form order; empty when the form may be sent.
pub fn validate_connect(request: &ConnectRequest) -> Vec<FieldError> {
    ConnectField::ALL
        .into_iter()
        .filter_map(|field| check_field(request, field).err().map(|m| FieldError::new(field, m)))
        .collect()
}

/// The request with surrounding whitespace removed (what is sent and saved).
pub fn trimmed(request: &ConnectRequest) -> ConnectRequest {
    ConnectRequest {
        waba_id: request.waba_id.trim().to_owned(),
        phone_number_id: request.phone_number_id.trim().to_owned(),
        access_token: request.access_token.trim().to_owned(),
        relay_url: request.relay_url.trim().trim_end_matches('/').to_owned(),
        enrollment_code: request.enrollment_code.trim().to_owned(),
        instagram_account_id: request.instagram_account_id.trim().to_owned(),
    }
}

// ------------------------------------------------------------ channels

/// How a channel is doing, for the Channels screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ChannelHealth {
    Online,
    Connecting,
    Reconnecting {
        reason: String,
    },
    Offline {
        reason: String,
    },
    /// Meta refused the token (code 190): only a new token helps.
    TokenExpired {
        reason: String,
    },
}

impl ChannelHealth {
    /// The channel's state from the sync state and the last Graph error
    /// code (`None` when the last call succeeded).
    pub fn derive(sync: &SyncState, graph_error: Option<(i64, String)>) -> ChannelHealth {
        if let Some((code, reason)) = graph_error {
            if matches!(code, 190 | 102) {
                return ChannelHealth::TokenExpired { reason };
            }
        }
        match sync {
            SyncState::Running => ChannelHealth::Online,
            SyncState::Idle | SyncState::Connecting => ChannelHealth::Connecting,
            SyncState::Offline { reason, .. } => {
                ChannelHealth::Reconnecting { reason: reason.clone() }
            }
            SyncState::Error { reason } => ChannelHealth::Offline { reason: reason.clone() },
        }
    }

    /// Stable name for `data-state` and styling.
    pub fn as_str(&self) -> &'static str {
        match self {
            ChannelHealth::Online => "online",
            ChannelHealth::Connecting => "connecting",
            ChannelHealth::Reconnecting { .. } => "reconnecting",
            ChannelHealth::Offline { .. } => "offline",
            ChannelHealth::TokenExpired { .. } => "token_expired",
        }
    }

    /// What the screen says about it.
    pub fn words(&self) -> String {
        match self {
            ChannelHealth::Online => "Online, syncing".into(),
            ChannelHealth::Connecting => "Connecting…".into(),
            ChannelHealth::Reconnecting { reason } => format!("Reconnecting: {reason}"),
            ChannelHealth::Offline { reason } => format!("Offline: {reason}"),
            ChannelHealth::TokenExpired { reason } => format!("Access token refused: {reason}"),
        }
    }
}

/// One channel (the WhatsApp number, or the Instagram account) as the
/// Channels screen shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelStatus {
    pub kind: crate::ChannelKind,
    /// The phone number id or the Instagram account id.
    pub id: String,
    pub health: ChannelHealth,
    pub display_phone_number: Option<String>,
    pub verified_name: Option<String>,
    /// `GREEN`, `YELLOW`, `RED`, `UNKNOWN`.
    pub quality_rating: Option<String>,
    /// `TIER_250`, `TIER_1K`, `TIER_2K`, `TIER_10K`, `TIER_100K`, `TIER_UNLIMITED`.
    pub messaging_limit_tier: Option<String>,
    /// `VERIFIED`, `NOT_VERIFIED`, `EXPIRED`.
    pub code_verification_status: Option<String>,
    /// Why the number's details could not be fetched, as a sentence.
    pub details_error: Option<String>,
}

/// Request of `update_access_token`. `Debug` never prints the token.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateTokenRequest {
    pub access_token: String,
}

impl std::fmt::Debug for UpdateTokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UpdateTokenRequest { access_token: <redacted> }")
    }
}

/// A quality rating in words, and the class that colours it.
pub fn quality_words(rating: &str) -> (&'static str, &'static str) {
    match rating.to_ascii_uppercase().as_str() {
        "GREEN" => ("High quality", "quality-green"),
        "YELLOW" => ("Medium quality", "quality-yellow"),
        "RED" => ("Low quality", "quality-red"),
        _ => ("Quality not rated yet", "quality-unknown"),
    }
}

/// A messaging-limit tier in words: `TIER_1K` → "1,000 customers per day".
pub fn tier_words(tier: &str) -> String {
    let upper = tier.trim().to_ascii_uppercase();
    let Some(rest) = upper.strip_prefix("TIER_") else {
        return format!("Messaging limit: {tier}");
    };
    if rest == "UNLIMITED" {
        return "Unlimited customers per day".into();
    }
    let (digits, factor) = match rest.strip_suffix('K') {
        Some(d) => (d, 1_000u64),
        None => match rest.strip_suffix('M') {
            Some(d) => (d, 1_000_000),
            None => (rest, 1),
        },
    };
    match digits.parse::<u64>() {
        Ok(n) => format!("{} customers per day", group_thousands(n.saturating_mul(factor))),
        Err(_) => format!("Messaging limit: {tier}"),
    }
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> ConnectRequest {
        ConnectRequest {
            waba_id: "200000000000001".into(),
            phone_number_id: "100000000000001".into(),
            access_token: "EAAGm0PX4ZCpsBA".into(),
            relay_url: "https://relay.example.com".into(),
            enrollment_code: "3f9a1c".into(),
            instagram_account_id: String::new(),
        }
    }

    #[test]
    fn a_complete_form_passes() {
        assert_eq!(validate_connect(&good()), vec![]);
        let with_ig = ConnectRequest { instagram_account_id: "17841400000000001".into(), ..good() };
        assert_eq!(validate_connect(&with_ig), vec![]);
    }

    #[test]
    fn each_error_is_on_its_field() {
        let empty = ConnectRequest::default();
        let fields: Vec<_> = validate_connect(&empty).into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            vec![
                ConnectField::WabaId,
                ConnectField::PhoneNumberId,
                ConnectField::AccessToken,
                ConnectField::RelayUrl,
                ConnectField::EnrollmentCode,
            ],
            "the Instagram id is optional"
        );
    }

    #[test]
    fn a_phone_number_in_the_id_field_is_explained() {
        for number in ["+1 555 000 1000", "+15550001000", "(555) 000-1000"] {
            let e = check_phone_number_id(number).unwrap_err();
            assert!(e.contains("looks like a phone number"), "{e}");
            assert!(e.contains("15–16 digit number shown in WhatsApp Manager"), "{e}");
        }
        assert!(check_phone_number_id("10000000000000a").unwrap_err().contains("digits only"));
        assert!(check_phone_number_id(" 100000000000001 ").is_ok());
        assert!(check_phone_number_id("123456789012345678901").is_err(), "21 digits");
    }

    #[test]
    fn ids_are_digits_only() {
        assert!(check_waba_id("200000000000001").is_ok());
        assert!(check_waba_id("waba-1").unwrap_err().contains("digits"));
        assert!(check_instagram_account_id("").is_ok());
        assert!(check_instagram_account_id("@parley").unwrap_err().contains("not the @username"));
    }

    #[test]
    fn tokens_and_codes_refuse_spaces() {
        assert!(check_access_token("abc def").unwrap_err().contains("no spaces"));
        assert!(check_access_token("  ").unwrap_err().contains("System User token"));
        assert!(check_access_token(" EAAB ").is_ok(), "surrounding spaces are trimmed");
        assert!(check_enrollment_code("ab cd").is_err());
        assert!(check_enrollment_code("abcd").is_ok());
    }

    #[test]
    fn the_relay_must_be_https_except_on_this_computer() {
        assert!(check_relay_url("https://relay.example.com").is_ok());
        assert!(check_relay_url("HTTPS://relay.example.com:8443/").is_ok());
        assert!(check_relay_url("http://127.0.0.1:8080").is_ok());
        assert!(check_relay_url("http://localhost:1").is_ok());
        assert!(check_relay_url("http://[::1]:8080").is_ok());
        let e = check_relay_url("http://relay.example.com").unwrap_err();
        assert!(e.contains("https://"), "{e}");
        assert!(check_relay_url("http://127.0.0.1.evil.com@relay.example.com").is_err());
        assert!(check_relay_url("relay.example.com").unwrap_err().contains("starts with"));
        assert!(check_relay_url("https://").unwrap_err().contains("host name"));
        assert!(check_relay_url("ftp://relay").is_err());
    }

    #[test]
    fn debug_never_prints_the_token() {
        let text = format!("{:?}", good());
        assert!(!text.contains("EAAGm0PX4ZCpsBA") && !text.contains("3f9a1c"), "{text}");
        let text = format!("{:?}", UpdateTokenRequest { access_token: "EAAsecret".into() });
        assert!(!text.contains("EAAsecret"));
    }

    #[test]
    fn trimming_keeps_values_and_drops_a_trailing_slash() {
        let t = trimmed(&ConnectRequest {
            relay_url: " https://relay.example.com/ ".into(),
            access_token: " EAAB\n".into(),
            ..good()
        });
        assert_eq!(t.relay_url, "https://relay.example.com");
        assert_eq!(t.access_token, "EAAB");
    }

    #[test]
    fn tiers_in_words() {
        assert_eq!(tier_words("TIER_1K"), "1,000 customers per day");
        assert_eq!(tier_words("TIER_2K"), "2,000 customers per day");
        assert_eq!(tier_words("TIER_250"), "250 customers per day");
        assert_eq!(tier_words("TIER_100K"), "100,000 customers per day");
        assert_eq!(tier_words("TIER_UNLIMITED"), "Unlimited customers per day");
        assert_eq!(tier_words("SOMETHING"), "Messaging limit: SOMETHING");
    }

    #[test]
    fn quality_in_words_and_colour() {
        assert_eq!(quality_words("GREEN"), ("High quality", "quality-green"));
        assert_eq!(quality_words("YELLOW"), ("Medium quality", "quality-yellow"));
        assert_eq!(quality_words("RED"), ("Low quality", "quality-red"));
        assert_eq!(quality_words("UNKNOWN").1, "quality-unknown");
    }

    #[test]
    fn health_prefers_a_refused_token_over_the_sync_state() {
        let expired = ChannelHealth::derive(&SyncState::Running, Some((190, "expired".into())));
        assert_eq!(expired.as_str(), "token_expired");
        assert_eq!(ChannelHealth::derive(&SyncState::Running, None), ChannelHealth::Online);
        let offline = SyncState::Offline { reason: "no network".into(), retry_in_secs: 5 };
        assert_eq!(ChannelHealth::derive(&offline, Some((1, "x".into()))).as_str(), "reconnecting");
        let error = SyncState::Error { reason: "revoked".into() };
        assert_eq!(ChannelHealth::derive(&error, None).words(), "Offline: revoked");
    }
}
