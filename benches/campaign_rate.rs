//! Broadcast send rate: how closely a campaign holds its configured rate,
//! against the sandbox enforcing Meta's per-number limit at that same rate
//! (so one send too many in any rolling second is a 130429).
//!
//! For each configured rate the campaign sends to `rate × SECONDS` contacts
//! through the real core (encrypted store, paced sender, Graph client) and
//! the sandbox on loopback. The achieved rate is measured at the sandbox,
//! from the first to the last accepted send. The baseline, taken in the same
//! run, is the same path with the sandbox's limit lifted and the campaign
//! set to 1,000/s: what this machine can push at all, so a rate near it
//! would measure the machine, not the pacer.
//!
//! Run: `cargo bench --bench campaign_rate` (no display or keyring needed).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parley_core::{Core, GraphSettings, InMemorySecretStore, NoNotifier, Profile};
use parley_sandbox::{
    SandboxConfig, DEFAULT_ACCESS_TOKEN, DEFAULT_PHONE_NUMBER_ID, DEFAULT_VERSION, DEFAULT_WABA_ID,
};
use parley_types::campaign::{
    Audience, CampaignDraft, CampaignState, CreateCampaignRequest, ParamSource,
};
use parley_types::contacts_csv::{ColumnMapping, CsvReader};
use zeroize::Zeroizing;

/// How long each measured campaign sends for, at its configured rate.
const SECONDS: u32 = 12;

struct Run {
    configured: u32,
    recipients: usize,
    achieved: f64,
    rate_limited: u64,
}

async fn run(configured: u32, sandbox_limit: u32, recipients: usize) -> Run {
    let mut config = SandboxConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), None);
    config.max_msgs_per_sec = sandbox_limit;
    let sandbox = parley_sandbox::spawn(config).await.expect("sandbox starts");
    let dir = tempfile::tempdir().unwrap();
    let core = Core::open(
        Profile::open(dir.path()).unwrap(),
        Arc::new(InMemorySecretStore::default()),
        Arc::new(NoNotifier),
    )
    .unwrap();
    core.configure_graph(
        GraphSettings {
            base_url: sandbox.graph_base_url(),
            version: DEFAULT_VERSION.into(),
            phone_number_id: DEFAULT_PHONE_NUMBER_ID.into(),
            waba_id: Some(DEFAULT_WABA_ID.into()),
        },
        Zeroizing::new(DEFAULT_ACCESS_TOKEN.into()),
    )
    .unwrap();
    core.refresh_templates().await.unwrap();
    let mut csv = String::from("Name,Phone,Labels\r\n");
    for i in 0..recipients {
        csv.push_str(&format!("Customer {i},+1444{i:07},bench\r\n"));
    }
    let mapping = ColumnMapping::guess(&CsvReader::new(&csv).next().unwrap().unwrap().cells);
    core.import_contacts(&csv, &mapping, &mut |_, _| {}).unwrap();
    core.start();
    let draft = CampaignDraft {
        name: format!("bench {configured}/s"),
        template_name: "weekend_offer".into(),
        language: "en_US".into(),
        audience: Audience { labels: vec!["bench".into()], ..Default::default() },
        header_params: vec![],
        body_params: vec![ParamSource::Name { fallback: "there".into() }],
        rate_per_sec: configured,
        start_at: None,
    };
    let id = core
        .create_campaign(&CreateCampaignRequest { draft, confirmed_recipients: recipients as u64 })
        .unwrap()
        .id;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let c = core.campaigns().unwrap().into_iter().find(|c| c.id == id).unwrap();
        if c.state == CampaignState::Completed {
            assert_eq!(c.totals.sent, recipients as u64, "every recipient sent: {:?}", c.totals);
            break;
        }
        assert!(Instant::now() < deadline, "campaign did not finish: {:?}", c.totals);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent = sandbox.control().sent();
    assert_eq!(sent.len(), recipients, "one send per recipient");
    let first = sent.iter().map(|m| m.at_ms).min().unwrap();
    let last = sent.iter().map(|m| m.at_ms).max().unwrap();
    let achieved = (recipients - 1) as f64 / ((last - first) as f64 / 1000.0);
    core.shutdown();
    Run {
        configured,
        recipients,
        achieved,
        rate_limited: sandbox.control().limit_refusals().rate_limited,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let baseline = run(1_000, 1_000_000, 4_000).await;
    println!(
        "baseline: unpaced (1,000/s asked, no limit): {:.0} msg/s over {} sends",
        baseline.achieved, baseline.recipients
    );
    for rate in [80, 200] {
        let r = run(rate, rate, (rate * SECONDS) as usize).await;
        println!(
            "configured {:>4}/s: achieved {:.1}/s = {:.3}x configured ({:+.1}%), {:.3}x baseline, \
             {} sends, {} refused with 130429",
            r.configured,
            r.achieved,
            r.achieved / f64::from(r.configured),
            (r.achieved / f64::from(r.configured) - 1.0) * 100.0,
            r.achieved / baseline.achieved,
            r.recipients,
            r.rate_limited
        );
    }
}
