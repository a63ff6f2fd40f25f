//! Downloads the files of media messages, verifies them and stores them in
//! the encrypted database (see `store::media`).

use parley_meta::graph::{GraphError, RetryClass};

use crate::store::{sha256_matches, MediaJob, MAX_MEDIA_BYTES};
use crate::Core;

/// Give up on a file after this many failed attempts.
const MAX_ATTEMPTS: u32 = 5;

/// Why one download did not produce a file, and whether to try again later.
struct Failure {
    words: String,
    retry: bool,
}

/// Words for a failed download. Never Meta's raw text: it talks about API
/// paths, and the send-oriented sentences of `GraphError` do not fit here.
impl From<GraphError> for Failure {
    fn from(e: GraphError) -> Failure {
        let class = e.retry_class();
        let words = match class {
            RetryClass::RetryLater => {
                "Meta could not hand over this file just now; Parley will try again."
            }
            RetryClass::Reconnect => {
                "Meta refused this channel's access, so the file could not be downloaded. \
                 Reconnect the channel in Settings."
            }
            RetryClass::FixInput | RetryClass::WaitForCustomer => {
                "Meta no longer has this file (media expires after a while). Ask the customer \
                 to send it again."
            }
        };
        Failure { words: words.to_owned(), retry: class == RetryClass::RetryLater }
    }
}

impl Core {
    /// Download every pending file once (each run tries each file once, so
    /// a file that keeps failing cannot keep this busy). Returns how many
    /// files were stored.
    pub async fn fetch_media(&self) -> usize {
        // One run at a time; a run already going will see new files.
        let Ok(_running) = self.inner.media_lock.try_lock() else { return 0 };
        let mut stored = 0;
        let mut after = 0;
        loop {
            let jobs = match self.inner.store.pending_media(after, 20) {
                Ok(jobs) if !jobs.is_empty() => jobs,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "pending media unreadable");
                    break;
                }
            };
            for job in jobs {
                after = job.message_id;
                let outcome = self.download(&job).await;
                let saved = match outcome {
                    Ok((bytes, mime)) => {
                        stored += 1;
                        self.inner.store.store_media(job.message_id, &bytes, mime.as_deref())
                    }
                    Err(f) => {
                        let retry = f.retry && job.attempts + 1 < MAX_ATTEMPTS;
                        tracing::info!(message = job.message_id, retry, "media download failed");
                        self.inner.store.media_failed(job.message_id, &f.words, retry)
                    }
                };
                if let Err(e) = saved {
                    tracing::warn!(error = %e, "media outcome not saved");
                }
                self.emit_message(job.message_id);
            }
        }
        stored
    }

    async fn download(&self, job: &MediaJob) -> Result<(Vec<u8>, Option<String>), Failure> {
        let client = self.graph_client().map_err(|e| Failure {
            words: format!("The file could not be downloaded: {e}."),
            retry: true,
        })?;
        let (url, listed_sha256, mime, size) = match (&job.media_id, &job.url) {
            (Some(id), _) => {
                let info = client.media_info(id).await?;
                (info.url, info.sha256, info.mime_type, info.file_size)
            }
            (None, Some(url)) => (url.clone(), None, None, None),
            (None, None) => {
                return Err(Failure {
                    words: "Meta gave no way to fetch this file.".into(),
                    retry: false,
                })
            }
        };
        let too_big = || Failure {
            words: format!(
                "The file is larger than {} MB, so Parley did not download it.",
                MAX_MEDIA_BYTES >> 20
            ),
            retry: false,
        };
        if size.is_some_and(|s| s > MAX_MEDIA_BYTES) {
            return Err(too_big());
        }
        let bytes = client.download_media(&url).await?;
        if bytes.len() as u64 > MAX_MEDIA_BYTES {
            return Err(too_big());
        }
        if let Some(expected) = job.expected_sha256.as_deref().or(listed_sha256.as_deref()) {
            if !sha256_matches(&bytes, expected) {
                return Err(Failure {
                    words: "The file Meta sent does not match its checksum, so it was not kept."
                        .into(),
                    retry: true,
                });
            }
        }
        Ok((bytes, mime))
    }

    /// A stored file's type and bytes, for showing or saving it.
    pub fn media(&self, message_id: i64) -> Result<(Option<String>, Vec<u8>), crate::CoreError> {
        Ok(self.inner.store.media_bytes(message_id)?)
    }
}
