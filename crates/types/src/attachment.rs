//! Files the agent sends: Meta's upload limits, the message kind a MIME type
//! becomes, and the request headers that carry a file's metadata next to its
//! raw bytes over IPC (command `send_file`).
//!
//! The limits live here, once: `parley-meta` re-exports them, the core
//! enforces them, and the UI checks them before reading a file.

use crate::{ErrorCode, IpcError};

/// Upload limits Meta documents per media kind, in bytes.
pub const MAX_IMAGE_BYTES: u64 = 5 * 1024 * 1024;
pub const MAX_AUDIO_VIDEO_BYTES: u64 = 16 * 1024 * 1024;
pub const MAX_DOCUMENT_BYTES: u64 = 100 * 1024 * 1024;
/// Animated stickers; static ones are limited to 100 KB.
pub const MAX_STICKER_BYTES: u64 = 500 * 1024;
/// The largest file any WhatsApp message can carry: the default cap on downloads.
pub const MAX_MEDIA_BYTES: u64 = MAX_DOCUMENT_BYTES;
/// A media caption, in characters.
pub const MAX_CAPTION_CHARS: usize = 1024;

/// The MIME type without parameters, lower-cased (`"Audio/OGG; codecs=opus"`
/// → `"audio/ogg"`).
pub fn essence(mime_type: &str) -> String {
    mime_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// `type/subtype`, both parts non-empty.
pub fn is_mime_type(mime_type: &str) -> bool {
    let m = essence(mime_type);
    let mut parts = m.split('/');
    matches!((parts.next(), parts.next(), parts.next()), (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty())
}

/// The upload limit for a MIME type.
pub fn max_upload_bytes(mime_type: &str) -> u64 {
    match media_kind(mime_type) {
        "sticker" => MAX_STICKER_BYTES,
        "image" => MAX_IMAGE_BYTES,
        "audio" | "video" => MAX_AUDIO_VIDEO_BYTES,
        _ => MAX_DOCUMENT_BYTES,
    }
}

/// The WhatsApp message type a file of this MIME type is sent as.
pub fn media_kind(mime_type: &str) -> &'static str {
    match essence(mime_type).as_str() {
        "image/webp" => "sticker",
        m if m.starts_with("image/") => "image",
        m if m.starts_with("video/") => "video",
        m if m.starts_with("audio/") => "audio",
        _ => "document",
    }
}

/// Request headers of `send_file`; the body is the file's bytes.
pub const HEADER_CONVERSATION_ID: &str = "x-parley-conversation-id";
/// Percent-encoded UTF-8.
pub const HEADER_FILE_NAME: &str = "x-parley-file-name";
pub const HEADER_MIME_TYPE: &str = "x-parley-mime-type";
/// Percent-encoded UTF-8; absent or empty for no caption.
pub const HEADER_CAPTION: &str = "x-parley-caption";

/// What travels in the headers of `upload_template_sample` (a media
/// header's sample for Meta's review): the file's name and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleFileMeta {
    pub file_name: String,
    pub mime_type: String,
}

impl SampleFileMeta {
    pub fn to_headers(&self) -> Vec<(&'static str, String)> {
        vec![
            (HEADER_FILE_NAME, percent_encode(&self.file_name)),
            (HEADER_MIME_TYPE, percent_encode(&self.mime_type)),
        ]
    }

    pub fn from_headers<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Result<Self, IpcError> {
        let bad = |what: &str| {
            IpcError::new(
                ErrorCode::InvalidInput,
                format!("The sample arrived without a readable {what}. Choose the file again."),
            )
        };
        let file_name =
            header(HEADER_FILE_NAME).and_then(percent_decode).ok_or_else(|| bad("file name"))?;
        let mime_type =
            header(HEADER_MIME_TYPE).and_then(percent_decode).ok_or_else(|| bad("file type"))?;
        Ok(SampleFileMeta { file_name, mime_type })
    }
}

/// What travels in the headers of `send_file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFileMeta {
    pub conversation_id: i64,
    pub file_name: String,
    pub mime_type: String,
    pub caption: String,
}

impl SendFileMeta {
    /// The headers, every value plain ASCII.
    pub fn to_headers(&self) -> Vec<(&'static str, String)> {
        vec![
            (HEADER_CONVERSATION_ID, self.conversation_id.to_string()),
            (HEADER_FILE_NAME, percent_encode(&self.file_name)),
            (HEADER_MIME_TYPE, percent_encode(&self.mime_type)),
            (HEADER_CAPTION, percent_encode(&self.caption)),
        ]
    }

    /// Reads the headers back; `header` looks one up by name.
    pub fn from_headers<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Result<Self, IpcError> {
        let bad = |what: &str| {
            IpcError::new(
                ErrorCode::InvalidInput,
                format!("The file arrived without a readable {what}. Choose the file again."),
            )
        };
        let conversation_id = header(HEADER_CONVERSATION_ID)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .ok_or_else(|| bad("conversation"))?;
        let file_name =
            header(HEADER_FILE_NAME).and_then(percent_decode).ok_or_else(|| bad("file name"))?;
        let mime_type =
            header(HEADER_MIME_TYPE).and_then(percent_decode).ok_or_else(|| bad("file type"))?;
        let caption = match header(HEADER_CAPTION) {
            None => String::new(),
            Some(v) => percent_decode(v).ok_or_else(|| bad("caption"))?,
        };
        Ok(SendFileMeta { conversation_id, file_name, mime_type, caption })
    }
}

/// Percent-encodes everything but ASCII letters, digits and `-._~`, like
/// JavaScript's `encodeURIComponent` (which also leaves `!'()*`; both decode
/// with [`percent_decode`]).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes into UTF-8; `None` for a broken escape, invalid
/// UTF-8, or a raw byte outside printable ASCII.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b @ 0x20..=0x7e => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_the_kind() {
        assert_eq!(max_upload_bytes("image/jpeg"), MAX_IMAGE_BYTES);
        assert_eq!(max_upload_bytes("IMAGE/PNG"), MAX_IMAGE_BYTES);
        assert_eq!(max_upload_bytes("image/webp"), MAX_STICKER_BYTES);
        assert_eq!(max_upload_bytes("audio/ogg; codecs=opus"), MAX_AUDIO_VIDEO_BYTES);
        assert_eq!(max_upload_bytes("video/mp4"), MAX_AUDIO_VIDEO_BYTES);
        assert_eq!(max_upload_bytes("application/pdf"), MAX_DOCUMENT_BYTES);
        assert_eq!(media_kind("image/webp"), "sticker");
        assert_eq!(media_kind("application/pdf"), "document");
    }

    #[test]
    fn mime_types_need_two_parts() {
        assert!(is_mime_type("application/pdf"));
        assert!(is_mime_type("audio/ogg; codecs=opus"));
        for bad in ["", "pdf", "/pdf", "image/", "a/b/c"] {
            assert!(!is_mime_type(bad), "{bad}");
        }
    }

    #[test]
    fn headers_round_trip_any_text() {
        let meta = SendFileMeta {
            conversation_id: 42,
            file_name: "Rechnung März 😀 \"x\"\r\n.pdf".into(),
            mime_type: "application/pdf".into(),
            caption: "voilà: 100% sûr\nligne 2".into(),
        };
        let headers = meta.to_headers();
        for (_, v) in &headers {
            assert!(v.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{v}");
        }
        let back = SendFileMeta::from_headers(|name| {
            headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
        })
        .unwrap();
        assert_eq!(back, meta);
        let sample =
            SampleFileMeta { file_name: "Offre été.png".into(), mime_type: "image/png".into() };
        let headers = sample.to_headers();
        let back = SampleFileMeta::from_headers(|name| {
            headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
        })
        .unwrap();
        assert_eq!(back, sample);
        assert!(SampleFileMeta::from_headers(|_| None).is_err());
    }

    #[test]
    fn decoding_accepts_encode_uri_component_and_refuses_garbage() {
        // encodeURIComponent("it's (1)!*") leaves these characters alone.
        assert_eq!(percent_decode("it's%20(1)!*").as_deref(), Some("it's (1)!*"));
        assert_eq!(percent_decode("%E2%82%AC").as_deref(), Some("€"));
        assert_eq!(percent_decode("%E2%82"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("a\u{7f}"), None);
    }

    #[test]
    fn missing_or_broken_headers_are_refused_with_a_sentence() {
        let err = SendFileMeta::from_headers(|_| None).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert!(err.message.ends_with("Choose the file again."));
        let err = SendFileMeta::from_headers(|name| match name {
            HEADER_CONVERSATION_ID => Some("7"),
            HEADER_FILE_NAME => Some("%FF"),
            _ => Some("x/y"),
        })
        .unwrap_err();
        assert!(err.message.contains("file name"));
        let ok = SendFileMeta::from_headers(|name| match name {
            HEADER_CONVERSATION_ID => Some("7"),
            HEADER_FILE_NAME => Some("a.pdf"),
            HEADER_MIME_TYPE => Some("application%2Fpdf"),
            _ => None,
        })
        .unwrap();
        assert_eq!(ok.caption, "");
        assert_eq!(ok.mime_type, "application/pdf");
    }
}
