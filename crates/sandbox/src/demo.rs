//! Demo mode: a relay and a sandbox in this process, wired together, so the
//! app shows live simulated customers with no Meta account.
//!
//! The relay's database lives in the caller's state directory and survives
//! restarts, so the desktop stays enrolled and its relay cursor stays valid;
//! only the ports change from run to run. The sandbox's app secret and access
//! token are the published sandbox defaults: they protect nothing real.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use parley_meta::routing::ChannelKey;
use parley_relay::StoreError as RelayStoreError;

use crate::{
    SandboxConfig, SandboxControl, SandboxError, SandboxHandle, DEFAULT_ACCESS_TOKEN,
    DEFAULT_APP_SECRET, DEFAULT_INSTAGRAM_ACCOUNT_ID, DEFAULT_PHONE_NUMBER_ID, DEFAULT_VERSION,
    DEFAULT_WABA_ID,
};

/// The relay tenant demo mode uses.
pub const DEMO_TENANT: &str = "sandbox";
const DEMO_VERIFY_TOKEN: &str = "sandbox-verify-token";
/// Enrollment codes are single-use; a demo code need not live long.
const CODE_TTL: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the demo relay could not start: {0}")]
    Relay(#[from] parley_relay::RelayError),
    #[error("the demo relay's store failed: {0}")]
    RelayStore(#[from] RelayStoreError),
    #[error("the sandbox could not start: {0}")]
    Sandbox(#[from] SandboxError),
    #[error("cannot create the demo directory {path}: {source}")]
    Dir { path: PathBuf, source: std::io::Error },
}

#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Holds the demo relay's database.
    pub state_dir: PathBuf,
    /// How often simulated customers write in; `None` for silence (tests).
    pub auto_chat: Option<Duration>,
    /// Pause between the `sent`, `delivered` and `read` statuses.
    pub status_delay: Duration,
}

impl DemoConfig {
    /// Customers write about every 8 seconds; statuses follow at 400 ms.
    pub fn new(state_dir: impl Into<PathBuf>) -> DemoConfig {
        DemoConfig {
            state_dir: state_dir.into(),
            auto_chat: Some(Duration::from_secs(8)),
            status_delay: Duration::from_millis(400),
        }
    }
}

/// A running relay + sandbox pair on loopback.
pub struct Demo {
    relay: parley_relay::RelayHandle,
    sandbox: SandboxHandle,
    tenant_id: String,
}

impl Demo {
    pub async fn start(config: DemoConfig) -> Result<Demo, DemoError> {
        std::fs::create_dir_all(&config.state_dir)
            .map_err(|source| DemoError::Dir { path: config.state_dir.clone(), source })?;
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let relay = parley_relay::spawn(parley_relay::Config::new(
            config.state_dir.join("sandbox-relay.db"),
            loopback,
        ))
        .await?;
        let store = relay.store().clone();
        let tenant_id = tokio::task::spawn_blocking(move || demo_tenant(&store))
            .await
            .expect("demo tenant setup does not panic")?;
        let mut sandbox_config = SandboxConfig::new(
            loopback,
            Some(format!("{}{}", relay.url(), parley_protocol::PATH_WEBHOOK)),
        );
        sandbox_config.auto_chat = config.auto_chat;
        sandbox_config.status_delay = config.status_delay;
        // Demo mode shows every message type on both channels.
        sandbox_config.varied_chat = true;
        let sandbox = crate::spawn(sandbox_config).await?;
        Ok(Demo { relay, sandbox, tenant_id })
    }

    pub fn relay_url(&self) -> String {
        self.relay.url()
    }

    pub fn graph_base_url(&self) -> String {
        self.sandbox.graph_base_url()
    }

    pub fn graph_version(&self) -> &'static str {
        DEFAULT_VERSION
    }

    pub fn phone_number_id(&self) -> &'static str {
        DEFAULT_PHONE_NUMBER_ID
    }

    pub fn waba_id(&self) -> &'static str {
        DEFAULT_WABA_ID
    }

    /// The Instagram professional account the demo's Instagram customers write to.
    pub fn instagram_account_id(&self) -> &'static str {
        DEFAULT_INSTAGRAM_ACCOUNT_ID
    }

    /// The sandbox's Graph API token (a published constant, not a secret).
    pub fn access_token(&self) -> &'static str {
        DEFAULT_ACCESS_TOKEN
    }

    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// A fresh single-use code to enroll a desktop with the demo relay.
    pub fn issue_enrollment_code(&self) -> Result<String, DemoError> {
        Ok(self.relay.store().issue_enrollment_code(&self.tenant_id, CODE_TTL)?)
    }

    pub fn control(&self) -> SandboxControl {
        self.sandbox.control()
    }

    /// Stop the sandbox first, so no webhook is cut off half-way into the relay.
    pub async fn shutdown(self) {
        self.sandbox.shutdown().await;
        self.relay.shutdown().await;
    }
}

/// Create the demo tenant once and make sure it owns all three channels:
/// the WhatsApp number, the WhatsApp Business Account (template status and
/// other account-level webhooks carry no number) and the Instagram account.
/// Adding a channel the tenant already owns is a no-op, so demo state from
/// before the Instagram channel existed is upgraded in place.
fn demo_tenant(store: &parley_relay::Store) -> Result<String, RelayStoreError> {
    let id = match store.tenant_by_name(DEMO_TENANT)? {
        Some(id) => id,
        None => store.create_tenant(DEMO_TENANT, DEFAULT_APP_SECRET, DEMO_VERIFY_TOKEN)?,
    };
    store.add_channel(&id, &ChannelKey::WhatsappNumber(DEFAULT_PHONE_NUMBER_ID.into()))?;
    store.add_channel(&id, &ChannelKey::WhatsappAccount(DEFAULT_WABA_ID.into()))?;
    store.add_channel(&id, &ChannelKey::Instagram(DEFAULT_INSTAGRAM_ACCOUNT_ID.into()))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_demo_tenant_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = DemoConfig::new(dir.path());
        config.auto_chat = None;
        let first = Demo::start(config.clone()).await.unwrap();
        let tenant = first.tenant_id().to_owned();
        assert!(!first.issue_enrollment_code().unwrap().is_empty());
        first.shutdown().await;
        let second = Demo::start(config).await.unwrap();
        assert_eq!(second.tenant_id(), tenant);
        assert!(second.relay_url().starts_with("http://127.0.0.1:"));
        // All three channels belong to the demo tenant: no one else can take them.
        let store = second.relay.store().clone();
        let other = store.create_tenant("someone-else", "s", "v").unwrap();
        for channel in [
            ChannelKey::WhatsappNumber(DEFAULT_PHONE_NUMBER_ID.into()),
            ChannelKey::WhatsappAccount(DEFAULT_WABA_ID.into()),
            ChannelKey::Instagram(second.instagram_account_id().into()),
        ] {
            assert!(store.add_channel(&other, &channel).is_err(), "{channel:?}");
        }
        // Both channels' customers reach an enrolled device's queue.
        let key = parley_protocol::DeviceSecretKey::generate();
        let code = second.issue_enrollment_code().unwrap();
        let device = store.enroll(&code, "test", &key.public_key().to_base64()).unwrap().device_id;
        let control = second.control();
        control.customer_sends_text("15550002222", "Ana", "hi").await.unwrap();
        let igsid = control.instagram_customers()[0].igsid.clone();
        control
            .instagram_customer_sends(&igsid, &crate::IgCustomerMessage::Text { text: "oi".into() })
            .await
            .unwrap();
        assert_eq!(store.queue_depth(&device).unwrap(), 2, "one WhatsApp and one Instagram event");
        second.shutdown().await;
    }
}
