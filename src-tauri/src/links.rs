//! Opening a link from a message in the user's browser.
//!
//! The webview itself never navigates: the app grants no opener plugin and
//! renders links as text, so a followed `<a href>` could not take the inbox
//! window away. Instead the UI asks the shell, which re-checks the address
//! (the UI's linkifier is not trusted: anything in the webview could call
//! the command) and hands it to the desktop's own URL opener.
//!
//! The address is never logged: a link in a message is message content.

use std::process::{Command, Stdio};

use parley_types::{ErrorCode, IpcError};

/// Longer addresses are refused rather than truncated: no real link in a
/// chat is this long, and a browser would handle it badly anyway.
pub const MAX_LINK_LEN: usize = 4096;

/// Why an address is not opened. The texts are shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("Only web links (http or https) can be opened from a message; copy this one instead.")]
    NotWeb,
    #[error("This link is malformed, so Parley does not open it; copy it if you trust it.")]
    Malformed,
    #[error("This link is too long to open safely; copy it instead.")]
    TooLong,
    #[error("Parley could not start your browser ({0}); copy the link instead.")]
    NoOpener(String),
}

impl From<LinkError> for IpcError {
    fn from(e: LinkError) -> IpcError {
        let code = match e {
            LinkError::NoOpener(_) => ErrorCode::Internal,
            _ => ErrorCode::InvalidInput,
        };
        IpcError::new(code, e.to_string())
    }
}

/// The address to hand to the opener: an absolute `http`/`https` URL with
/// a host, serialised by the URL parser (so spaces, quotes and control
/// characters arrive percent-encoded, and nothing can start with `-` and be
/// read as an option by the opener).
pub fn checked(address: &str) -> Result<String, LinkError> {
    if address.len() > MAX_LINK_LEN {
        return Err(LinkError::TooLong);
    }
    let address = address.trim();
    if address.chars().any(char::is_control) {
        return Err(LinkError::Malformed);
    }
    let url = url::Url::parse(address).map_err(|_| LinkError::Malformed)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(LinkError::NotWeb);
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(LinkError::Malformed);
    }
    Ok(url.into())
}

/// Open `address` in the default browser, without waiting for it.
pub fn open(address: &str) -> Result<(), LinkError> {
    let url = checked(address)?;
    let mut command = opener(&url);
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = command.spawn().map_err(|e| {
        tracing::warn!(error = %e, "the system's link opener did not start");
        LinkError::NoOpener(e.kind().to_string())
    })?;
    // Reap the opener (it exits once the browser has the link) so it does
    // not linger as a zombie; its status only matters to the log.
    std::thread::spawn(move || match child.wait() {
        Ok(status) if !status.success() => {
            tracing::warn!(%status, "the system's link opener reported a failure")
        }
        _ => {}
    });
    Ok(())
}

#[cfg(target_os = "linux")]
fn opener(url: &str) -> Command {
    // xdg-open follows the desktop's default browser (and `$BROWSER`).
    let mut command = Command::new("xdg-open");
    command.arg(url);
    command
}

#[cfg(target_os = "macos")]
fn opener(url: &str) -> Command {
    let mut command = Command::new("open");
    command.arg(url);
    command
}

#[cfg(target_os = "windows")]
fn opener(url: &str) -> Command {
    // Not `cmd /c start`, which would interpret `&` and `^` in the address.
    let mut command = Command::new("rundll32");
    command.arg("url.dll,FileProtocolHandler").arg(url);
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_links_pass_normalised() {
        assert_eq!(
            checked("https://example.com/a?b=1&c=2").unwrap(),
            "https://example.com/a?b=1&c=2"
        );
        assert_eq!(checked("HTTP://Example.COM").unwrap(), "http://example.com/");
        assert_eq!(
            checked("https://example.com/a b\"c").unwrap(),
            "https://example.com/a%20b%22c",
            "nothing reaches the opener unencoded"
        );
    }

    #[test]
    fn other_schemes_and_hostless_addresses_are_refused() {
        for bad in [
            "javascript:alert(1)",
            "file:///etc/passwd",
            "data:text/html,<script>alert(1)</script>",
            "ftp://example.com/x",
            "mailto:a@example.com",
            "tauri://localhost",
        ] {
            assert_eq!(checked(bad), Err(LinkError::NotWeb), "{bad}");
        }
        for bad in ["", "example.com", "-xdg-option", "https://", "https://a.com/\u{7}x"] {
            assert!(checked(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn overlong_links_are_refused() {
        let long = format!("https://example.com/{}", "a".repeat(MAX_LINK_LEN));
        assert_eq!(checked(&long), Err(LinkError::TooLong));
    }

    #[test]
    fn errors_are_sentences_with_an_action() {
        for e in [LinkError::NotWeb, LinkError::Malformed, LinkError::TooLong] {
            let ipc = IpcError::from(e);
            assert_eq!(ipc.code, ErrorCode::InvalidInput);
            assert!(ipc.message.contains("copy"), "{}", ipc.message);
        }
    }
}
