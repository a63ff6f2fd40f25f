//! The Campaigns screen: every campaign with live progress, one campaign's
//! recipients with their outcome, pause/resume/cancel and the results
//! export, and the new-campaign form with the summary that must be
//! confirmed before anything is sent. Thin: the logic is
//! `crate::campaigns`'.

use parley_types::campaign::{
    AudienceOptions, CampaignAction, CampaignPreview, CampaignRecipient, CampaignState,
    CampaignSummary, CreateCampaignRequest, RecipientState, RecipientsRequest,
};
use parley_types::template::TemplateSummary;
use wasm_bindgen_futures::spawn_local;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

use super::icons;
use crate::app::Dispatcher;
use crate::campaigns::{
    preview_lines, progress_percent, suggested_export, totals_line, CampaignForm, SourceKind,
};
use crate::ipc;
use crate::state::Action;

#[derive(Properties, PartialEq)]
pub struct CampaignsProps {
    pub dispatcher: Dispatcher,
}

/// How often the open screen re-reads the totals (status webhooks move
/// them after the sending is over, too).
const POLL_MS: i32 = 1_000;

fn input_value(e: &InputEvent) -> String {
    e.target_unchecked_into::<HtmlInputElement>().value()
}

fn select_value(e: &Event) -> String {
    e.target_unchecked_into::<HtmlSelectElement>().value()
}

#[component]
pub fn CampaignsScreen(props: &CampaignsProps) -> Html {
    let campaigns = use_state(|| None::<Vec<CampaignSummary>>);
    let error = use_state(|| None::<String>);
    let selected = use_state(|| None::<i64>);
    let creating = use_state(|| false);
    {
        let (campaigns, error) = (campaigns.clone(), error.clone());
        use_effect_with((), move |_| {
            let load = move || {
                let (campaigns, error) = (campaigns.clone(), error.clone());
                spawn_local(async move {
                    match ipc::list_campaigns().await {
                        Ok(list) => {
                            error.set(None);
                            campaigns.set(Some(list));
                        }
                        Err(e) => error.set(Some(e.message)),
                    }
                });
            };
            load();
            let interval = crate::dom::Interval::new(POLL_MS, load);
            move || drop(interval)
        });
    }
    let close = props.dispatcher.send::<MouseEvent>(Action::CloseCampaigns);
    let new_campaign = {
        let (creating, selected) = (creating.clone(), selected.clone());
        Callback::from(move |_: MouseEvent| {
            selected.set(None);
            creating.set(true);
        })
    };
    let on_created = {
        let (creating, selected) = (creating.clone(), selected.clone());
        Callback::from(move |id: i64| {
            creating.set(false);
            selected.set(Some(id));
        })
    };
    let on_cancel_form = {
        let creating = creating.clone();
        Callback::from(move |_: ()| creating.set(false))
    };
    let list = match &*campaigns {
        None => html! { <p class="muted">{"Loading campaigns…"}</p> },
        Some(list) if list.is_empty() => html! {
            <p class="muted" data-testid="campaigns-empty">{"No campaigns yet. A campaign sends one approved template to the contacts you choose, paced to your number's limits, and shows who got it, read it and replied."}</p>
        },
        Some(list) => list
            .iter()
            .map(|c| {
                let id = c.id;
                let onclick = {
                    let (selected, creating) = (selected.clone(), creating.clone());
                    Callback::from(move |_: MouseEvent| {
                        creating.set(false);
                        selected.set(Some(id));
                    })
                };
                let current = *selected == Some(id);
                html! {
                    <button type="button" key={id} class={classes!("campaign-row", current.then_some("selected"))}
                        data-testid="campaign-row" data-state={c.state.as_str()} {onclick}>
                        <span class="campaign-name">{c.name.clone()}</span>
                        <span class={classes!("badge", c.state.as_str())}>{c.state.label()}</span>
                        // A <progress> element: the CSP allows no inline styles.
                        <progress class="campaign-progress" max={c.totals.recipients.max(1).to_string()}
                            value={c.totals.done().to_string()} title={progress_percent(c)}></progress>
                        <span class="muted small" data-testid="campaign-totals">{totals_line(c)}</span>
                    </button>
                }
            })
            .collect::<Html>(),
    };
    let detail = if *creating {
        html! { <NewCampaign on_created={on_created} on_cancel={on_cancel_form} /> }
    } else if let Some(c) =
        campaigns.as_ref().and_then(|l| l.iter().find(|c| Some(c.id) == *selected)).cloned()
    {
        let id = c.id;
        html! { <CampaignDetail key={id} campaign={c} /> }
    } else {
        html! {}
    };
    html! {
        <section class="privacy-screen campaigns-screen" data-testid="campaigns-screen" aria-labelledby="campaigns-title">
            <header class="privacy-head">
                <h2 id="campaigns-title">{"Campaigns"}</h2>
                <div class="form-actions">
                    <button type="button" class="text-button primary" data-testid="campaign-new" onclick={new_campaign}>{"New campaign"}</button>
                    <button type="button" class="icon-button" data-testid="campaigns-close"
                        aria-label="Close Campaigns" title="Close (Esc)" onclick={close}>
                        {icons::close()}
                    </button>
                </div>
            </header>
            if let Some(e) = (*error).clone() {
                <p class="note err" role="alert">{e}</p>
            }
            <div class="campaigns-layout">
                <nav class="campaign-list" aria-label="Campaigns">{list}</nav>
                <div class="campaign-detail">{detail}</div>
            </div>
        </section>
    }
}

#[derive(Properties, PartialEq)]
struct DetailProps {
    campaign: CampaignSummary,
}

#[component]
fn CampaignDetail(props: &DetailProps) -> Html {
    let c = &props.campaign;
    let recipients = use_state(Vec::<CampaignRecipient>::new);
    let filter = use_state(|| None::<RecipientState>);
    let note = use_state(|| None::<(bool, String)>);
    let export_path = use_state(String::new);
    let more = use_state(|| false);
    let confirm_cancel = use_state(|| false);
    // "Show more" was used: keep those rows rather than going back to the
    // first page every time the totals move.
    let paged = use_mut_ref(|| false);
    // Re-read the page when the campaign moves on or the filter changes.
    let key = (c.id, c.totals, *filter);
    {
        let (recipients, more, filter, paged) =
            (recipients.clone(), more.clone(), *filter, paged.clone());
        use_effect_with(key, move |(id, _, _)| {
            let id = *id;
            if *paged.borrow() {
                return;
            }
            spawn_local(async move {
                let request = RecipientsRequest { campaign_id: id, after: None, state: filter };
                if let Ok(page) = ipc::campaign_recipients(&request).await {
                    more.set(page.len() == parley_types::campaign::RECIPIENT_PAGE);
                    recipients.set(page);
                }
            });
        });
    }
    {
        let export_path = export_path.clone();
        let c = c.clone();
        use_effect_with(c.id, move |_| {
            spawn_local(async move {
                if let Ok(settings) = ipc::privacy_settings().await {
                    let dir = settings
                        .export_suggestion
                        .rsplit_once('/')
                        .map(|(d, _)| d.to_owned())
                        .unwrap_or(settings.export_suggestion);
                    export_path.set(suggested_export(&dir, &c));
                }
            });
        });
    }
    let load_more = {
        let (recipients, more, filter, id) = (recipients.clone(), more.clone(), *filter, c.id);
        let paged = paged.clone();
        Callback::from(move |_: MouseEvent| {
            *paged.borrow_mut() = true;
            let (recipients, more) = (recipients.clone(), more.clone());
            let after = recipients.last().map(|r| r.id);
            spawn_local(async move {
                let request = RecipientsRequest { campaign_id: id, after, state: filter };
                if let Ok(page) = ipc::campaign_recipients(&request).await {
                    more.set(page.len() == parley_types::campaign::RECIPIENT_PAGE);
                    let mut all = (*recipients).clone();
                    all.extend(page);
                    recipients.set(all);
                }
            });
        })
    };
    let act = |action: CampaignAction| {
        let (note, id, confirm_cancel) = (note.clone(), c.id, confirm_cancel.clone());
        Callback::from(move |_: MouseEvent| {
            confirm_cancel.set(false);
            let note = note.clone();
            spawn_local(async move {
                match ipc::campaign_action(id, action).await {
                    Ok(_) => note.set(None),
                    Err(e) => note.set(Some((false, e.message))),
                }
            });
        })
    };
    let on_filter = {
        let (filter, paged) = (filter.clone(), paged.clone());
        Callback::from(move |e: Event| {
            *paged.borrow_mut() = false;
            let v = select_value(&e);
            filter.set(
                [
                    RecipientState::Excluded,
                    RecipientState::Queued,
                    RecipientState::Sending,
                    RecipientState::Sent,
                    RecipientState::Delivered,
                    RecipientState::Read,
                    RecipientState::Failed,
                    RecipientState::NotSent,
                ]
                .into_iter()
                .find(|s| s.as_str() == v),
            )
        })
    };
    let on_export_path = {
        let export_path = export_path.clone();
        Callback::from(move |e: InputEvent| export_path.set(input_value(&e)))
    };
    let export = {
        let (note, path, id) = (note.clone(), export_path.clone(), c.id);
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let (note, path) = (note.clone(), (*path).clone());
            spawn_local(async move {
                match ipc::export_campaign(id, &path).await {
                    Ok(n) => note.set(Some((true, format!("{n} recipients written to {path}.")))),
                    Err(e) => note.set(Some((false, e.message))),
                }
            });
        })
    };
    let t = c.totals;
    let stats = [
        ("Recipients", t.recipients),
        ("Queued", t.queued + t.sending),
        ("Sent", t.sent),
        ("Delivered", t.delivered),
        ("Read", t.read),
        ("Failed", t.failed),
        ("Replied", t.replied),
        ("Excluded", t.excluded),
    ];
    html! {
        <section class="card campaign-card" data-testid="campaign-detail" data-state={c.state.as_str()}>
            <h3>{c.name.clone()}</h3>
            <p class="muted">{format!("{} ({}) · {} messages/s · {}", c.template_name, c.language, c.rate_per_sec, c.state.label())}</p>
            if let Some(n) = c.note.clone() {
                <p class="note warn" role="status" data-testid="campaign-note">{n}</p>
            }
            <progress class="campaign-progress big" aria-label="Progress" data-testid="campaign-progress"
                max={t.recipients.max(1).to_string()} value={t.done().to_string()} title={progress_percent(c)}></progress>
            <dl class="campaign-stats" data-testid="campaign-stats">
                {for stats.iter().map(|(label, n)| html! {
                    <div data-stat={label.to_lowercase()}><dt>{*label}</dt><dd>{n.to_string()}</dd></div>
                })}
            </dl>
            <div class="form-actions">
                if matches!(c.state, CampaignState::Running | CampaignState::Scheduled) {
                    <button type="button" class="text-button" data-testid="campaign-pause" onclick={act(CampaignAction::Pause)}>{"Pause"}</button>
                }
                if c.state == CampaignState::Paused {
                    <button type="button" class="text-button primary" data-testid="campaign-resume" onclick={act(CampaignAction::Resume)}>{"Resume"}</button>
                }
                if !c.state.is_final() && !*confirm_cancel {
                    <button type="button" class="text-button danger" data-testid="campaign-cancel"
                        onclick={{ let c = confirm_cancel.clone(); Callback::from(move |_: MouseEvent| c.set(true)) }}>
                        {"Cancel campaign"}
                    </button>
                }
            </div>
            if !c.state.is_final() && *confirm_cancel {
                <div class="confirm" role="alertdialog" aria-label="Cancel the campaign" data-testid="campaign-cancel-ask">
                    <p>{format!("Cancel for good? The {} recipients not sent yet will not be sent; this cannot be undone.", t.queued + t.sending)}</p>
                    <div class="form-actions">
                        <button type="button" class="text-button"
                            onclick={{ let c = confirm_cancel.clone(); Callback::from(move |_: MouseEvent| c.set(false)) }}>
                            {"Keep it"}
                        </button>
                        <button type="button" class="text-button danger" data-testid="campaign-cancel-confirm"
                            onclick={act(CampaignAction::Cancel)}>{"Cancel campaign"}</button>
                    </div>
                </div>
            }
            if let Some((ok, n)) = (*note).clone() {
                <p class={classes!("note", if ok { "ok" } else { "err" })} role="status" data-testid="campaign-action-note">{n}</p>
            }
            <form class="export-row" onsubmit={export}>
                <label for="campaign-export">{"Export results to"}</label>
                <input id="campaign-export" data-testid="campaign-export-path" value={(*export_path).clone()} oninput={on_export_path} />
                <button type="submit" class="text-button" data-testid="campaign-export">{"Export CSV"}</button>
            </form>
            <div class="recipients-head">
                <h4>{"Recipients"}</h4>
                <select aria-label="Show" data-testid="recipient-filter" onchange={on_filter}>
                    <option value="" selected={filter.is_none()}>{"Everyone"}</option>
                    {for [RecipientState::Queued, RecipientState::Sent, RecipientState::Delivered, RecipientState::Read,
                          RecipientState::Failed, RecipientState::Excluded, RecipientState::NotSent]
                        .into_iter().map(|s| html! {
                            <option value={s.as_str()} selected={*filter == Some(s)}>{s.label()}</option>
                        })}
                </select>
            </div>
            <table class="recipients" data-testid="recipients">
                <thead><tr><th>{"Contact"}</th><th>{"Number"}</th><th>{"Status"}</th><th>{"Why"}</th><th>{"Replied"}</th></tr></thead>
                <tbody>
                    {for recipients.iter().map(|r| html! {
                        <tr key={r.id} data-testid="recipient" data-state={r.state.as_str()}>
                            <td>{r.name.clone().unwrap_or_default()}</td>
                            <td>{r.handle.clone()}</td>
                            <td>{r.state.label()}</td>
                            <td class="muted">{r.reason.clone().unwrap_or_default()}</td>
                            <td>{if r.replied_at.is_some() { "Yes" } else { "" }}</td>
                        </tr>
                    })}
                </tbody>
            </table>
            if *more {
                <button type="button" class="text-button" onclick={load_more}>{"Show more"}</button>
            }
        </section>
    }
}

#[derive(Properties, PartialEq)]
struct NewProps {
    on_created: Callback<i64>,
    on_cancel: Callback<()>,
}

#[component]
fn NewCampaign(props: &NewProps) -> Html {
    let form = use_state(CampaignForm::default);
    let templates = use_state(Vec::<TemplateSummary>::new);
    let options = use_state(AudienceOptions::default);
    let preview = use_state(|| None::<CampaignPreview>);
    let problem = use_state(|| None::<String>);
    let busy = use_state(|| false);
    {
        let (templates, options, problem) = (templates.clone(), options.clone(), problem.clone());
        use_effect_with((), move |_| {
            spawn_local(async move {
                let approved = |list: Vec<TemplateSummary>| -> Vec<TemplateSummary> {
                    list.into_iter().filter(|t| t.is_approved()).collect()
                };
                // Nothing stored yet (a new account): ask Meta once.
                let list = match ipc::list_templates().await.map(approved) {
                    Ok(list) if list.is_empty() => ipc::refresh_templates().await.map(approved),
                    other => other,
                };
                match list {
                    Ok(list) => templates.set(list),
                    Err(e) => problem.set(Some(e.message)),
                }
                if let Ok(o) = ipc::audience_options().await {
                    options.set(o);
                }
            });
        });
    }
    // Any change to the form invalidates the summary shown.
    let update = {
        let (form, preview) = (form.clone(), preview.clone());
        move |change: Box<dyn Fn(&mut CampaignForm)>| {
            let mut next = (*form).clone();
            change(&mut next);
            form.set(next);
            preview.set(None);
        }
    };
    let on_name = {
        let update = update.clone();
        Callback::from(move |e: InputEvent| {
            let v = input_value(&e);
            update(Box::new(move |f| f.name = v.clone()))
        })
    };
    let on_template = {
        let (update, templates, options) = (update.clone(), templates.clone(), options.clone());
        Callback::from(move |e: Event| {
            let v = select_value(&e);
            let picked =
                templates.iter().find(|t| format!("{}|{}", t.name, t.language) == v).cloned();
            let attributes = options.attributes.clone();
            update(Box::new(move |f| match &picked {
                Some(t) => f.pick_template(t, &attributes),
                None => *f = CampaignForm { name: f.name.clone(), ..CampaignForm::default() },
            }))
        })
    };
    let on_rate = {
        let update = update.clone();
        Callback::from(move |e: InputEvent| {
            let v = input_value(&e);
            update(Box::new(move |f| f.rate = v.clone()))
        })
    };
    let on_start = {
        let update = update.clone();
        Callback::from(move |e: InputEvent| {
            let v = input_value(&e);
            update(Box::new(move |f| f.start_at = v.clone()))
        })
    };
    let on_attr_name = {
        let update = update.clone();
        Callback::from(move |e: Event| {
            let v = select_value(&e);
            update(Box::new(move |f| f.attribute_name = v.clone()))
        })
    };
    let on_attr_value = {
        let update = update.clone();
        Callback::from(move |e: InputEvent| {
            let v = input_value(&e);
            update(Box::new(move |f| f.attribute_value = v.clone()))
        })
    };
    let start_millis = |s: &str| -> Option<i64> {
        if s.trim().is_empty() {
            return None;
        }
        let t = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(s)).get_time();
        (!t.is_nan()).then_some(t as i64)
    };
    let review = {
        let (form, preview, problem, busy) =
            (form.clone(), preview.clone(), problem.clone(), busy.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let draft = match form.draft(start_millis(&form.start_at)) {
                Ok(d) => d,
                Err(p) => return problem.set(Some(p)),
            };
            let (preview, problem, busy) = (preview.clone(), problem.clone(), busy.clone());
            busy.set(true);
            spawn_local(async move {
                match ipc::preview_campaign(&draft).await {
                    Ok(p) => {
                        problem.set(None);
                        preview.set(Some(p));
                    }
                    Err(e) => problem.set(Some(e.message)),
                }
                busy.set(false);
            });
        })
    };
    let confirm = {
        let (form, preview, problem, busy, on_created) = (
            form.clone(),
            preview.clone(),
            problem.clone(),
            busy.clone(),
            props.on_created.clone(),
        );
        Callback::from(move |_: MouseEvent| {
            let Some(p) = (*preview).clone() else { return };
            let Ok(draft) = form.draft(start_millis(&form.start_at)) else { return };
            let (problem, busy, on_created, preview) =
                (problem.clone(), busy.clone(), on_created.clone(), preview.clone());
            busy.set(true);
            spawn_local(async move {
                let request = CreateCampaignRequest { draft, confirmed_recipients: p.recipients };
                match ipc::create_campaign(&request).await {
                    Ok(c) => on_created.emit(c.id),
                    Err(e) => {
                        preview.set(None);
                        problem.set(Some(e.message));
                    }
                }
                busy.set(false);
            });
        })
    };
    let cancel = {
        let on_cancel = props.on_cancel.clone();
        Callback::from(move |_: MouseEvent| on_cancel.emit(()))
    };
    let chosen = form.template.as_ref().map(|(n, l)| format!("{n}|{l}")).unwrap_or_default();
    let variable_rows = |part: &'static str, fields: &[crate::campaigns::VariableField]| -> Html {
        fields
            .iter()
            .enumerate()
            .map(|(i, field)| {
                let on_kind = {
                    let update = update.clone();
                    Callback::from(move |e: Event| {
                        let kind = SourceKind::parse(&select_value(&e));
                        update(Box::new(move |f| {
                            let list = if part == "header" { &mut f.header } else { &mut f.body };
                            list[i].kind = kind;
                            list[i].value.clear();
                        }))
                    })
                };
                let on_value = {
                    let update = update.clone();
                    Callback::from(move |e: InputEvent| {
                        let v = input_value(&e);
                        update(Box::new(move |f| {
                            let list = if part == "header" { &mut f.header } else { &mut f.body };
                            list[i].value = v.clone();
                        }))
                    })
                };
                let on_attr = {
                    let update = update.clone();
                    Callback::from(move |e: Event| {
                        let v = select_value(&e);
                        update(Box::new(move |f| {
                            let list = if part == "header" { &mut f.header } else { &mut f.body };
                            list[i].value = v.clone();
                        }))
                    })
                };
                let on_fallback = {
                    let update = update.clone();
                    Callback::from(move |e: InputEvent| {
                        let v = input_value(&e);
                        update(Box::new(move |f| {
                            let list = if part == "header" { &mut f.header } else { &mut f.body };
                            list[i].fallback = v.clone();
                        }))
                    })
                };
                html! {
                    <div class="variable-row" data-testid={format!("variable-{part}-{i}")}>
                        <span class="variable-label">{format!("{} {}", part, field.label)}</span>
                        <select aria-label={format!("Source of {}", field.label)} data-testid="variable-source" onchange={on_kind}>
                            {for SourceKind::ALL.iter().map(|k| html! {
                                <option value={k.key()} selected={field.kind == *k}>{k.label()}</option>
                            })}
                        </select>
                        if field.kind == SourceKind::Attribute {
                            <select aria-label="Attribute" data-testid="variable-attribute" onchange={on_attr}>
                                <option value="" selected={field.value.is_empty()}>{"Choose…"}</option>
                                {for options.attributes.iter().map(|a| html! {
                                    <option value={a.clone()} selected={field.value.eq_ignore_ascii_case(a)}>{a.clone()}</option>
                                })}
                            </select>
                        }
                        if field.kind == SourceKind::Fixed {
                            <input aria-label="Text" data-testid="variable-text" value={field.value.clone()}
                                placeholder={field.example.clone().unwrap_or_default()} oninput={on_value} />
                        } else {
                            <input aria-label="If missing" data-testid="variable-fallback" value={field.fallback.clone()}
                                placeholder="If missing (else excluded)" oninput={on_fallback} />
                        }
                    </div>
                }
            })
            .collect()
    };
    let labels = options
        .labels
        .iter()
        .map(|(label, n)| {
            let checked = form.labels.iter().any(|l| l.eq_ignore_ascii_case(label));
            let onchange = {
                let (update, label) = (update.clone(), label.clone());
                Callback::from(move |_: Event| {
                    let label = label.clone();
                    update(Box::new(move |f| f.toggle_label(&label)))
                })
            };
            html! {
                <label class="check" key={label.clone()}>
                    <input type="checkbox" data-testid="audience-label" value={label.clone()} {checked} {onchange} />
                    {format!("{label} ({n})")}
                </label>
            }
        })
        .collect::<Html>();
    let rate: u32 =
        form.rate.trim().parse().unwrap_or(parley_types::campaign::DEFAULT_RATE_PER_SEC);
    html! {
        <form class="card campaign-form" data-testid="campaign-form" onsubmit={review}>
            <h3>{"New campaign"}</h3>
            <label for="campaign-name">{"Name"}</label>
            <input id="campaign-name" data-testid="campaign-name" value={form.name.clone()} oninput={on_name} />
            <label for="campaign-template">{"Approved template"}</label>
            <select id="campaign-template" data-testid="campaign-template" onchange={on_template}>
                <option value="" selected={chosen.is_empty()}>{"Choose…"}</option>
                {for templates.iter().map(|t| {
                    let key = format!("{}|{}", t.name, t.language);
                    html! { <option value={key.clone()} selected={chosen == key}>{format!("{} ({}, {})", t.name, t.language, t.category.to_lowercase())}</option> }
                })}
            </select>
            <fieldset>
                <legend>{"Audience"}</legend>
                <p class="muted small">{"Contacts with any of the ticked labels (none ticked: every WhatsApp contact). Opted-out contacts are always left out."}</p>
                <div class="label-choices">{labels}</div>
                <div class="attribute-filter">
                    <select aria-label="Only contacts whose attribute" data-testid="audience-attribute" onchange={on_attr_name}>
                        <option value="" selected={form.attribute_name.is_empty()}>{"Any attributes"}</option>
                        {for options.attributes.iter().map(|a| html! {
                            <option value={a.clone()} selected={form.attribute_name == *a}>{format!("{a} is…")}</option>
                        })}
                    </select>
                    if !form.attribute_name.is_empty() {
                        <input aria-label="Attribute value" data-testid="audience-attribute-value" value={form.attribute_value.clone()} oninput={on_attr_value} />
                    }
                </div>
            </fieldset>
            if !form.header.is_empty() || !form.body.is_empty() {
                <fieldset>
                    <legend>{"Variables"}</legend>
                    {variable_rows("header", &form.header)}
                    {variable_rows("body", &form.body)}
                </fieldset>
            }
            <div class="inline-fields">
                <label>{"Messages per second"}
                    <input type="number" min="1" max="1000" data-testid="campaign-rate" value={form.rate.clone()} oninput={on_rate} />
                </label>
                <label>{"Start (empty: now)"}
                    <input type="datetime-local" data-testid="campaign-start" value={form.start_at.clone()} oninput={on_start} />
                </label>
            </div>
            if let Some(p) = (*problem).clone() {
                <p class="note err" role="alert" data-testid="campaign-problem">{p}</p>
            }
            if let Some(p) = (*preview).clone() {
                <section class="campaign-summary" data-testid="campaign-summary" data-recipients={p.recipients.to_string()}>
                    {for preview_lines(&p, rate).into_iter().map(|l| html! { <p>{l}</p> })}
                    {for p.samples.iter().map(|s| html! {
                        <blockquote class="sample"><span class="muted small">{s.contact.clone()}</span><p>{s.text.clone()}</p></blockquote>
                    })}
                    <div class="form-actions">
                        <button type="button" class="text-button primary" data-testid="campaign-confirm"
                            disabled={*busy || p.recipients == 0} onclick={confirm}>
                            {format!("Send to {} recipient{}", p.recipients, if p.recipients == 1 { "" } else { "s" })}
                        </button>
                    </div>
                </section>
            }
            <div class="form-actions">
                <button type="button" class="text-button" onclick={cancel}>{"Cancel"}</button>
                <button type="submit" class="text-button" data-testid="campaign-review" disabled={*busy}>{"Review"}</button>
            </div>
        </form>
    }
}
