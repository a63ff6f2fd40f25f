//! A small harness: a relay on a temp database reached through `oneshot`,
//! webhook builders in Meta's shape, and helpers to open what devices get.

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body, Bytes};
use axum::http::{Request, StatusCode};
use axum::Router;
use parley_meta::routing::ChannelKey;
use parley_protocol::{
    ApiError, DeviceSecretKey, EnrollRequest, EnrollResponse, EventPayload, EventsResponse,
};
use parley_relay::{AppState, Store, DEFAULT_MAX_BODY_BYTES};
use serde_json::{json, Value};
use tempfile::TempDir;
use tower::ServiceExt as _;

#[derive(Clone)]
pub struct Env {
    dir: Arc<TempDir>,
    pub store: Store,
    router: Router,
}

pub struct Resp {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not the expected JSON ({e}): {}", self.text()))
    }

    pub fn api_error(&self) -> ApiError {
        self.json()
    }
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("relay.db")).unwrap();
        let router = parley_relay::app(AppState::new(store.clone(), DEFAULT_MAX_BODY_BYTES));
        Env { dir: Arc::new(dir), store, router }
    }

    /// A relay built from a [`parley_relay::Config`] (limits, admin key, …).
    pub fn with_config(edit: impl FnOnce(&mut parley_relay::Config)) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("relay.db");
        let store = Store::open(&db).unwrap();
        let mut config = parley_relay::Config::new(db, loopback0());
        edit(&mut config);
        let router = parley_relay::app(AppState::from_config(store.clone(), &config));
        Env { dir: Arc::new(dir), store, router }
    }

    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> Resp {
        let req = Request::post(path)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(req).await
    }

    pub async fn send(&self, req: Request<Body>) -> Resp {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let body = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        Resp { status, body }
    }

    /// The raw response, headers included.
    pub async fn router_response(&self, req: Request<Body>) -> axum::response::Response {
        self.router.clone().oneshot(req).await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.get_with_token(path, None).await
    }

    pub async fn get_with_token(&self, path: &str, token: Option<&str>) -> Resp {
        let mut req = Request::get(path);
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    pub async fn post_webhook(&self, body: &[u8], signature: Option<&str>) -> Resp {
        let mut req = Request::post("/webhooks/meta").header("content-type", "application/json");
        if let Some(sig) = signature {
            req = req.header("x-hub-signature-256", sig);
        }
        self.send(req.body(Body::from(body.to_vec())).unwrap()).await
    }

    pub async fn enroll_raw(&self, code: &str, public_key: &str) -> Resp {
        let req = EnrollRequest {
            code: code.into(),
            device_name: "test laptop".into(),
            public_key: public_key.into(),
        };
        let req = Request::post("/v1/devices/enroll")
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(&req).unwrap()))
            .unwrap();
        self.send(req).await
    }

    /// Enroll a fresh device of `tenant` through the API.
    pub async fn enroll(&self, tenant: &str) -> (DeviceSecretKey, EnrollResponse) {
        let sk = DeviceSecretKey::generate();
        let code = self.store.issue_enrollment_code(tenant, Duration::from_secs(60)).unwrap();
        let resp = self.enroll_raw(&code, &sk.public_key().to_base64()).await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
        (sk, resp.json())
    }

    /// A poll that must succeed.
    pub async fn poll(&self, token: &str, after: u64, wait_secs: u64) -> EventsResponse {
        let path = format!("/v1/events?after={after}&wait_secs={wait_secs}");
        let resp = self.get_with_token(&path, Some(token)).await;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
        resp.json()
    }

    pub async fn ack(&self, token: &str, up_to: u64) -> Resp {
        let req = Request::post("/v1/events/ack")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::from(json!({ "up_to": up_to }).to_string()))
            .unwrap();
        self.send(req).await
    }

    /// The database and its -wal/-shm companions, as they are on disk now.
    pub fn db_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        read_dir_files(self.dir.path())
    }

    /// Drop every handle on the store (closing the database) and keep the
    /// directory for inspection.
    pub fn close(self) -> Arc<TempDir> {
        let Env { dir, store, router } = self;
        drop(router);
        drop(store);
        dir
    }
}

pub fn read_dir_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

/// Assert no file in `dir` holds any needle, and that the scan sees data.
pub fn scan_dir(dir: &TempDir, needles: &[&[u8]]) {
    let files = read_dir_files(dir.path());
    assert!(files.iter().any(|(p, b)| p.ends_with("relay.db") && !b.is_empty()));
    for (path, bytes) in &files {
        for needle in needles {
            assert!(!contains(bytes, needle), "{} holds plaintext after close", path.display());
        }
    }
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

pub fn sign(secret: &str, body: &[u8]) -> String {
    parley_meta::signature::sign(secret.as_bytes(), body)
}

pub fn number(id: &str) -> ChannelKey {
    ChannelKey::WhatsappNumber(id.into())
}

pub fn ig(id: &str) -> ChannelKey {
    ChannelKey::Instagram(id.into())
}

/// A WhatsApp webhook with one text message per `(phone_number_id, text)`,
/// all in one entry, the way Meta batches them.
pub fn wa_batch(messages: &[(&str, &str)]) -> Vec<u8> {
    let changes: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, (number_id, text))| {
            json!({"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550001111", "phone_number_id": number_id},
                "contacts": [{"profile": {"name": "Customer"}, "wa_id": "15551234567"}],
                "messages": [{"from": "15551234567", "id": format!("wamid.TEST{i}"),
                    "timestamp": "1700000000", "type": "text", "text": {"body": text}}]
            }})
        })
        .collect();
    json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "changes": changes}]})
        .to_string()
        .into_bytes()
}

pub fn ig_batch(ig_id: &str, text: &str) -> String {
    json!({"object": "instagram", "entry": [{"id": ig_id, "time": 1700000000000u64, "messaging": [
        {"sender": {"id": "998877"}, "recipient": {"id": ig_id}, "timestamp": 1700000000000u64,
         "message": {"mid": "aWdfZAG1", "text": text}}
    ]}]})
    .to_string()
}

pub fn seqs(resp: &EventsResponse) -> Vec<u64> {
    resp.events.iter().map(|e| e.seq).collect()
}

/// Open every event with `sk` and list the message texts inside, in order.
pub fn message_texts(sk: &DeviceSecretKey, resp: &EventsResponse) -> Vec<String> {
    let mut texts = Vec::new();
    for event in &resp.events {
        let EventPayload::MetaWebhook { body } = sk.open_payload(&event.sealed).unwrap() else {
            panic!("event {} is not a Meta webhook", event.seq);
        };
        for entry in body["entry"].as_array().unwrap() {
            for change in entry["changes"].as_array().into_iter().flatten() {
                for m in change["value"]["messages"].as_array().into_iter().flatten() {
                    texts.push(m["text"]["body"].as_str().unwrap().to_owned());
                }
            }
            for item in entry["messaging"].as_array().into_iter().flatten() {
                texts.push(item["message"]["text"].as_str().unwrap().to_owned());
            }
        }
    }
    texts
}

pub fn loopback0() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Enroll a device against a relay listening on a real socket.
pub async fn enroll_http(
    http: &reqwest::Client,
    base: &str,
    store: &Store,
    tenant: &str,
) -> (DeviceSecretKey, EnrollResponse) {
    let code = store.issue_enrollment_code(tenant, Duration::from_secs(60)).unwrap();
    enroll_with_code(http, base, code).await
}

/// Enroll a fresh device with an enrollment code issued beforehand (when the
/// relay is a separate process, the code is issued before it starts).
pub async fn enroll_with_code(
    http: &reqwest::Client,
    base: &str,
    code: String,
) -> (DeviceSecretKey, EnrollResponse) {
    let sk = DeviceSecretKey::generate();
    let req = EnrollRequest {
        code,
        device_name: "socket device".into(),
        public_key: sk.public_key().to_base64(),
    };
    let resp = http.post(format!("{base}/v1/devices/enroll")).json(&req).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    (sk, resp.json().await.unwrap())
}

/// POST `body` to a relay on a real socket, signed with `secret`; the status.
pub async fn post_signed(http: &reqwest::Client, base: &str, secret: &str, body: Vec<u8>) -> u16 {
    http.post(format!("{base}/webhooks/meta"))
        .header("x-hub-signature-256", sign(secret, &body))
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Up to 500 of a device's events after `after`, from a relay on a real
/// socket.
pub async fn fetch_events(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    after: u64,
) -> EventsResponse {
    let resp = http
        .get(format!("{base}/v1/events?after={after}&limit=500"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// The `parley-relay` binary on `db`, deaf to the caller's relay settings.
pub fn relay_bin(db: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_parley-relay"));
    cmd.arg("--db").arg(db).env_remove("PARLEY_RELAY_DB").env_remove("PARLEY_RELAY_CONFIG");
    cmd
}

/// A running `parley-relay serve`: SIGKILLed and reaped when dropped, so a
/// failing test does not leave a relay running on its deleted tempdir.
pub struct Server(Option<Child>);

impl Server {
    /// SIGKILL the relay now and reap it.
    pub fn kill(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How long a relay may take to print its "listening on" line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Start `serve` and return it with its base URL (its log discarded).
pub fn start_server(db: &Path, extra: &[&str]) -> (Server, String) {
    let mut cmd = relay_bin(db);
    cmd.stderr(Stdio::null());
    serve(cmd, extra)
}

/// Run `cmd` (a [`relay_bin`] with its environment and stderr as the caller
/// wants them) as `serve` on a free loopback port; returns it and its base
/// URL, read from the "listening on" line.
pub fn serve(mut cmd: Command, extra: &[&str]) -> (Server, String) {
    let mut child = cmd
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Server(Some(child));
    // Read on a thread, so that a relay that hangs before listening fails
    // the test instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(START_TIMEOUT).unwrap_or_default();
    let Some(url) = line.trim().strip_prefix("parley-relay listening on ") else {
        drop(server);
        panic!("the relay did not start; its first line: {line:?}");
    };
    (server, url.to_owned())
}
