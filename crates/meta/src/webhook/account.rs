//! Typed views of the WhatsApp Business Account fields that are not inbox
//! traffic: template review and quality, account and phone-number changes.
//!
//! They stay [`WebhookEvent::Other`] in the event list (the core stores them
//! whole and a typed variant would break its exhaustive matches); this module
//! reads them on demand. Shapes follow Meta's webhook references for
//! `message_template_status_update`, `message_template_quality_update`,
//! `template_category_update`, `account_update` and
//! `phone_number_quality_update`. Every field is optional because Meta adds
//! and removes them between versions (e.g. `current_limit` is being replaced
//! by `max_daily_conversations_per_business`).

use super::json::{as_text, text};
use super::WebhookEvent;
use serde::Serialize;
use serde_json::Value;

/// A typed account-level change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AccountEvent {
    /// A template was approved, rejected, paused, disabled, ...
    TemplateStatus {
        template_id: Option<String>,
        name: Option<String>,
        language: Option<String>,
        /// `APPROVED`, `REJECTED`, `PENDING`, `PAUSED`, `DISABLED`, ...
        event: Option<String>,
        /// Why, for rejections (`INVALID_FORMAT`, `INCORRECT_CATEGORY`, ...).
        reason: Option<String>,
        category: Option<String>,
    },
    TemplateQuality {
        template_id: Option<String>,
        name: Option<String>,
        language: Option<String>,
        previous_score: Option<String>,
        new_score: Option<String>,
    },
    TemplateCategory {
        template_id: Option<String>,
        name: Option<String>,
        language: Option<String>,
        previous_category: Option<String>,
        new_category: Option<String>,
    },
    AccountUpdate {
        /// `VERIFIED_ACCOUNT`, `DISABLED_UPDATE`, `ACCOUNT_VIOLATION`, ...
        event: Option<String>,
        phone_number: Option<String>,
    },
    PhoneNumberQuality {
        display_phone_number: Option<String>,
        /// `FLAGGED`, `UNFLAGGED`, `UPGRADE`, `DOWNGRADE`, `ONBOARDING`, ...
        event: Option<String>,
        /// `TIER_250`, `TIER_2K`, ..., `TIER_UNLIMITED`.
        current_limit: Option<String>,
        old_limit: Option<String>,
        max_daily_conversations: Option<String>,
    },
}

impl AccountEvent {
    /// Read an account change. `raw` is the change object (`{field, value}`)
    /// as kept in [`WebhookEvent::Other`]; a bare `value` works too.
    pub fn from_change(field: &str, raw: &Value) -> Option<AccountEvent> {
        let v = raw.get("value").filter(|v| v.is_object()).unwrap_or(raw);
        let t = |key: &str| text(v, key);
        Some(match field {
            "message_template_status_update" => AccountEvent::TemplateStatus {
                template_id: t("message_template_id"),
                name: t("message_template_name"),
                language: t("message_template_language"),
                event: t("event"),
                // Meta writes "NONE" for "no reason"; that is no reason.
                reason: t("reason").filter(|r| r != "NONE"),
                category: t("message_template_category"),
            },
            "message_template_quality_update" => AccountEvent::TemplateQuality {
                template_id: t("message_template_id"),
                name: t("message_template_name"),
                language: t("message_template_language"),
                previous_score: t("previous_quality_score"),
                new_score: t("new_quality_score"),
            },
            "template_category_update" => AccountEvent::TemplateCategory {
                template_id: t("message_template_id"),
                name: t("message_template_name"),
                language: t("message_template_language"),
                previous_category: t("previous_category"),
                new_category: t("new_category").or_else(|| t("correct_category")),
            },
            "account_update" => {
                AccountEvent::AccountUpdate { event: t("event"), phone_number: t("phone_number") }
            }
            "phone_number_quality_update" => AccountEvent::PhoneNumberQuality {
                display_phone_number: t("display_phone_number"),
                event: t("event"),
                current_limit: t("current_limit"),
                old_limit: t("old_limit"),
                max_daily_conversations: v
                    .get("max_daily_conversations_per_business")
                    .and_then(as_text),
            },
            _ => return None,
        })
    }
}

impl WebhookEvent {
    /// The typed account change this event carries, if it is one.
    pub fn account_event(&self) -> Option<AccountEvent> {
        match self {
            WebhookEvent::Other { field, raw, .. } => AccountEvent::from_change(field, raw),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn template_status_reason_none_is_no_reason() {
        let raw = json!({"field":"message_template_status_update","value":{
            "event":"APPROVED","message_template_id":1,"message_template_name":"a",
            "message_template_language":"en_US","reason":"NONE"}});
        let e = AccountEvent::from_change("message_template_status_update", &raw).unwrap();
        assert_eq!(
            e,
            AccountEvent::TemplateStatus {
                template_id: Some("1".into()),
                name: Some("a".into()),
                language: Some("en_US".into()),
                event: Some("APPROVED".into()),
                reason: None,
                category: None,
            }
        );
        assert_eq!(AccountEvent::from_change("calls", &raw), None);
    }
}
