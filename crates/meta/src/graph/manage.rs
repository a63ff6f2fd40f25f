//! Account management through the Graph API: message templates, the
//! business profile, and the account's phone numbers.
//!
//! Endpoints and shapes follow Meta's WhatsApp Business Management API:
//! `GET|POST|DELETE /{waba_id}/message_templates` (list is cursor-paged:
//! `paging.cursors.after`, with `paging.next` only when there is more),
//! `GET|POST /{phone_number_id}/whatsapp_business_profile` (the GET answers
//! `{data:[profile]}`), and `GET /{waba_id}/phone_numbers`.

use super::{path_segment, GraphClient, GraphError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Fields asked for when listing templates; without `fields` Meta answers a
/// default set that has varied between versions.
const TEMPLATE_FIELDS: &str =
    "id,name,language,status,category,components,rejected_reason,quality_score";
const PROFILE_FIELDS: &str =
    "about,address,description,email,profile_picture_url,websites,vertical";
const PHONE_FIELDS: &str = "id,display_phone_number,verified_name,quality_rating,\
messaging_limit_tier,code_verification_status,name_status,throughput";
/// A runaway `paging.next` loop must end somewhere: 100 pages of 100.
const MAX_TEMPLATE_PAGES: usize = 100;

/// Meta's template categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TemplateCategory {
    Marketing,
    Utility,
    Authentication,
}

impl TemplateCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateCategory::Marketing => "MARKETING",
            TemplateCategory::Utility => "UTILITY",
            TemplateCategory::Authentication => "AUTHENTICATION",
        }
    }
}

/// One template as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub language: String,
    /// `APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`, ...
    pub status: String,
    pub category: Option<String>,
    /// Meta's component objects, as given.
    pub components: Vec<Value>,
    pub rejected_reason: Option<String>,
    /// `quality_score.score`: `GREEN`, `YELLOW`, `RED` or `UNKNOWN`.
    pub quality: Option<String>,
}

/// One page of templates; pass `after` back to get the next.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemplatePage {
    pub templates: Vec<Template>,
    /// The cursor of the next page, only when Meta says there is one.
    pub after: Option<String>,
}

/// A template to submit for review.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTemplate {
    /// Lowercase letters, digits and underscores.
    pub name: String,
    pub category: TemplateCategory,
    /// e.g. `en_US`.
    pub language: String,
    /// HEADER / BODY / FOOTER / BUTTONS component objects in Meta's shape.
    pub components: Vec<Value>,
    /// `POSITIONAL` or `NAMED`; Meta assumes positional when absent.
    pub parameter_format: Option<String>,
}

/// Meta's answer to a template creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateCreated {
    pub id: String,
    /// Usually `PENDING`; the outcome arrives as `message_template_status_update`.
    pub status: String,
    pub category: Option<String>,
}

/// The profile customers see for a business number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Read-only here: setting a picture needs a resumable upload handle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_picture_url: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub websites: Vec<String>,
    /// Industry, e.g. `RETAIL`, `OTHER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vertical: Option<String>,
}

/// A phone number of the WhatsApp Business Account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhoneNumber {
    pub id: String,
    pub display_phone_number: Option<String>,
    pub verified_name: Option<String>,
    /// `GREEN`, `YELLOW`, `RED`, `UNKNOWN`.
    pub quality_rating: Option<String>,
    /// `TIER_250`, `TIER_2K`, `TIER_10K`, `TIER_100K`, `TIER_UNLIMITED`, ...
    pub messaging_limit_tier: Option<String>,
    pub code_verification_status: Option<String>,
    pub name_status: Option<String>,
    /// `throughput.level`: `STANDARD` or `HIGH`.
    pub throughput_level: Option<String>,
}

fn s(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn template_from(v: &Value) -> Option<Template> {
    Some(Template {
        id: s(v, "id")?,
        name: s(v, "name")?,
        language: s(v, "language").unwrap_or_default(),
        status: s(v, "status").unwrap_or_default(),
        category: s(v, "category"),
        components: v.get("components").and_then(Value::as_array).cloned().unwrap_or_default(),
        rejected_reason: s(v, "rejected_reason").filter(|r| r != "NONE"),
        quality: v.get("quality_score").and_then(|q| s(q, "score")),
    })
}

/// Template names Meta accepts: lowercase ASCII letters, digits, `_` (the
/// one definition is in `parley-types`, shared with the template builder).
pub use parley_types::template_builder::valid_template_name;

impl GraphClient {
    /// One page of the account's templates (`limit` 1–100 per page).
    pub async fn list_templates(
        &self,
        waba_id: &str,
        limit: u32,
        after: Option<&str>,
    ) -> Result<TemplatePage, GraphError> {
        let url = self
            .url(&[path_segment("WhatsApp Business Account id", waba_id)?, "message_templates"]);
        let limit = limit.clamp(1, 100).to_string();
        let mut query = vec![("fields", TEMPLATE_FIELDS), ("limit", limit.as_str())];
        if let Some(after) = after {
            query.push(("after", after));
        }
        let answer = self.send_request(self.http.get(&url).query(&query)).await?;
        let data = answer
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| GraphError::Decode("the template list has no data".into()))?;
        let has_next = answer.pointer("/paging/next").is_some_and(|n| !n.is_null());
        Ok(TemplatePage {
            templates: data.iter().filter_map(template_from).collect(),
            after: has_next
                .then(|| answer.pointer("/paging/cursors/after").and_then(Value::as_str))
                .flatten()
                .map(str::to_owned),
        })
    }

    /// Every template, following the cursors.
    pub async fn list_all_templates(&self, waba_id: &str) -> Result<Vec<Template>, GraphError> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_TEMPLATE_PAGES {
            let page = self.list_templates(waba_id, 100, after.as_deref()).await?;
            all.extend(page.templates);
            match page.after {
                Some(next) if Some(&next) != after.as_ref() => after = Some(next),
                _ => return Ok(all),
            }
        }
        Ok(all)
    }

    /// Submit a template for review. Meta allows about 100 creations an hour.
    pub async fn create_template(
        &self,
        waba_id: &str,
        template: &NewTemplate,
    ) -> Result<TemplateCreated, GraphError> {
        if !valid_template_name(&template.name) {
            return Err(GraphError::InvalidInput(
                "a template name may only hold lowercase letters, digits and underscores".into(),
            ));
        }
        if template.language.trim().is_empty() {
            return Err(GraphError::InvalidInput("the template language is empty".into()));
        }
        if template.components.is_empty() {
            return Err(GraphError::InvalidInput("the template has no components".into()));
        }
        let url = self
            .url(&[path_segment("WhatsApp Business Account id", waba_id)?, "message_templates"]);
        let mut body = json!({
            "name": template.name,
            "category": template.category.as_str(),
            "language": template.language,
            "components": template.components,
        });
        if let Some(format) = &template.parameter_format {
            body["parameter_format"] = json!(format);
        }
        let answer = self.post_json(&url, &body).await?;
        Ok(TemplateCreated {
            id: s(&answer, "id")
                .ok_or_else(|| GraphError::Decode("the template answer has no id".into()))?,
            status: s(&answer, "status").unwrap_or_else(|| "PENDING".into()),
            category: s(&answer, "category"),
        })
    }

    /// The id of the Meta app the token belongs to (`GET /app`), which
    /// owns the files uploaded with the Resumable Upload API.
    pub async fn app_id(&self) -> Result<String, GraphError> {
        let answer = self.send_request(self.http.get(self.url(&["app"]))).await?;
        s(&answer, "id").ok_or_else(|| GraphError::Decode("the app answer has no id".into()))
    }

    /// Upload a template header's sample with Meta's Resumable Upload API:
    /// `POST /{app_id}/uploads` opens a session, `POST /{session}` with
    /// `Authorization: OAuth` and `file_offset: 0` sends the bytes. Returns
    /// the file handle (`h`) that `example.header_handle` takes.
    pub async fn upload_template_sample(
        &self,
        app_id: &str,
        file_name: &str,
        mime_type: &str,
        bytes: &[u8],
    ) -> Result<String, GraphError> {
        if bytes.is_empty() {
            return Err(GraphError::InvalidInput("the sample file is empty".into()));
        }
        let mime = mime_type.trim();
        if mime.is_empty() || !mime.contains('/') || mime.contains(['\r', '\n']) {
            return Err(GraphError::InvalidInput("the sample's type is not a MIME type".into()));
        }
        let url = self.url(&[path_segment("app id", app_id)?, "uploads"]);
        let length = bytes.len().to_string();
        let query = [("file_name", file_name), ("file_length", &length), ("file_type", mime)];
        let session = self.send_request(self.http.post(&url).query(&query)).await?;
        let session = s(&session, "id")
            .ok_or_else(|| GraphError::Decode("the upload session has no id".into()))?;
        // Meta's session id is `upload:<opaque>` and may carry `?sig=…`;
        // nothing in it may leave the Graph host's path.
        let safe = session.starts_with("upload:")
            && session.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:=?&%".contains(c));
        if !safe {
            return Err(GraphError::Decode("the upload session id is not one".into()));
        }
        // Marked sensitive, as `bearer_auth` does, so it never shows in a
        // `Debug` of the request or in the HTTP stack's header logging.
        let auth = zeroize::Zeroizing::new(format!("OAuth {}", self.token.as_str()));
        let mut auth = reqwest::header::HeaderValue::from_str(&auth)
            .map_err(|_| GraphError::NotSent("the access token is not a valid header".into()))?;
        auth.set_sensitive(true);
        let request = self
            .http
            .post(format!("{}/{}/{session}", self.base_url, self.version))
            .header(reqwest::header::AUTHORIZATION, auth)
            .header("file_offset", "0")
            .body(bytes.to_vec());
        let answer = self.finish(request).await?;
        s(&answer, "h").ok_or_else(|| GraphError::Decode("the upload answer has no handle".into()))
    }

    /// Delete every language of the template `name`.
    pub async fn delete_template(&self, waba_id: &str, name: &str) -> Result<(), GraphError> {
        if !valid_template_name(name) {
            return Err(GraphError::InvalidInput("that is not a valid template name".into()));
        }
        let url = self
            .url(&[path_segment("WhatsApp Business Account id", waba_id)?, "message_templates"]);
        let answer = self.send_request(self.http.delete(&url).query(&[("name", name)])).await?;
        success(&answer, "template deletion")
    }

    pub async fn business_profile(
        &self,
        phone_number_id: &str,
    ) -> Result<BusinessProfile, GraphError> {
        let url = self
            .url(&[path_segment("phone number id", phone_number_id)?, "whatsapp_business_profile"]);
        let answer =
            self.send_request(self.http.get(&url).query(&[("fields", PROFILE_FIELDS)])).await?;
        let profile = answer
            .pointer("/data/0")
            .cloned()
            .ok_or_else(|| GraphError::Decode("the business profile answer has no data".into()))?;
        serde_json::from_value(profile)
            .map_err(|e| GraphError::Decode(format!("the business profile is not readable: {e}")))
    }

    /// Set the given fields of the profile; `None`/empty fields are left as they are.
    pub async fn update_business_profile(
        &self,
        phone_number_id: &str,
        update: &BusinessProfile,
    ) -> Result<(), GraphError> {
        let limits = [
            ("about", update.about.as_deref(), 139),
            ("address", update.address.as_deref(), 256),
            ("description", update.description.as_deref(), 512),
            ("email", update.email.as_deref(), 128),
        ];
        for (what, value, max) in limits {
            if let Some(v) = value {
                let n = v.chars().count();
                if n == 0 || n > max {
                    return Err(GraphError::InvalidInput(format!(
                        "the profile {what} is {n} characters; Meta allows 1 to {max}"
                    )));
                }
            }
        }
        if update.websites.len() > 2 {
            return Err(GraphError::InvalidInput("a profile has at most 2 websites".into()));
        }
        let url = self
            .url(&[path_segment("phone number id", phone_number_id)?, "whatsapp_business_profile"]);
        let mut body = serde_json::to_value(update)
            .map_err(|e| GraphError::InvalidInput(format!("profile: {e}")))?;
        body["messaging_product"] = json!("whatsapp");
        if let Some(map) = body.as_object_mut() {
            map.remove("profile_picture_url");
        }
        let answer = self.post_json(&url, &body).await?;
        success(&answer, "profile update")
    }

    /// The account's phone numbers with quality rating and messaging limit.
    pub async fn phone_numbers(&self, waba_id: &str) -> Result<Vec<PhoneNumber>, GraphError> {
        let url =
            self.url(&[path_segment("WhatsApp Business Account id", waba_id)?, "phone_numbers"]);
        let answer =
            self.send_request(self.http.get(&url).query(&[("fields", PHONE_FIELDS)])).await?;
        let data = answer
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| GraphError::Decode("the phone number list has no data".into()))?;
        Ok(data.iter().filter_map(phone_from).collect())
    }

    /// One phone number by its id (`GET /{phone_number_id}?fields=…`): what
    /// onboarding uses to check a token and a phone number id together, and
    /// the Channels screen to show the number's rating and limit.
    pub async fn phone_number(&self, phone_number_id: &str) -> Result<PhoneNumber, GraphError> {
        let url = self.url(&[path_segment("phone number id", phone_number_id)?]);
        let answer =
            self.send_request(self.http.get(&url).query(&[("fields", PHONE_FIELDS)])).await?;
        phone_from(&answer)
            .ok_or_else(|| GraphError::Decode("the phone number answer has no id".into()))
    }
}

fn phone_from(p: &Value) -> Option<PhoneNumber> {
    Some(PhoneNumber {
        id: s(p, "id")?,
        display_phone_number: s(p, "display_phone_number"),
        verified_name: s(p, "verified_name"),
        quality_rating: s(p, "quality_rating"),
        messaging_limit_tier: s(p, "messaging_limit_tier"),
        code_verification_status: s(p, "code_verification_status"),
        name_status: s(p, "name_status"),
        throughput_level: p.pointer("/throughput/level").and_then(s_val),
    })
}

fn s_val(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

fn success(answer: &Value, what: &str) -> Result<(), GraphError> {
    if answer.get("success").and_then(Value::as_bool) == Some(true) {
        Ok(())
    } else {
        Err(GraphError::Decode(format!("the {what} answer did not report success")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_names() {
        assert!(valid_template_name("order_ready_2"));
        for bad in ["", "Order", "a-b", "a b", "é"] {
            assert!(!valid_template_name(bad), "{bad:?}");
        }
        assert!(!valid_template_name(&"a".repeat(513)));
    }
}
