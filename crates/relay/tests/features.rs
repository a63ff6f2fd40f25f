//! Production features: durability under SIGKILL, data deletion, the push
//! stream, team fan-out, metrics, the admin API, rate limits and HTTPS.

mod util;

use std::process::{Command, Stdio};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use parley_meta::signed_request;
use parley_protocol::{
    DataDeletionResponse, EventPayload, FanoutResponse, PeersResponse, SealedEvent,
};
use serde_json::json;
use util::*;

#[tokio::test]
async fn sigkill_after_acknowledgement_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let (tenant, code) = {
        let store = parley_relay::Store::open(&db).unwrap();
        let t = store.create_tenant("acme", "kill-secret", "v").unwrap();
        store.add_channel(&t, &number("111")).unwrap();
        let code = store.issue_enrollment_code(&t, Duration::from_secs(600)).unwrap();
        (t, code)
    };
    let _ = tenant;
    let (server, url) = start_server(&db, &[]);
    let http = reqwest::Client::new();
    let (sk, device) = enroll_with_code(&http, &url, code).await;

    // Many webhooks in flight at once, so they land in shared group commits.
    const N: usize = 60;
    let mut sent = Vec::new();
    for i in 0..N {
        let http = http.clone();
        let url = url.clone();
        sent.push(tokio::spawn(async move {
            let body = wa_batch(&[("111", &format!("durable {i}"))]);
            let resp = http
                .post(format!("{url}/webhooks/meta"))
                .header("x-hub-signature-256", sign("kill-secret", &body))
                .body(body)
                .send()
                .await
                .unwrap();
            resp.status().as_u16()
        }));
    }
    for s in sent {
        assert_eq!(s.await.unwrap(), 200);
    }
    // SIGKILL: no shutdown hook, no flush, nothing but what fsync made durable.
    server.kill();

    let (server, url) = start_server(&db, &[]);
    let events = fetch_events(&http, &url, &device.token, 0).await;
    let mut texts = message_texts(&sk, &events);
    texts.sort();
    let mut expected: Vec<String> = (0..N).map(|i| format!("durable {i}")).collect();
    expected.sort();
    assert_eq!(texts, expected);
    let mut seqs = seqs(&events);
    seqs.dedup();
    assert_eq!(seqs, (1..=N as u64).collect::<Vec<_>>(), "seqs are dense and unique");

    // The restarted relay's seqs resume above every seq handed out before
    // (past the last reservation: a gap, never a reuse).
    let body = wa_batch(&[("111", "after the restart")]);
    assert_eq!(post_signed(&http, &url, "kill-secret", body).await, 200);
    let newer = fetch_events(&http, &url, &device.token, N as u64).await;
    assert_eq!(message_texts(&sk, &newer), vec!["after the restart"]);
    assert!(newer.events[0].seq > N as u64);

    // A second relay on the same file is refused, in words.
    let second = relay_bin(&db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("another relay is already serving"), "{stderr}");
    server.kill();
}

/// Another process on the same file as the serving relay: the admin CLI,
/// or any SQLite client (an operator's `sqlite3` shell, a backup script).
/// When its last connection closes, SQLite checkpoints and deletes the WAL
/// if it believes no other process has the file open, which it reads from
/// the other processes' POSIX locks: the relay must still hold them, or it
/// goes on committing into a deleted WAL, and a SIGKILL then loses webhooks
/// it answered 200. (Closing any descriptor of a file drops all of a
/// process's POSIX locks on it; the relay used to sync the database file
/// through one of its own after its connections were open.)
#[tokio::test]
async fn other_processes_on_the_file_leave_a_serving_relays_wal_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    // Set up through the CLI, so that this test process holds no
    // connection of its own to the file.
    let admin = |args: &[&str]| -> String {
        let out =
            relay_bin(&db).args(args).env("PARLEY_APP_SECRET", "cli-secret").output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let tenant = admin(&["tenant", "create", "--name", "acme", "--verify-token", "v"]);
    admin(&["channel", "add", "--tenant", &tenant, "--whatsapp-number", "111"]);
    let code = admin(&["enroll-code", "--tenant", &tenant]);
    let (server, url) = start_server(&db, &[]);
    let http = reqwest::Client::new();
    let (sk, device) = enroll_with_code(&http, &url, code).await;
    let post = |text: String| post_signed(&http, &url, "cli-secret", wa_batch(&[("111", &text)]));
    let mut expected = Vec::new();
    for i in 0..5 {
        expected.push(format!("before the CLI {i}"));
        assert_eq!(post(expected[i].clone()).await, 200);
    }
    // Two admin commands, a write and a read, each its own process; then
    // the system's SQLite, as an operator's script would use it (Python's
    // `sqlite3`; setup.sh installs python3), which reads and closes.
    admin(&["enroll-code", "--tenant", &tenant]);
    admin(&["devices", "list", "--tenant", &tenant]);
    let client = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys\n\
             c = sqlite3.connect(sys.argv[1])\n\
             print(c.execute('SELECT COUNT(*) FROM tenants').fetchone()[0])\n\
             c.close()",
        ])
        .arg(&db)
        .output()
        .expect("this test needs python3 (scripts/setup.sh installs it)");
    assert_eq!(String::from_utf8_lossy(&client.stdout).trim(), "1", "{client:?}");
    assert!(dir.path().join("relay.db-wal").exists(), "the serving relay's WAL was deleted");
    for i in 0..5 {
        expected.push(format!("after the CLI {i}"));
        assert_eq!(post(expected[5 + i].clone()).await, 200);
    }
    server.kill();

    let (server, url) = start_server(&db, &[]);
    let events = fetch_events(&http, &url, &device.token, 0).await;
    assert_eq!(message_texts(&sk, &events), expected);
    server.kill();
}

fn ig_from(ig_id: &str, sender: &str, text: &str) -> Vec<u8> {
    json!({"object": "instagram", "entry": [{"id": ig_id, "time": 1, "messaging": [
        {"sender": {"id": sender}, "recipient": {"id": ig_id}, "timestamp": 1,
         "message": {"mid": format!("m-{text}"), "text": text}}]}]})
    .to_string()
    .into_bytes()
}

fn deletion_form(signed: &str) -> Request<Body> {
    Request::post("/meta/data-deletion")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("host", "relay.example.com")
        .body(Body::from(format!("signed_request={signed}")))
        .unwrap()
}

#[tokio::test]
async fn promise_meta_data_deletion_callback_honoured_purges_only_that_user_and_refuses_forgeries()
{
    let env = Env::new();
    let a = env.store.create_tenant("a", "app-one", "va").unwrap();
    let other_app = env.store.create_tenant("b", "app-two", "vb").unwrap();
    env.store.add_channel(&a, &ig("IG-A")).unwrap();
    env.store.add_channel(&other_app, &ig("IG-B")).unwrap();
    let (sk, dev_a) = env.enroll(&a).await;
    let (_skb, dev_b) = env.enroll(&other_app).await;
    for (ig_id, secret, sender, text) in [
        ("IG-A", "app-one", "555001", "from the leaver"),
        ("IG-A", "app-one", "555002", "from someone else"),
        ("IG-B", "app-two", "555001", "same id, other app"),
    ] {
        let body = ig_from(ig_id, sender, text);
        assert_eq!(
            env.post_webhook(&body, Some(&sign(secret, &body))).await.status,
            StatusCode::OK
        );
    }

    // Forged: signed with a secret no tenant has. Nothing is deleted.
    let payload = json!({"algorithm": "HMAC-SHA256", "issued_at": 1, "user_id": "555001"});
    let forged = env.send(deletion_form(&signed_request::sign(&payload, b"not-ours"))).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED, "{}", forged.text());
    assert_eq!(forged.api_error().code, "bad_signed_request");
    let garbage = env.send(deletion_form("abc.def")).await;
    assert_eq!(garbage.status, StatusCode::UNAUTHORIZED);
    assert_eq!(env.store.queue_depth(&dev_a.device_id).unwrap(), 2);

    let ok = env.send(deletion_form(&signed_request::sign(&payload, b"app-one"))).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let answer: DataDeletionResponse = ok.json();
    assert!(answer.confirmation_code.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(
        answer.url,
        format!(
            "http://relay.example.com/meta/data-deletion/status?code={}",
            answer.confirmation_code
        )
    );
    let left = env.poll(&dev_a.token, 0, 0).await;
    assert_eq!(message_texts(&sk, &left), vec!["from someone else"]);
    // Ids are app-scoped: the other app's tenant keeps its event.
    assert_eq!(env.store.queue_depth(&dev_b.device_id).unwrap(), 1);

    let page =
        env.get(&format!("/meta/data-deletion/status?code={}", answer.confirmation_code)).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains(&answer.confirmation_code) && html.contains("Completed"), "{html}");
    assert!(html.contains("1 encrypted copy removed"), "{html}");
    assert!(!html.contains("555001"), "the page never names the user");
    let missing = env.get("/meta/data-deletion/status?code=00ff").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let injected = env.get("/meta/data-deletion/status?code=%3Cscript%3E").await;
    assert!(!injected.text().contains("<script>"));

    // The customer ids are not in the store files, not even hashed in clear.
    let dir = env.close();
    scan_dir(&dir, &[b"555001", b"555002", b"from the leaver"]);
}

#[tokio::test]
async fn promise_meta_data_deletion_callback_honoured_for_team_fanout_events_too() {
    // The customer `wa_batch` messages come from.
    const LEAVER: &str = "15551234567";
    let env = Env::new();
    let a = env.store.create_tenant("a", "app-one", "va").unwrap();
    let other_app = env.store.create_tenant("b", "app-two", "vb").unwrap();
    env.store.add_channel(&a, &number("111")).unwrap();
    let (_sk1, d1) = env.enroll(&a).await;
    let (sk2, d2) = env.enroll(&a).await;
    let (_skb1, b1) = env.enroll(&other_app).await;
    let (_skb2, b2) = env.enroll(&other_app).await;
    let agent_sent = |to: &str, body: &str| EventPayload::AgentSent {
        client_txn_id: format!("txn-{body}"),
        provider_id: format!("wamid.{body}"),
        channel_kind: "whatsapp".into(),
        channel_id: "111".into(),
        to: to.into(),
        body: body.into(),
        message_kind: "text".into(),
        sent_at_ms: 1_700_000_000_000,
    };
    let fan_out = |token: String, peer: (String, String), to: &'static str, body: &'static str| {
        let env = env.clone();
        let payload = agent_sent(to, body);
        async move {
            let pk = parley_protocol::DevicePublicKey::from_base64(&peer.1).unwrap();
            let sealed = pk.seal_payload(&payload).unwrap();
            let resp = env
                .post_json(
                    "/v1/events/fanout",
                    &token,
                    &json!({"copies": [{"device_id": peer.0, "sealed": sealed}],
                            "customer_ids": [to]}),
                )
                .await;
            assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
        }
    };
    let pk2 = sk2.public_key().to_base64();
    let pkb2 = _skb2.public_key().to_base64();
    fan_out(d1.token.clone(), (d2.device_id.clone(), pk2.clone()), LEAVER, "to the leaver").await;
    fan_out(d1.token.clone(), (d2.device_id.clone(), pk2.clone()), " 15551110002 ", "to another")
        .await;
    // The same customer id under another Meta app is another person.
    fan_out(b1.token.clone(), (b2.device_id.clone(), pkb2), LEAVER, "other app").await;
    // The customer's own message arrived by webhook too.
    let body = wa_batch(&[("111", "from the leaver")]);
    assert_eq!(env.post_webhook(&body, Some(&sign("app-one", &body))).await.status, StatusCode::OK);
    assert_eq!(env.store.queue_depth(&d2.device_id).unwrap(), 3);

    // Too many or too long ids are refused whole.
    let many: Vec<String> = (0..9).map(|i| format!("1555000000{i}")).collect();
    let resp = env
        .post_json("/v1/events/fanout", &d1.token, &json!({"copies": [], "customer_ids": many}))
        .await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);

    // A forged request purges nothing.
    let payload = json!({"algorithm": "HMAC-SHA256", "issued_at": 1, "user_id": LEAVER});
    let forged = env.send(deletion_form(&signed_request::sign(&payload, b"not-ours"))).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert_eq!(env.store.queue_depth(&d2.device_id).unwrap(), 3);

    let ok = env.send(deletion_form(&signed_request::sign(&payload, b"app-one"))).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let answer: DataDeletionResponse = ok.json();
    let page =
        env.get(&format!("/meta/data-deletion/status?code={}", answer.confirmation_code)).await;
    // The webhook's copies for d1 and d2, and d2's fan-out copy.
    assert!(page.text().contains("3 encrypted copies removed"), "{}", page.text());
    assert!(env.poll(&d1.token, 0, 0).await.events.is_empty());

    let left = env.poll(&d2.token, 0, 0).await;
    let bodies: Vec<String> = left
        .events
        .iter()
        .filter_map(|e| match sk2.open_payload(&e.sealed).unwrap() {
            EventPayload::AgentSent { body, .. } => Some(body),
            _ => None,
        })
        .collect();
    assert_eq!(bodies, vec!["to another"], "only the other customer's fan-out is left");
    assert_eq!(left.events.len(), 1, "the leaver's webhook went too");
    // Ids are app-scoped: the other app's tenant keeps its copy.
    assert_eq!(env.store.queue_depth(&b2.device_id).unwrap(), 1);
    // The relay stored hashes only: the ids are nowhere in its files.
    let dir = env.close();
    scan_dir(&dir, &[LEAVER.as_bytes(), b"15551110002", b"to the leaver"]);
}

#[tokio::test]
async fn the_push_stream_delivers_live_and_resumes_after_last_event_id() {
    let dir = tempfile::tempdir().unwrap();
    let relay =
        parley_relay::spawn(parley_relay::Config::new(dir.path().join("relay.db"), loopback0()))
            .await
            .unwrap();
    let t = relay.store().create_tenant("a", "secret", "v").unwrap();
    relay.store().add_channel(&t, &number("111")).unwrap();
    let http = reqwest::Client::new();
    let (sk, device) = enroll_http(&http, &relay.url(), relay.store(), &t).await;
    let post = |text: &'static str| {
        let http = http.clone();
        let url = relay.url();
        async move {
            let body = wa_batch(&[("111", text)]);
            let resp = http
                .post(format!("{url}/webhooks/meta"))
                .header("x-hub-signature-256", sign("secret", &body))
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
        }
    };
    post("before the stream").await;

    let unauth = http.get(format!("{}/v1/stream", relay.url())).send().await.unwrap();
    assert_eq!(unauth.status(), 401);

    let mut stream = SseReader::open(&http, &relay.url(), &device.token, None).await;
    let first = stream.next_event().await;
    assert_eq!(first.seq, 1);
    post("while streaming").await;
    let second = stream.next_event().await;
    assert_eq!(second.seq, 2);
    let opened = sk.open_payload(&second.sealed).unwrap();
    assert!(matches!(opened, EventPayload::MetaWebhook { .. }));
    drop(stream);

    post("while away").await;
    let mut resumed = SseReader::open(&http, &relay.url(), &device.token, Some("2")).await;
    let third = resumed.next_event().await;
    assert_eq!(third.seq, 3, "resumes right after Last-Event-ID");
    let texts =
        message_texts(&sk, &parley_protocol::EventsResponse { events: vec![first, second, third] });
    assert_eq!(texts, vec!["before the stream", "while streaming", "while away"]);

    // Revocation ends the stream.
    relay.store().revoke_device(&device.device_id).unwrap();
    post("after revocation").await;
    assert!(resumed.ends_within(Duration::from_secs(20)).await, "a revoked device's stream ends");
    relay.shutdown().await;
}

/// A minimal SSE reader over reqwest chunks.
struct SseReader {
    resp: reqwest::Response,
    buf: String,
}

impl SseReader {
    async fn open(http: &reqwest::Client, base: &str, token: &str, last: Option<&str>) -> Self {
        let mut req = http.get(format!("{base}/v1/stream")).bearer_auth(token);
        if let Some(last) = last {
            req = req.header("last-event-id", last);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        SseReader { resp, buf: String::new() }
    }

    async fn next_event(&mut self) -> SealedEvent {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut data = None;
                let mut id = None;
                for line in block.lines() {
                    if let Some(d) = line.strip_prefix("data:") {
                        data = Some(d.trim().to_owned());
                    } else if let Some(i) = line.strip_prefix("id:") {
                        id = Some(i.trim().to_owned());
                    }
                }
                if let Some(data) = data {
                    let event: SealedEvent = serde_json::from_str(&data).unwrap();
                    assert_eq!(id.as_deref(), Some(event.seq.to_string().as_str()));
                    return event;
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.resp.chunk())
                .await
                .expect("no stream event within 10 s")
                .unwrap()
                .expect("stream ended");
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    async fn ends_within(&mut self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Err(_) => return false,
                Ok(Ok(None)) | Ok(Err(_)) => return true,
                Ok(Ok(Some(chunk))) => {
                    let text = String::from_utf8_lossy(&chunk);
                    assert!(!text.contains("data:"), "a revoked device got an event: {text}");
                }
            }
        }
    }
}

#[tokio::test]
async fn fanout_reaches_the_tenants_other_devices_only() {
    let env = Env::new();
    let a = env.store.create_tenant("a", "sa", "va").unwrap();
    let b = env.store.create_tenant("b", "sb", "vb").unwrap();
    let (_sk1, d1) = env.enroll(&a).await;
    let (sk2, d2) = env.enroll(&a).await;
    let (_sk3, d3) = env.enroll(&a).await;
    let (_skb, e1) = env.enroll(&b).await;
    env.store.revoke_device(&d3.device_id).unwrap();

    let peers: PeersResponse = env.get_with_token("/v1/peers", Some(&d1.token)).await.json();
    let ids: Vec<_> = peers.peers.iter().map(|p| p.device_id.clone()).collect();
    assert_eq!(ids, vec![d2.device_id.clone()], "not itself, not revoked, not tenant b");
    let pk2 = parley_protocol::DevicePublicKey::from_base64(&peers.peers[0].public_key).unwrap();
    let sent = EventPayload::AgentSent {
        client_txn_id: "txn-1".into(),
        provider_id: "wamid.OUT1".into(),
        channel_kind: "whatsapp".into(),
        channel_id: "111".into(),
        to: "15551234567".into(),
        body: "reply from d1".into(),
        message_kind: "text".into(),
        sent_at_ms: 1_700_000_000_000,
    };
    let sealed = pk2.seal_payload(&sent).unwrap();

    // Another tenant's device, guessed or leaked, is refused outright, and
    // so is an id that exists nowhere: same answer for both.
    for target in [e1.device_id.as_str(), "0123456789abcdef0123456789abcdef"] {
        let resp = env
            .post_json(
                "/v1/events/fanout",
                &d1.token,
                &json!({"copies": [{"device_id": target, "sealed": sealed}]}),
            )
            .await;
        assert_eq!(resp.status, StatusCode::FORBIDDEN);
        assert_eq!(resp.api_error().code, "unknown_peer");
    }
    assert_eq!(env.store.queue_depth(&e1.device_id).unwrap(), 0);
    let bad = env
        .post_json(
            "/v1/events/fanout",
            &d1.token,
            &json!({"copies": [{"device_id": d2.device_id, "sealed": "bm90IHNlYWxlZA=="}]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // A revoked peer is skipped; the live one gets its copy.
    let resp = env
        .post_json(
            "/v1/events/fanout",
            &d1.token,
            &json!({"copies": [
                {"device_id": d2.device_id, "sealed": sealed},
                {"device_id": d3.device_id, "sealed": sealed}]}),
        )
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
    let report: FanoutResponse = resp.json();
    assert_eq!(report.seq, Some(1));
    assert_eq!(report.queued, vec![d2.device_id.clone()]);
    assert!(report.missing.is_empty());

    let got = env.poll(&d2.token, 0, 0).await;
    assert_eq!(seqs(&got), vec![1]);
    assert_eq!(sk2.open_payload(&got.events[0].sealed).unwrap(), sent);
    assert!(env.poll(&d1.token, 0, 0).await.events.is_empty(), "the sender gets no copy");
    assert!(env.poll(&e1.token, 0, 0).await.events.is_empty());

    // A peer left out is reported as missing, and nothing is queued.
    let (_sk4, d4) = env.enroll(&a).await;
    let resp: FanoutResponse =
        env.post_json("/v1/events/fanout", &d1.token, &json!({"copies": []})).await.json();
    assert_eq!(resp.seq, None);
    let mut expected = vec![d2.device_id.clone(), d4.device_id.clone()];
    expected.sort();
    assert_eq!(resp.missing, expected);

    // A revoked device cannot fan out.
    let revoked = env
        .post_json(
            "/v1/events/fanout",
            &d3.token,
            &json!({"copies": [{"device_id": d2.device_id, "sealed": sealed}]}),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
}

/// `GET /metrics` as if from `peer` (None: no socket address at all).
fn metrics_request(
    peer: Option<&str>,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> Request<Body> {
    let mut req = Request::get("/metrics");
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let mut req = req.body(Body::empty()).unwrap();
    if let Some(peer) = peer {
        let addr: std::net::SocketAddr = peer.parse().unwrap();
        req.extensions_mut().insert(axum::extract::ConnectInfo(parley_relay::ClientAddr(addr)));
    }
    req
}

#[tokio::test]
async fn metrics_without_a_token_are_served_to_loopback_clients_only() {
    let env = Env::new();
    for (peer, headers, expected) in [
        (Some("127.0.0.1:40000"), &[][..], StatusCode::OK),
        (Some("[::1]:40000"), &[][..], StatusCode::OK),
        (Some("[::ffff:127.0.0.1]:40000"), &[][..], StatusCode::OK),
        (Some("203.0.113.7:40000"), &[][..], StatusCode::FORBIDDEN),
        (Some("10.0.0.2:40000"), &[][..], StatusCode::FORBIDDEN),
        (None, &[][..], StatusCode::FORBIDDEN),
        // A reverse proxy on the same host connects from loopback but says
        // whom it forwards for: not the relay's own host.
        (Some("127.0.0.1:40000"), &[("x-forwarded-for", "203.0.113.7")][..], StatusCode::FORBIDDEN),
        (Some("127.0.0.1:40000"), &[("forwarded", "for=203.0.113.7")][..], StatusCode::FORBIDDEN),
    ] {
        let resp = env.send(metrics_request(peer, None, headers)).await;
        assert_eq!(resp.status, expected, "{peer:?} {headers:?}: {}", resp.text());
        if expected == StatusCode::OK {
            assert!(resp.text().contains("parley_relay_webhooks_accepted_total"));
        } else {
            assert_eq!(resp.api_error().code, "loopback_only");
            assert!(!resp.text().contains("parley_relay_"));
        }
    }
    // Through a real socket too: the connection's own address is what counts.
    let dir = tempfile::tempdir().unwrap();
    let relay =
        parley_relay::spawn(parley_relay::Config::new(dir.path().join("relay.db"), loopback0()))
            .await
            .unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/metrics", relay.url());
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let proxied = http.get(&url).header("x-forwarded-for", "198.51.100.1").send().await.unwrap();
    assert_eq!(proxied.status(), 403);
    relay.shutdown().await;
}

#[tokio::test]
async fn metrics_with_a_token_need_it_from_anywhere() {
    use sha2::Digest as _;
    let token = "ab".repeat(32);
    let env = Env::with_config(|c| {
        c.limits = parley_relay::Limits::OFF;
        c.metrics_token_sha256 = Some(sha2::Sha256::digest(token.as_bytes()).into());
    });
    for (peer, given, expected) in [
        (Some("203.0.113.7:40000"), Some(token.as_str()), StatusCode::OK),
        (None, Some(token.as_str()), StatusCode::OK),
        // With a token configured, loopback alone is not enough.
        (Some("127.0.0.1:40000"), None, StatusCode::UNAUTHORIZED),
        (Some("127.0.0.1:40000"), Some("ab"), StatusCode::UNAUTHORIZED),
        (Some("203.0.113.7:40000"), Some(&"ac".repeat(32)), StatusCode::UNAUTHORIZED),
        (Some("203.0.113.7:40000"), Some(""), StatusCode::UNAUTHORIZED),
    ] {
        let resp = env.send(metrics_request(peer, given, &[])).await;
        assert_eq!(resp.status, expected, "{peer:?} {given:?}: {}", resp.text());
        assert_eq!(
            resp.text().contains("parley_relay_webhooks_accepted_total"),
            expected == StatusCode::OK
        );
    }
    let basic = env
        .send(metrics_request(
            Some("127.0.0.1:1"),
            None,
            &[("authorization", &format!("Basic {token}"))],
        ))
        .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn metrics_count_acceptance_rejections_and_queue() {
    let env = Env::new();
    let t = env.store.create_tenant("a", "secret", "v").unwrap();
    env.store.add_channel(&t, &number("111")).unwrap();
    let (_sk, device) = env.enroll(&t).await;
    let body = wa_batch(&[("111", "counted"), ("999", "unknown channel")]);
    assert_eq!(env.post_webhook(&body, Some(&sign("secret", &body))).await.status, StatusCode::OK);
    assert_eq!(
        env.post_webhook(&body, Some(&sign("wrong", &body))).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(env.post_webhook(&body, None).await.status, StatusCode::UNAUTHORIZED);
    env.poll(&device.token, 0, 0).await;
    let text = env.send(metrics_request(Some("127.0.0.1:40000"), None, &[])).await.text();
    for line in [
        "parley_relay_webhooks_accepted_total 1",
        "parley_relay_events_accepted_total 1",
        "parley_relay_rejected_total{reason=\"bad_signature\"} 1",
        "parley_relay_rejected_total{reason=\"missing_signature\"} 1",
        "parley_relay_rejected_total{reason=\"unknown_channel\"} 1",
        "parley_relay_events_served_total 1",
        "parley_relay_delivery_lag_ms_count 1",
        "parley_relay_queue_depth 1",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(!text.contains(&t) && !text.contains("111"), "no ids in metrics");
}

#[tokio::test]
async fn promise_production_access_restricted_and_logged_admin_api_needs_the_key_and_is_audited() {
    use sha2::Digest as _;
    let key = "0f".repeat(32);
    let env = Env::with_config(|c| {
        c.admin_key_sha256 = Some(sha2::Sha256::digest(key.as_bytes()).into());
    });
    let t = env.store.create_tenant("a", "s", "v").unwrap();
    let (_sk, d) = env.enroll(&t).await;
    let path = format!("/admin/v1/tenants/{t}/devices");
    assert_eq!(env.get(&path).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(env.get_with_token(&path, Some("wrong")).await.status, StatusCode::UNAUTHORIZED);
    let list = env.get_with_token(&path, Some(&key)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.json::<serde_json::Value>()["devices"][0]["id"], d.device_id.as_str());

    let revoke = Request::post(format!("/admin/v1/devices/{}/revoke", d.device_id))
        .header("authorization", format!("Bearer {key}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(env.send(revoke).await.status, StatusCode::NO_CONTENT);
    assert_eq!(
        env.get_with_token("/v1/events", Some(&d.token)).await.status,
        StatusCode::UNAUTHORIZED
    );

    let audit: serde_json::Value =
        env.get_with_token("/admin/v1/audit?limit=50", Some(&key)).await.json();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in ["admin.denied", "admin.devices.list", "device.revoke", "device.enroll"] {
        assert!(actions.contains(&expected), "{expected} not in {actions:?}");
    }

    // Without a configured key the admin API does not exist.
    let plain = Env::new();
    assert_eq!(plain.get_with_token(&path, Some(&key)).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn per_device_rate_limit_answers_429_with_retry_after() {
    let env = Env::with_config(|c| {
        c.limits = parley_relay::Limits {
            per_device: parley_relay::Limit::new(1.0, 3.0),
            ..parley_relay::Limits::OFF
        };
    });
    let t = env.store.create_tenant("a", "s", "v").unwrap();
    let (_sk, d) = env.enroll(&t).await;
    for _ in 0..3 {
        assert_eq!(env.get_with_token("/v1/events", Some(&d.token)).await.status, StatusCode::OK);
    }
    let req = Request::get("/v1/events")
        .header("authorization", format!("Bearer {}", d.token))
        .body(Body::empty())
        .unwrap();
    let resp = env.router_response(req).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn https_from_certificate_files() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status();
    if !matches!(made, Ok(s) if s.success()) {
        eprintln!("skipping: openssl is not available to make a test certificate");
        return;
    }
    let mut config = parley_relay::Config::new(dir.path().join("relay.db"), loopback0());
    config.tls = Some(parley_relay::TlsFiles { cert_chain: cert.clone(), private_key: key });
    let relay = parley_relay::spawn(config).await.unwrap();
    assert!(relay.url().starts_with("https://"));
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    let http = reqwest::Client::builder().add_root_certificate(ca).build().unwrap();
    let health = http.get(format!("{}/healthz", relay.url())).send().await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");
    // Plain HTTP to the TLS port gets nothing useful.
    let plain = reqwest::Client::new().get(format!("http://{}/healthz", relay.addr())).send().await;
    assert!(plain.map(|r| r.status() != 200).unwrap_or(true));
    relay.shutdown().await;
}

#[tokio::test]
async fn routing_changes_apply_at_once_despite_the_webhook_cache() {
    let env = Env::new();
    let a = env.store.create_tenant("a", "secret-a", "va").unwrap();
    env.store.add_channel(&a, &number("111")).unwrap();
    let (_sk1, d1) = env.enroll(&a).await;
    let (_sk2, d2) = env.enroll(&a).await;
    // Warm the cache: secrets of tenant a, devices d1 and d2.
    let body = wa_batch(&[("111", "warm")]);
    assert_eq!(
        env.post_webhook(&body, Some(&sign("secret-a", &body))).await.status,
        StatusCode::OK
    );

    // A tenant created after the cache was filled is accepted at once.
    let b = env.store.create_tenant("b", "secret-b", "vb").unwrap();
    env.store.add_channel(&b, &number("222")).unwrap();
    let (skb, db) = env.enroll(&b).await;
    let body = wa_batch(&[("222", "new tenant")]);
    assert_eq!(
        env.post_webhook(&body, Some(&sign("secret-b", &body))).await.status,
        StatusCode::OK
    );
    assert_eq!(message_texts(&skb, &env.poll(&db.token, 0, 0).await), vec!["new tenant"]);

    // A device enrolled after the cache was filled gets a copy; a revoked
    // one gets none, though the cache still lists it.
    let (sk3, d3) = env.enroll(&a).await;
    env.store.revoke_device(&d2.device_id).unwrap();
    let body = wa_batch(&[("111", "after changes")]);
    assert_eq!(
        env.post_webhook(&body, Some(&sign("secret-a", &body))).await.status,
        StatusCode::OK
    );
    assert_eq!(message_texts(&sk3, &env.poll(&d3.token, 0, 0).await), vec!["after changes"]);
    assert_eq!(env.store.queue_depth(&d2.device_id).unwrap(), 0);
    assert_eq!(env.store.queue_depth(&d1.device_id).unwrap(), 2);

    // A forged signature is still refused after the fresh re-check.
    assert_eq!(
        env.post_webhook(&body, Some(&sign("not-a-secret", &body))).await.status,
        StatusCode::UNAUTHORIZED
    );
}
