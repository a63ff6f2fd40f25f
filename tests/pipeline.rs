//! The whole pipeline with real binaries on loopback:
//! `parley-sandbox` → `parley-relay` → `parleyctl` (a headless core on the
//! real keyring and a real SQLCipher file) → reply → `parley-sandbox`.
//!
//! Needs the workspace binaries built (`cargo build --workspace --bins`) and
//! a D-Bus session with an unlocked Secret Service; `scripts/test.sh`
//! provides both.

use std::time::Duration;

use serde_json::{json, Value};

mod common;

use common::*;

#[test]
fn a_message_travels_the_whole_pipeline_and_the_reply_comes_back() {
    let p = pipeline();
    let canary = "pipeline canary: where is parcel 8841?";
    let wamid = p.customer_writes(canary);

    // The message reaches the encrypted database through the relay.
    let conversation = eventually(30, "the message to reach the database", || {
        p.sync();
        let list = ctl_json(&p.profile, &["conversations"]);
        list.as_array().unwrap().first().cloned()
    });
    assert_eq!(conversation["title"], "Pipeline Customer");
    assert_eq!(conversation["handle"], CUSTOMER);
    assert_eq!(conversation["last_preview"], canary);
    assert_eq!(conversation["unread"], 1);
    let id = conversation["id"].as_i64().unwrap();
    let messages = p.messages(id);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["body"], canary);
    assert_eq!(messages[0]["provider_id"], wamid.as_str());
    assert_eq!(messages[0]["direction"], "inbound");

    // Syncing again is harmless: nothing new, nothing doubled.
    let report = p.sync();
    assert_eq!(report["events"], 0);
    assert_eq!(p.messages(id).len(), 1);

    // The agent's reply reaches the sandbox, addressed to the customer.
    let reply_text = "pipeline reply: it ships tomorrow";
    let sent =
        ctl_json(&p.profile, &["send", "--conversation", &id.to_string(), "--text", reply_text]);
    assert_eq!(sent["status"], "accepted", "{sent}");
    let at_sandbox: Vec<Value> =
        p.http.get(format!("{}/_sandbox/sent", p.sandbox.url)).send().unwrap().json().unwrap();
    assert_eq!(at_sandbox.len(), 1);
    assert_eq!(at_sandbox[0]["to"], CUSTOMER);
    assert_eq!(at_sandbox[0]["text"], reply_text);
    assert_eq!(at_sandbox[0]["id"], sent["provider_id"]);

    // Its ticks advance as the sandbox's signed status webhooks arrive.
    eventually(30, "the reply to be read", || {
        p.sync();
        let reply = p.messages(id).into_iter().find(|m| m["direction"] == "outbound")?;
        (reply["status"] == "read").then_some(())
    });

    // The agent reacts to the customer's message: Meta gets a reaction
    // naming it, and the message shows our reaction; no emoji removes it.
    let inbound = messages[0]["id"].as_i64().unwrap().to_string();
    let reacted = ctl_json(&p.profile, &["react", "--message", &inbound, "--emoji", "👍"]);
    assert_eq!(reacted["reactions"], json!([{ "emoji": "👍", "by": "outbound" }]), "{reacted}");
    let removed = ctl_json(&p.profile, &["react", "--message", &inbound]);
    assert_eq!(removed["reactions"], json!([]), "{removed}");
    let at_sandbox: Vec<Value> =
        p.http.get(format!("{}/_sandbox/sent", p.sandbox.url)).send().unwrap().json().unwrap();
    let reactions: Vec<&Value> = at_sandbox.iter().filter(|m| m["kind"] == "reaction").collect();
    assert_eq!(reactions.len(), 2, "{at_sandbox:?}");
    assert_eq!(reactions[0]["reaction"], json!({ "message_id": wamid, "emoji": "👍" }));
    assert_eq!(reactions[1]["reaction"], json!({ "message_id": wamid, "emoji": "" }));
    // Our own reply takes no reaction (Meta only takes them on the customer's messages).
    let reply_id = p.messages(id).into_iter().find(|m| m["direction"] == "outbound").unwrap()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let refused =
        ctl(&p.profile).args(["react", "--message", &reply_id, "--emoji", "👍"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Only a customer's message"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // Reading the conversation sends Meta a read receipt.
    run(ctl(&p.profile).args(["mark-read", "--conversation", &id.to_string()]));
    assert_eq!(ctl_json(&p.profile, &["conversations"])[0]["unread"], 0);

    // Nothing readable on disk: the database and its WAL are encrypted.
    let mut files = 0;
    for entry in std::fs::read_dir(&p.profile).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("parley.db") {
            files += 1;
            let bytes = std::fs::read(&path).unwrap();
            for secret in [canary, reply_text, CUSTOMER, "Pipeline Customer", ACCESS_TOKEN] {
                assert!(!contains(&bytes, secret), "{secret:?} found in {name}");
            }
        } else {
            // config.json holds settings, never secrets or customers.
            let bytes = std::fs::read(&path).unwrap();
            for secret in [canary, ACCESS_TOKEN, CUSTOMER] {
                assert!(!contains(&bytes, secret), "{secret:?} found in {name}");
            }
        }
    }
    assert!(files >= 1, "the database file exists");

    // No logs carry content, phone numbers or secrets either (all at debug level).
    let dir = p.relay_db.parent().unwrap();
    for log in ["relay.log", "sandbox.log", "core.log"] {
        let bytes = std::fs::read(dir.join(log)).unwrap_or_else(|e| panic!("{log}: {e}"));
        assert!(!bytes.is_empty(), "{log} is empty: the check would prove nothing");
        for secret in [canary, reply_text, CUSTOMER, "Pipeline Customer", ACCESS_TOKEN, APP_SECRET]
        {
            assert!(!contains(&bytes, secret), "{secret:?} found in {log}");
        }
    }

    // The relay keeps only sealed events: no plaintext in its store either.
    for entry in std::fs::read_dir(p.relay_db.parent().unwrap()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("relay.db") {
            let bytes = std::fs::read(&path).unwrap();
            assert!(!contains(&bytes, canary), "plaintext in the relay store {}", path.display());
            assert!(!contains(&bytes, reply_text));
        }
    }
}

#[test]
fn forged_webhooks_are_refused_and_the_handshake_answers() {
    let p = pipeline();
    let url = format!("{}/webhooks/meta", p.relay.url);
    let challenge = p
        .http
        .get(&url)
        .query(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", VERIFY_TOKEN),
            ("hub.challenge", "8812"),
        ])
        .send()
        .unwrap();
    assert_eq!(challenge.status(), 200);
    assert_eq!(challenge.text().unwrap(), "8812");
    let wrong = p
        .http
        .get(&url)
        .query(&[("hub.mode", "subscribe"), ("hub.verify_token", "nope"), ("hub.challenge", "1")])
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 403);

    let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
    let forged = parley_meta::signature::sign(b"not-the-app-secret", body);
    let resp = p
        .http
        .post(&url)
        .header(parley_meta::signature::SIGNATURE_HEADER, forged)
        .body(body.to_vec())
        .send()
        .unwrap();
    assert!(resp.status().is_client_error(), "forged signature got {}", resp.status());
    let unsigned = p.http.post(&url).body(body.to_vec()).send().unwrap();
    assert!(unsigned.status().is_client_error());
    assert_eq!(p.sync()["events"], 0, "nothing forged reached the device");
}

#[test]
fn a_relay_that_vanishes_mid_sync_loses_nothing() {
    let mut p = pipeline();
    p.customer_writes("before the outage");
    eventually(30, "the first message", || (p.sync()["events"].as_u64()? > 0).then_some(()));

    // The relay dies. Sync fails with words, and the database is intact.
    let listen = p.relay.url.trim_start_matches("http://").to_owned();
    let _ = p.relay.child.kill();
    let _ = p.relay.child.wait();
    let out = ctl(&p.profile).args(["sync", "--once"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unreachable"), "{stderr}");

    // The customer writes while it is down; the sandbox retries like Meta.
    let sandbox_url = p.sandbox.url.clone();
    let writer = std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .post(format!("{sandbox_url}/_sandbox/customers/{CUSTOMER}/messages"))
            .json(&json!({ "text": "during the outage" }))
            .send()
            .map(|r| r.status())
    });
    std::thread::sleep(Duration::from_millis(500));
    p.relay = start_relay(&p.relay_db, &listen);
    let status = writer.join().unwrap().unwrap();
    assert!(status.is_success(), "{status}");

    let conversation = eventually(30, "the message sent during the outage", || {
        p.sync();
        let list = ctl_json(&p.profile, &["conversations"]);
        let first = list.as_array()?.first()?.clone();
        (first["last_preview"] == "during the outage").then_some(first)
    });
    let bodies: Vec<_> = p
        .messages(conversation["id"].as_i64().unwrap())
        .into_iter()
        .map(|m| m["body"].clone())
        .collect();
    assert_eq!(bodies, [json!("before the outage"), json!("during the outage")]);
}

#[test]
fn an_instagram_message_and_its_reply_travel_the_same_way() {
    let p = pipeline();
    let igsid = p.instagram_customer();
    let resp = p
        .http
        .post(format!("{}/_sandbox/instagram/{igsid}/send", p.sandbox.url))
        .json(&json!({ "type": "text", "text": "hi from instagram" }))
        .send()
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().unwrap());
    let conversation = eventually(30, "the Instagram conversation", || {
        p.sync();
        let list = ctl_json(&p.profile, &["conversations"]);
        list.as_array()?.iter().find(|c| c["channel"] == "instagram").cloned()
    });
    assert_eq!(conversation["handle"], igsid.as_str());
    let id = conversation["id"].as_i64().unwrap().to_string();
    let sent =
        ctl_json(&p.profile, &["send", "--conversation", &id, "--text", "hello on instagram"]);
    assert_eq!(sent["status"], "accepted", "{sent}");
    let at_sandbox: Vec<Value> =
        p.http.get(format!("{}/_sandbox/sent", p.sandbox.url)).send().unwrap().json().unwrap();
    let ours = at_sandbox.iter().find(|m| m["channel"] == "instagram").expect("an Instagram send");
    assert_eq!(
        (ours["to"].as_str(), ours["text"].as_str()),
        (Some(igsid.as_str()), Some("hello on instagram"))
    );
    // Inside 24 hours no HUMAN_AGENT tag is needed, so none is sent.
    assert!(ours["body"].get("tag").is_none(), "{ours}");
    // Instagram reactions are refused with words, and nothing is sent.
    let theirs = ctl_json(&p.profile, &["messages", "--conversation", &id])
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["direction"] == "inbound")
        .unwrap()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let refused =
        ctl(&p.profile).args(["react", "--message", &theirs, "--emoji", "👍"]).output().unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("WhatsApp only") && stderr.contains("Reply with a message"),
        "{stderr}"
    );
}

#[test]
fn a_file_is_uploaded_and_sent_and_arrives_byte_for_byte() {
    let p = pipeline();
    p.customer_writes("send me the invoice please");
    let conversation = eventually(30, "the conversation", || {
        p.sync();
        ctl_json(&p.profile, &["conversations"]).as_array()?.first()?["id"].as_i64()
    });
    let dir = p.relay_db.parent().unwrap();
    let file = dir.join("invoice.pdf");
    let bytes: Vec<u8> =
        b"%PDF-1.4 pipeline invoice ".iter().copied().cycle().take(50_000).collect();
    std::fs::write(&file, &bytes).unwrap();
    let id = conversation.to_string();
    let sent = ctl_json(
        &p.profile,
        &[
            "send-file",
            "--conversation",
            &id,
            "--path",
            file.to_str().unwrap(),
            "--caption",
            "Your invoice",
        ],
    );
    assert_eq!(
        (sent["kind"].as_str(), sent["status"].as_str()),
        (Some("document"), Some("accepted")),
        "{sent}"
    );
    let at_sandbox: Vec<Value> =
        p.http.get(format!("{}/_sandbox/sent", p.sandbox.url)).send().unwrap().json().unwrap();
    let doc = at_sandbox.iter().find(|m| m["kind"] == "document").expect("a document send");
    assert_eq!(doc["body"]["document"]["caption"], "Your invoice");
    assert_eq!(doc["body"]["document"]["filename"], "invoice.pdf");
    let media_id = doc["body"]["document"]["id"].as_str().expect("sent by uploaded id");
    let uploaded = p
        .http
        .get(format!("{}/_sandbox/media/{media_id}/file", p.sandbox.url))
        .bearer_auth(ACCESS_TOKEN)
        .send()
        .unwrap();
    assert!(uploaded.status().is_success(), "{}", uploaded.status());
    assert_eq!(uploaded.bytes().unwrap().to_vec(), bytes, "the sandbox holds exactly our file");

    // Too big for its type: refused before anything is stored or uploaded.
    let big = dir.join("huge.png");
    std::fs::write(&big, vec![0u8; 6 * 1024 * 1024]).unwrap();
    let out = ctl(&p.profile)
        .args(["send-file", "--conversation", &id, "--path", big.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("at most 5.0 MB"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
