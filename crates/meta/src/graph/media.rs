//! WhatsApp media: upload (`POST /{phone_number_id}/media`, multipart), URL
//! look-up (`GET /{media_id}`) and download with the bearer token, bounded in
//! size and checked against Meta's sha256.
//!
//! Webhook media ids expire after about 7 days and look-up URLs within
//! minutes, so the core downloads on receipt with [`GraphClient::fetch_media`].

use super::{path_segment, transport, GraphClient, GraphError, MediaInfo, DOWNLOAD_TIMEOUT};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Upload limits Meta documents per media kind, defined once in
/// `parley-types` (the UI checks them too).
pub use parley_types::attachment::{
    max_upload_bytes, MAX_AUDIO_VIDEO_BYTES, MAX_DOCUMENT_BYTES, MAX_IMAGE_BYTES, MAX_MEDIA_BYTES,
    MAX_STICKER_BYTES,
};

/// A tiny multipart/form-data encoder: three fields do not justify turning
/// on reqwest's multipart feature for every crate in the workspace.
fn multipart(boundary: &str, mime_type: &str, filename: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 512);
    let mut field = |name: &str, value: &str| {
        out.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    };
    field("messaging_product", "whatsapp");
    field("type", mime_type);
    // Quotes and line breaks would end the header early.
    let safe_name: String =
        filename.chars().filter(|c| !matches!(c, '"' | '\r' | '\n' | '\\')).collect();
    out.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{safe_name}\"\r\nContent-Type: {mime_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(bytes);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl GraphClient {
    /// Upload a file for later sending by id. Returns the media id.
    pub async fn upload_media(
        &self,
        phone_number_id: &str,
        filename: &str,
        mime_type: &str,
        bytes: &[u8],
    ) -> Result<String, GraphError> {
        let mime = mime_type.trim();
        if mime.is_empty() || !mime.contains('/') || mime.contains(['\r', '\n']) {
            return Err(GraphError::InvalidInput("the media type is not a MIME type".into()));
        }
        if bytes.is_empty() {
            return Err(GraphError::InvalidInput("the file is empty".into()));
        }
        let limit = max_upload_bytes(mime);
        if bytes.len() as u64 > limit {
            return Err(GraphError::MediaTooLarge { size: bytes.len() as u64, limit });
        }
        let url = self.url(&[path_segment("phone number id", phone_number_id)?, "media"]);
        let boundary = format!("parley-{}", hex::encode(rand::random::<[u8; 12]>()));
        let body = multipart(&boundary, mime, filename, bytes);
        let request = self
            .http
            .post(&url)
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .timeout(DOWNLOAD_TIMEOUT)
            .body(body);
        let answer = self.send_request(request).await?;
        answer
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| GraphError::Decode("the upload answer has no id".into()))
    }

    /// Download what a [`MediaInfo`] points at, refusing more than
    /// `max_bytes` (before reading, when Meta states the size) and checking
    /// the sha256 when Meta gave one.
    pub async fn download_media_checked(
        &self,
        info: &MediaInfo,
        max_bytes: u64,
    ) -> Result<Vec<u8>, GraphError> {
        if let Some(size) = info.file_size.filter(|s| *s > max_bytes) {
            return Err(GraphError::MediaTooLarge { size, limit: max_bytes });
        }
        let mut response = self.media_response(&info.url).await?;
        if let Some(size) = response.content_length().filter(|s| *s > max_bytes) {
            return Err(GraphError::MediaTooLarge { size, limit: max_bytes });
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if (bytes.len() + chunk.len()) as u64 > max_bytes {
                return Err(GraphError::MediaTooLarge {
                    size: (bytes.len() + chunk.len()) as u64,
                    limit: max_bytes,
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        if let Some(expected) = &info.sha256 {
            let actual = sha256_hex(&bytes);
            if !actual.eq_ignore_ascii_case(expected.trim()) {
                return Err(GraphError::MediaChecksum);
            }
        }
        Ok(bytes)
    }

    /// Look up a webhook media id and download it, checked.
    pub async fn fetch_media(
        &self,
        media_id: &str,
        max_bytes: u64,
    ) -> Result<(MediaInfo, Vec<u8>), GraphError> {
        let info = self.media_info(media_id).await?;
        let bytes = self.download_media_checked(&info, max_bytes).await?;
        Ok((info, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_by_type() {
        assert_eq!(max_upload_bytes("image/jpeg"), MAX_IMAGE_BYTES);
        assert_eq!(max_upload_bytes("image/webp"), MAX_STICKER_BYTES);
        assert_eq!(max_upload_bytes("audio/ogg; codecs=opus"), MAX_AUDIO_VIDEO_BYTES);
        assert_eq!(max_upload_bytes("application/pdf"), MAX_DOCUMENT_BYTES);
    }

    #[test]
    fn multipart_body_shape() {
        let body = multipart("B", "image/png", "a\"b.png", b"PNG");
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.starts_with("--B\r\nContent-Disposition: form-data; name=\"messaging_product\"")
        );
        assert!(text.contains("name=\"type\"\r\n\r\nimage/png\r\n"));
        assert!(text.contains("filename=\"ab.png\"\r\nContent-Type: image/png\r\n\r\nPNG\r\n--B--"));
    }
}
