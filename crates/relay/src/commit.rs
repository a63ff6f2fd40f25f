//! Group commit: one thread owns every queue write (webhook ingest, team
//! fan-out, ack) and commits all the requests that queued up while the
//! previous commit was syncing in one transaction, so one fsync covers many
//! requests. Nobody is answered before the group holding their request is
//! durable; a request whose own work fails is rolled back to its savepoint
//! without failing the rest of its group.
//!
//! Sealing for the devices known at preparation time happens before the job
//! is queued, on the request's own thread, so both cores seal in parallel.
//! Here the committer only re-reads the tenant's active devices (the source
//! of truth, inside the transaction): a device revoked meanwhile gets no
//! copy, and a device enrolled meanwhile gets the body key boxed here.
//!
//! "Durable" means fsynced: the commit runs with `synchronous=FULL`, so
//! SQLite fsyncs the group's WAL frames inside the commit, before it makes
//! the group visible to readers, and the group is answered after that (see
//! [`run`] for why one thread does both).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use subtle::ConstantTimeEq;
use tokio::sync::oneshot;
use zeroize::Zeroizing;

use crate::epoch::Epochs;
use crate::store::{
    from_sql_seq, kind_str, lock, to_sql_seq, AppSecret, AuthedDevice, FanoutReport, IngestReport,
    PreparedPart, StoreError,
};

/// Most requests committed in one transaction. Bounds the latency of the
/// last request in a group and the size of the transaction.
const MAX_GROUP: usize = 512;

pub(crate) enum Job {
    Ingest {
        secret: AppSecret,
        parts: Vec<PreparedPart>,
        received_at_ms: i64,
        reply: oneshot::Sender<Result<IngestReport, StoreError>>,
    },
    Fanout {
        sender: AuthedDevice,
        copies: Vec<(String, Vec<u8>)>,
        /// Keyed hashes of the customer ids the sender named.
        subjects: Vec<[u8; 32]>,
        received_at_ms: i64,
        reply: oneshot::Sender<Result<FanoutReport, StoreError>>,
    },
    Ack {
        device_id: String,
        up_to: u64,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

impl Job {
    fn fail(self, e: StoreError) {
        // A dropped receiver means the request went away; nothing to tell.
        match self {
            Job::Ingest { reply, .. } => drop(reply.send(Err(e))),
            Job::Fanout { reply, .. } => drop(reply.send(Err(e))),
            Job::Ack { reply, .. } => drop(reply.send(Err(e))),
        }
    }
}

/// A finished job waiting for its group's commit.
pub(crate) enum Done {
    Ingest(oneshot::Sender<Result<IngestReport, StoreError>>, Result<IngestReport, StoreError>),
    Fanout(oneshot::Sender<Result<FanoutReport, StoreError>>, Result<FanoutReport, StoreError>),
    Ack(oneshot::Sender<Result<(), StoreError>>, Result<(), StoreError>),
}

impl Done {
    pub(crate) fn send(self, commit_error: Option<&str>) {
        // After a failed commit, even the requests that succeeded in their
        // savepoint were not stored.
        fn outcome<T>(
            r: Result<T, StoreError>,
            commit_error: Option<&str>,
        ) -> Result<T, StoreError> {
            match (r, commit_error) {
                (Ok(_), Some(e)) => Err(StoreError::Commit(e.to_owned())),
                (r, _) => r,
            }
        }
        match self {
            Done::Ingest(tx, r) => drop(tx.send(outcome(r, commit_error))),
            Done::Fanout(tx, r) => drop(tx.send(outcome(r, commit_error))),
            Done::Ack(tx, r) => drop(tx.send(outcome(r, commit_error))),
        }
    }
}

/// The committer's state shared with the store. Readers need no durability
/// check: a commit is published to them only after its fsync (see [`run`]).
pub(crate) struct Durable {
    /// An fsync failed: what the kernel kept is unknown, so nothing more is
    /// acknowledged until the relay restarts (and re-syncs at open).
    poisoned: AtomicBool,
    /// The committer thread panicked: nothing can be committed any more.
    committer_died: AtomicBool,
}

impl Durable {
    pub(crate) fn new() -> Durable {
        Durable { poisoned: AtomicBool::new(false), committer_died: AtomicBool::new(false) }
    }

    /// Why the store can no longer acknowledge anything, if so.
    pub(crate) fn unhealthy(&self) -> Option<&'static str> {
        if self.poisoned() {
            Some(POISONED)
        } else if self.committer_died.load(Ordering::Acquire) {
            Some(COMMITTER_DIED)
        } else {
            None
        }
    }

    /// Whether an fsync has failed since the relay opened the store.
    pub(crate) fn poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// Poison the store if `e` is a failed fsync; says whether it was. The
    /// committer checks its commits, and `Store::write` every other write.
    pub(crate) fn check(&self, e: &rusqlite::Error) -> bool {
        let sync_failed = is_sync_failure(e);
        if sync_failed && !self.poisoned.swap(true, Ordering::AcqRel) {
            tracing::error!(error = %e, "fsync of the relay queue failed; refusing writes until restart");
        }
        sync_failed
    }
}

/// Seqs a group reserves in `tenants.next_seq` at a time.
const SEQ_RESERVE: i64 = 1024;

/// Each tenant's next seq as of the last commit, for the tenants that were
/// handed one since the store opened. The committer moves it on after each
/// commit, holding the writer connection; enrollment reads it holding the
/// writer too, so between groups; an ack reads it inside a group, where it
/// still says what was committed before that group, which is what the ack
/// clamp wants.
///
/// Why in memory: `tenants.next_seq` is a reservation, not the counter.
/// Every seq handed out is below it, and a group raises it by
/// [`SEQ_RESERVE`] only when it runs out, so that one `UPDATE` of the
/// tenant's row (a WAL frame of its own) is written once per 1,024 events
/// instead of once per group. After a restart the counter resumes at the
/// reservation, so a seq is never handed out twice; the seqs skipped are a
/// gap, which devices never notice (they ask for everything after their
/// cursor).
#[derive(Default)]
pub(crate) struct SeqCounters(Mutex<HashMap<String, i64>>);

impl SeqCounters {
    /// The tenant's next seq, given its stored reservation: the counter if
    /// it was handed a seq since the store opened, else the reservation
    /// itself.
    pub(crate) fn next(&self, tenant_id: &str, reserved: i64) -> i64 {
        lock(&self.0).get(tenant_id).copied().unwrap_or(reserved)
    }

    /// A deleted tenant's counter goes with it.
    pub(crate) fn forget(&self, tenant_id: &str) {
        lock(&self.0).remove(tenant_id);
    }

    /// After a group's commit: its tenants' counters as it left them.
    fn advance(&self, lookups: &Lookups<'_>) {
        let mut counters = lock(&self.0);
        for (tenant_id, seqs) in &lookups.seqs {
            counters.insert(tenant_id.clone(), seqs.next);
        }
    }
}

/// SQLite could not fsync the WAL, the database or their directory.
fn is_sync_failure(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error().map(|f| f.extended_code),
        Some(rusqlite::ffi::SQLITE_IOERR_FSYNC | rusqlite::ffi::SQLITE_IOERR_DIR_FSYNC)
    )
}

/// Marks the store as stopped if the committer thread unwinds: every later
/// request would fail with `Closed`, so `/healthz` must say so and get the
/// relay restarted.
struct StopGuard(Arc<Durable>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.committer_died.store(true, Ordering::Release);
            tracing::error!("the relay's committer stopped; restart the relay");
        }
    }
}

/// The sending side of the committer thread. Dropping it (with the last
/// [`crate::Store`] clone) stops the thread once the queue is drained.
pub(crate) struct Committer {
    jobs: mpsc::Sender<Job>,
}

impl Committer {
    /// `durable` is poisoned by a commit whose fsync fails (see [`Durable`]).
    pub(crate) fn start(
        write: Arc<Mutex<Connection>>,
        epochs: Arc<Epochs>,
        counters: Arc<SeqCounters>,
        durable: Arc<Durable>,
        catch_up: Arc<AtomicBool>,
        serving: Option<Arc<std::fs::File>>,
    ) -> std::io::Result<Committer> {
        let (jobs, rx) = mpsc::channel();
        std::thread::Builder::new().name("relay-commit".into()).spawn(move || {
            let stopped = StopGuard(durable.clone());
            run(&rx, &write, &epochs, &counters, &durable, &catch_up);
            drop(stopped);
            // The serving lock (`store::serve_lock`; the store holds it
            // too) goes only once the last group this store will commit is
            // done and its writer connection is closed.
            drop(write);
            drop(serving);
        })?;
        Ok(Committer { jobs })
    }

    pub(crate) fn submit(&self, job: Job) {
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            job.fail(StoreError::Closed);
        }
    }
}

/// Group commit, one group at a time: take every job queued, run them in
/// one transaction, commit with `synchronous=FULL` (SQLite writes the WAL
/// frames, fsyncs the WAL, and only then publishes the commit to readers),
/// answer everyone in the group, repeat. The jobs that arrive while a group
/// is committing and syncing make the next group.
///
/// Why not pipelined. An earlier version committed with `NORMAL` and
/// handed each group to a sync thread, so that the next commit overlapped
/// the fsync. On a 2-core host that made groups small (about 6 webhooks at
/// 32 in flight, against about 12 this way), and a group's fixed cost (the
/// transaction, and every B-tree page it touches rewritten whole into the
/// WAL) was paid twice as often; two extra thread hand-offs per group came
/// on top. See BENCHMARKS.md "Relay" for the measurements.
///
/// An fsync that fails fails the commit: SQLite does not publish the
/// group, and nobody in it is answered 200 (its frames are in the WAL,
/// though, so a crash before the next commit may bring the group back at the
/// next open: duplicates of what Meta will resend, never a loss). What the
/// kernel then kept of earlier writes is unknown, so the relay stops
/// acknowledging anything until it is restarted (and re-syncs the files at
/// open).
fn run(
    rx: &mpsc::Receiver<Job>,
    write: &Mutex<Connection>,
    epochs: &Epochs,
    counters: &SeqCounters,
    durable: &Durable,
    catch_up: &AtomicBool,
) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        // Checked holding the writer: a write outside the committer that
        // held it before may just have poisoned the store.
        let mut conn = lock(write);
        if durable.poisoned.load(Ordering::Acquire) {
            for job in group {
                job.fail(StoreError::Commit(POISONED.into()));
            }
            continue;
        }
        let (done, failure) = commit_group(&mut conn, group, epochs, counters);
        match failure {
            Some(failure) => {
                if let Some(e) = &failure.sql {
                    durable.check(e);
                }
                for d in done {
                    d.send(Some(&failure.message));
                }
            }
            None => {
                for d in done {
                    d.send(None);
                }
            }
        }
        // Under steady load the background checkpointer never sees the WAL
        // complete (frames keep arriving), and SQLite only restarts a WAL
        // whose every frame was copied; so once the WAL has grown past
        // `CATCH_UP_FRAMES`, the writer itself, between groups, copies the
        // few frames that are left, which lets the next transaction restart
        // the WAL. Only then: the catch-up delays the next group by a copy
        // and an fsync, which done every second showed in the p99.
        if catch_up.swap(false, Ordering::AcqRel) {
            checkpoint(&conn);
        }
    }
}

pub(crate) const POISONED: &str = "an fsync of the relay's queue failed earlier; restart the relay";
pub(crate) const COMMITTER_DIED: &str =
    "the relay's committer stopped on an internal error; restart the relay";

/// WAL frames (pages) beyond which the committer tops up the background
/// checkpoints: 4096 pages of 4 KiB, 16 MiB.
const CATCH_UP_FRAMES: i64 = 4096;
/// How often the background checkpointer runs.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// `PASSIVE`: copy what can be copied without waiting for readers or the
/// writer; a checkpoint already running elsewhere makes this one a no-op.
/// Returns the WAL's length in frames, when known.
fn checkpoint(conn: &Connection) -> Option<i64> {
    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1)) {
        Ok(frames) => Some(frames),
        Err(e) => {
            tracing::warn!(error = %e, "WAL checkpoint failed");
            None
        }
    }
}

/// Copies committed WAL frames into the database file on its own thread and
/// connection. SQLite's automatic checkpoint ran inside the commit that
/// crossed its threshold, so that group waited for the copy and for an extra
/// fsync of the database file before anyone in it got an answer; profiles
/// showed it at a third of the committer's time. Durability does not depend
/// on checkpoints: a commit is durable once its WAL frames are fsynced
/// (`synchronous=FULL`), and a crash before a checkpoint is recovered from
/// the WAL on the next open.
pub(crate) struct Checkpointer {
    /// Dropped with the store, which ends the thread.
    _stop: mpsc::Sender<()>,
    /// Set when the WAL has grown past [`CATCH_UP_FRAMES`]; the committer
    /// then finishes the copy between two groups.
    pub(crate) catch_up: Arc<AtomicBool>,
}

impl Checkpointer {
    pub(crate) fn start(conn: Connection) -> std::io::Result<Checkpointer> {
        let (stop, rx) = mpsc::channel::<()>();
        let catch_up = Arc::new(AtomicBool::new(false));
        let flag = catch_up.clone();
        std::thread::Builder::new().name("relay-checkpoint".into()).spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(CHECKPOINT_EVERY) {
                if checkpoint(&conn).is_some_and(|frames| frames > CATCH_UP_FRAMES) {
                    flag.store(true, Ordering::Release);
                }
            }
        })?;
        Ok(Checkpointer { _stop: stop, catch_up })
    }
}

/// What one request came to, before its answer is sent.
enum Outcome {
    Ingest(Result<IngestReport, StoreError>),
    Fanout(Result<FanoutReport, StoreError>),
    Ack(Result<(), StoreError>),
}

impl Outcome {
    fn is_err(&self) -> bool {
        match self {
            Outcome::Ingest(r) => r.is_err(),
            Outcome::Fanout(r) => r.is_err(),
            Outcome::Ack(r) => r.is_err(),
        }
    }
}

/// Why a group's commit failed.
#[derive(Debug)]
pub(crate) struct CommitFailure {
    pub(crate) message: String,
    /// SQLite's error from the commit itself, which may be a failed fsync
    /// (see [`Durable::check`]).
    pub(crate) sql: Option<rusqlite::Error>,
}

impl CommitFailure {
    fn from_sql(e: rusqlite::Error) -> CommitFailure {
        CommitFailure { message: e.to_string(), sql: Some(e) }
    }
}

/// Run a group in one transaction. Returns each request's outcome and the
/// commit's error, if any; nobody is answered here.
///
/// First without savepoints: a savepoint per request costs two statements
/// and a copy of every page the request touches into the sub-journal, and a
/// request almost never fails. If one does, the whole transaction is rolled
/// back and the group runs again with a savepoint per request, so a failing
/// request still fails alone and leaves nothing behind.
pub(crate) fn commit_group(
    conn: &mut Connection,
    group: Vec<Job>,
    epochs: &Epochs,
    counters: &SeqCounters,
) -> (Vec<Done>, Option<CommitFailure>) {
    let mut outcomes = None;
    for isolated in [false, true] {
        let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => {
                let e = e.to_string();
                tracing::error!(error = %e, "could not start a group commit");
                for job in group {
                    job.fail(StoreError::Commit(e.clone()));
                }
                return (Vec::new(), None);
            }
        };
        let mut lookups = Lookups::new(counters);
        let (ran, seqs_stored) = run_jobs(&mut tx, &group, epochs, &mut lookups, isolated);
        if isolated || !ran.iter().any(Outcome::is_err) {
            // The reservations the group raised are stored just before the
            // commit; if that fails, nothing of the group is kept. The
            // counters move on only once the group is committed.
            let commit_error = match seqs_stored {
                Ok(()) => match tx.commit() {
                    Ok(()) => {
                        counters.advance(&lookups);
                        None
                    }
                    Err(e) => Some(CommitFailure::from_sql(e)),
                },
                Err(e) => Some(CommitFailure { message: e.to_string(), sql: None }),
            };
            outcomes = Some((ran, commit_error));
            break;
        }
        // Dropping `tx` rolls the whole attempt back.
        drop(tx);
    }
    let Some((ran, commit_error)) = outcomes else {
        unreachable!("the isolated attempt always ends the loop")
    };
    let mut done = Vec::with_capacity(group.len());
    for (job, outcome) in group.into_iter().zip(ran) {
        done.push(match (job, outcome) {
            (Job::Ingest { reply, .. }, Outcome::Ingest(r)) => Done::Ingest(reply, r),
            (Job::Fanout { reply, .. }, Outcome::Fanout(r)) => Done::Fanout(reply, r),
            (Job::Ack { reply, .. }, Outcome::Ack(r)) => Done::Ack(reply, r),
            (job, _) => {
                job.fail(StoreError::Commit("internal: outcome out of order".into()));
                continue;
            }
        });
    }
    if let Some(e) = &commit_error {
        tracing::error!(error = %e.message, requests = done.len(), "group commit failed");
    }
    (done, commit_error)
}

/// Run every job of a group inside `tx`, each in its own savepoint when
/// `isolated`, then store the seq reservations the group raised (outside
/// any savepoint: a request rolled back in its savepoint leaves a gap in
/// its tenant's seqs, which devices never notice since they ask for
/// everything after their cursor).
///
/// Channel owners and device lists in `lookups` are read once per group:
/// nothing in a group changes them (revocation and enrollment take the same
/// write connection, so they cannot run inside this transaction).
fn run_jobs(
    tx: &mut Transaction<'_>,
    group: &[Job],
    epochs: &Epochs,
    lookups: &mut Lookups<'_>,
    isolated: bool,
) -> (Vec<Outcome>, Result<(), StoreError>) {
    let mut out = Vec::with_capacity(group.len());
    for job in group {
        out.push(match job {
            Job::Ingest { secret, parts, received_at_ms, .. } => {
                Outcome::Ingest(step(tx, isolated, |c| {
                    ingest(c, lookups, epochs, secret, parts, *received_at_ms)
                }))
            }
            Job::Fanout { sender, copies, subjects, received_at_ms, .. } => {
                Outcome::Fanout(step(tx, isolated, |c| {
                    fanout(c, lookups, sender, copies, subjects, *received_at_ms)
                }))
            }
            Job::Ack { device_id, up_to, .. } => {
                Outcome::Ack(step(tx, isolated, |c| ack(c, lookups.counters, device_id, *up_to)))
            }
        });
    }
    let stored = lookups.store_seqs(tx);
    (out, stored)
}

/// Run one request, inside its own savepoint of the group's transaction
/// when `isolated`.
fn step<T>(
    tx: &mut Transaction<'_>,
    isolated: bool,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    if !isolated {
        return f(tx);
    }
    let sp = tx.savepoint()?;
    // On error the savepoint is dropped, which rolls this request back.
    let out = f(&sp)?;
    sp.commit()?;
    Ok(out)
}

/// A channel's owning tenant and that tenant's app secret.
type Owner = (String, Zeroizing<String>);

/// Reads that stay valid for a whole group.
struct Lookups<'a> {
    /// The tenants' seq counters as of the last commit.
    counters: &'a SeqCounters,
    /// (kind, channel id) → owning tenant and its app secret.
    owners: HashMap<(&'static str, String), Option<Owner>>,
    /// tenant → its active devices (id, public key).
    devices: HashMap<String, Vec<(String, String)>>,
    /// tenant → its seq counter in this group (see [`SeqCounters`]).
    seqs: HashMap<String, GroupSeqs>,
}

impl<'a> Lookups<'a> {
    fn new(counters: &'a SeqCounters) -> Self {
        Lookups { counters, owners: HashMap::new(), devices: HashMap::new(), seqs: HashMap::new() }
    }

    fn owner(
        &mut self,
        conn: &Connection,
        kind: &'static str,
        channel: &str,
    ) -> Result<Option<Owner>, StoreError> {
        if let Some(owner) = self.owners.get(&(kind, channel.to_owned())) {
            return Ok(owner.clone());
        }
        let owner: Option<Owner> = conn
            .prepare_cached(
                "SELECT c.tenant_id, t.app_secret FROM channels c
                 JOIN tenants t ON t.id = c.tenant_id
                 WHERE c.channel_id = ?1 AND c.kind = ?2",
            )?
            .query_row(params![channel, kind], |r| Ok((r.get(0)?, Zeroizing::new(r.get(1)?))))
            .optional()?;
        self.owners.insert((kind, channel.to_owned()), owner.clone());
        Ok(owner)
    }

    fn devices(
        &mut self,
        conn: &Connection,
        tenant_id: &str,
    ) -> Result<&[(String, String)], StoreError> {
        if !self.devices.contains_key(tenant_id) {
            let list = active_devices(conn, tenant_id)?;
            self.devices.insert(tenant_id.to_owned(), list);
        }
        Ok(self.devices.get(tenant_id).map(Vec::as_slice).unwrap_or_default())
    }
}

/// A tenant's seqs within one group.
struct GroupSeqs {
    /// Places its event bodies (`store::event_key`).
    num: i64,
    /// The next seq to hand out.
    next: i64,
    /// `tenants.next_seq`: seqs from here on are not reserved yet.
    reserved: i64,
    /// `reserved` was raised in this group and must be stored.
    raised: bool,
}

impl Lookups<'_> {
    /// Allocate the tenant's next seq. Returns it with the key of its
    /// event body.
    fn next_seq(&mut self, conn: &Connection, tenant_id: &str) -> Result<(i64, i64), StoreError> {
        let seqs = match self.seqs.get_mut(tenant_id) {
            Some(seqs) => seqs,
            None => {
                let (num, reserved): (i64, i64) = conn
                    .prepare_cached("SELECT num, next_seq FROM tenants WHERE id = ?1")?
                    .query_row([tenant_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
                let next = self.counters.next(tenant_id, reserved);
                let seqs = GroupSeqs { num, next, reserved, raised: false };
                self.seqs.entry(tenant_id.to_owned()).or_insert(seqs)
            }
        };
        let seq = seqs.next;
        if seq >= crate::store::SEQ_LIMIT {
            return Err(StoreError::Commit("the tenant's sequence numbers are used up".into()));
        }
        if seq >= seqs.reserved {
            seqs.reserved = (seq + SEQ_RESERVE).min(crate::store::SEQ_LIMIT);
            seqs.raised = true;
        }
        seqs.next += 1;
        Ok((seq, crate::store::event_key(seqs.num, seq)))
    }

    /// Store the reservations the group raised.
    fn store_seqs(&self, conn: &Connection) -> Result<(), StoreError> {
        let mut update = conn.prepare_cached("UPDATE tenants SET next_seq = ?2 WHERE id = ?1")?;
        for (tenant_id, seqs) in self.seqs.iter().filter(|(_, s)| s.raised) {
            update.execute(params![tenant_id, seqs.reserved])?;
        }
        Ok(())
    }
}

fn active_devices(conn: &Connection, tenant_id: &str) -> Result<Vec<(String, String)>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, public_key FROM devices WHERE tenant_id = ?1 AND revoked_at IS NULL",
        )?
        .query_map([tenant_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?)
}

fn insert_delivery(
    conn: &Connection,
    device_id: &str,
    seq: i64,
    received_at_ms: i64,
    sealed: &[u8],
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO deliveries (device_id, seq, received_at, sealed) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![device_id, seq, received_at_ms, sealed])?;
    Ok(())
}

/// Record the keyed customer-id hashes of one queued event, for data deletion.
fn insert_subjects(
    conn: &Connection,
    tenant_id: &str,
    seq: i64,
    subjects: &[[u8; 32]],
    received_at_ms: i64,
) -> Result<(), StoreError> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO event_subjects (tenant_id, seq, subject, received_at) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for hash in subjects {
        insert.execute(params![tenant_id, seq, hash.as_slice(), received_at_ms])?;
    }
    Ok(())
}

fn ingest(
    conn: &Connection,
    lookups: &mut Lookups<'_>,
    epochs: &Epochs,
    verified_secret: &str,
    parts: &[PreparedPart],
    received_at_ms: i64,
) -> Result<IngestReport, StoreError> {
    let mut report = IngestReport::default();
    for part in parts {
        let kind = kind_str(&part.key);
        let Some((tenant_id, tenant_secret)) = lookups.owner(conn, kind, part.key.id())? else {
            report.unknown_channel += 1;
            tracing::warn!(kind, channel = %part.key.id(), "webhook part for an unregistered channel dropped");
            continue;
        };
        if !bool::from(tenant_secret.as_bytes().ct_eq(verified_secret.as_bytes())) {
            report.wrong_app += 1;
            tracing::warn!(tenant = %tenant_id, kind, "webhook part signed by another tenant's app dropped");
            continue;
        }
        let (seq, key) = lookups.next_seq(conn, &tenant_id)?;
        let devices = lookups.devices(conn, &tenant_id)?;
        let mut headers = Vec::with_capacity(devices.len());
        for (device_id, public_key) in devices {
            let header = match part.headers.iter().find(|(id, _)| id == device_id) {
                Some((_, header)) => Cow::Borrowed(header.as_slice()),
                None => Cow::Owned(epochs.wrap(public_key, &part.body)?),
            };
            headers.push((device_id.as_str(), header));
        }
        // With no device nothing is queued, so there is nothing a
        // data-deletion request could purge either.
        if !headers.is_empty() {
            // The customer-id hashes (schema 4) and every device's header
            // (schema 5) ride in the body row: one row per event.
            let subjects = (!part.subjects.is_empty()).then(|| part.subjects.concat());
            let packed = crate::packed::pack(headers.iter().map(|(id, h)| (*id, h.as_ref())))?;
            conn.prepare_cached(
                "INSERT INTO event_bodies
                     (event_key, tenant_id, seq, received_at, subjects, headers, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                key,
                tenant_id,
                seq,
                received_at_ms,
                subjects,
                packed,
                part.body.bytes()
            ])?;
        }
        report.deliveries += headers.len();
        report.accepted += 1;
        if !report.tenants.contains(&tenant_id) {
            report.tenants.push(tenant_id);
        }
    }
    Ok(report)
}

/// Queue a device's own sealed copies for its peers. Every listed device
/// must be a device of the sender's tenant other than the sender; one that
/// is not fails the whole request with the same error whether it exists in
/// another tenant or not at all, so the answer reveals nothing about other
/// tenants. Revoked peers are skipped.
fn fanout(
    conn: &Connection,
    lookups: &mut Lookups<'_>,
    sender: &AuthedDevice,
    copies: &[(String, Vec<u8>)],
    subjects: &[[u8; 32]],
    received_at_ms: i64,
) -> Result<FanoutReport, StoreError> {
    let sender_active: Option<bool> = conn
        .prepare_cached("SELECT revoked_at IS NULL FROM devices WHERE id = ?1 AND tenant_id = ?2")?
        .query_row(params![sender.device_id, sender.tenant_id], |r| r.get(0))
        .optional()?;
    match sender_active {
        None => return Err(StoreError::Unauthorized),
        Some(false) => return Err(StoreError::Revoked),
        Some(true) => {}
    }
    let peers: HashMap<String, bool> = conn
        .prepare_cached(
            "SELECT id, revoked_at IS NULL FROM devices WHERE tenant_id = ?1 AND id <> ?2",
        )?
        .query_map(params![sender.tenant_id, sender.device_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut seen = Vec::with_capacity(copies.len());
    for (device_id, _) in copies {
        if seen.contains(&device_id) {
            return Err(StoreError::InvalidFanout(format!("device {device_id:?} is listed twice")));
        }
        if !peers.contains_key(device_id) {
            return Err(StoreError::UnknownPeer(device_id.clone()));
        }
        seen.push(device_id);
    }
    let mut missing: Vec<String> = peers
        .iter()
        .filter(|(id, active)| **active && !copies.iter().any(|(c, _)| c == *id))
        .map(|(id, _)| id.clone())
        .collect();
    missing.sort();
    let active: Vec<&(String, Vec<u8>)> =
        copies.iter().filter(|(id, _)| peers.get(id).copied().unwrap_or(false)).collect();
    if active.is_empty() {
        return Ok(FanoutReport { seq: None, queued: Vec::new(), missing });
    }
    let (seq, _) = lookups.next_seq(conn, &sender.tenant_id)?;
    let mut queued = Vec::with_capacity(active.len());
    for (device_id, sealed) in active {
        insert_delivery(conn, device_id, seq, received_at_ms, sealed)?;
        queued.push(device_id.clone());
    }
    insert_subjects(conn, &sender.tenant_id, seq, subjects, received_at_ms)?;
    Ok(FanoutReport { seq: Some(from_sql_seq(seq)), queued, missing })
}

fn ack(
    conn: &Connection,
    counters: &SeqCounters,
    device_id: &str,
    up_to: u64,
) -> Result<(), StoreError> {
    let (tenant_id, acked, reserved): (String, i64, i64) = conn
        .prepare_cached(
            "SELECT d.tenant_id, d.acked_seq, t.next_seq
             FROM devices d JOIN tenants t ON t.id = d.tenant_id
             WHERE d.id = ?1",
        )?
        .query_row([device_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?
        .ok_or_else(|| StoreError::UnknownDevice(device_id.to_owned()))?;
    // A device can only have been handed committed seqs, so an ack is
    // clamped to the tenant's last committed seq: seqs handed out earlier in
    // this group (the counters move on after the commit) are not
    // acknowledged, whatever the device claims.
    let last = counters.next(&tenant_id, reserved) - 1;
    let up_to = to_sql_seq(up_to).min(last);
    conn.prepare_cached("DELETE FROM deliveries WHERE device_id = ?1 AND seq <= ?2")?
        .execute(params![device_id, up_to])?;
    conn.prepare_cached("UPDATE devices SET acked_seq = MAX(acked_seq, ?2) WHERE id = ?1")?
        .execute(params![device_id, up_to])?;
    crate::store::drop_acknowledged_bodies(conn, &tenant_id, acked, up_to)?;
    Ok(())
}
