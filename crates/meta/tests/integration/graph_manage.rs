//! The newer Graph client calls (templates, profile, phone numbers, media,
//! Instagram, retries) against the same recording mock as `graph`.

use crate::graph::{meta_error, seen, serve, ACCEPTED, PNID, TOKEN};
use axum::http::Method;
use parley_meta::graph::{
    sha256_hex, BusinessProfile, GraphError, InstagramAttachment, InstagramBody, MediaInfo,
    NewTemplate, OutgoingMessage, RetryClass, RetryPolicy, TemplateCategory,
};
use serde_json::json;
use std::time::{Duration, Instant};

const WABA: &str = "200000000000001";

#[tokio::test]
async fn templates_list_pages_create_and_delete() {
    let page1 = json!({
        "data": [{"id":"1","name":"order_ready","language":"en_US","status":"APPROVED","category":"UTILITY",
                  "components":[{"type":"BODY","text":"Order {{1}} is ready"}]}],
        "paging": {"cursors": {"before":"b1","after":"a1"}, "next": "https://graph.facebook.com/next"}
    })
    .to_string();
    let page2 = json!({
        "data": [{"id":"2","name":"promo","language":"pt_BR","status":"REJECTED","category":"MARKETING",
                  "rejected_reason":"INVALID_FORMAT","components":[]}],
        "paging": {"cursors": {"before":"b2","after":"a2"}}
    })
    .to_string();
    let created = r#"{"id":"594425479261596","status":"PENDING","category":"MARKETING"}"#;
    let (client, script) =
        serve(&[(200, &page1), (200, &page2), (200, created), (200, r#"{"success":true}"#)]).await;
    let all = client.list_all_templates(WABA).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].status, "APPROVED");
    assert_eq!(all[1].rejected_reason.as_deref(), Some("INVALID_FORMAT"));

    let new = NewTemplate {
        name: "spring_sale".into(),
        category: TemplateCategory::Marketing,
        language: "en_US".into(),
        components: vec![
            json!({"type":"BODY","text":"Hi {{1}}","example":{"body_text":[["Ana"]]}}),
        ],
        parameter_format: None,
    };
    let made = client.create_template(WABA, &new).await.unwrap();
    assert_eq!(made.status, "PENDING");
    assert_eq!(made.id, "594425479261596");
    client.delete_template(WABA, "spring_sale").await.unwrap();

    let seen = seen(&script);
    assert_eq!(seen[0].path, format!("/v23.0/{WABA}/message_templates"));
    assert!(seen[0].query.as_deref().unwrap().contains("limit=100"));
    assert!(!seen[0].query.as_deref().unwrap().contains("after="));
    assert!(seen[1].query.as_deref().unwrap().contains("after=a1"), "{:?}", seen[1].query);
    assert_eq!(seen[2].method, Method::POST);
    assert_eq!(
        seen[2].json(),
        json!({"name":"spring_sale","category":"MARKETING","language":"en_US",
               "components":[{"type":"BODY","text":"Hi {{1}}","example":{"body_text":[["Ana"]]}}]})
    );
    assert_eq!(seen[3].method, Method::DELETE);
    assert_eq!(seen[3].query.as_deref(), Some("name=spring_sale"));

    // Refused locally, never sent.
    let bad = NewTemplate { name: "Spring Sale".into(), ..new };
    assert!(matches!(client.create_template(WABA, &bad).await, Err(GraphError::InvalidInput(_))));
    assert_eq!(crate::graph::seen(&script).len(), 4);
}

#[tokio::test]
async fn business_profile_and_phone_numbers() {
    let profile = json!({"data":[{"about":"Succulents!","address":"1 Main St","description":"Plants",
        "email":"a@b.c","messaging_product":"whatsapp","websites":["https://x.example/"],"vertical":"RETAIL"}]})
    .to_string();
    let numbers = json!({"data":[{"id":PNID,"display_phone_number":"+1 555-000-1000","verified_name":"Lucky Shrub",
        "quality_rating":"GREEN","messaging_limit_tier":"TIER_2K","code_verification_status":"VERIFIED",
        "throughput":{"level":"STANDARD"}}],"paging":{"cursors":{"before":"x","after":"y"}}})
    .to_string();
    let (client, script) =
        serve(&[(200, &profile), (200, r#"{"success":true}"#), (200, &numbers)]).await;
    let got = client.business_profile(PNID).await.unwrap();
    assert_eq!(got.about.as_deref(), Some("Succulents!"));
    assert_eq!(got.websites, ["https://x.example/"]);
    let update = BusinessProfile { about: Some("New about".into()), ..BusinessProfile::default() };
    client.update_business_profile(PNID, &update).await.unwrap();
    let phones = client.phone_numbers(WABA).await.unwrap();
    assert_eq!(phones[0].quality_rating.as_deref(), Some("GREEN"));
    assert_eq!(phones[0].messaging_limit_tier.as_deref(), Some("TIER_2K"));
    assert_eq!(phones[0].throughput_level.as_deref(), Some("STANDARD"));

    let seen = seen(&script);
    assert_eq!(seen[0].path, format!("/v23.0/{PNID}/whatsapp_business_profile"));
    assert!(seen[0].query.as_deref().unwrap().starts_with("fields=about%2Caddress"));
    assert_eq!(seen[1].json(), json!({"about":"New about","messaging_product":"whatsapp"}));
    assert_eq!(seen[2].path, format!("/v23.0/{WABA}/phone_numbers"));
    let too_long = BusinessProfile { about: Some("x".repeat(140)), ..BusinessProfile::default() };
    assert!(client.update_business_profile(PNID, &too_long).await.is_err());
}

#[tokio::test]
async fn media_upload_lookup_and_checked_download() {
    let file = b"\x89PNG fake image bytes".to_vec();
    let sha = sha256_hex(&file);
    let (client, script) = serve(&[(200, r#"{"id":"4490709327384033"}"#)]).await;
    let id = client.upload_media(PNID, "photo.png", "image/png", &file).await.unwrap();
    assert_eq!(id, "4490709327384033");
    let upload = &seen(&script)[0];
    assert_eq!(upload.path, format!("/v23.0/{PNID}/media"));
    assert!(upload.content_type.as_deref().unwrap().starts_with("multipart/form-data; boundary="));
    let body = String::from_utf8_lossy(&upload.body);
    assert!(body.contains("name=\"messaging_product\"\r\n\r\nwhatsapp"));
    assert!(body.contains("name=\"file\"; filename=\"photo.png\""));
    assert_eq!(upload.authorization.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));

    // Too large for an image: refused before any request.
    let big = vec![0u8; 5 * 1024 * 1024 + 1];
    let err = client.upload_media(PNID, "big.png", "image/png", &big).await.unwrap_err();
    assert!(matches!(err, GraphError::MediaTooLarge { .. }));
    assert_eq!(err.retry_class(), RetryClass::FixInput);
    assert_eq!(seen(&script).len(), 1);

    // Download: the mock answers the file's bytes as the "JSON" body.
    let text_file = "hello media";
    let (client, _s) = serve(&[(200, text_file), (200, text_file), (200, text_file)]).await;
    let url = format!("{}/v23.0/download/1", client.base_url());
    let good = MediaInfo {
        url: url.clone(),
        mime_type: Some("text/plain".into()),
        sha256: Some(sha256_hex(text_file.as_bytes())),
        file_size: Some(text_file.len() as u64),
    };
    assert_eq!(client.download_media_checked(&good, 1024).await.unwrap(), text_file.as_bytes());
    let wrong_sha = MediaInfo { sha256: Some(sha.clone()), ..good.clone() };
    let err = client.download_media_checked(&wrong_sha, 1024).await.unwrap_err();
    assert_eq!(err, GraphError::MediaChecksum);
    assert_eq!(err.retry_class(), RetryClass::RetryLater);
    let unknown_size = MediaInfo { file_size: None, sha256: None, ..good.clone() };
    assert!(matches!(
        client.download_media_checked(&unknown_size, 4).await,
        Err(GraphError::MediaTooLarge { limit: 4, .. })
    ));
    // A stated size over the cap is refused without downloading.
    let stated = MediaInfo { file_size: Some(10_000), ..good };
    assert!(matches!(
        client.download_media_checked(&stated, 1024).await,
        Err(GraphError::MediaTooLarge { size: 10_000, .. })
    ));
}

#[tokio::test]
async fn instagram_text_and_attachment_with_window_rules() {
    let ok =
        r#"{"recipient_id":"6100000000000001","message_id":"aWdfZAG1faXRlbToxOklHTWVzc2FnZA"}"#;
    let (client, script) = serve(&[(200, ok), (200, ok)]).await;
    let hour = Duration::from_secs(3600);
    let sent = client
        .send_instagram(
            "17841400000000001",
            "6100000000000001",
            &InstagramBody::Text("hi".into()),
            hour,
            false,
        )
        .await
        .unwrap();
    assert_eq!(sent.message_id, "aWdfZAG1faXRlbToxOklHTWVzc2FnZA");
    let image = InstagramBody::Attachment {
        kind: InstagramAttachment::Image,
        url: "https://cdn.example/p.jpg".into(),
    };
    client
        .send_instagram("17841400000000001", "6100000000000001", &image, hour * 30, true)
        .await
        .unwrap();
    // Automation past 24 h, and anyone past 7 days: refused locally.
    let err = client
        .send_instagram("17841400000000001", "6100000000000001", &image, hour * 30, false)
        .await
        .unwrap_err();
    assert_eq!(err.retry_class(), RetryClass::WaitForCustomer);
    assert!(client
        .send_instagram("17841400000000001", "6100000000000001", &image, hour * 24 * 8, true)
        .await
        .is_err());
    let seen = seen(&script);
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].path, "/v23.0/17841400000000001/messages");
    assert_eq!(
        seen[0].json(),
        json!({"recipient":{"id":"6100000000000001"},"message":{"text":"hi"}})
    );
    assert_eq!(
        seen[1].json(),
        json!({"recipient":{"id":"6100000000000001"},"messaging_type":"MESSAGE_TAG","tag":"HUMAN_AGENT",
               "message":{"attachment":{"type":"image","payload":{"url":"https://cdn.example/p.jpg"}}}})
    );
}

#[tokio::test]
async fn send_with_retry_backs_off_on_rate_limits_and_stops_on_final_errors() {
    let rate = meta_error(130429, "(#130429) Rate limit hit", None);
    let pair = meta_error(131056, "(#131056) pair rate limit hit", None);
    let account = meta_error(80007, "(#80007) Rate limit issues", None);
    let app = meta_error(4, "(#4) Application request limit reached", None);
    let window = meta_error(131047, "(#131047) Re-engagement message", None);
    let (client, script) = serve(&[
        (400, &rate),
        (400, &pair),
        (400, &account),
        (400, &app),
        (200, ACCEPTED),
        (400, &window),
    ])
    .await;
    let policy = RetryPolicy { max_attempts: 5, max_delay: Duration::from_millis(20) };
    let message = OutgoingMessage::text("15557654321", "hi");
    let started = Instant::now();
    let ok = client.send_with_retry(PNID, &message, policy).await.unwrap();
    assert_eq!(ok.message_id, "wamid.OUT1");
    assert_eq!(seen(&script).len(), 5, "four refusals, then accepted");
    assert!(started.elapsed() >= Duration::from_millis(4 * 10), "it waited between tries");
    // 131047 is not worth retrying: one request, the typed error back.
    let err = client.send_with_retry(PNID, &message, policy).await.unwrap_err();
    assert_eq!(err.code(), Some(131047));
    assert_eq!(seen(&script).len(), 6);

    // Attempts run out: the last refusal comes back.
    let (client, script) = serve(&[(400, &rate), (400, &rate)]).await;
    let policy = RetryPolicy { max_attempts: 2, max_delay: Duration::from_millis(5) };
    let err = client.send_with_retry(PNID, &message, policy).await.unwrap_err();
    assert_eq!(err.code(), Some(130429));
    assert_eq!(seen(&script).len(), 2);
}
