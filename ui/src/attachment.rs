//! The attachment the agent is about to send: checks against Meta's limits
//! (the numbers live in `parley_types::attachment`, which the core enforces
//! too) and the words the pending-attachment chip and refusals show.

use parley_types::attachment::{
    essence, is_mime_type, max_upload_bytes, media_kind, MAX_CAPTION_CHARS,
};

/// A file chosen by picker or drop, described without its bytes (those are
/// read only when it is sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingFile {
    pub name: String,
    /// As the browser reported it (may be empty for unknown types).
    pub mime_type: String,
    pub size: u64,
}

/// Shown when a drop carries no file (text or a link was dropped).
pub const NOT_A_FILE: &str = "Only files can be dropped here. Drop a file, or use the paperclip.";

/// Shown when several files are dropped at once.
pub const ONE_FILE_AT_A_TIME: &str =
    "Parley sends one file at a time. Drop a single file, then send the next one.";

/// Checks type, emptiness and Meta's size limit for the file's kind; the
/// refusal is a sentence that says what to do.
pub fn check(file: &PendingFile) -> Result<(), String> {
    let name = display_name(&file.name);
    if !is_mime_type(&file.mime_type) {
        return Err(format!(
            "Parley cannot tell what type of file \u{201c}{name}\u{201d} is. Choose a photo, video, audio file or document such as a PDF."
        ));
    }
    if file.size == 0 {
        return Err(format!("\u{201c}{name}\u{201d} is empty. Choose another file."));
    }
    let limit = max_upload_bytes(&file.mime_type);
    if file.size > limit {
        let (size, max) = (human_size(file.size), human_size(limit));
        // Just over the limit rounds to the limit itself.
        let size = if size == max { format!("over {max}") } else { size };
        return Err(format!(
            "\u{201c}{name}\u{201d} is {size}; WhatsApp takes at most {max} for {}. Choose a smaller file.",
            kind_plural(&file.mime_type),
        ));
    }
    Ok(())
}

/// The caption is the text box; too long a caption is refused before sending.
pub fn check_caption(caption: &str) -> Result<(), String> {
    let n = caption.trim().chars().count();
    if n > MAX_CAPTION_CHARS {
        return Err(format!(
            "A caption may have {MAX_CAPTION_CHARS} characters at most; this one has {n}. Shorten it, then send."
        ));
    }
    Ok(())
}

/// `"photo.png"` as the chip and sentences show it: no path, no control
/// characters, and not unbounded.
pub fn display_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim();
    if clean.is_empty() {
        return "file".to_owned();
    }
    if clean.chars().count() > 60 {
        let head: String = clean.chars().take(57).collect();
        format!("{head}\u{2026}")
    } else {
        clean.to_owned()
    }
}

/// `512 B`, `12 KB`, `1.5 MB` (binary units, as Meta states its limits).
pub fn human_size(bytes: u64) -> String {
    const KB: u64 = 1024;
    const MB: u64 = 1024 * 1024;
    if bytes < KB {
        format!("{bytes} B")
    } else if bytes < MB {
        format!("{} KB", (bytes + KB / 2) / KB)
    } else {
        let tenths = (bytes * 10 + MB / 2) / MB;
        if tenths.is_multiple_of(10) {
            format!("{} MB", tenths / 10)
        } else {
            format!("{}.{} MB", tenths / 10, tenths % 10)
        }
    }
}

/// What the customer receives: "Image", "Video", "Audio", "Sticker",
/// "Document".
pub fn kind_label(mime_type: &str) -> &'static str {
    match media_kind(mime_type) {
        "image" => "Image",
        "video" => "Video",
        "audio" => "Audio",
        "sticker" => "Sticker",
        _ => "Document",
    }
}

fn kind_plural(mime_type: &str) -> &'static str {
    match media_kind(mime_type) {
        "image" => "images",
        "video" => "videos",
        "audio" => "audio files",
        "sticker" => "stickers (WebP images)",
        _ => "documents",
    }
}

/// The chip's second line: `"Document · application/pdf · 12 KB"`.
pub fn chip_details(file: &PendingFile) -> String {
    format!(
        "{} \u{b7} {} \u{b7} {}",
        kind_label(&file.mime_type),
        essence(&file.mime_type),
        human_size(file.size)
    )
}

/// The remove button's label.
pub fn remove_label(file: &PendingFile) -> String {
    format!("Remove the attachment {}", display_name(&file.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_types::attachment::{MAX_DOCUMENT_BYTES, MAX_IMAGE_BYTES, MAX_STICKER_BYTES};

    fn file(name: &str, mime: &str, size: u64) -> PendingFile {
        PendingFile { name: name.into(), mime_type: mime.into(), size }
    }

    #[test]
    fn files_within_metas_limits_pass() {
        assert_eq!(check(&file("a.png", "image/png", MAX_IMAGE_BYTES)), Ok(()));
        assert_eq!(check(&file("a.pdf", "application/pdf", 1)), Ok(()));
        assert_eq!(check(&file("a.ogg", "audio/ogg; codecs=opus", 3_000_000)), Ok(()));
        assert_eq!(check(&file("a.pdf", "application/pdf", MAX_DOCUMENT_BYTES)), Ok(()));
    }

    #[test]
    fn oversized_files_are_refused_per_kind_with_a_sentence() {
        let err = check(&file("big.png", "image/png", MAX_IMAGE_BYTES + 1)).unwrap_err();
        assert_eq!(
            err,
            "\u{201c}big.png\u{201d} is over 5 MB; WhatsApp takes at most 5 MB for images. Choose a smaller file."
        );
        let err = check(&file("s.webp", "image/webp", MAX_STICKER_BYTES + 1)).unwrap_err();
        assert!(err.contains("at most 500 KB for stickers"), "{err}");
        let err = check(&file("v.mp4", "video/mp4", 20 * 1024 * 1024)).unwrap_err();
        assert!(err.contains("is 20 MB;") && err.contains("at most 16 MB for videos"), "{err}");
        let err = check(&file("d.pdf", "application/pdf", MAX_DOCUMENT_BYTES + 1)).unwrap_err();
        assert!(err.ends_with("Choose a smaller file."), "{err}");
    }

    #[test]
    fn unknown_types_and_empty_files_are_refused() {
        let err = check(&file("x.bin", "", 10)).unwrap_err();
        assert!(err.starts_with("Parley cannot tell what type of file \u{201c}x.bin\u{201d} is."));
        assert!(check(&file("x", "application", 10)).is_err());
        let err = check(&file("e.pdf", "application/pdf", 0)).unwrap_err();
        assert_eq!(err, "\u{201c}e.pdf\u{201d} is empty. Choose another file.");
    }

    #[test]
    fn captions_have_meta_s_limit() {
        assert_eq!(check_caption(&"é".repeat(MAX_CAPTION_CHARS)), Ok(()));
        let err = check_caption(&"é".repeat(MAX_CAPTION_CHARS + 1)).unwrap_err();
        assert!(err.contains("this one has 1025") && err.ends_with("then send."), "{err}");
    }

    #[test]
    fn sizes_read_like_a_person_wrote_them() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1 KB");
        assert_eq!(human_size(12 * 1024 + 100), "12 KB");
        assert_eq!(human_size(1024 * 1024), "1 MB");
        assert_eq!(human_size(1_572_864), "1.5 MB");
        assert_eq!(human_size(100 * 1024 * 1024), "100 MB");
    }

    #[test]
    fn the_chip_names_the_file_its_kind_and_size() {
        let f = file("/home/x/Rechnung März.pdf", "application/pdf", 2048);
        assert_eq!(display_name(&f.name), "Rechnung März.pdf");
        assert_eq!(chip_details(&f), "Document \u{b7} application/pdf \u{b7} 2 KB");
        assert_eq!(remove_label(&f), "Remove the attachment Rechnung März.pdf");
        assert_eq!(kind_label("image/jpeg"), "Image");
        assert_eq!(kind_label("image/webp"), "Sticker");
        assert_eq!(display_name("a\u{202e}\nb"), "a\u{202e}b");
        assert_eq!(display_name(""), "file");
        assert_eq!(display_name(&"x".repeat(100)).chars().count(), 58);
    }
}
