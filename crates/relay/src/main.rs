//! `parley-relay`: run the relay, and administer it.
//!
//! Admin commands work directly on the database file given with `--db`:
//! being able to open that file (filesystem permissions) *is* admin access.
//! They are safe to run while `serve` is running on the same file.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Parser, Subcommand};
use parley_meta::routing::ChannelKey;
use parley_relay::{Config, Store};
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(name = "parley-relay", version, about = "Parley relay server and admin tool")]
struct Cli {
    /// The relay database file.
    #[arg(long, env = "PARLEY_RELAY_DB", global = true)]
    db: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve webhooks and the device API.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Days a queued event is kept for a device that never acks it.
        #[arg(long, default_value_t = 30)]
        retention_days: u64,
    },
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage channels.
    #[command(subcommand)]
    Channel(ChannelCommand),
    /// Issue a one-time device enrollment code.
    EnrollCode {
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value_t = 60)]
        ttl_mins: u64,
    },
    /// Manage enrolled devices.
    #[command(subcommand)]
    Devices(DevicesCommand),
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant and print its id. The app secret comes from the
    /// environment variable PARLEY_APP_SECRET or from --app-secret-file, never
    /// from an argument, which any local user could read in `ps`.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        verify_token: String,
        #[arg(long)]
        app_secret_file: Option<PathBuf>,
    },
    /// Delete a tenant with its channels, devices and queued events.
    Delete {
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Subcommand)]
enum ChannelCommand {
    /// Route a WhatsApp number, WhatsApp account or Instagram account to a tenant.
    Add {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        channel: ChannelArg,
    },
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct ChannelArg {
    /// A WhatsApp phone number id (metadata.phone_number_id).
    #[arg(long)]
    whatsapp_number: Option<String>,
    /// A WhatsApp Business Account id, for account-level webhooks.
    #[arg(long)]
    whatsapp_account: Option<String>,
    /// An Instagram professional account id.
    #[arg(long)]
    instagram: Option<String>,
}

impl ChannelArg {
    fn key(self) -> ChannelKey {
        match (self.whatsapp_number, self.whatsapp_account, self.instagram) {
            (Some(id), _, _) => ChannelKey::WhatsappNumber(id),
            (_, Some(id), _) => ChannelKey::WhatsappAccount(id),
            (_, _, Some(id)) => ChannelKey::Instagram(id),
            // clap's group makes exactly one of them present.
            (None, None, None) => unreachable!("clap requires one channel flag"),
        }
    }
}

#[derive(Subcommand)]
enum DevicesCommand {
    /// Print a tenant's devices as JSON lines.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a device: its token stops working and its queue is dropped.
    Revoke { device_id: String },
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let db = cli.db.context("the database path is required: pass --db or set PARLEY_RELAY_DB")?;
    match cli.command {
        Command::Serve { listen, retention_days } => serve(db, listen, retention_days),
        command => admin(&db, command),
    }
}

fn serve(db: PathBuf, listen: SocketAddr, retention_days: u64) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let mut config = Config::new(db.clone(), listen);
        config.retention = Duration::from_secs(retention_days.saturating_mul(24 * 60 * 60));
        let relay = parley_relay::spawn(config)
            .await
            .with_context(|| format!("starting the relay on {listen} with {}", db.display()))?;
        // Tests and scripts wait for exactly this line to learn the port.
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "parley-relay listening on {}", relay.url())?;
        stdout.flush()?;
        drop(stdout);
        stop_signal().await?;
        tracing::info!("stopping: finishing in-flight requests");
        relay.shutdown().await;
        Ok(())
    })
}

#[cfg(unix)]
async fn stop_signal() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("listening for SIGINT")?,
        _ = term.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn stop_signal() -> Result<()> {
    tokio::signal::ctrl_c().await.context("listening for Ctrl-C")
}

fn admin(db: &Path, command: Command) -> Result<()> {
    let store = Store::open(db).with_context(|| format!("opening {}", db.display()))?;
    match command {
        Command::Serve { .. } => unreachable!("handled by serve()"),
        Command::Tenant(TenantCommand::Create { name, verify_token, app_secret_file }) => {
            let secret = app_secret(app_secret_file.as_deref())?;
            let id = store.create_tenant(&name, &secret, &verify_token)?;
            println!("{id}");
        }
        Command::Tenant(TenantCommand::Delete { tenant }) => {
            store.delete_tenant(&tenant)?;
        }
        Command::Channel(ChannelCommand::Add { tenant, channel }) => {
            store.add_channel(&tenant, &channel.key())?;
        }
        Command::EnrollCode { tenant, ttl_mins } => {
            let ttl = Duration::from_secs(ttl_mins.saturating_mul(60));
            println!("{}", store.issue_enrollment_code(&tenant, ttl)?);
        }
        Command::Devices(DevicesCommand::List { tenant }) => {
            let mut out = std::io::stdout().lock();
            for d in store.list_devices(&tenant)? {
                let line = serde_json::json!({
                    "id": d.id,
                    "name": d.name,
                    "created_at": d.created_at_ms,
                    "revoked": d.revoked,
                    "acked_seq": d.acked_seq,
                    "queue_depth": d.queue_depth,
                });
                writeln!(out, "{line}")?;
            }
        }
        Command::Devices(DevicesCommand::Revoke { device_id }) => {
            store.revoke_device(&device_id)?;
        }
    }
    Ok(())
}

fn app_secret(file: Option<&Path>) -> Result<Zeroizing<String>> {
    let secret = match file {
        Some(path) => Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the app secret from {}", path.display()))?,
        ),
        None => Zeroizing::new(std::env::var("PARLEY_APP_SECRET").context(
            "the app secret is required: set PARLEY_APP_SECRET or pass --app-secret-file",
        )?),
    };
    // Files usually end with a newline that is not part of the secret.
    let trimmed = Zeroizing::new(secret.trim().to_owned());
    if trimmed.is_empty() {
        bail!("the app secret is empty");
    }
    Ok(trimmed)
}
