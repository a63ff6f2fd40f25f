//! The "Connect your business" form's state and the Channels screen's words,
//! as plain Rust tested on the host. The checks themselves are
//! `parley_types::onboarding`'s, the same the shell runs again.

use std::collections::HashSet;

use parley_types::onboarding::{
    check_access_token, check_field, quality_words, tier_words, trimmed, validate_connect,
    ChannelHealth, ChannelStatus, ConnectField, ConnectRequest, FieldError,
};
use parley_types::ChannelKind;

/// Which step of the welcome screen shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WelcomeStep {
    /// "Try the sandbox" or "Connect your business".
    Choose,
    /// The form.
    Connect,
}

/// The form: what is typed, which fields were left, and what the shell
/// refused. A field's error shows once it was left or the form was sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnectForm {
    pub request: ConnectRequest,
    touched: HashSet<ConnectField>,
    submitted: bool,
    /// The shell's refusals, each until its field is edited.
    refused: Vec<FieldError>,
    pub busy: bool,
}

impl ConnectForm {
    pub fn value(&self, field: ConnectField) -> &str {
        let r = &self.request;
        match field {
            ConnectField::WabaId => &r.waba_id,
            ConnectField::PhoneNumberId => &r.phone_number_id,
            ConnectField::AccessToken => &r.access_token,
            ConnectField::RelayUrl => &r.relay_url,
            ConnectField::EnrollmentCode => &r.enrollment_code,
            ConnectField::InstagramAccountId => &r.instagram_account_id,
        }
    }

    /// Typing in a field: its refusal goes, its live check applies.
    pub fn set(&mut self, field: ConnectField, value: String) {
        let r = &mut self.request;
        let slot = match field {
            ConnectField::WabaId => &mut r.waba_id,
            ConnectField::PhoneNumberId => &mut r.phone_number_id,
            ConnectField::AccessToken => &mut r.access_token,
            ConnectField::RelayUrl => &mut r.relay_url,
            ConnectField::EnrollmentCode => &mut r.enrollment_code,
            ConnectField::InstagramAccountId => &mut r.instagram_account_id,
        };
        *slot = value;
        self.refused.retain(|e| e.field != field);
    }

    /// The field lost focus: from now on its errors show. True the first
    /// time (the view changes only then).
    pub fn leave(&mut self, field: ConnectField) -> bool {
        self.touched.insert(field)
    }

    /// The sentence under `field`, if any.
    pub fn error(&self, field: ConnectField) -> Option<String> {
        if let Some(e) = self.refused.iter().find(|e| e.field == field) {
            return Some(e.message.clone());
        }
        if self.submitted || self.touched.contains(&field) {
            return check_field(&self.request, field).err();
        }
        None
    }

    /// Send: the request to submit, or `None` when a field must be fixed
    /// first (every error shows then).
    pub fn submit(&mut self) -> Option<ConnectRequest> {
        self.submitted = true;
        if self.busy || !validate_connect(&self.request).is_empty() {
            return None;
        }
        self.busy = true;
        Some(trimmed(&self.request))
    }

    /// The shell refused: show each sentence on its field.
    pub fn refused(&mut self, errors: Vec<FieldError>) {
        self.busy = false;
        self.refused = errors;
    }

    /// The command failed without naming a field.
    pub fn failed(&mut self) {
        self.busy = false;
    }
}

/// The token field of "Update access token": the same check as the form.
pub fn token_error(token: &str) -> Option<String> {
    check_access_token(token).err()
}

/// What a channel card shows, as strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelView {
    pub title: String,
    pub state: &'static str,
    pub state_text: String,
    /// (words, css class), e.g. ("High quality", "quality-green").
    pub quality: Option<(&'static str, &'static str)>,
    pub tier: Option<String>,
    /// Display number and verified name, e.g. "+1 555 000 1000 · Parley Sandbox".
    pub number: Option<String>,
    pub details_error: Option<String>,
    /// The fix offered for the channel's problem.
    pub fix: Option<Fix>,
}

/// An action that fixes a channel's problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fix {
    UpdateToken,
    Reconnect,
}

impl Fix {
    pub fn label(self) -> &'static str {
        match self {
            Fix::UpdateToken => "Update access token",
            Fix::Reconnect => "Reconnect",
        }
    }
}

pub fn channel_view(c: &ChannelStatus) -> ChannelView {
    let title = match c.kind {
        ChannelKind::Whatsapp => "WhatsApp".to_owned(),
        ChannelKind::Instagram => "Instagram".to_owned(),
    };
    let number = match (&c.display_phone_number, &c.verified_name) {
        (Some(n), Some(v)) => Some(format!("{} · {v}", display_number(n))),
        (Some(n), None) => Some(display_number(n)),
        (None, Some(v)) => Some(v.clone()),
        (None, None) => None,
    };
    let fix = match &c.health {
        ChannelHealth::TokenExpired { .. } => Some(Fix::UpdateToken),
        ChannelHealth::Reconnecting { .. } | ChannelHealth::Offline { .. } => Some(Fix::Reconnect),
        ChannelHealth::Online | ChannelHealth::Connecting => None,
    };
    ChannelView {
        title,
        state: c.health.as_str(),
        state_text: c.health.words(),
        quality: c.quality_rating.as_deref().map(quality_words),
        tier: c.messaging_limit_tier.as_deref().map(tier_words),
        number,
        details_error: c.details_error.clone(),
        fix,
    }
}

/// Meta's display number as given ("15550001000") with a leading `+` when it
/// has none; nothing else is guessed about its grouping.
fn display_number(n: &str) -> String {
    let n = n.trim();
    if n.starts_with('+') || !n.starts_with(|c: char| c.is_ascii_digit()) {
        n.to_owned()
    } else {
        format!("+{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled() -> ConnectForm {
        let mut f = ConnectForm::default();
        f.set(ConnectField::WabaId, "200000000000001".into());
        f.set(ConnectField::PhoneNumberId, " 100000000000001".into());
        f.set(ConnectField::AccessToken, "EAAB".into());
        f.set(ConnectField::RelayUrl, "https://relay.example.com/".into());
        f.set(ConnectField::EnrollmentCode, "abc".into());
        f
    }

    #[test]
    fn errors_show_after_leaving_a_field_or_sending() {
        let mut f = ConnectForm::default();
        assert_eq!(f.error(ConnectField::PhoneNumberId), None, "not while untouched");
        f.set(ConnectField::PhoneNumberId, "+1 555".into());
        assert_eq!(f.error(ConnectField::PhoneNumberId), None);
        assert!(f.leave(ConnectField::PhoneNumberId));
        assert!(!f.leave(ConnectField::PhoneNumberId), "only the first time changes the view");
        assert!(f.error(ConnectField::PhoneNumberId).unwrap().contains("phone number itself"));
        assert_eq!(f.submit(), None);
        assert!(f.error(ConnectField::WabaId).is_some(), "every error shows after sending");
        assert_eq!(f.error(ConnectField::InstagramAccountId), None, "optional");
    }

    #[test]
    fn a_valid_form_is_sent_trimmed_once() {
        let mut f = filled();
        let sent = f.submit().unwrap();
        assert_eq!(sent.phone_number_id, "100000000000001");
        assert_eq!(sent.relay_url, "https://relay.example.com");
        assert!(f.busy);
        assert_eq!(f.submit(), None, "not twice while busy");
    }

    #[test]
    fn a_refusal_stays_on_its_field_until_edited() {
        let mut f = filled();
        f.submit().unwrap();
        f.refused(vec![FieldError::new(ConnectField::AccessToken, "Meta refused this token.")]);
        assert!(!f.busy);
        assert_eq!(f.error(ConnectField::AccessToken).as_deref(), Some("Meta refused this token."));
        assert_eq!(f.error(ConnectField::PhoneNumberId), None);
        f.set(ConnectField::AccessToken, "EAAC".into());
        assert_eq!(f.error(ConnectField::AccessToken), None);
    }

    fn status(health: ChannelHealth) -> ChannelStatus {
        ChannelStatus {
            kind: ChannelKind::Whatsapp,
            id: "100000000000001".into(),
            health,
            display_phone_number: Some("15550001000".into()),
            verified_name: Some("Parley Sandbox".into()),
            quality_rating: Some("GREEN".into()),
            messaging_limit_tier: Some("TIER_1K".into()),
            code_verification_status: Some("VERIFIED".into()),
            details_error: None,
        }
    }

    #[test]
    fn a_channel_in_words_with_its_fix() {
        let v = channel_view(&status(ChannelHealth::Online));
        assert_eq!(v.number.as_deref(), Some("+15550001000 · Parley Sandbox"));
        assert_eq!(v.quality, Some(("High quality", "quality-green")));
        assert_eq!(v.tier.as_deref(), Some("1,000 customers per day"));
        assert_eq!((v.state, v.fix), ("online", None));
        let v = channel_view(&status(ChannelHealth::TokenExpired { reason: "x".into() }));
        assert_eq!(v.fix, Some(Fix::UpdateToken));
        assert_eq!(Fix::UpdateToken.label(), "Update access token");
        let v = channel_view(&status(ChannelHealth::Reconnecting { reason: "gone".into() }));
        assert_eq!((v.state, v.fix), ("reconnecting", Some(Fix::Reconnect)));
        assert_eq!(v.state_text, "Reconnecting: gone");
    }

    #[test]
    fn the_token_field_uses_the_shared_check() {
        assert!(token_error("").is_some());
        assert!(token_error("a b").is_some());
        assert_eq!(token_error("EAAB"), None);
    }
}
