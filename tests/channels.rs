//! The core's side of onboarding and the Channels screen against the real
//! sandbox Graph API (in process): checking a business refuses a wrong token
//! or id on the right field, the Channels list carries the number's rating
//! and limit, a refused token shows as such, and a new token is saved only
//! after Meta accepted it.

use std::net::SocketAddr;
use std::sync::Arc;

use parley_core::{
    business_graph_settings, check_business, ConnectError, Core, InMemorySecretStore, NoNotifier,
    Profile, SecretName, SecretStore,
};
use parley_sandbox::{spawn, SandboxConfig};
use parley_types::onboarding::{ChannelHealth, ConnectField};
use zeroize::Zeroizing;

const TOKEN: &str = "channels-test-token";
const PNID: &str = "106540352242922";
const WABA: &str = "102290129340398";

async fn sandbox() -> parley_sandbox::SandboxHandle {
    let mut c = SandboxConfig::new("127.0.0.1:0".parse::<SocketAddr>().unwrap(), None);
    c.access_token = TOKEN.into();
    c.phone_number_id = PNID.into();
    c.waba_id = WABA.into();
    spawn(c).await.unwrap()
}

fn field_of(result: Result<impl std::fmt::Debug, ConnectError>) -> ConnectField {
    match result {
        Err(ConnectError::Field(f)) => f.field,
        other => panic!("expected a field refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn checking_a_business_puts_each_refusal_on_its_field() {
    let sb = sandbox().await;
    let base = Some(sb.graph_base_url());
    let token = |t: &str| Zeroizing::new(t.to_owned());

    let number = check_business(&business_graph_settings(base.clone(), PNID, WABA), token(TOKEN))
        .await
        .unwrap();
    assert_eq!(number.quality_rating.as_deref(), Some("GREEN"));

    let settings = business_graph_settings(base.clone(), PNID, WABA);
    assert_eq!(
        field_of(check_business(&settings, token("wrong")).await),
        ConnectField::AccessToken
    );
    let other_number = business_graph_settings(base.clone(), "106540352242999", WABA);
    assert_eq!(
        field_of(check_business(&other_number, token(TOKEN)).await),
        ConnectField::PhoneNumberId
    );
    let other_account = business_graph_settings(base.clone(), PNID, "102290129340399");
    assert_eq!(field_of(check_business(&other_account, token(TOKEN)).await), ConnectField::WabaId);
    sb.shutdown().await;
}

#[tokio::test]
async fn channels_show_the_number_and_a_refused_token_until_a_new_one_is_accepted() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let secrets = Arc::new(InMemorySecretStore::default());
    let core =
        Core::open(Profile::open(dir.path()).unwrap(), secrets.clone(), Arc::new(NoNotifier))
            .unwrap();
    let settings = business_graph_settings(Some(sb.graph_base_url()), PNID, WABA);
    core.configure_graph(settings.clone(), Zeroizing::new(TOKEN.to_owned())).unwrap();
    core.set_instagram_account(Some("17841400000000001".into())).unwrap();

    let channels = core.channels().await.unwrap();
    assert_eq!(channels.len(), 2, "the number and the Instagram account");
    let wa = &channels[0];
    assert_eq!(wa.id, PNID);
    assert_eq!(wa.messaging_limit_tier.as_deref(), Some("TIER_2K"));
    assert_eq!(wa.verified_name.as_deref(), Some("Parley Sandbox"));
    assert_eq!(wa.details_error, None);
    assert_ne!(wa.health.as_str(), "token_expired");

    // A token Meta no longer accepts (as after a revocation).
    core.configure_graph(settings, Zeroizing::new("revoked-token".to_owned())).unwrap();
    let wa = core.channels().await.unwrap().remove(0);
    assert!(matches!(wa.health, ChannelHealth::TokenExpired { .. }), "{:?}", wa.health);
    assert!(wa.details_error.is_some() && wa.quality_rating.is_none());

    // A wrong new token is refused and not saved; the right one is.
    let refused = core.update_access_token(Zeroizing::new("still-wrong".into())).await;
    assert!(refused.unwrap_err().to_string().contains("Meta refused this access token"));
    let stored = secrets.get(SecretName::GraphToken).unwrap().unwrap();
    assert_eq!(&stored[..], b"revoked-token");
    core.update_access_token(Zeroizing::new(format!(" {TOKEN} "))).await.unwrap();
    let stored = secrets.get(SecretName::GraphToken).unwrap().unwrap();
    assert_eq!(&stored[..], TOKEN.as_bytes(), "saved trimmed");
    let wa = core.channels().await.unwrap().remove(0);
    assert_ne!(wa.health.as_str(), "token_expired");
    assert_eq!(wa.quality_rating.as_deref(), Some("GREEN"));
    sb.shutdown().await;
}
