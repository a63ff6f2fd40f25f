//! The relay from the outside: its HTTP API through `app()` (in-memory
//! `oneshot`) or a real socket (`spawn`), and the `parley-relay` binary.

mod cli;
mod util;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use parley_protocol::{EventPayload, EventsResponse, MAX_BATCH, PATH_HEALTH};
use util::*;

#[tokio::test]
async fn handshake_echoes_the_challenge_only_for_a_known_verify_token() {
    let env = Env::new();
    env.store.create_tenant("acme", "secret", "verify-me").unwrap();

    let ok = env
        .get(
            "/webhooks/meta?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444",
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.text(), "1158201444");

    for query in [
        "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        "hub.mode=subscribe&hub.verify_token=verify-m&hub.challenge=1",
        "hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1",
        "hub.mode=subscribe&hub.verify_token=&hub.challenge=1",
        "hub.challenge=1",
    ] {
        let denied = env.get(&format!("/webhooks/meta?{query}")).await;
        assert_eq!(denied.status, StatusCode::FORBIDDEN, "{query}");
        assert_eq!(denied.api_error().code, "forbidden");
        assert_ne!(denied.text(), "1", "the challenge must not be echoed");
    }
}

#[tokio::test]
async fn unsigned_forged_and_oversized_webhooks_store_nothing() {
    let env = Env::new();
    let tenant = env.store.create_tenant("acme", "secret", "v").unwrap();
    env.store.add_channel(&tenant, &number("111")).unwrap();
    let (sk, device) = env.enroll(&tenant).await;
    let body = wa_batch(&[("111", "hello there")]);

    let missing = env.post_webhook(&body, None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.api_error().code, "missing_signature");

    let forged = env.post_webhook(&body, Some(&sign("not-the-secret", &body))).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert_eq!(forged.api_error().code, "bad_signature");

    let malformed = env.post_webhook(&body, Some("sha1=deadbeef")).await;
    assert_eq!(malformed.status, StatusCode::UNAUTHORIZED);
    assert_eq!(malformed.api_error().code, "malformed_signature");

    // Correctly signed and valid JSON, but 4 MB: refused on size alone.
    let huge = wa_batch(&[("111", &"x".repeat(4 * 1024 * 1024))]);
    let too_big = env.post_webhook(&huge, Some(&sign("secret", &huge))).await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(too_big.api_error().code, "payload_too_large");

    assert_eq!(env.store.queue_depth(&device.device_id).unwrap(), 0);
    // No sequence number was spent either: the first real event is seq 1.
    let ok = env.post_webhook(&body, Some(&sign("secret", &body))).await;
    assert_eq!(ok.status, StatusCode::OK);
    let events = env.poll(&device.token, 0, 0).await;
    assert_eq!(seqs(&events), vec![1]);
    assert_eq!(message_texts(&sk, &events), vec!["hello there"]);
}

#[tokio::test]
async fn a_signed_batch_is_split_so_each_tenant_gets_only_its_own_part() {
    let env = Env::new();
    // Two businesses on the same Meta app share its secret.
    let a = env.store.create_tenant("a", "shared-secret", "va").unwrap();
    let b = env.store.create_tenant("b", "shared-secret", "vb").unwrap();
    env.store.add_channel(&a, &number("111")).unwrap();
    env.store.add_channel(&b, &number("222")).unwrap();
    let (sk_a, dev_a) = env.enroll(&a).await;
    let (sk_b, dev_b) = env.enroll(&b).await;

    let body =
        wa_batch(&[("111", "for a #1"), ("222", "for b"), ("999", "nobody"), ("111", "for a #2")]);
    let resp = env.post_webhook(&body, Some(&sign("shared-secret", &body))).await;
    assert_eq!(resp.status, StatusCode::OK);

    let got_a = env.poll(&dev_a.token, 0, 0).await;
    let got_b = env.poll(&dev_b.token, 0, 0).await;
    assert_eq!(seqs(&got_a), vec![1], "one part per channel, both changes inside");
    assert_eq!(message_texts(&sk_a, &got_a), vec!["for a #1", "for a #2"]);
    assert_eq!(seqs(&got_b), vec![1], "sequence numbers are per tenant");
    assert_eq!(message_texts(&sk_b, &got_b), vec!["for b"]);
    // And a device cannot open another tenant's box.
    assert!(sk_a.open(&got_b.events[0].sealed).is_err());
}

#[tokio::test]
async fn unknown_channels_and_other_apps_channels_are_dropped_with_200() {
    let env = Env::new();
    let a = env.store.create_tenant("a", "secret-a", "va").unwrap();
    let c = env.store.create_tenant("c", "secret-c", "vc").unwrap();
    env.store.add_channel(&a, &number("111")).unwrap();
    env.store.add_channel(&c, &number("333")).unwrap();
    let (_sk_a, dev_a) = env.enroll(&a).await;
    let (_sk_c, dev_c) = env.enroll(&c).await;

    let unknown = wa_batch(&[("999", "lost")]);
    let resp = env.post_webhook(&unknown, Some(&sign("secret-a", &unknown))).await;
    assert_eq!(resp.status, StatusCode::OK, "Meta must not retry what can never be routed");

    // App A's secret signing a change for C's number: a spoofing attempt.
    let spoof = wa_batch(&[("333", "spoofed")]);
    let resp = env.post_webhook(&spoof, Some(&sign("secret-a", &spoof))).await;
    assert_eq!(resp.status, StatusCode::OK);

    // An id that only differs by a suffix does not match.
    let near = wa_batch(&[("1111", "near miss")]);
    assert_eq!(
        env.post_webhook(&near, Some(&sign("secret-a", &near))).await.status,
        StatusCode::OK
    );

    assert!(env.poll(&dev_a.token, 0, 0).await.events.is_empty());
    assert!(env.poll(&dev_c.token, 0, 0).await.events.is_empty());
    assert_eq!(env.store.queue_depth(&dev_c.device_id).unwrap(), 0);
}

#[tokio::test]
async fn signed_garbage_is_a_clear_400() {
    let env = Env::new();
    env.store.create_tenant("a", "secret", "v").unwrap();
    let body = b"this is not json".to_vec();
    let resp = env.post_webhook(&body, Some(&sign("secret", &body))).await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    let err = resp.api_error();
    assert_eq!(err.code, "invalid_json");
    assert!(err.message.contains("not valid JSON"), "{}", err.message);
}

#[tokio::test]
async fn enroll_poll_open_ack_then_nothing_is_left() {
    let env = Env::new();
    let t = env.store.create_tenant("a", "secret", "v").unwrap();
    env.store.add_channel(&t, &ig("17841400000000001")).unwrap();
    let (sk, device) = env.enroll(&t).await;
    assert_eq!(device.tenant_id, t);

    let body = ig_batch("17841400000000001", "hi on instagram").into_bytes();
    assert_eq!(env.post_webhook(&body, Some(&sign("secret", &body))).await.status, StatusCode::OK);

    let events = env.poll(&device.token, 0, 0).await;
    assert_eq!(seqs(&events), vec![1]);
    assert!(events.events[0].received_at_ms > 1_600_000_000_000);
    let EventPayload::MetaWebhook { body: opened } =
        sk.open_payload(&events.events[0].sealed).unwrap()
    else {
        panic!("not a Meta webhook");
    };
    assert_eq!(opened["object"], "instagram");
    assert_eq!(opened["entry"][0]["messaging"][0]["message"]["text"], "hi on instagram");

    let ack = env.ack(&device.token, 1).await;
    assert_eq!(ack.status, StatusCode::NO_CONTENT);
    assert!(env.poll(&device.token, 0, 0).await.events.is_empty());
    assert_eq!(env.store.queue_depth(&device.device_id).unwrap(), 0);
    let listed = env.store.list_devices(&t).unwrap();
    assert_eq!(listed[0].acked_seq, 1);
}

#[tokio::test]
async fn enrollment_codes_work_once_and_bad_keys_are_refused() {
    let env = Env::new();
    let t = env.store.create_tenant("a", "secret", "v").unwrap();
    let code = env.store.issue_enrollment_code(&t, Duration::from_secs(60)).unwrap();
    let key = parley_protocol::DeviceSecretKey::generate().public_key().to_base64();

    let bad_key = env.enroll_raw(&code, "not base64!").await;
    assert_eq!(bad_key.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_key.api_error().code, "invalid_public_key");

    assert_eq!(env.enroll_raw(&code, &key).await.status, StatusCode::OK);
    let again = env.enroll_raw(&code, &key).await;
    assert_eq!(again.status, StatusCode::FORBIDDEN);
    assert_eq!(again.api_error().code, "code_used");
    let unknown = env.enroll_raw(&"ab".repeat(32), &key).await;
    assert_eq!(unknown.api_error().code, "invalid_code");
    assert_eq!(env.store.list_devices(&t).unwrap().len(), 1);
}

#[tokio::test]
async fn bad_tokens_and_revoked_devices_get_401_and_nothing() {
    let env = Env::new();
    let t = env.store.create_tenant("a", "secret", "v").unwrap();
    env.store.add_channel(&t, &number("111")).unwrap();
    let (_sk, device) = env.enroll(&t).await;
    let body = wa_batch(&[("111", "before revoke")]);
    env.post_webhook(&body, Some(&sign("secret", &body))).await;
    assert_eq!(env.store.queue_depth(&device.device_id).unwrap(), 1);

    let unknown = env.get_with_token("/v1/events?after=0", Some("deadbeef")).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.api_error().code, "unauthorized");
    let none = env.get_with_token("/v1/events?after=0", None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);

    env.store.revoke_device(&device.device_id).unwrap();
    let revoked = env.get_with_token("/v1/events?after=0", Some(&device.token)).await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(revoked.api_error().code, "revoked");
    assert!(!revoked.text().contains("sealed"));
    assert_eq!(env.ack(&device.token, 1).await.api_error().code, "revoked");

    let body = wa_batch(&[("111", "after revoke")]);
    env.post_webhook(&body, Some(&sign("secret", &body))).await;
    assert_eq!(env.store.queue_depth(&device.device_id).unwrap(), 0);
}

#[tokio::test]
async fn after_and_limit_page_through_the_queue() {
    let env = Env::new();
    let t = env.store.create_tenant("a", "secret", "v").unwrap();
    env.store.add_channel(&t, &number("111")).unwrap();
    let (_sk, device) = env.enroll(&t).await;
    for i in 0..3 {
        let body = wa_batch(&[("111", &format!("m{i}"))]);
        env.post_webhook(&body, Some(&sign("secret", &body))).await;
    }
    let first = env.get_with_token("/v1/events?after=0&limit=2", Some(&device.token)).await;
    assert_eq!(seqs(&first.json::<EventsResponse>()), vec![1, 2]);
    let rest = env.get_with_token("/v1/events?after=2&limit=2", Some(&device.token)).await;
    assert_eq!(seqs(&rest.json::<EventsResponse>()), vec![3]);
    let huge = env
        .get_with_token(&format!("/v1/events?limit={}", MAX_BATCH * 10), Some(&device.token))
        .await;
    assert_eq!(huge.json::<EventsResponse>().events.len(), 3);
    let bad = env.get_with_token("/v1/events?after=minus-one", Some(&device.token)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_long_poll_wakes_when_a_webhook_arrives() {
    let env = Env::new();
    let t = env.store.create_tenant("a", "secret", "v").unwrap();
    env.store.add_channel(&t, &number("111")).unwrap();
    let (sk, device) = env.enroll(&t).await;

    let started = Instant::now();
    let waiting = {
        let env = env.clone();
        let token = device.token.clone();
        tokio::spawn(async move { env.poll(&token, 0, 20).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the poll must wait while the queue is empty");
    let body = wa_batch(&[("111", "wake up")]);
    assert_eq!(env.post_webhook(&body, Some(&sign("secret", &body))).await.status, StatusCode::OK);

    let events = tokio::time::timeout(Duration::from_secs(10), waiting).await.unwrap().unwrap();
    let waited = started.elapsed();
    assert_eq!(message_texts(&sk, &events), vec!["wake up"]);
    assert!(waited >= Duration::from_millis(300), "answered before the webhook: {waited:?}");
    assert!(waited < Duration::from_secs(10), "woke only at the deadline: {waited:?}");
}

#[tokio::test]
async fn a_long_poll_with_nothing_to_say_returns_empty_at_its_deadline() {
    let env = Env::new();
    let t = env.store.create_tenant("a", "secret", "v").unwrap();
    let (_sk, device) = env.enroll(&t).await;
    let started = Instant::now();
    let events = env.poll(&device.token, 0, 1).await;
    assert!(events.events.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());
}

#[tokio::test]
async fn health_and_unknown_paths() {
    let env = Env::new();
    let ok = env.get(PATH_HEALTH).await;
    assert_eq!((ok.status, ok.text().as_str()), (StatusCode::OK, "ok"));
    let missing = env.get("/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.api_error().code, "not_found");
}

#[tokio::test]
async fn no_plaintext_reaches_the_database_wal_or_shm() {
    let env = Env::new();
    let t = env.store.create_tenant("plaintext-probe-tenant", "secret", "v").unwrap();
    env.store.add_channel(&t, &number("111")).unwrap();
    let (sk, device) = env.enroll(&t).await;
    let (_sk2, _device2) = env.enroll(&t).await;
    let secret_text = "Zebra-Quartz-7731 my card number is 4111";
    let body = wa_batch(&[("111", secret_text)]);
    assert_eq!(env.post_webhook(&body, Some(&sign("secret", &body))).await.status, StatusCode::OK);
    // The event really is stored, and the device can read it.
    let events = env.poll(&device.token, 0, 0).await;
    assert_eq!(message_texts(&sk, &events), vec![secret_text]);

    let needles: [&[u8]; 3] = [b"Zebra-Quartz-7731", b"15551234567", b"wamid."];
    let scan = |when: &str| {
        let files = env.db_files();
        assert!(!files.is_empty(), "no database files found {when}");
        let all: Vec<u8> = files.iter().flat_map(|(_, bytes)| bytes.clone()).collect();
        // The probe proves the scan sees what was written in clear.
        assert!(contains(&all, b"plaintext-probe-tenant"), "the scan cannot see the data {when}");
        for (path, bytes) in &files {
            for needle in needles {
                assert!(
                    !contains(bytes, needle),
                    "{} holds {:?} {when}",
                    path.display(),
                    String::from_utf8_lossy(needle)
                );
            }
        }
    };
    scan("while open");
    let dir = env.close();
    scan_dir(&dir, &needles);
}

#[tokio::test]
async fn undelivered_events_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let relay =
        parley_relay::spawn(parley_relay::Config::new(db.clone(), loopback0())).await.unwrap();
    let t = relay.store().create_tenant("a", "secret", "v").unwrap();
    relay.store().add_channel(&t, &number("111")).unwrap();
    let http = reqwest::Client::new();
    let (sk, device) = enroll_http(&http, &relay.url(), relay.store(), &t).await;
    let body = wa_batch(&[("111", "kept across restarts")]);
    let resp = http
        .post(format!("{}/webhooks/meta", relay.url()))
        .header("x-hub-signature-256", sign("secret", &body))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    relay.shutdown().await;

    // A fresh store on the same file sees it, and so does a fresh relay.
    let reopened = parley_relay::Store::open(&db).unwrap();
    assert_eq!(reopened.queue_depth(&device.device_id).unwrap(), 1);
    drop(reopened);
    let relay =
        parley_relay::spawn(parley_relay::Config::new(db.clone(), loopback0())).await.unwrap();
    let events = fetch_events(&http, &relay.url(), &device.token, 0).await;
    assert_eq!(message_texts(&sk, &events), vec!["kept across restarts"]);
    relay.shutdown().await;
}

#[tokio::test]
async fn shutdown_finishes_a_waiting_long_poll_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let relay =
        parley_relay::spawn(parley_relay::Config::new(dir.path().join("r.db"), loopback0()))
            .await
            .unwrap();
    let t = relay.store().create_tenant("a", "secret", "v").unwrap();
    let http = reqwest::Client::new();
    let (_sk, device) = enroll_http(&http, &relay.url(), relay.store(), &t).await;
    let url = format!("{}/v1/events?after=0&wait_secs=30", relay.url());
    let poll = tokio::spawn(http.get(url).bearer_auth(&device.token).send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    relay.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(5), "shutdown waited for the full poll");
    // The in-flight request completed with an answer rather than a reset.
    let resp = poll.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.json::<EventsResponse>().await.unwrap().events.is_empty());
}

#[tokio::test]
async fn webhooks_over_a_real_socket_honour_the_3mb_limit() {
    let dir = tempfile::tempdir().unwrap();
    let relay =
        parley_relay::spawn(parley_relay::Config::new(dir.path().join("r.db"), loopback0()))
            .await
            .unwrap();
    assert!(relay.url().starts_with("http://127.0.0.1:"));
    let t = relay.store().create_tenant("a", "secret", "v").unwrap();
    relay.store().add_channel(&t, &number("111")).unwrap();
    let http = reqwest::Client::new();
    let (_sk, device) = enroll_http(&http, &relay.url(), relay.store(), &t).await;
    let post = |body: Vec<u8>| {
        http.post(format!("{}/webhooks/meta", relay.url()))
            .header("x-hub-signature-256", sign("secret", &body))
            .body(body)
            .send()
    };
    // Near Meta's maximum, above axum's 2 MB default: accepted.
    let big = wa_batch(&[("111", &"y".repeat(2_900_000))]);
    assert_eq!(post(big).await.unwrap().status(), 200);
    let huge = wa_batch(&[("111", &"z".repeat(4 * 1024 * 1024))]);
    assert_eq!(post(huge).await.unwrap().status(), 413);
    assert_eq!(relay.store().queue_depth(&device.device_id).unwrap(), 1);
    relay.shutdown().await;
}
