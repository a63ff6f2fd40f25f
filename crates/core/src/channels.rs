//! First run and the Channels screen: the welcome choice, checking a
//! business's token and ids against the Graph API before anything is saved,
//! the channels with their state and the number's rating and limit, a new
//! access token, and reconnecting now.

use parley_meta::graph::{GraphClient, GraphConfig, GraphError, PhoneNumber};
use parley_types::onboarding::{ChannelHealth, ChannelStatus, ConnectField, FieldError};
use parley_types::ChannelKind;
use zeroize::Zeroizing;

use crate::{Core, CoreError, GraphSettings, SecretName};

/// Why connecting a business did not go through.
#[derive(Debug)]
pub enum ConnectError {
    /// Something the user typed is wrong; the sentence goes next to it.
    Field(FieldError),
    /// Anything else (network, keyring, disk), as the core reports it.
    Failed(CoreError),
}

impl From<CoreError> for ConnectError {
    fn from(e: CoreError) -> Self {
        ConnectError::Failed(e)
    }
}

/// A Meta refusal that is about a field of the form, in words.
pub fn graph_refusal(error: &GraphError, id_field: ConnectField) -> Option<FieldError> {
    let code = error.code()?;
    let field_error = |field, text: &str| Some(FieldError::new(field, text));
    match code {
        190 | 102 => field_error(
            ConnectField::AccessToken,
            "Meta refused this access token: it is wrong, expired or was revoked. Generate a new \
             System User token in Meta Business Settings → System users and paste it here.",
        ),
        3 | 10 | 200..=299 => field_error(
            ConnectField::AccessToken,
            "This token lacks a permission Meta requires. Give the System User the \
             whatsapp_business_messaging and whatsapp_business_management permissions for \
             this account and generate the token again.",
        ),
        100 | 803 => match id_field {
            ConnectField::WabaId => field_error(
                ConnectField::WabaId,
                "Meta knows no WhatsApp Business Account with this id that this token may use. \
                 Copy the id from WhatsApp Manager → Account tools → Phone numbers.",
            ),
            _ => field_error(
                ConnectField::PhoneNumberId,
                "Meta knows no phone number with this id that this token may use. A phone \
                 number id is the 15–16 digit number shown in WhatsApp Manager → Phone numbers, \
                 not the phone number itself.",
            ),
        },
        _ => None,
    }
}

fn graph_failure(error: GraphError, id_field: ConnectField) -> ConnectError {
    match graph_refusal(&error, id_field) {
        Some(field) => ConnectError::Field(field),
        None => ConnectError::Failed(CoreError::InvalidInput(format!(
            "Meta could not be asked about this number: {}",
            error.user_message()
        ))),
    }
}

/// The Graph settings of a business's number: Meta's Graph API at the
/// version this build speaks, unless a test points it elsewhere.
pub fn business_graph_settings(
    base_url: Option<String>,
    phone_number_id: &str,
    waba_id: &str,
) -> GraphSettings {
    GraphSettings {
        base_url: base_url.unwrap_or_else(|| parley_meta::graph::META_BASE_URL.to_owned()),
        version: parley_meta::graph::DEFAULT_VERSION.to_owned(),
        phone_number_id: phone_number_id.to_owned(),
        waba_id: Some(waba_id.to_owned()).filter(|w| !w.is_empty()),
    }
}

/// Ask Meta, with `token`, for the phone number and (when given) check it
/// belongs to the WhatsApp Business Account. Nothing is saved.
pub async fn check_business(
    settings: &GraphSettings,
    token: Zeroizing<String>,
) -> Result<PhoneNumber, ConnectError> {
    let client = GraphClient::new(
        GraphConfig { base_url: settings.base_url.clone(), version: settings.version.clone() },
        token,
    )
    .map_err(|e| ConnectError::Failed(CoreError::InvalidInput(e.user_message())))?;
    let number = client
        .phone_number(&settings.phone_number_id)
        .await
        .map_err(|e| graph_failure(e, ConnectField::PhoneNumberId))?;
    if let Some(waba_id) = settings.waba_id.as_deref().filter(|w| !w.is_empty()) {
        let numbers = client
            .phone_numbers(waba_id)
            .await
            .map_err(|e| graph_failure(e, ConnectField::WabaId))?;
        if !numbers.iter().any(|n| n.id == number.id) {
            return Err(ConnectError::Field(FieldError::new(
                ConnectField::PhoneNumberId,
                "This phone number id is not a number of that WhatsApp Business Account. Check \
                 both ids in WhatsApp Manager → Phone numbers.",
            )));
        }
    }
    Ok(number)
}

impl Core {
    /// The user chose on the welcome screen; it is not shown again.
    pub fn finish_welcome(&self) -> Result<(), CoreError> {
        self.update_config(|c| c.welcome_done = true)
    }

    /// Remember the Instagram account connected with the business.
    pub fn set_instagram_account(&self, id: Option<String>) -> Result<(), CoreError> {
        self.update_config(|c| c.instagram_account_id = id)
    }

    /// The connected channels with their state; the WhatsApp number's
    /// details are fetched from the Graph API now.
    pub async fn channels(&self) -> Result<Vec<ChannelStatus>, CoreError> {
        self.gate()?;
        let config = self.config();
        let settings = config.graph.clone().ok_or(CoreError::NoGraphAccount)?;
        let sync = self.sync_state();
        let fetched = match self.graph_client() {
            Ok(client) => client.phone_number(&settings.phone_number_id).await,
            Err(e) => return Err(e),
        };
        let (number, graph_error) = match fetched {
            Ok(number) => (Some(number), None),
            Err(e) => {
                tracing::info!(code = e.code(), "phone number details not fetched");
                (None, Some((e.code().unwrap_or(0), e.user_message())))
            }
        };
        let details_error = graph_error.as_ref().map(|(_, m)| m.clone());
        let mut channels = vec![ChannelStatus {
            kind: ChannelKind::Whatsapp,
            id: settings.phone_number_id.clone(),
            health: ChannelHealth::derive(&sync, graph_error.clone()),
            display_phone_number: number.as_ref().and_then(|n| n.display_phone_number.clone()),
            verified_name: number.as_ref().and_then(|n| n.verified_name.clone()),
            quality_rating: number.as_ref().and_then(|n| n.quality_rating.clone()),
            messaging_limit_tier: number.as_ref().and_then(|n| n.messaging_limit_tier.clone()),
            code_verification_status: number
                .as_ref()
                .and_then(|n| n.code_verification_status.clone()),
            details_error,
        }];
        if let Some(ig) = config.instagram_account_id.clone() {
            channels.push(ChannelStatus {
                kind: ChannelKind::Instagram,
                id: ig,
                // Instagram messages come through the same relay and token.
                health: ChannelHealth::derive(&sync, graph_error),
                display_phone_number: None,
                verified_name: None,
                quality_rating: None,
                messaging_limit_tier: None,
                code_verification_status: None,
                details_error: None,
            });
        }
        Ok(channels)
    }

    /// Replace the access token after Meta accepted it for this number.
    pub async fn update_access_token(&self, token: Zeroizing<String>) -> Result<(), CoreError> {
        self.gate()?;
        if let Err(why) = parley_types::onboarding::check_access_token(&token) {
            return Err(CoreError::InvalidInput(why));
        }
        let token = Zeroizing::new(token.trim().to_owned());
        let settings = self.config().graph.ok_or(CoreError::NoGraphAccount)?;
        match check_business(&settings, token.clone()).await {
            Ok(_) => {}
            Err(ConnectError::Field(f)) => return Err(CoreError::InvalidInput(f.message)),
            Err(ConnectError::Failed(e)) => return Err(e),
        }
        self.inner.secrets.set(SecretName::GraphToken, token.as_bytes())?;
        *self.inner.graph.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.inner.outbox_wake.notify_one();
        tracing::info!("access token replaced");
        Ok(())
    }

    /// Try the relay and the outbox again now instead of after the backoff.
    pub fn reconnect(&self) {
        self.inner.sync_wake.notify_one();
        self.inner.outbox_wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use parley_meta::graph::{GraphError, MetaApiError};

    use super::*;
    use crate::{InMemorySecretStore, NoNotifier, Profile};

    #[test]
    fn the_welcome_choice_is_remembered_in_the_profile() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Arc::new(InMemorySecretStore::default());
        let open = || {
            Core::open(Profile::open(dir.path()).unwrap(), secrets.clone(), Arc::new(NoNotifier))
                .unwrap()
        };
        let core = open();
        assert!(core.app_info().first_run);
        core.finish_welcome().unwrap();
        assert!(!core.app_info().first_run);
        drop(core);
        assert!(!open().app_info().first_run, "still done after a restart");

        // An account connected before the welcome existed is not welcomed.
        let dir = tempfile::tempdir().unwrap();
        let profile = Profile::open(dir.path()).unwrap();
        let mut config = profile.load_config().unwrap();
        config.relay_url = Some("https://relay.example.com".into());
        config.graph = Some(business_graph_settings(None, "106540352242922", ""));
        profile.save_config(&config).unwrap();
        let core = Core::open(profile, secrets.clone(), Arc::new(NoNotifier)).unwrap();
        assert!(!core.app_info().first_run);
    }

    fn meta(code: i64) -> GraphError {
        let body =
            format!(r#"{{"error":{{"message":"x","type":"OAuthException","code":{code}}}}}"#);
        GraphError::Meta(MetaApiError::from_body(400, body.as_bytes()).unwrap())
    }

    #[test]
    fn meta_refusals_land_on_the_field_to_fix() {
        let on = |code, id| graph_refusal(&meta(code), id).map(|f| f.field);
        assert_eq!(on(190, ConnectField::PhoneNumberId), Some(ConnectField::AccessToken));
        assert_eq!(on(200, ConnectField::PhoneNumberId), Some(ConnectField::AccessToken));
        assert_eq!(on(10, ConnectField::WabaId), Some(ConnectField::AccessToken));
        assert_eq!(on(100, ConnectField::PhoneNumberId), Some(ConnectField::PhoneNumberId));
        assert_eq!(on(100, ConnectField::WabaId), Some(ConnectField::WabaId));
        assert_eq!(on(131000, ConnectField::PhoneNumberId), None, "not a field's fault");
        let text = graph_refusal(&meta(190), ConnectField::PhoneNumberId).unwrap().message;
        assert!(text.contains("System User token"), "{text}");
    }
}
