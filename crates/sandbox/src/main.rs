//! `parley-sandbox`: run the fake Graph API as a process, for the headless
//! CLI, end-to-end tests and benchmarks.
//!
//! Secrets come from the environment only (`PARLEY_APP_SECRET`,
//! `PARLEY_ACCESS_TOKEN`): command lines are visible to every local user.

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use parley_sandbox::{spawn, SandboxConfig};

#[derive(Debug, Parser)]
#[command(
    name = "parley-sandbox",
    version,
    about = "A fake WhatsApp Cloud API with simulated customers"
)]
struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Where to POST signed webhooks (the relay's /webhooks/meta).
    #[arg(long)]
    webhook_url: Option<String>,
    #[arg(long, default_value = parley_sandbox::DEFAULT_PHONE_NUMBER_ID)]
    phone_number_id: String,
    #[arg(long, default_value = parley_sandbox::DEFAULT_DISPLAY_PHONE_NUMBER)]
    display_phone_number: String,
    #[arg(long, default_value = parley_sandbox::DEFAULT_WABA_ID)]
    waba_id: String,
    /// Seed for the simulated customers.
    #[arg(long, default_value_t = parley_sandbox::DEFAULT_SEED)]
    seed: u64,
    /// Customers write in about every N seconds; 0 turns this off.
    #[arg(long, default_value_t = 0)]
    auto_chat_secs: u64,
    /// Delay between the sent, delivered and read webhooks.
    #[arg(long, default_value_t = 300)]
    status_delay_ms: u64,
    #[arg(long, default_value = parley_sandbox::DEFAULT_INSTAGRAM_ACCOUNT_ID)]
    instagram_account_id: String,
    /// Auto-chat customers use every message type on both channels.
    #[arg(long)]
    varied_chat: bool,
    /// Messages per second per number before Meta's 130429.
    #[arg(long, default_value_t = parley_sandbox::DEFAULT_MSGS_PER_SEC)]
    max_msgs_per_sec: u32,
    /// Turn off the per-customer pair limit (131056).
    #[arg(long)]
    no_pair_limit: bool,
    /// Share (0 to 1) of accepted messages whose status ends `failed`.
    #[arg(long, default_value_t = 0.0)]
    failure_rate: f64,
    /// How long template review takes, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    template_review_ms: u64,
}

fn env_or(name: &str, default: &str) -> anyhow::Result<String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Ok(v),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(default.to_owned()),
        Err(e) => Err(e).with_context(|| format!("reading {name}")),
    }
}

/// SIGTERM is watched from before the "listening" line is printed: a
/// caller that reads the line and signals at once must not kill the process
/// before the handler exists.
#[cfg(unix)]
type Term = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Term = ();

fn watch_term() -> Term {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(term) => Some(term),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the sandbox");
                None
            }
        }
    }
}

async fn stop_signal(term: Term) {
    #[cfg(unix)]
    match term {
        Some(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    #[cfg(not(unix))]
    {
        let () = term;
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Logs go to stderr: stdout carries only the "listening" line tests parse.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();

    let args = Args::parse();
    let mut config = SandboxConfig::new(args.listen, args.webhook_url);
    config.app_secret = env_or("PARLEY_APP_SECRET", parley_sandbox::DEFAULT_APP_SECRET)?;
    config.access_token = env_or("PARLEY_ACCESS_TOKEN", parley_sandbox::DEFAULT_ACCESS_TOKEN)?;
    config.phone_number_id = args.phone_number_id;
    config.display_phone_number = args.display_phone_number;
    config.waba_id = args.waba_id;
    config.seed = args.seed;
    config.auto_chat = (args.auto_chat_secs > 0).then(|| Duration::from_secs(args.auto_chat_secs));
    config.status_delay = Duration::from_millis(args.status_delay_ms);
    config.instagram_account_id = args.instagram_account_id;
    config.varied_chat = args.varied_chat;
    config.max_msgs_per_sec = args.max_msgs_per_sec;
    if args.no_pair_limit {
        config.pair_limit = None;
    }
    anyhow::ensure!((0.0..=1.0).contains(&args.failure_rate), "--failure-rate is between 0 and 1");
    config.faults.status_failure_rate = args.failure_rate;
    config.template_review_delay = Duration::from_millis(args.template_review_ms);

    let term = watch_term();
    let handle = spawn(config).await.context("starting the sandbox")?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "parley-sandbox listening on {}", handle.graph_base_url())?;
        out.flush()?;
    }
    stop_signal(term).await;
    tracing::info!("stopping");
    handle.shutdown().await;
    Ok(())
}
