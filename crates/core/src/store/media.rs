//! Media files: recorded as pending when their message arrives, downloaded
//! by the core's media task, verified, and kept as blobs inside the
//! encrypted database, so no media file ever sits on disk in the clear.

use parley_meta::webhook::{InboundMessage, Media, MessageContent};
use parley_types::{MediaAttachment, MediaState};
use rusqlite::{params, OptionalExtension, Transaction};
use sha2::{Digest, Sha256};

use super::{Store, StoreError};

/// The largest file Parley downloads: WhatsApp's limit for documents.
pub const MAX_MEDIA_BYTES: u64 = 100 * 1024 * 1024;

/// Where to fetch one pending file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaJob {
    pub message_id: i64,
    pub media_id: Option<String>,
    pub url: Option<String>,
    pub expected_sha256: Option<String>,
    pub attempts: u32,
}

/// The media of a message, if it has any.
fn media_of(content: &MessageContent) -> Option<(&Media, Option<&str>)> {
    match content {
        MessageContent::Image { media }
        | MessageContent::Video { media }
        | MessageContent::Audio { media, .. }
        | MessageContent::Sticker { media, .. } => Some((media, None)),
        MessageContent::Document { media, filename } => Some((media, filename.as_deref())),
        _ => None,
    }
}

/// Record the message's file as pending. Returns whether it has one.
pub(super) fn record_pending(
    tx: &Transaction<'_>,
    message: i64,
    m: &InboundMessage,
) -> Result<bool, StoreError> {
    let Some((media, filename)) = media_of(&m.content) else { return Ok(false) };
    if media.id.is_none() && media.url.is_none() {
        return Ok(false);
    }
    tx.prepare_cached(
        "INSERT OR IGNORE INTO media (message_id, media_id, url, mime_type, filename, expected_sha256, state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending')",
    )?
    .execute(params![message, media.id, media.url, media.mime_type, filename, media.sha256])?;
    Ok(true)
}

/// Whether `bytes` match a checksum given as hex or as base64, the two
/// spellings Meta uses.
pub fn sha256_matches(bytes: &[u8], expected: &str) -> bool {
    use base64::Engine;
    let digest = Sha256::digest(bytes);
    let expected = expected.trim();
    expected.eq_ignore_ascii_case(&hex::encode(digest))
        || base64::engine::general_purpose::STANDARD
            .decode(expected)
            .is_ok_and(|d| d[..] == digest[..])
}

impl Store {
    /// Files still to download with a message id above `after`, oldest first.
    pub fn pending_media(&self, after: i64, limit: usize) -> Result<Vec<MediaJob>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT message_id, media_id, url, expected_sha256, attempts FROM media
             WHERE state = 'pending' AND message_id > ?1 ORDER BY message_id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after, limit as i64], |r| {
            Ok(MediaJob {
                message_id: r.get(0)?,
                media_id: r.get(1)?,
                url: r.get(2)?,
                expected_sha256: r.get(3)?,
                attempts: r.get::<_, i64>(4)? as u32,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Keep a downloaded file. The caller has checked its checksum.
    pub fn store_media(
        &self,
        message: i64,
        bytes: &[u8],
        mime_type: Option<&str>,
    ) -> Result<(), StoreError> {
        self.writer().execute(
            "UPDATE media SET state = 'stored', data = ?2, size = ?3, mime_type = coalesce(?4, mime_type),
                    error = NULL WHERE message_id = ?1",
            params![message, bytes, bytes.len() as i64, mime_type],
        )?;
        Ok(())
    }

    /// A download failed. `retry` keeps it pending for the next attempt.
    pub fn media_failed(&self, message: i64, error: &str, retry: bool) -> Result<(), StoreError> {
        self.writer().execute(
            "UPDATE media SET attempts = attempts + 1, error = ?2,
                    state = CASE WHEN ?3 THEN 'pending' ELSE 'failed' END
             WHERE message_id = ?1 AND state != 'stored'",
            params![message, error, retry],
        )?;
        Ok(())
    }

    /// The file name recorded for a message's file.
    pub fn media_filename(&self, message: i64) -> Result<Option<String>, StoreError> {
        Ok(self
            .reader()
            .query_row("SELECT filename FROM media WHERE message_id = ?1", params![message], |r| {
                r.get(0)
            })
            .optional()?
            .flatten())
    }

    /// The stored bytes and type of a message's file.
    pub fn media_bytes(&self, message: i64) -> Result<(Option<String>, Vec<u8>), StoreError> {
        self.reader()
            .query_row(
                "SELECT mime_type, data FROM media WHERE message_id = ?1 AND state = 'stored'",
                params![message],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or(StoreError::NotFound)
    }
}

pub(super) fn attachment(
    conn: &rusqlite::Connection,
    message: i64,
) -> Result<Option<MediaAttachment>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT mime_type, filename, size, state, error FROM media WHERE message_id = ?1",
        )?
        .query_row(params![message], |r| {
            let state: String = r.get(3)?;
            Ok(MediaAttachment {
                mime_type: r.get(0)?,
                filename: r.get(1)?,
                size: r.get::<_, Option<i64>>(2)?.map(|s| s as u64),
                state: match state.as_str() {
                    "stored" => MediaState::Stored,
                    "failed" => MediaState::Failed,
                    _ => MediaState::Pending,
                },
                error: r.get(4)?,
            })
        })
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::sha256_matches;

    #[test]
    fn checksums_match_in_hex_or_base64() {
        let bytes = b"hello";
        assert!(sha256_matches(
            bytes,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        ));
        assert!(sha256_matches(
            bytes,
            "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824"
        ));
        assert!(sha256_matches(bytes, "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="));
        assert!(!sha256_matches(bytes, "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCE="));
        assert!(!sha256_matches(
            b"other",
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        ));
    }
}
