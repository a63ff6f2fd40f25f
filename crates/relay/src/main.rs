//! `parley-relay`: run the relay, and administer it.
//!
//! Admin commands work directly on the database file given with `--db`:
//! being able to open that file (filesystem permissions) *is* admin access
//! on the host. They are safe to run while `serve` is running on the same
//! file. Remote administration goes through the admin HTTP API, which needs
//! the admin key (`admin-key generate`).
//!
//! Settings come from an optional TOML file (`--config`), with `--db` and
//! `serve --listen` overriding it. Secrets are never arguments.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Parser, Subcommand};
use parley_meta::routing::ChannelKey;
use parley_relay::{Config, Limits, Store, TlsFiles};
use serde::Deserialize;
use zeroize::Zeroizing;

/// Why not the system allocator: see the `mimalloc` entry in Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "parley-relay", version, about = "Parley relay server and admin tool")]
struct Cli {
    /// The relay database file (overrides `db` in the config file).
    #[arg(long, env = "PARLEY_RELAY_DB", global = true)]
    db: Option<PathBuf>,
    /// A TOML config file; see README "Deploying the relay".
    #[arg(long, env = "PARLEY_RELAY_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve webhooks and the device API.
    Serve {
        /// Address to listen on [config: listen; default 127.0.0.1:8080].
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Days a queued event is kept for a device that never acks it
        /// [config: retention_days; default 30].
        #[arg(long)]
        retention_days: Option<u64>,
    },
    /// Print the newest audit-log entries as JSON lines (no content is ever
    /// in them).
    Audit {
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Manage the admin key of the admin HTTP API.
    #[command(subcommand)]
    AdminKey(AdminKeyCommand),
    /// Manage the bearer token of `GET /metrics`.
    #[command(subcommand)]
    MetricsToken(AdminKeyCommand),
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
    /// Stop routing a channel to a tenant.
    Remove {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        channel: ChannelArg,
    },
}

#[derive(Subcommand)]
enum AdminKeyCommand {
    /// Write a new random 256-bit key to FILE (created 0600, never
    /// overwritten) and print the config line holding its hash.
    Generate {
        #[arg(long)]
        out: PathBuf,
    },
}

/// The config file. Every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    db: Option<PathBuf>,
    listen: Option<SocketAddr>,
    public_url: Option<String>,
    retention_days: Option<u64>,
    max_body_bytes: Option<usize>,
    #[serde(default)]
    trust_forwarded_for: bool,
    /// Hex SHA-256 of the admin key, as `admin-key generate` prints it.
    admin_key_sha256: Option<String>,
    /// Hex SHA-256 of the `/metrics` bearer token, as `metrics-token
    /// generate` prints it. Without it, metrics are loopback-only.
    metrics_token_sha256: Option<String>,
    tls: Option<FileTls>,
    limits: Option<Limits>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    cert_chain: PathBuf,
    private_key: PathBuf,
}

fn read_config(path: Option<&Path>) -> Result<FileConfig> {
    let Some(path) = path else { return Ok(FileConfig::default()) };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing the config file {}", path.display()))
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
    if let Command::AdminKey(AdminKeyCommand::Generate { out }) = &cli.command {
        return generate_key(out, "admin_key_sha256");
    }
    if let Command::MetricsToken(AdminKeyCommand::Generate { out }) = &cli.command {
        return generate_key(out, "metrics_token_sha256");
    }
    let file = read_config(cli.config.as_deref())?;
    let db = cli.db.clone().or_else(|| file.db.clone()).context(
        "the database path is required: pass --db, set PARLEY_RELAY_DB or put db in the config file",
    )?;
    match cli.command {
        Command::Serve { listen, retention_days } => {
            let config = serve_config(db, file, listen, retention_days)?;
            serve(config)
        }
        command => admin(&db, command),
    }
}

fn serve_config(
    db: PathBuf,
    file: FileConfig,
    listen: Option<SocketAddr>,
    retention_days: Option<u64>,
) -> Result<Config> {
    let listen = listen.or(file.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let mut config = Config::new(db, listen);
    let days = retention_days.or(file.retention_days).unwrap_or(30);
    config.retention = Duration::from_secs(days.saturating_mul(24 * 60 * 60));
    if let Some(max) = file.max_body_bytes {
        config.max_body_bytes = max;
    }
    config.public_url = file.public_url;
    config.trust_forwarded_for = file.trust_forwarded_for;
    if let Some(limits) = file.limits {
        config.limits = limits;
    }
    config.tls =
        file.tls.map(|t| TlsFiles { cert_chain: t.cert_chain, private_key: t.private_key });
    if let Some(hash) = file.admin_key_sha256 {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hash.trim(), &mut bytes)
            .context("admin_key_sha256 must be 64 hex digits, as `admin-key generate` prints")?;
        config.admin_key_sha256 = Some(bytes);
    }
    if let Some(hash) = file.metrics_token_sha256 {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hash.trim(), &mut bytes).context(
            "metrics_token_sha256 must be 64 hex digits, as `metrics-token generate` prints",
        )?;
        config.metrics_token_sha256 = Some(bytes);
    }
    Ok(config)
}

/// A 256-bit random key, hex, written only to a new private file. The relay
/// is told only its hash (the config line printed, named `config_field`), so
/// neither the config file nor the database can leak the key itself.
fn generate_key(out: &Path, config_field: &str) -> Result<()> {
    use rand::RngCore as _;
    use sha2::Digest as _;
    let mut raw = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(raw.as_mut());
    let key = Zeroizing::new(hex::encode(raw.as_ref()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file =
        options.open(out).with_context(|| format!("creating the key file {}", out.display()))?;
    file.write_all(key.as_bytes())?;
    file.sync_all()?;
    let hash = hex::encode(sha2::Sha256::digest(key.as_bytes()));
    println!("{config_field} = \"{hash}\"");
    Ok(())
}

fn serve(config: Config) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let (db, listen) = (config.db_path.clone(), config.listen);
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
        Command::Channel(ChannelCommand::Remove { tenant, channel }) => {
            store.remove_channel(&tenant, &channel.key())?;
        }
        Command::Audit { limit } => {
            let mut out = std::io::stdout().lock();
            for e in store.audit_log(limit)? {
                let line = serde_json::json!({
                    "id": e.id, "at": e.at_ms, "action": e.action,
                    "tenant_id": e.tenant_id, "subject": e.subject,
                });
                writeln!(out, "{line}")?;
            }
        }
        Command::AdminKey(_) | Command::MetricsToken(_) => {
            unreachable!("handled before the database is opened")
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
