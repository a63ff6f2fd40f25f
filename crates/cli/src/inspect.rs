//! `parleyctl webhook inspect`: read a webhook body on stdin and print what
//! Parley makes of it, one JSON line per event, each with its provider id.
//!
//! It answers "Meta says it delivered, why don't I see it?": every message,
//! status and account change is listed, and whatever Parley could not
//! understand is printed with the exact reason (the same words the core keeps
//! in `unhandled_events`). Message text is left out unless `--show-content`
//! is given, so output pasted into a support ticket carries no conversation.
//!
//! The app secret for the optional signature check comes from
//! `$PARLEY_APP_SECRET`, never from an argument.

use std::io::{Read, Write};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use parley_meta::signature;
use parley_meta::webhook::{self, WebhookEvent};
use serde_json::{json, Value};

/// Bodies are at most 3 MB (Meta's limit); a little slack, then refuse.
const MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Subcommand)]
pub enum WebhookCommand {
    /// Read a webhook body on stdin; print each event it holds as a JSON line.
    Inspect(InspectArgs),
}

#[derive(Args)]
pub struct InspectArgs {
    /// The X-Hub-Signature-256 header value (`sha256=…`) to check against the
    /// raw body with the app secret from $PARLEY_APP_SECRET.
    #[arg(long)]
    pub signature_header: Option<String>,
    /// Include message text and captions in the output.
    #[arg(long)]
    pub show_content: bool,
}

pub fn run(command: &WebhookCommand) -> Result<()> {
    let WebhookCommand::Inspect(args) = command;
    let mut body = Vec::new();
    std::io::stdin()
        .take(MAX_BODY_BYTES + 1)
        .read_to_end(&mut body)
        .context("reading the webhook body from stdin")?;
    if body.len() as u64 > MAX_BODY_BYTES {
        bail!("the body is larger than {MAX_BODY_BYTES} bytes; Meta never sends more than 3 MB");
    }
    let secret = match &args.signature_header {
        Some(_) => Some(
            std::env::var("PARLEY_APP_SECRET")
                .ok()
                .filter(|s| !s.is_empty())
                .context("--signature-header needs the app secret in $PARLEY_APP_SECRET")?,
        ),
        None => None,
    };
    let check = args.signature_header.as_deref().zip(secret.as_deref());
    let report = inspect(&body, check, args.show_content);
    let mut out = std::io::stdout().lock();
    let written =
        report.lines.iter().try_for_each(|line| writeln!(out, "{line}")).and_then(|()| out.flush());
    match written {
        // `… | head` closing the pipe early is the reader's choice, not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
        other => other.context("writing to stdout")?,
    }
    eprintln!("{}", report.summary);
    if !report.ok {
        // Scripts can tell "all understood and signed" from anything else.
        std::process::exit(1);
    }
    Ok(())
}

/// What `inspect` prints: the JSON lines, a one-line summary for stderr,
/// and whether everything checked out.
pub struct Report {
    pub lines: Vec<Value>,
    pub summary: String,
    pub ok: bool,
}

/// Check (optionally) and parse `body`. `check` is (header, app secret).
pub fn inspect(body: &[u8], check: Option<(&str, &str)>, show_content: bool) -> Report {
    let mut lines = Vec::new();
    let mut ok = true;
    if let Some((header, secret)) = check {
        match signature::verify(secret.as_bytes(), body, Some(header)) {
            Ok(()) => lines.push(json!({ "signature": "valid" })),
            Err(e) => {
                ok = false;
                let why = match e {
                    signature::SignatureError::Mismatch => format!(
                        "{e}. The relay would answer 403 and Meta would retry. Check that the \
                         app secret is this app's, and that the body is byte-for-byte what Meta \
                         sent (a re-saved or pretty-printed body no longer matches)"
                    ),
                    other => other.to_string(),
                };
                lines.push(json!({ "signature": "invalid", "reason": why }));
            }
        }
    }
    let events = match webhook::parse(body) {
        Ok(events) => events,
        Err(e) => {
            lines.push(json!({ "error": format!("{e}; the relay would not accept this body") }));
            return Report { lines, summary: "not a webhook body".into(), ok: false };
        }
    };
    let mut counts = [0usize; 5];
    for event in &events {
        let (line, slot) = describe(event, show_content);
        counts[slot] += 1;
        lines.push(line);
    }
    if counts[4] > 0 {
        ok = false;
    }
    let summary = format!(
        "{} events: {} messages, {} statuses, {} deletions, {} other, {} not understood",
        events.len(),
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        counts[4]
    );
    if events.is_empty() {
        lines.push(json!({ "note": "the webhook holds no entries, so there is nothing to show" }));
    }
    Report { lines, summary, ok }
}

fn channel(c: &webhook::ChannelRef) -> Value {
    json!({ "kind": c.kind, "id": c.id })
}

/// One JSON line for an event, and which count it goes to.
fn describe(event: &WebhookEvent, show_content: bool) -> (Value, usize) {
    match event {
        WebhookEvent::Message(m) => {
            let mut line = json!({
                "event": "message",
                "provider_id": m.provider_id,
                "channel": channel(&m.channel),
                "type": m.kind(),
                "from": m.from.key(),
                "timestamp_ms": m.timestamp_ms,
                "echo": m.echo,
            });
            if let Some(ctx) = &m.context {
                line["reply_to"] = json!(ctx.message_id);
                if ctx.forwarded || ctx.frequently_forwarded {
                    line["forwarded"] = json!(true);
                }
                if ctx.referral.is_some() {
                    line["from_ad_or_link"] = json!(true);
                }
            }
            let whatsapp = m.channel.kind == parley_types::ChannelKind::Whatsapp;
            if whatsapp && m.from.wa_id.is_none() && m.from.user_id.is_some() {
                line["note"] = json!(
                    "the customer is known only by a business-scoped user id (no phone number)"
                );
            }
            if m.echo {
                line["note"] =
                    json!("an echo: the business sent this from another app; it shows as outgoing");
            }
            if let webhook::MessageContent::Unsupported { reason, .. } = &m.content {
                line["note"] = json!(reason);
            }
            if show_content {
                line["text"] = json!(m.body());
            }
            (line, 0)
        }
        WebhookEvent::Status(s) => {
            let mut line = json!({
                "event": "status",
                "provider_id": s.provider_id,
                "channel": channel(&s.channel),
                "status": s.status,
                "timestamp_ms": s.timestamp_ms,
                "recipient": s.recipient,
            });
            if !s.errors.is_empty() {
                line["errors"] = json!(s
                    .errors
                    .iter()
                    .map(|e| json!({
                        "code": e.code,
                        "title": e.title,
                        "details": e.details,
                        "explanation": parley_meta::graph::explain_delivery_failure(
                            e.code,
                            e.title.as_deref(),
                            e.details.as_deref(),
                        ),
                    }))
                    .collect::<Vec<_>>());
            }
            if let Some(category) = s.pricing.as_ref().and_then(|p| p.get("category")) {
                line["pricing_category"] = category.clone();
            }
            (line, 1)
        }
        WebhookEvent::Deleted(d) => (
            json!({
                "event": "deleted",
                "provider_id": d.provider_id,
                "channel": channel(&d.channel),
                "from": d.from.key(),
                "timestamp_ms": d.timestamp_ms,
            }),
            2,
        ),
        WebhookEvent::Other { channel: ch, field, raw } => {
            let mut line = json!({
                "event": "other",
                "field": field,
                "channel": ch.as_ref().map(channel),
                "note": "understood, but not inbox traffic: it does not appear in a conversation",
            });
            if let Some(typed) = event.account_event() {
                line["account_event"] = json!(typed);
            }
            if let Some(id) = raw.get("id").or_else(|| raw.pointer("/value/message_template_id")) {
                line["provider_id"] = id.clone();
            }
            (line, 3)
        }
        WebhookEvent::Unsupported(u) => {
            let provider_id = u
                .raw
                .get("id")
                .or_else(|| u.raw.pointer("/message/mid"))
                .cloned()
                .unwrap_or(Value::Null);
            (
                json!({
                    "event": "not_understood",
                    "provider_id": provider_id,
                    "field": u.field,
                    "channel": u.channel.as_ref().map(channel),
                    "reason": u.reason,
                    "note": "kept whole by the inbox but not shown in any conversation",
                }),
                4,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WA: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
        "metadata":{"phone_number_id":"100"},
        "contacts":[{"wa_id":"15551234567","profile":{"name":"Ana"}}],
        "messages":[
          {"from":"15551234567","id":"wamid.A","timestamp":"1700000000","type":"text","text":{"body":"secret words"}},
          {"from":"15551234567","id":"wamid.B","timestamp":"1700000001","type":"hologram","hologram":{}}
        ],
        "statuses":[{"id":"wamid.OUT","status":"failed","timestamp":"1700000002","recipient_id":"15551234567",
          "errors":[{"code":131047,"title":"Re-engagement message"}]}]}}]}]}"#;

    #[test]
    fn one_line_per_event_with_provider_ids_and_reasons() {
        let report = inspect(WA.as_bytes(), None, false);
        assert_eq!(report.lines.len(), 3);
        assert_eq!(report.lines[0]["provider_id"], "wamid.A");
        assert!(report.lines[0].get("text").is_none(), "content stays out by default");
        assert_eq!(report.lines[1]["event"], "not_understood");
        assert_eq!(report.lines[1]["provider_id"], "wamid.B");
        assert!(report.lines[1]["reason"]
            .as_str()
            .unwrap()
            .contains("\"hologram\" is not one Parley knows"));
        assert_eq!(report.lines[2]["status"], "failed");
        assert!(report.lines[2]["errors"][0]["explanation"].as_str().unwrap().contains("24 hours"));
        assert!(!report.ok, "something was not understood");
        assert!(report.lines[0].get("note").is_none(), "a phone-number customer needs no note");
        assert!(report.summary.contains("1 not understood"), "{}", report.summary);
        let shown = inspect(WA.as_bytes(), None, true);
        assert_eq!(shown.lines[0]["text"], "secret words");
    }

    #[test]
    fn signature_is_checked_on_the_raw_bytes() {
        let header = signature::sign(b"s3cret", WA.as_bytes());
        let good = inspect(WA.as_bytes(), Some((&header, "s3cret")), false);
        assert_eq!(good.lines[0], json!({ "signature": "valid" }));
        let bad = inspect(WA.as_bytes(), Some((&header, "other")), false);
        assert_eq!(bad.lines[0]["signature"], "invalid");
        assert!(bad.lines[0]["reason"].as_str().unwrap().contains("byte-for-byte"));
        assert!(!bad.ok);
        let malformed = inspect(WA.as_bytes(), Some(("sha1=abc", "s3cret")), false);
        assert!(malformed.lines[0]["reason"].as_str().unwrap().contains("sha256=<64 hex digits>"));
    }

    #[test]
    fn not_a_webhook_says_why() {
        let report = inspect(b"{\"entry\":[]}", None, false);
        assert_eq!(report.lines.len(), 1);
        assert!(report.lines[0]["error"].as_str().unwrap().contains("no string \"object\" field"));
        let empty = inspect(br#"{"object":"instagram","entry":[]}"#, None, false);
        assert!(empty.ok);
        assert!(empty.lines[0]["note"].as_str().unwrap().contains("no entries"));
    }
}
