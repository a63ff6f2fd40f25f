//! A team inbox: two agents' desktops enrolled with one tenant. A reply one
//! agent sends appears in the other's thread too (sealed by the sender for
//! each peer, fanned out by the relay), and its ticks advance on both.

mod common;

use common::*;
use serde_json::json;

#[test]
fn a_reply_from_one_agent_appears_on_the_other_agents_desktop() {
    require_session();
    let dir = tempfile::tempdir().unwrap();
    let relay_db = dir.path().join("relay.db");
    let alice = dir.path().join("alice");
    let bob = dir.path().join("bob");
    let relay = relay_with_enrolled_profiles(&relay_db, &[&alice, &bob]);
    let sandbox = start_sandbox(&relay.url, "127.0.0.1:0", 50, None);
    for agent in [&alice, &bob] {
        run(ctl(agent)
            .args([
                "configure-graph",
                "--base-url",
                &sandbox.url,
                "--phone-number-id",
                PHONE_NUMBER_ID,
            ])
            .env("PARLEY_ACCESS_TOKEN", ACCESS_TOKEN));
    }
    let http = reqwest::blocking::Client::new();
    let resp = http
        .post(format!("{}/_sandbox/customers/{CUSTOMER}/messages", sandbox.url))
        .json(&json!({ "text": "anyone there?", "name": "Team Customer" }))
        .send()
        .unwrap();
    assert!(resp.status().is_success());
    let conversation = |agent: &std::path::Path| {
        eventually(30, "the conversation", || {
            ctl_json(agent, &["sync", "--once"]);
            ctl_json(agent, &["conversations"]).as_array()?.first()?["id"].as_i64()
        })
    };
    let at_alice = conversation(&alice);
    let at_bob = conversation(&bob);

    let reply = "Alice here: on it";
    let sent =
        ctl_json(&alice, &["send", "--conversation", &at_alice.to_string(), "--text", reply]);
    assert_eq!(sent["status"], "accepted", "{sent}");

    let seen = eventually(30, "Alice's reply on Bob's desktop, read", || {
        ctl_json(&bob, &["sync", "--once"]);
        let messages = ctl_json(&bob, &["messages", "--conversation", &at_bob.to_string()]);
        let ours = messages.as_array()?.iter().find(|m| m["direction"] == "outbound")?.clone();
        (ours["status"] == "read").then_some(ours)
    });
    assert_eq!(seen["body"], reply);
    assert_eq!(seen["provider_id"], sent["provider_id"]);
    // Shown once on each side, and Alice's own copy is not doubled.
    let count = |agent: &std::path::Path, id: i64| {
        ctl_json(agent, &["messages", "--conversation", &id.to_string()])
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["direction"] == "outbound")
            .count()
    };
    ctl_json(&alice, &["sync", "--once"]);
    assert_eq!((count(&alice, at_alice), count(&bob, at_bob)), (1, 1));
    // The relay kept only ciphertext of the reply.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("relay.db") {
            assert!(
                !contains(&std::fs::read(&path).unwrap(), reply),
                "reply in clear in {}",
                path.display()
            );
        }
    }
}
