//! The encrypted local store: one SQLCipher file per profile.
//!
//! Opening follows a fixed order, because SQLCipher reads nothing until it
//! has the key: check the file is not a plaintext SQLite file, `PRAGMA key`
//! with the raw 256-bit key (hex blob syntax, so no PBKDF2 runs at start),
//! prove the key by reading the schema, and only then set the other PRAGMAs
//! and migrate. A wrong key or a foreign file therefore fails before anything
//! is written, and the file is never overwritten.

mod campaigns;
mod contact_book;
mod contacts;
mod contacts_csv;
mod ingest;
mod media;
mod outbox;
mod privacy;
mod queries;
pub mod schema;
mod templates;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags};
use zeroize::Zeroizing;

pub use campaigns::{
    Candidate, ClaimedSend, NewRecipient, RecipientOutcome, CAMPAIGN_SEND_LOST,
    CANCELLED_BEFORE_SEND, REPLY_WINDOW_MILLIS,
};
pub use contact_book::MergeRefusal;
pub use contacts_csv::BatchOutcome;
pub use ingest::{IngestOutcome, PeerSent};
pub use media::{sha256_matches, MediaJob, MAX_MEDIA_BYTES};
pub use outbox::{
    OutboxItem, QueueRefusal, ReactionSend, SendOutcome, INSTAGRAM_HUMAN_WINDOW_MILLIS,
    REACTION_MAX_AGE_MILLIS,
};
pub use privacy::{csv_cell, ExportError, ExportReport, Inventory, PurgeReport};
pub use templates::StoredTemplate;

/// A 256-bit SQLCipher raw key, zeroized on drop and never printed.
pub struct DbKey(Zeroizing<[u8; 32]>);

impl DbKey {
    pub fn generate() -> DbKey {
        let mut k = Zeroizing::new([0u8; 32]);
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut k[..]);
        DbKey(k)
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<DbKey> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(DbKey(Zeroizing::new(arr)))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0[..]
    }

    /// `PRAGMA key = "x'…'"`: the raw-key form, which skips key derivation.
    fn pragma(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("PRAGMA key = \"x'{}'\";", hex::encode(&self.0[..])))
    }
}

impl std::fmt::Debug for DbKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbKey(<redacted>)")
    }
}

/// Errors of opening, by stage, kept apart from query errors so the UI can
/// tell "your key is wrong" from "this query failed".
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "the database {path} cannot be decrypted with the key in the keyring: the key is wrong, \
         or the file is damaged. Nothing was changed"
    )]
    WrongKeyOrCorrupt { path: PathBuf },
    #[error(
        "{path} is an unencrypted SQLite file, not a Parley database. Parley refuses to use or \
         overwrite it"
    )]
    NotEncrypted { path: PathBuf },
    #[error("the database {path} was written by a newer Parley (schema {found}, this build knows {known})")]
    TooNew { path: PathBuf, found: i64, known: i64 },
    #[error("cannot open {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot open the database: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("the disk is full: the change was not saved, and nothing saved earlier was lost")]
    DiskFull,
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    #[error("stored data is invalid: {0}")]
    Invalid(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::DiskFull,
            _ => StoreError::Sqlite(e),
        }
    }
}

/// The store: one writer connection and a few read-only connections. WAL
/// lets the UI read while sync writes, and several readers let the UI's
/// commands and the sync loop's announcements read at the same time.
pub struct Store {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
}

/// Read connections per store: the UI, the sync loop and a spare.
const READERS: usize = 3;

const SQLITE_PLAINTEXT_MAGIC: &[u8; 16] = b"SQLite format 3\0";

impl Store {
    /// Open (or create) the encrypted database at `path` with `key`.
    pub fn open(path: &Path, key: &DbKey) -> Result<Store, OpenError> {
        refuse_plaintext(path)?;
        let writer = open_connection(path, key)?;
        migrate(&writer, path)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let reader = open_connection(path, key)?;
            reader.execute_batch("PRAGMA query_only = ON;")?;
            readers.push(Mutex::new(reader));
        }
        Ok(Store { path: path.to_owned(), writer: Mutex::new(writer), readers })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn writer(&self) -> MutexGuard<'_, Connection> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A free read connection, or the first one once it is free.
    pub(crate) fn reader(&self) -> MutexGuard<'_, Connection> {
        for reader in &self.readers {
            match reader.try_lock() {
                Ok(guard) => return guard,
                Err(std::sync::TryLockError::Poisoned(p)) => return p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
        }
        self.readers[0].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fold the WAL into the main file (used before byte-level checks and exit).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.writer().execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }
}

fn refuse_plaintext(path: &Path) -> Result<(), OpenError> {
    use std::io::Read;
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(OpenError::Io { path: path.to_owned(), source }),
    };
    let mut head = [0u8; 16];
    match file.read_exact(&mut head) {
        Ok(()) if &head == SQLITE_PLAINTEXT_MAGIC => {
            Err(OpenError::NotEncrypted { path: path.to_owned() })
        }
        _ => Ok(()),
    }
}

fn open_connection(path: &Path, key: &DbKey) -> Result<Connection, OpenError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch(&key.pragma())?;
    // Ingest runs a dozen statements per message: keep them all prepared.
    conn.set_prepared_statement_cache_capacity(64);
    // The first read proves the key. SQLCipher reports a wrong key (or a
    // damaged or foreign file) as SQLITE_NOTADB here.
    if let Err(e) = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))
    {
        return Err(match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) => {
                OpenError::WrongKeyOrCorrupt { path: path.to_owned() }
            }
            _ => OpenError::Sqlite(e),
        });
    }
    // temp_store=MEMORY: sorts and temp tables never reach disk unencrypted.
    // secure_delete: freed pages are zeroed, so deleted messages leave no trace.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA temp_store = MEMORY;
         PRAGMA foreign_keys = ON;
         PRAGMA secure_delete = ON;
         PRAGMA busy_timeout = 5000;",
    )?;
    Ok(conn)
}

fn migrate(conn: &Connection, path: &Path) -> Result<(), OpenError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = schema::latest_version();
    if found > known {
        return Err(OpenError::TooNew { path: path.to_owned(), found, known });
    }
    for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = i as i64 + 1;
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql}; PRAGMA user_version = {version}; COMMIT;"
        ))
        .inspect_err(|_| {
            let _ = conn.execute_batch("ROLLBACK;");
        })?;
    }
    Ok(())
}

/// A channel kind as the `channels.kind` column stores it ("whatsapp" or
/// "instagram"; the schema allows nothing else).
pub(crate) fn channel_kind(stored: &str) -> parley_types::ChannelKind {
    if stored == "instagram" {
        parley_types::ChannelKind::Instagram
    } else {
        parley_types::ChannelKind::Whatsapp
    }
}

#[cfg(test)]
mod tests;
