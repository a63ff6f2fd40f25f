//! Core facade tests with an in-memory keyring; the real keyring, relay and
//! Graph API are exercised by the workspace integration tests.

use std::sync::Arc;

use parley_types::{ErrorCode, InboxEvent, IpcError, SendTextRequest};

use super::*;

fn open(dir: &Path, secrets: Arc<InMemorySecretStore>) -> Result<Core, CoreError> {
    Core::open(Profile::open(dir).unwrap(), secrets, Arc::new(NoNotifier))
}

#[test]
fn the_database_key_is_created_once_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = Arc::new(InMemorySecretStore::default());
    drop(open(dir.path(), secrets.clone()).unwrap());
    let key = secrets.get(SecretName::DatabaseKey).unwrap().unwrap();
    assert_eq!(key.len(), 32);
    drop(open(dir.path(), secrets.clone()).unwrap());
    assert_eq!(secrets.get(SecretName::DatabaseKey).unwrap().unwrap(), key);
}

#[test]
fn a_database_whose_key_is_gone_is_reported_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path(), Arc::new(InMemorySecretStore::default())).unwrap());
    let fresh = Arc::new(InMemorySecretStore::default());
    let err = open(dir.path(), fresh.clone()).err().unwrap();
    assert!(matches!(err, CoreError::MissingDatabaseKey));
    assert!(fresh.get(SecretName::DatabaseKey).unwrap().is_none(), "no new key may be made");
    assert_eq!(IpcError::from(&err).code, ErrorCode::Storage);
}

#[test]
fn send_text_validates_before_queueing() {
    let dir = tempfile::tempdir().unwrap();
    let core = open(dir.path(), Arc::new(InMemorySecretStore::default())).unwrap();
    let empty =
        core.send_text(&SendTextRequest { conversation_id: 1, text: "  \n".into() }).unwrap_err();
    assert_eq!(IpcError::from(&empty).code, ErrorCode::InvalidInput);
    let long = "x".repeat(MAX_TEXT_CHARS + 1);
    let too_long = core.send_text(&SendTextRequest { conversation_id: 1, text: long }).unwrap_err();
    assert!(too_long.to_string().contains("4096"));
    let missing =
        core.send_text(&SendTextRequest { conversation_id: 77, text: "hi".into() }).unwrap_err();
    assert_eq!(IpcError::from(&missing).code, ErrorCode::NotFound);
}

#[tokio::test]
async fn without_enrollment_sync_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let core = open(dir.path(), Arc::new(InMemorySecretStore::default())).unwrap();
    let err = core.sync_once().await.unwrap_err();
    assert!(matches!(err, CoreError::NotEnrolled));
    assert_eq!(IpcError::from(&err).code, ErrorCode::Reconnect);
}

#[tokio::test]
async fn an_unreachable_relay_shows_as_offline_and_recovers_nothing_lost() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = Arc::new(InMemorySecretStore::default());
    let core = open(dir.path(), secrets.clone()).unwrap();
    // Enrolled against a port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    secrets.set(SecretName::RelayToken, b"token").unwrap();
    secrets
        .set(SecretName::DeviceKey, &parley_protocol::DeviceSecretKey::generate().to_bytes()[..])
        .unwrap();
    core.update_config(|c| c.relay_url = Some(url)).unwrap();
    let mut events = core.subscribe();
    core.start();
    let offline = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(InboxEvent::SyncStateChanged { state: SyncState::Offline { reason, .. } }) =
                events.recv().await
            {
                return reason;
            }
        }
    })
    .await
    .expect("sync state goes offline");
    assert!(offline.contains("unreachable"), "{offline}");
    core.shutdown();
}

#[test]
fn configure_graph_rejects_a_bad_address_and_keeps_the_token_in_the_keyring() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = Arc::new(InMemorySecretStore::default());
    let core = open(dir.path(), secrets.clone()).unwrap();
    let settings = |base: &str| GraphSettings {
        base_url: base.into(),
        version: "v23.0".into(),
        phone_number_id: "100".into(),
        waba_id: None,
    };
    assert!(core.configure_graph(settings("ftp://nope"), Zeroizing::new("t".into())).is_err());
    core.configure_graph(settings("http://127.0.0.1:9"), Zeroizing::new("tok-secret-1".into()))
        .unwrap();
    let on_disk = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    assert!(!on_disk.contains("tok-secret-1"));
    assert_eq!(&secrets.get(SecretName::GraphToken).unwrap().unwrap()[..], b"tok-secret-1");
    assert!(core.graph_client().is_ok());
}

#[test]
fn a_profile_is_used_by_one_engine_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = Arc::new(InMemorySecretStore::default());
    let first = open(dir.path(), secrets.clone()).unwrap();
    let second = open(dir.path(), secrets.clone()).err().expect("a second engine is refused");
    assert!(second.to_string().contains("already open"), "{second}");
    drop(first);
    open(dir.path(), secrets).expect("free again once the first is gone");
}

#[test]
fn a_moved_profile_keeps_its_keys() {
    let root = tempfile::tempdir().unwrap();
    let secrets = Arc::new(InMemorySecretStore::default());
    let before = root.path().join("before");
    let core = open(&before, secrets.clone()).unwrap();
    let id = core.profile().id().to_owned();
    drop(core);
    let after = root.path().join("after");
    std::fs::rename(&before, &after).unwrap();
    let moved = open(&after, secrets).expect("the database key is still found");
    assert_eq!(moved.profile().id(), id);
    assert_ne!(Profile::open(&root.path().join("other")).unwrap().id(), id, "profiles stay apart");
}
