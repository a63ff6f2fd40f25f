//! `parleyctl`: Parley without a window, for scripts, servers and tests.
//!
//! It drives the same [`parley_core::Core`] as the desktop app, on a profile
//! directory given explicitly, and prints JSON on stdout. Secrets never come
//! from the command line (where `ps` and shell history would see them): the
//! access token and enrollment code are read from the environment.

mod inspect;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use parley_core::{Core, GraphSettings, NoNotifier};
use parley_types::{InboxEvent, ReactRequest, SendTextRequest};
use serde::Serialize;
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "parleyctl",
    version,
    about = "Headless Parley: sync, list and send from a profile"
)]
struct Cli {
    /// The profile directory (database and settings). Keyring entries are
    /// namespaced by it, so test profiles never touch a real one.
    /// Required by every command that uses a profile (all but `webhook`).
    #[arg(long, env = "PARLEY_PROFILE_DIR")]
    profile_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Enroll this profile with a relay. The one-time code is read from
    /// $PARLEY_ENROLL_CODE.
    Enroll {
        #[arg(long)]
        relay: String,
        #[arg(long, default_value = "parleyctl")]
        device_name: String,
    },
    /// Set the WhatsApp number replies are sent from. The access token is
    /// read from $PARLEY_ACCESS_TOKEN and kept in the OS keyring.
    ConfigureGraph {
        #[arg(long, default_value = parley_meta::graph::META_BASE_URL)]
        base_url: String,
        #[arg(long, default_value = parley_meta::graph::DEFAULT_VERSION)]
        version: String,
        #[arg(long)]
        phone_number_id: String,
        #[arg(long)]
        waba_id: Option<String>,
    },
    /// Pull events from the relay into the encrypted database.
    Sync {
        /// One round without waiting, then exit (prints a report).
        #[arg(long)]
        once: bool,
    },
    /// Conversations, newest first, as JSON.
    Conversations,
    /// Full-text search over every conversation: the newest hits, as JSON.
    Search { query: String },
    /// A conversation's messages, oldest first, as JSON.
    Messages {
        #[arg(long)]
        conversation: i64,
    },
    /// Queue a text reply and try to send it now; prints the message.
    /// Without --text the message is read from stdin, which keeps it out of
    /// `ps` and shell history.
    Send {
        #[arg(long)]
        conversation: i64,
        #[arg(long)]
        text: Option<String>,
        /// Quote this message (its provider id, as `messages` prints it).
        #[arg(long)]
        reply_to: Option<String>,
    },
    /// Send a file (image, video, audio, document or sticker) and try now.
    SendFile {
        #[arg(long)]
        conversation: i64,
        #[arg(long)]
        path: PathBuf,
        /// The file's type; guessed from the extension when left out.
        #[arg(long)]
        mime: Option<String>,
        #[arg(long, default_value = "")]
        caption: String,
    },
    /// React to a customer's message (WhatsApp) and try to send it now;
    /// prints the message. Without --emoji the reaction is removed.
    React {
        #[arg(long)]
        message: i64,
        #[arg(long, default_value = "")]
        emoji: String,
    },
    /// Send a failed message again.
    Retry {
        #[arg(long)]
        message: i64,
    },
    /// Delete a failed message.
    DeleteMessage {
        #[arg(long)]
        message: i64,
    },
    /// Clear a conversation's unread count and send a read receipt.
    MarkRead {
        #[arg(long)]
        conversation: i64,
    },
    /// Show the profile's settings (never secrets).
    Status,
    /// What desktop notifications reveal: full, sender_only or hidden.
    Notifications {
        #[arg(value_parser = ["full", "sender_only", "hidden"])]
        content: String,
    },
    /// How long messages are kept: a number of days, or "forever"; with
    /// --channel, that channel's own period ("global" follows the others).
    Retention {
        days: String,
        #[arg(long, value_parser = ["whatsapp", "instagram"])]
        channel: Option<String>,
    },
    /// Delete what is older than the retention period now.
    Purge {
        /// Purge as if it were this moment (Unix milliseconds) instead of now:
        /// shows what a period removes without waiting for it (the clock the
        /// retention tests inject).
        #[arg(long, value_name = "UNIX_MS")]
        as_of: Option<i64>,
    },
    /// Export everything (or one conversation) to a folder, unencrypted:
    /// CSV and JSON files, media, and a README.
    Export {
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        conversation: Option<i64>,
    },
    /// Erase one customer's conversation, messages, media and contact.
    Erase {
        #[arg(long)]
        conversation: i64,
        /// Required: erasing cannot be undone.
        #[arg(long)]
        yes: bool,
    },
    /// What this profile stores, where, and how it is protected.
    Inventory,
    /// Forget the Meta access token and number (history stays).
    DisconnectGraph,
    /// Delete everything this profile holds: database, media, settings and
    /// keyring entries. Requires --confirm "delete all my data".
    DeleteAll {
        #[arg(long)]
        confirm: String,
    },
    /// Headless sandbox mode: start a relay and the sandbox in this process,
    /// connect the profile to them, and stream inbox events as JSON lines
    /// until Ctrl-C. Prints the relay and sandbox addresses first.
    Demo {
        /// How often simulated customers write in; 0 for never.
        #[arg(long, default_value_t = 8)]
        autochat_secs: u64,
    },
    /// Offline webhook tools (no profile is opened).
    Webhook {
        #[command(subcommand)]
        command: inspect::WebhookCommand,
    },
    /// Import or export the contacts as CSV.
    Contacts {
        #[command(subcommand)]
        command: ContactsCommand,
    },
}

#[derive(Subcommand)]
enum ContactsCommand {
    /// Import a UTF-8 CSV file with a header row. Columns are found by their
    /// headers (Name, Phone/WhatsApp, Labels, Notes, Opted out, Instagram;
    /// the flags override); other columns become custom attributes. Prints
    /// the report (or, with --dry-run, the preview) as JSON.
    Import {
        file: PathBuf,
        /// Check every row and show what would be saved; save nothing.
        #[arg(long)]
        dry_run: bool,
        /// The header of the WhatsApp number column.
        #[arg(long)]
        whatsapp: Option<String>,
        /// The header of the name column.
        #[arg(long)]
        name: Option<String>,
    },
    /// Write the WhatsApp contacts to a CSV file; prints how many.
    Export {
        file: PathBuf,
        /// Only contacts with one of these labels (repeatable).
        #[arg(long)]
        label: Vec<String>,
        /// Only opted-out contacts (true) or only the others (false).
        #[arg(long)]
        opted_out: Option<bool>,
    },
}

/// The MIME type WhatsApp expects for a file extension.
fn mime_for(path: &std::path::Path) -> &'static str {
    let ext =
        path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "mp4" => "video/mp4",
        "3gp" => "video/3gpp",
        "mp3" => "audio/mpeg",
        "ogg" | "opus" => "audio/ogg",
        "aac" => "audio/aac",
        "amr" => "audio/amr",
        "m4a" => "audio/mp4",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        _ => "application/octet-stream",
    }
}

fn parley_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn print_json(value: &impl Serialize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Run sync and the outbox, printing each inbox event as one JSON line.
async fn stream_events(core: &Core) -> Result<()> {
    core.start();
    let mut events = core.subscribe();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            event = events.recv() => match event {
                Ok(event) => println!("{}", serde_json::to_string(&event)?),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "output fell behind; events skipped");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    }
    core.shutdown();
    Ok(())
}

fn secret_from_env(name: &str) -> Result<Zeroizing<String>> {
    let value = Zeroizing::new(std::env::var(name).with_context(|| format!("set ${name}"))?);
    if value.trim().is_empty() {
        bail!("${name} is empty");
    }
    Ok(value)
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Command::Webhook { command } = &cli.command {
        return inspect::run(command);
    }
    let Some(profile_dir) = cli.profile_dir.as_deref() else {
        bail!("--profile-dir (or $PARLEY_PROFILE_DIR) is required for this command");
    };
    let core = Core::open_with_keyring(profile_dir, Arc::new(NoNotifier))
        .map_err(|e| anyhow::anyhow!("{}", parley_types::IpcError::from(&e)))?;
    let user_error =
        |e: parley_core::CoreError| anyhow::anyhow!("{}", parley_types::IpcError::from(&e));
    // A profile with the app lock on opens locked, here as in the app.
    if core.is_locked() {
        let passphrase = secret_from_env("PARLEY_PASSPHRASE")
            .context("this profile has the app lock on: set $PARLEY_PASSPHRASE to unlock it")?;
        core.unlock(passphrase).await.map_err(user_error)?;
    }
    match cli.command {
        Command::Enroll { relay, device_name } => {
            let code = secret_from_env("PARLEY_ENROLL_CODE")?;
            core.enroll(&relay, &code, &device_name).await.map_err(user_error)?;
            print_json(&core.config())?;
        }
        Command::ConfigureGraph { base_url, version, phone_number_id, waba_id } => {
            let token = secret_from_env("PARLEY_ACCESS_TOKEN")?;
            let settings = GraphSettings { base_url, version, phone_number_id, waba_id };
            core.configure_graph(settings, token).map_err(user_error)?;
            print_json(&core.config())?;
        }
        Command::Sync { once: true } => {
            let report = core.sync_once().await.map_err(user_error)?;
            print_json(&report)?;
        }
        Command::Sync { once: false } => stream_events(&core).await?,
        Command::Demo { autochat_secs } => {
            let mut config = parley_sandbox::demo::DemoConfig::new(core.profile().dir());
            config.auto_chat =
                (autochat_secs > 0).then(|| std::time::Duration::from_secs(autochat_secs));
            let demo = parley_sandbox::demo::Demo::start(config).await?;
            core.attach_sandbox(parley_core::SandboxLink {
                relay_url: demo.relay_url(),
                tenant_id: demo.tenant_id().to_owned(),
                enrollment_code: demo.issue_enrollment_code()?,
                graph: GraphSettings {
                    base_url: demo.graph_base_url(),
                    version: demo.graph_version().to_owned(),
                    phone_number_id: demo.phone_number_id().to_owned(),
                    waba_id: Some(demo.waba_id().to_owned()),
                },
                access_token: Zeroizing::new(demo.access_token().to_owned()),
            })
            .await
            .map_err(user_error)?;
            println!(
                "{}",
                serde_json::json!({ "relay_url": demo.relay_url(), "sandbox_url": demo.graph_base_url() })
            );
            stream_events(&core).await?;
            demo.shutdown().await;
        }
        Command::Contacts {
            command: ContactsCommand::Import { file, dry_run, whatsapp, name },
        } => {
            let csv = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {} as UTF-8 text", file.display()))?;
            let headers = parley_types::contacts_csv::CsvReader::new(&csv)
                .next()
                .and_then(Result::ok)
                .map(|r| r.cells)
                .unwrap_or_default();
            let mut mapping = parley_types::contacts_csv::ColumnMapping::guess(&headers);
            mapping.whatsapp = whatsapp.or(mapping.whatsapp);
            mapping.name = name.or(mapping.name);
            if dry_run {
                let preview =
                    core.preview_contacts_import(&csv, &mapping, 20).map_err(user_error)?;
                print_json(&preview)?;
            } else {
                let mut progress = |done, total| eprintln!("{done}/{total}");
                let report =
                    core.import_contacts(&csv, &mapping, &mut progress).map_err(user_error)?;
                print_json(&report)?;
            }
        }
        Command::Contacts { command: ContactsCommand::Export { file, label, opted_out } } => {
            let filter = parley_types::contacts_csv::ContactsFilter { labels: label, opted_out };
            let n = core.export_contacts(&filter, &file).map_err(user_error)?;
            println!("{n}");
        }
        Command::Conversations => print_json(&core.list_conversations().map_err(user_error)?)?,
        Command::Search { query } => print_json(&core.search(&query).map_err(user_error)?)?,
        Command::Messages { conversation } => {
            print_json(&core.list_messages(conversation).map_err(user_error)?)?
        }
        Command::Send { conversation, text, reply_to } => {
            let text = match text {
                Some(text) => text,
                None => {
                    let mut text = String::new();
                    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                        .context("reading the message from stdin")?;
                    text
                }
            };
            let queued = core
                .send_text(&SendTextRequest { conversation_id: conversation, text, reply_to })
                .map_err(user_error)?;
            core.flush_outbox().await.map_err(user_error)?;
            print_json(&core.store().message(queued.id).map_err(|e| user_error(e.into()))?)?;
        }
        Command::SendFile { conversation, path, mime, caption } => {
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let mime = mime.unwrap_or_else(|| mime_for(&path).to_owned());
            let name =
                path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let queued =
                core.send_file(conversation, &name, &mime, &bytes, &caption).map_err(user_error)?;
            core.flush_outbox().await.map_err(user_error)?;
            print_json(&core.store().message(queued.id).map_err(|e| user_error(e.into()))?)?;
        }
        Command::React { message, emoji } => {
            let mut events = core.subscribe();
            core.react(&ReactRequest { message_id: message, emoji }).map_err(user_error)?;
            core.flush_outbox().await.map_err(user_error)?;
            while let Ok(event) = events.try_recv() {
                if let InboxEvent::ReactionFailed { message_id, error, .. } = event {
                    if message_id == message {
                        bail!("{error}");
                    }
                }
            }
            print_json(&core.store().message(message).map_err(|e| user_error(e.into()))?)?;
        }
        Command::Retry { message } => {
            let queued = core.retry_message(message).map_err(user_error)?;
            core.flush_outbox().await.map_err(user_error)?;
            print_json(&core.store().message(queued.id).map_err(|e| user_error(e.into()))?)?;
        }
        Command::DeleteMessage { message } => core.delete_message(message).map_err(user_error)?,
        Command::MarkRead { conversation } => {
            core.mark_read(conversation).map_err(user_error)?;
            // The read receipt is sent in the background; give it a moment.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        Command::Notifications { content } => {
            let content =
                parley_types::NotificationContent::parse(&content).expect("clap checked the value");
            core.set_notification_content(content).map_err(user_error)?;
        }
        Command::Retention { days, channel } => {
            use parley_types::{ChannelKind, RetentionPeriod};
            let channel = channel.map(|c| match c.as_str() {
                "instagram" => ChannelKind::Instagram,
                _ => ChannelKind::Whatsapp,
            });
            let period = match days.as_str() {
                "forever" => Some(RetentionPeriod::Forever),
                "global" if channel.is_some() => None,
                n => Some(RetentionPeriod::Days {
                    days: n.parse::<u32>().context("days must be a number or \"forever\"")?,
                }),
            };
            print_json(&core.set_retention(channel, period).map_err(user_error)?)?;
        }
        Command::Purge { as_of } => {
            let now = as_of.unwrap_or_else(parley_now_ms);
            print_json(&core.purge_expired(now).map_err(user_error)?)?
        }
        Command::Export { out, conversation } => {
            let report = core.export(&out, conversation).map_err(user_error)?;
            eprintln!("Exported to {} — these files are NOT encrypted.", out.display());
            print_json(&report)?;
        }
        Command::Erase { conversation, yes } => {
            if !yes {
                bail!("erasing cannot be undone: add --yes to confirm");
            }
            print_json(&core.delete_conversation_data(conversation).map_err(user_error)?)?;
        }
        Command::Inventory => print_json(&core.data_inventory().map_err(user_error)?)?,
        Command::DisconnectGraph => core.disconnect_graph().map_err(user_error)?,
        Command::DeleteAll { confirm } => {
            if confirm != "delete all my data" {
                bail!("type --confirm \"delete all my data\" to delete everything");
            }
            // The relay first: if it cannot be reached, nothing is deleted
            // yet and the user can try again.
            core.deregister_device().await.map_err(user_error)?;
            core.delete_all_data().map_err(user_error)?;
            eprintln!("Everything this profile held is deleted.");
            return Ok(());
        }
        Command::Webhook { .. } => unreachable!("handled before the profile is opened"),
        Command::Status => {
            #[derive(Serialize)]
            struct Status {
                profile_id: String,
                database: PathBuf,
                config: parley_core::ProfileConfig,
            }
            print_json(&Status {
                profile_id: core.profile().id().to_owned(),
                database: core.profile().database_path(),
                config: core.config(),
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn secrets_are_never_arguments() {
        // The enrollment code and access token have no flag at all.
        let err = Cli::try_parse_from([
            "parleyctl",
            "--profile-dir",
            "p",
            "enroll",
            "--relay",
            "x",
            "--code",
            "c",
        ]);
        assert!(err.is_err());
        let err = Cli::try_parse_from([
            "parleyctl",
            "--profile-dir",
            "p",
            "configure-graph",
            "--phone-number-id",
            "1",
            "--access-token",
            "t",
        ]);
        assert!(err.is_err());
    }

    #[test]
    fn send_reads_stdin_when_no_text_is_given() {
        let cli =
            Cli::try_parse_from(["parleyctl", "--profile-dir", "p", "send", "--conversation", "3"])
                .unwrap();
        assert!(matches!(
            cli.command,
            Command::Send { conversation: 3, text: None, reply_to: None }
        ));
    }

    #[test]
    fn an_empty_secret_is_refused() {
        // A name no other test or user sets.
        std::env::set_var("PARLEYCTL_TEST_EMPTY_SECRET", "  ");
        assert!(secret_from_env("PARLEYCTL_TEST_EMPTY_SECRET").is_err());
        assert!(secret_from_env("PARLEYCTL_TEST_UNSET_SECRET").is_err());
    }
}
