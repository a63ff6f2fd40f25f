//! Broadcast campaigns: deciding the recipients, the summary shown before
//! anything is sent, and the paced sender.
//!
//! The sender holds the configured rate with an absolute schedule (no
//! catching up after a stall, so no bursts) at a little under the rate, plus
//! a sliding one-second window that never lets more than `rate` sends start
//! in any second: Meta (and the sandbox) count per rolling second, and
//! requests in flight together reach them with some jitter. On 130429 it
//! slows down and retries the recipient; on the pair limit (131056) only
//! that recipient waits. Errors that would fail every recipient the same way
//! (a paused template, a revoked token, an unpaid account) pause the
//! campaign with Meta's words instead of burning through the audience.
//!
//! Sends are at most once: see `store::campaigns`.

use std::collections::{HashSet, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parley_meta::graph::{GraphClient, GraphError, OutgoingMessage, Recipient};
use parley_types::campaign::{
    self, CampaignAction, CampaignDraft, CampaignPreview, CampaignRecipient, CampaignSample,
    CampaignState, CampaignSummary, CreateCampaignRequest, Exclusion, RecipientsRequest,
    RECIPIENT_PAGE,
};
use parley_types::template::{self, TemplateSummary};
use parley_types::InboxEvent;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::store::{Candidate, ClaimedSend, NewRecipient, RecipientOutcome, StoredTemplate};
use crate::templates::{send_components, summary_of};
use crate::{new_client_txn_id, now_ms, worker, Core, CoreError};

/// The share of the configured rate the schedule aims at: the margin keeps
/// network jitter from pushing `rate + 1` sends into one rolling second.
pub const PACE_SHARE: f64 = 0.97;
/// The sliding window's slack beyond one second, for the same reason: the
/// jitter between our clock and Meta's on a steady link (a stalled server is
/// handled by `RollingWindow` itself).
const WINDOW_SLACK: Duration = Duration::from_millis(25);
/// After a 130429 the rate drops to this share, then recovers slowly.
const SLOW_DOWN: f64 = 0.8;
/// How many samples the summary shows.
const SAMPLES: usize = 3;

/// Meta errors that fail every recipient alike: the campaign pauses with
/// the reason rather than sending on. Template paused (132015) or disabled
/// (132016), missing (132001) or changed (132000); token or permission
/// (190, 10, 200); account locked or unpaid (131031, 131042); spam limit
/// (131048); too many template sends outside the tier (131026 is per user,
/// not here).
fn pauses_campaign(code: Option<i64>) -> bool {
    matches!(
        code,
        Some(132000 | 132001 | 132015 | 132016 | 190 | 10 | 200 | 131031 | 131042 | 131048 | 368)
    )
}

/// The recipients of a draft, decided from the stored contacts.
struct Resolution {
    recipients: Vec<NewRecipient>,
    preview: CampaignPreview,
}

fn resolve(
    summary: &TemplateSummary,
    draft: &CampaignDraft,
    candidates: Vec<Candidate>,
    now: i64,
) -> Resolution {
    let mut preview = CampaignPreview {
        recipients: 0,
        excluded_opted_out: 0,
        excluded_missing_value: 0,
        excluded_no_number: 0,
        outside_window: 0,
        estimated_secs: 0,
        tier: None,
        tier_limit: None,
        exceeds_tier: false,
        samples: Vec::new(),
        tier_error: None,
    };
    let mut recipients = Vec::with_capacity(candidates.len());
    for c in candidates {
        let values = |sources: &[campaign::ParamSource]| -> Option<Vec<String>> {
            sources
                .iter()
                .map(|s| {
                    let attribute =
                        s.attribute().and_then(|a| c.attributes.get(&a.trim().to_lowercase()));
                    s.value_for(c.name.as_deref(), attribute.map(String::as_str))
                })
                .collect()
        };
        let resolved = values(&draft.header_params).zip(values(&draft.body_params));
        let exclusion = if c.opted_out {
            Some(Exclusion::OptedOut)
        } else if c.wa_id.is_none() {
            Some(Exclusion::NoNumber)
        } else if resolved.is_none() {
            Some(Exclusion::MissingValue)
        } else {
            None
        };
        match exclusion {
            Some(Exclusion::OptedOut) => preview.excluded_opted_out += 1,
            Some(Exclusion::NoNumber) => preview.excluded_no_number += 1,
            Some(Exclusion::MissingValue) => preview.excluded_missing_value += 1,
            None => {
                preview.recipients += 1;
                if c.last_inbound_at.is_none_or(|t| now - t >= parley_types::WINDOW_MILLIS) {
                    preview.outside_window += 1;
                }
            }
        }
        let params = match (&exclusion, resolved) {
            (None, Some((header, body))) => {
                if preview.samples.len() < SAMPLES {
                    preview.samples.push(CampaignSample {
                        contact: c.name.clone().or(c.wa_id.clone()).unwrap_or_default(),
                        text: summary.render_text(&header, &body),
                    });
                }
                Some(json!({ "header": header, "body": body }).to_string())
            }
            _ => None,
        };
        recipients.push(NewRecipient { contact_id: c.contact_id, exclusion, params });
    }
    preview.estimated_secs = campaign::estimated_secs(preview.recipients, draft.rate_per_sec);
    Resolution { recipients, preview }
}

/// The template as a campaign keeps it, and back.
fn template_json(t: &StoredTemplate) -> String {
    json!({ "category": t.category, "components": t.components }).to_string()
}

fn template_of(name: &str, language: &str, stored: &str) -> StoredTemplate {
    let v: Value = serde_json::from_str(stored).unwrap_or_default();
    StoredTemplate {
        name: name.to_owned(),
        language: language.to_owned(),
        template_id: None,
        category: v["category"].as_str().unwrap_or_default().to_owned(),
        status: "APPROVED".into(),
        components: v["components"].as_str().unwrap_or("[]").to_owned(),
        rejected_reason: None,
        quality: None,
    }
}

/// The visible text and the send (`messages.raw`) of one recipient.
fn render(summary: &TemplateSummary, params: &str) -> Result<(String, String), String> {
    let v: Value = serde_json::from_str(params).map_err(|_| unreadable())?;
    let list = |k: &str| -> Vec<String> {
        v[k].as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let (header, body) = (list("header"), list("body"));
    template::check_values(summary, &header, &body)
        .map_err(|e| format!("{}.", crate::errors::capitalise(&e)))?;
    let send = json!({
        "name": summary.name,
        "language": summary.language,
        "components": send_components(summary, &header, &body),
    });
    Ok((summary.render_text(&header, &body), send.to_string()))
}

fn unreadable() -> String {
    "This recipient's template values could not be read from the database, so nothing was \
     sent to them. Send them the template from their conversation."
        .into()
}

impl Core {
    /// The approved template a draft names, or a sentence saying why not.
    fn campaign_template(
        &self,
        draft: &CampaignDraft,
    ) -> Result<(StoredTemplate, TemplateSummary), CoreError> {
        let (stored, summary) = self.sendable_template(&draft.template_name, &draft.language)?;
        if summary.category.eq_ignore_ascii_case("AUTHENTICATION") {
            return Err(CoreError::InvalidInput(format!(
                "{} is an authentication template: its one-time code is for one customer, so it \
                 cannot be broadcast; pick a marketing or utility template",
                summary.name
            )));
        }
        for (part, want, got) in [
            ("header", summary.header_params.len(), draft.header_params.len()),
            ("body", summary.body_params.len(), draft.body_params.len()),
        ] {
            if want != got {
                return Err(CoreError::InvalidInput(format!(
                    "the template {} has {want} {part} variable(s) but the campaign fills {got}; \
                     choose a value for each",
                    summary.name
                )));
            }
        }
        Ok((stored, summary))
    }

    fn resolve_campaign(
        &self,
        draft: &CampaignDraft,
    ) -> Result<(StoredTemplate, Resolution), CoreError> {
        let problems = draft.problems(now_ms());
        if let Some(first) = problems.first() {
            return Err(CoreError::InvalidInput(first.clone()));
        }
        let (stored, summary) = self.campaign_template(draft)?;
        let attributes: Vec<String> = draft
            .header_params
            .iter()
            .chain(&draft.body_params)
            .filter_map(|p| p.attribute().map(str::to_owned))
            .collect();
        let candidates = self.inner.store.campaign_candidates(&draft.audience, &attributes)?;
        Ok((stored, resolve(&summary, draft, candidates, now_ms())))
    }

    /// The summary shown before a campaign is confirmed: who gets it, who is
    /// excluded and why, how long it takes, and whether it goes past the
    /// number's messaging limit (asked from Meta now).
    pub async fn preview_campaign(
        &self,
        draft: &CampaignDraft,
    ) -> Result<CampaignPreview, CoreError> {
        self.gate()?;
        let (_, resolution) = self.resolve_campaign(draft)?;
        let mut preview = resolution.preview;
        let tier = match (self.graph_client(), self.config().graph) {
            (Ok(client), Some(settings)) => {
                client.phone_number(&settings.phone_number_id).await.map_err(|e| e.user_message())
            }
            (Err(e), _) => Err(crate::errors::capitalise(&e.to_string())),
            (_, None) => Err("No WhatsApp number is connected.".into()),
        };
        match tier {
            Ok(number) => {
                preview.tier_limit =
                    number.messaging_limit_tier.as_deref().and_then(campaign::tier_limit);
                preview.tier = number.messaging_limit_tier;
                preview.exceeds_tier =
                    preview.tier_limit.is_some_and(|l| preview.outside_window > l);
            }
            Err(e) => preview.tier_error = Some(e),
        }
        Ok(preview)
    }

    /// Write a confirmed campaign and start (or schedule) it. The count the
    /// agent confirmed must still be the count: otherwise the contacts
    /// changed since the summary and it is shown again.
    pub fn create_campaign(
        &self,
        request: &CreateCampaignRequest,
    ) -> Result<CampaignSummary, CoreError> {
        self.gate()?;
        let draft = &request.draft;
        let (stored, resolution) = self.resolve_campaign(draft)?;
        if resolution.preview.recipients != request.confirmed_recipients {
            return Err(CoreError::InvalidInput(format!(
                "the audience changed since the summary ({} recipients now, {} confirmed); check \
                 the new summary and confirm again",
                resolution.preview.recipients, request.confirmed_recipients
            )));
        }
        if resolution.preview.recipients == 0 {
            return Err(CoreError::InvalidInput(
                "nobody in this audience can be sent the campaign; change the audience".into(),
            ));
        }
        let draft_json =
            serde_json::to_string(draft).map_err(|e| CoreError::InvalidInput(e.to_string()))?;
        let id = self.inner.store.insert_campaign(
            draft.name.trim(),
            &draft.template_name,
            &draft.language,
            &template_json(&stored),
            &draft_json,
            draft.rate_per_sec,
            draft.start_at,
            &resolution.recipients,
            now_ms(),
        )?;
        tracing::info!(
            campaign = id,
            recipients = resolution.preview.recipients,
            "campaign created"
        );
        let summary = self.inner.store.campaign_summary(id)?;
        self.emit(InboxEvent::CampaignChanged { campaign: summary.clone() });
        self.inner.campaign_wake.notify_one();
        Ok(summary)
    }

    pub fn audience_options(&self) -> Result<campaign::AudienceOptions, CoreError> {
        self.gate()?;
        Ok(self.inner.store.audience_options()?)
    }

    pub fn campaigns(&self) -> Result<Vec<CampaignSummary>, CoreError> {
        self.gate()?;
        Ok(self.inner.store.campaigns()?)
    }

    pub fn campaign_recipients(
        &self,
        request: &RecipientsRequest,
    ) -> Result<Vec<CampaignRecipient>, CoreError> {
        self.gate()?;
        Ok(self.inner.store.campaign_recipients(
            request.campaign_id,
            request.after,
            request.state,
            RECIPIENT_PAGE,
        )?)
    }

    /// Pause, resume or cancel. Sends already with Meta finish; nothing
    /// more leaves after a pause or cancel.
    pub fn campaign_action(
        &self,
        id: i64,
        action: CampaignAction,
    ) -> Result<CampaignSummary, CoreError> {
        self.gate()?;
        use CampaignState::*;
        // A campaign paused before its start time waits for it again.
        let resume_to = match self.inner.store.campaign_row(id)?.start_at {
            Some(at) if at > now_ms() => Scheduled,
            _ => Running,
        };
        let (from, to): (&[CampaignState], _) = match action {
            CampaignAction::Pause => (&[Running, Scheduled], Paused),
            CampaignAction::Resume => (&[Paused], resume_to),
            CampaignAction::Cancel => (&[Running, Scheduled, Paused], Cancelled),
        };
        let changed = self.inner.store.set_campaign_state(id, from, to, now_ms())?;
        if !changed {
            let now = self.inner.store.campaign_summary(id)?;
            return Err(CoreError::InvalidInput(format!(
                "this campaign is {}, so it cannot be {}",
                now.state.label().to_lowercase(),
                match action {
                    CampaignAction::Pause => "paused",
                    CampaignAction::Resume => "resumed",
                    CampaignAction::Cancel => "cancelled",
                }
            )));
        }
        if action == CampaignAction::Resume {
            self.inner.store.set_campaign_note(id, None)?;
        }
        self.inner.campaign_control.send_modify(|generation| *generation += 1);
        self.inner.campaign_wake.notify_one();
        let summary = self.inner.store.campaign_summary(id)?;
        self.emit(InboxEvent::CampaignChanged { campaign: summary.clone() });
        Ok(summary)
    }

    /// Write a campaign's per-recipient results as CSV (RFC 4180, UTF-8,
    /// cells neutralised against formula injection). Returns the rows.
    pub fn export_campaign(&self, id: i64, path: &Path) -> Result<u64, CoreError> {
        self.gate()?;
        let path = &crate::contact_book::check_export_file(&path.to_string_lossy())?;
        let summary = self.inner.store.campaign_summary(id)?;
        let rows = self.inner.store.all_campaign_recipients(id)?;
        let mut out = String::from("name,number,status,reason,sent_at,replied_at\r\n");
        let time = |t: Option<i64>| t.map(iso_utc).unwrap_or_default();
        for r in &rows {
            let cells = [
                r.name.clone().unwrap_or_default(),
                r.handle.clone(),
                r.state.as_str().to_owned(),
                r.reason.clone().unwrap_or_default(),
                time(r.sent_at),
                time(r.replied_at),
            ];
            let line: Vec<String> = cells.iter().map(|c| crate::store::csv_cell(c)).collect();
            out.push_str(&line.join(","));
            out.push_str("\r\n");
        }
        write_whole(path, out.as_bytes()).map_err(|e| {
            CoreError::InvalidInput(format!(
                "the results of {} could not be written to {} ({e}). Choose another file and try \
                 again",
                summary.name,
                path.display()
            ))
        })?;
        Ok(rows.len() as u64)
    }
}

/// `2026-11-30T08:01:02Z` for milliseconds since the epoch (UTC).
fn iso_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Write `bytes` to `path` whole or not at all: into a sibling file first,
/// renamed over `path` once complete, so a full disk leaves no half file.
///
/// The sibling is created fresh (a stale one or a symlink in its place is
/// removed, not followed) and readable by this user only: it holds phone
/// numbers.
fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut part = path.as_os_str().to_owned();
    part.push(".part");
    let part = std::path::PathBuf::from(part);
    match std::fs::remove_file(&part) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&part)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&part, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    result
}

/// Holds the rate: an absolute schedule at [`PACE_SHARE`] of it, and at
/// most `rate` starts in any rolling second (plus slack).
struct Pacer {
    rate: f64,
    configured: f64,
    next: Instant,
    window: VecDeque<Instant>,
}

impl Pacer {
    fn new(rate: u32) -> Pacer {
        let configured = f64::from(rate.max(1));
        Pacer { rate: configured, configured, next: Instant::now(), window: VecDeque::new() }
    }

    fn interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / (self.rate * PACE_SHARE))
    }

    /// When the next send may start.
    fn ready_at(&mut self, now: Instant) -> Instant {
        // Fell behind (a stall, a pause): start again from now, no burst.
        if self.next + self.interval() < now {
            self.next = now;
        }
        let mut at = self.next;
        while self.window.front().is_some_and(|t| now.duration_since(*t) > Duration::from_secs(2)) {
            self.window.pop_front();
        }
        if self.window.len() >= self.configured as usize {
            let oldest = self.window[self.window.len() - self.configured as usize];
            at = at.max(oldest + Duration::from_secs(1) + WINDOW_SLACK);
        }
        at
    }

    /// A send given the slot `slot` (from [`Pacer::ready_at`]) started at
    /// `started`. The schedule moves on from the slot, not from the start:
    /// the time spent claiming the recipient must not stretch every
    /// interval.
    fn sent(&mut self, slot: Instant, started: Instant) {
        self.next = slot + self.interval();
        self.window.push_back(started);
        // Recover from a slow-down a little with every send.
        self.rate = (self.rate * 1.002).min(self.configured);
    }

    fn slow_down(&mut self, until: Instant) {
        self.rate = (self.rate * SLOW_DOWN).max(1.0);
        self.next = self.next.max(until);
    }
}

/// At most `rate` requests counted by Meta in any second (plus slack).
///
/// When Meta counts a request is not known: no earlier than we sent it, and
/// no earlier than its answer minus the usual round trip (a server that
/// stalls counts a queued request late, and then the following ones fall
/// into the same second). So each finished request is placed at
/// `max(sent, answered − typical round trip)`, requests still in flight
/// count as inside the window, and a request is let out only when fewer
/// than `rate` are inside it. On a steady link this is the send time; after
/// a stall it is the time the server took the request. Kept inside the send
/// tasks, so a task that starts late on a busy runtime is counted when it
/// really sends.
pub(crate) struct RollingWindow {
    rate: usize,
    /// Estimated counting times of finished requests, oldest first.
    counted: VecDeque<Instant>,
    in_flight: usize,
    /// The typical round trip, in seconds: quick to fall, slow to rise, so
    /// a stall does not pass for the norm.
    round_trip: f64,
}

/// How often a request blocked only by requests in flight looks again.
const IN_FLIGHT_POLL: Duration = Duration::from_millis(2);

impl RollingWindow {
    pub(crate) fn new(rate: u32) -> RollingWindow {
        RollingWindow {
            rate: rate.max(1) as usize,
            counted: VecDeque::new(),
            in_flight: 0,
            round_trip: 0.0,
        }
    }

    /// Let a request out at `now` (it is then in flight), or say when to
    /// ask again.
    pub(crate) fn admit(&mut self, now: Instant) -> Result<(), Instant> {
        let span = Duration::from_secs(1) + WINDOW_SLACK;
        while self.counted.front().is_some_and(|t| *t + span <= now) {
            self.counted.pop_front();
        }
        let inside = self.counted.len() + self.in_flight;
        if inside < self.rate {
            self.in_flight += 1;
            return Ok(());
        }
        // The oldest ones that must leave the window first.
        let leave = inside - self.rate;
        Err(match self.counted.get(leave) {
            Some(t) if leave < self.counted.len() => *t + span,
            _ => now + IN_FLIGHT_POLL,
        })
    }

    /// A request let out at `sent` was answered at `answered` (or failed
    /// then: it may still have been counted).
    pub(crate) fn answered(&mut self, sent: Instant, answered: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let trip = answered.saturating_duration_since(sent).as_secs_f64();
        if self.round_trip == 0.0 {
            self.round_trip = trip;
        }
        let weight = if trip < self.round_trip { 0.3 } else { 0.02 };
        self.round_trip += (trip - self.round_trip) * weight;
        let counted = sent
            .max(answered.checked_sub(Duration::from_secs_f64(self.round_trip)).unwrap_or(sent));
        let at = self.counted.partition_point(|t| *t <= counted);
        self.counted.insert(at, counted);
    }
}

/// What one send task brings back: Meta's answer, or `None` when the
/// campaign stopped before the request left.
type SendResult = (ClaimedSend, Option<Result<String, GraphError>>);

/// The campaign sender behind [`Core::start`]: one running campaign at a
/// time, oldest first; scheduled ones start when their time comes.
pub(crate) async fn run(core: Core) {
    let mut stop = core.stop_signal();
    loop {
        if *stop.borrow() {
            break;
        }
        let next = core.inner.store.next_campaign(now_ms());
        let wait = match next {
            Ok((Some(id), _)) => {
                if let Err(e) = send_campaign(&core, id).await {
                    tracing::warn!(campaign = id, error = %e, "campaign sending stopped; retrying");
                    Duration::from_secs(5)
                } else {
                    Duration::ZERO
                }
            }
            Ok((None, Some(at))) => Duration::from_millis((at - now_ms()).clamp(0, 60_000) as u64),
            Ok((None, None)) => Duration::from_secs(60),
            Err(e) => {
                tracing::warn!(error = %e, "campaigns could not be read");
                Duration::from_secs(5)
            }
        };
        if wait.is_zero() {
            continue;
        }
        tokio::select! {
            _ = core.inner.campaign_wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => break,
        }
    }
}

/// Send `id` until it completes, pauses, is cancelled or the app stops.
async fn send_campaign(core: &Core, id: i64) -> Result<(), CoreError> {
    // The only sender: whatever is still claimed lost its task (an error
    // ended the last run, or a task panicked).
    let lost = core.inner.store.settle_lost_sends(Some(id))?;
    if lost > 0 {
        tracing::warn!(campaign = id, count = lost, "orphaned campaign sends settled");
    }
    let row = core.inner.store.campaign_row(id)?;
    let summary = summary_of(&template_of(&row.template_name, &row.language, &row.template));
    let (client, phone) = match (core.graph_client(), core.config().graph) {
        (Ok(client), Some(settings)) => (client, settings.phone_number_id),
        (Err(e), _) => {
            let note = format!("Waiting: {}.", crate::errors::capitalise(&e.to_string()));
            core.inner.store.set_campaign_note(id, Some(&note))?;
            emit_summary(core, id);
            return Err(e);
        }
        (_, None) => return Err(CoreError::NoGraphAccount),
    };
    let mut pacer = Pacer::new(row.rate_per_sec);
    let window = Arc::new(std::sync::Mutex::new(RollingWindow::new(row.rate_per_sec)));
    // Set once the campaign stops running: claimed sends still waiting for
    // their slot go back to the queue instead of leaving.
    let halted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let max_in_flight = (row.rate_per_sec as usize / 2).clamp(8, 200);
    let mut in_flight: JoinSet<SendResult> = JoinSet::new();
    let mut stop = core.stop_signal();
    let mut control = core.inner.campaign_control.subscribe();
    let mut touched: HashSet<i64> = HashSet::new();
    let mut last_emit = Instant::now();
    let emit_every = Duration::from_millis(250);
    let render_with = |params: &str| render(&summary, params);
    let mut running = true;
    // `changed()` in the selects below marks a change seen, so the
    // generation is compared instead.
    let mut seen = *control.borrow_and_update();
    while running || !in_flight.is_empty() {
        let generation = *control.borrow();
        if running && (*stop.borrow() || generation != seen) {
            seen = generation;
            let state = core.inner.store.campaign_row(id)?.state;
            running = state == CampaignState::Running && !*stop.borrow();
            halted.store(!running, std::sync::atomic::Ordering::SeqCst);
            continue;
        }
        if !running || in_flight.len() >= max_in_flight {
            if let Some(done) = in_flight.join_next().await {
                settle(core, id, done, &mut pacer, &mut touched, &mut running).await?;
            }
        } else {
            let now = Instant::now();
            let at = pacer.ready_at(now);
            if at > now + Duration::from_micros(200) {
                tokio::select! {
                    Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                        settle(core, id, done, &mut pacer, &mut touched, &mut running).await?;
                    }
                    _ = tokio::time::sleep_until(at.into()) => {}
                    _ = control.changed() => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            let claimed = core.inner.store.claim_campaign_send(
                id,
                now_ms(),
                &new_client_txn_id,
                &render_with,
            )?;
            match claimed {
                Some(send) => {
                    pacer.sent(at, Instant::now());
                    touched.insert(send.conversation_id);
                    in_flight.spawn(send_one(
                        client.clone(),
                        phone.clone(),
                        send,
                        window.clone(),
                        halted.clone(),
                    ));
                }
                None if in_flight.is_empty() => {
                    let (queued, sending, next_at) = core.inner.store.campaign_pending(id)?;
                    if queued == 0 && sending == 0 {
                        let done = core.inner.store.set_campaign_state(
                            id,
                            &[CampaignState::Running],
                            CampaignState::Completed,
                            now_ms(),
                        )?;
                        if done {
                            // A note about the sending is history now.
                            let slowed = core.inner.store.campaign_summary(id)?.note;
                            let past = slowed.filter(|n| n.contains("130429")).map(|_| {
                                "Meta asked Parley to send more slowly during this campaign \
                                 (error 130429); the rate was lowered for a while."
                            });
                            core.inner.store.set_campaign_note(id, past)?;
                            tracing::info!(campaign = id, "campaign completed");
                        }
                        running = false;
                    } else {
                        // Only recipients waiting out a limit are left.
                        let wait =
                            next_at.map(|at| (at - now_ms()).clamp(10, 60_000)).unwrap_or(1_000);
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
                            _ = control.changed() => {}
                            _ = stop.changed() => {}
                        }
                    }
                }
                None => {
                    if let Some(done) = in_flight.join_next().await {
                        settle(core, id, done, &mut pacer, &mut touched, &mut running).await?;
                    }
                }
            }
        }
        if last_emit.elapsed() >= emit_every {
            last_emit = Instant::now();
            flush_events(core, id, &mut touched);
        }
    }
    flush_events(core, id, &mut touched);
    Ok(())
}

async fn send_one(
    client: Arc<GraphClient>,
    phone: String,
    send: ClaimedSend,
    window: Arc<std::sync::Mutex<RollingWindow>>,
    halted: Arc<std::sync::atomic::AtomicBool>,
) -> SendResult {
    let Some(body) = worker::template_body_of(&send.send) else {
        let unreadable = GraphError::NotSent(worker::UNREADABLE_TEMPLATE.into());
        return (send, Some(Err(unreadable)));
    };
    let mut message = OutgoingMessage::new(Recipient::from_address(&send.wa_id), body);
    // Echoed in every status webhook: proves a send whose answer was lost.
    message.biz_opaque_callback_data = Some(send.client_txn_id.clone());
    let sent = loop {
        if halted.load(std::sync::atomic::Ordering::SeqCst) {
            return (send, None);
        }
        let now = Instant::now();
        let admitted = window.lock().unwrap_or_else(|p| p.into_inner()).admit(now);
        match admitted {
            Ok(()) => break now,
            Err(at) => tokio::time::sleep_until(at.into()).await,
        }
    };
    let result = client.send(&phone, &message).await.map(|a| a.message_id);
    window.lock().unwrap_or_else(|p| p.into_inner()).answered(sent, Instant::now());
    (send, Some(result))
}

/// Record one finished send, and act on what Meta said for the campaign.
async fn settle(
    core: &Core,
    id: i64,
    done: Result<SendResult, tokio::task::JoinError>,
    pacer: &mut Pacer,
    touched: &mut HashSet<i64>,
    running: &mut bool,
) -> Result<(), CoreError> {
    let Ok((send, result)) = done else {
        // A send task panicked: its recipient stays claimed and is settled
        // as "may have been sent" at the next start.
        tracing::warn!(campaign = id, "a campaign send task ended abnormally");
        return Ok(());
    };
    let Some(result) = result else {
        core.inner.store.unclaim_campaign_send(&send)?;
        return Ok(());
    };
    let outcome = match result {
        Ok(provider_id) => RecipientOutcome::Accepted { provider_id },
        Err(e) if e.code() == Some(130429) => {
            let wait = e.retry_after(0).unwrap_or(Duration::from_secs(1));
            pacer.slow_down(Instant::now() + wait);
            tracing::info!(campaign = id, "Meta asked to slow down (130429)");
            core.inner.store.set_campaign_note(
                id,
                Some("Meta asked Parley to send more slowly (error 130429); the rate was lowered."),
            )?;
            RecipientOutcome::RetryAt { at_ms: now_ms() + wait.as_millis() as i64 }
        }
        Err(e) if pauses_campaign(e.code()) && e.certainly_not_accepted() => {
            let note = format!(
                "Paused: {} (error {}). Fix it, then resume; the remaining recipients were not sent.",
                e.user_message().trim_end_matches('.'),
                e.code().unwrap_or_default()
            );
            core.inner.store.set_campaign_note(id, Some(&note))?;
            core.inner.store.set_campaign_state(
                id,
                &[CampaignState::Running],
                CampaignState::Paused,
                now_ms(),
            )?;
            *running = false;
            core.inner.store.unclaim_campaign_send(&send)?;
            emit_summary(core, id);
            return Ok(());
        }
        Err(e) => match worker::outcome_of_failure(&e, send.attempts) {
            crate::store::SendOutcome::RetryAt { retry_at_ms } => {
                RecipientOutcome::RetryAt { at_ms: retry_at_ms }
            }
            crate::store::SendOutcome::Failed { error } => RecipientOutcome::Failed { error },
            crate::store::SendOutcome::Accepted { provider_id } => {
                RecipientOutcome::Accepted { provider_id }
            }
        },
    };
    touched.insert(send.conversation_id);
    // Meta has answered: saving must not be skipped.
    worker::save_until_saved(core, || core.inner.store.finish_campaign_send(&send, &outcome)).await
}

fn emit_summary(core: &Core, id: i64) {
    if let Ok(campaign) = core.inner.store.campaign_summary(id) {
        core.emit(InboxEvent::CampaignChanged { campaign });
    }
}

fn flush_events(core: &Core, id: i64, touched: &mut HashSet<i64>) {
    for conversation in touched.drain() {
        core.emit_conversation(conversation);
    }
    emit_summary(core, id);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacer_never_starts_more_than_the_rate_in_a_second() {
        let mut p = Pacer::new(80);
        let start = Instant::now();
        let mut t = start;
        let mut starts = Vec::new();
        for _ in 0..400 {
            let slot = p.ready_at(t);
            t = slot.max(t);
            p.sent(slot, t);
            starts.push(t);
        }
        for (i, s) in starts.iter().enumerate().skip(80) {
            assert!(s.duration_since(starts[i - 80]) >= Duration::from_secs(1), "send {i}");
        }
        // And holds the rate: 400 sends at 97% of 80/s take ~5.15 s.
        let took = starts[399].duration_since(start).as_secs_f64();
        let rate = 399.0 / took;
        assert!((rate - 80.0 * PACE_SHARE).abs() < 1.0, "{rate}");
    }

    #[test]
    fn a_stall_does_not_burst_and_a_slow_down_recovers() {
        let mut p = Pacer::new(10);
        let t0 = Instant::now();
        p.sent(t0, t0);
        let later = t0 + Duration::from_secs(5);
        let at = p.ready_at(later);
        assert_eq!(at, later);
        p.sent(at, at);
        assert!(p.ready_at(at) > at, "the next waits one interval");
        p.slow_down(at + Duration::from_secs(1));
        assert!(p.rate < 10.0);
        assert!(p.ready_at(at) >= at + Duration::from_secs(1));
        for _ in 0..2_000 {
            p.sent(at, at);
        }
        assert!((p.rate - 10.0).abs() < 1e-9);
    }

    #[test]
    fn the_window_counts_a_stalled_request_when_the_server_took_it() {
        let ms = Duration::from_millis;
        let mut w = RollingWindow::new(3);
        let t0 = Instant::now();
        // A steady link: 5 ms round trips, counted when sent.
        w.admit(t0).unwrap();
        w.answered(t0, t0 + ms(5));
        w.admit(t0 + ms(10)).unwrap();
        w.answered(t0 + ms(10), t0 + ms(15));
        // In flight: inside the window until answered; the first to leave
        // is the oldest counted one.
        w.admit(t0 + ms(20)).unwrap();
        assert_eq!(w.admit(t0 + ms(30)).unwrap_err(), t0 + Duration::from_secs(1) + WINDOW_SLACK);
        // Answered after a 300 ms stall: counted then, not when sent.
        w.answered(t0 + ms(20), t0 + ms(320));
        let next = w.admit(t0 + ms(330)).unwrap_err();
        assert_eq!(next, t0 + Duration::from_secs(1) + WINDOW_SLACK);
        w.admit(next).unwrap();
        w.answered(next, next + ms(5));
        // The stalled one leaves the window only a second after the server took it.
        w.admit(next + ms(10)).unwrap();
        w.answered(next + ms(10), next + ms(15));
        let after = w.admit(next + ms(20)).unwrap_err();
        assert!(after >= t0 + ms(300) + Duration::from_secs(1), "{:?}", after - t0);
        // Only requests in flight: look again shortly.
        let mut busy = RollingWindow::new(1);
        busy.admit(t0).unwrap();
        assert_eq!(busy.admit(t0 + ms(1)).unwrap_err(), t0 + ms(1) + IN_FLIGHT_POLL);
    }

    #[test]
    fn time_spent_claiming_does_not_stretch_the_schedule() {
        let mut p = Pacer::new(100);
        let t0 = Instant::now();
        let mut slot = p.ready_at(t0);
        // Fewer sends than the rate, so only the schedule counts.
        for _ in 0..50 {
            // Each claim takes 3 ms after its slot.
            p.sent(slot, slot + Duration::from_millis(3));
            slot = p.ready_at(slot + Duration::from_millis(3));
        }
        let per_send = slot.duration_since(t0).as_secs_f64() / 50.0;
        assert!((per_send - 1.0 / (100.0 * PACE_SHARE)).abs() < 1e-4, "{per_send}");
    }

    #[test]
    fn times_are_utc_iso() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_utc(1_795_996_800_000 + 3_723_000), "2026-11-30T01:02:03Z");
        assert_eq!(iso_utc(951_782_400_000), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn campaign_wide_errors_pause() {
        assert!(pauses_campaign(Some(132015)));
        assert!(pauses_campaign(Some(190)));
        assert!(!pauses_campaign(Some(131056)));
        assert!(!pauses_campaign(Some(130429)));
        assert!(!pauses_campaign(None));
    }
}
