//! Start-up options, from the command line or the environment.
//!
//! Both spellings exist because tauri-driver (the end-to-end tests) can pass
//! arguments to the app but not environment variables, while scripts and
//! desktop launchers find variables easier. An argument wins over a variable.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// `--data-dir PATH`: where the profiles live. Default: the platform's app
/// data directory (for example `~/.local/share/app.parley.desktop`).
pub const DATA_DIR_ENV: &str = "PARLEY_DATA_DIR";
/// `--demo-autochat-secs N`: how often simulated customers write in; 0 turns
/// them off (tests). Default: the demo's own pace.
pub const DEMO_AUTOCHAT_ENV: &str = "PARLEY_DEMO_AUTOCHAT_SECS";
/// `--graph-url URL`: the Graph API "Connect your business" checks and
/// saves, for tests only (a `parley-sandbox` on loopback). Default:
/// `https://graph.facebook.com`. The Graph client refuses plain `http`
/// except to loopback, so this cannot send a token across a network in clear.
pub const GRAPH_URL_ENV: &str = "PARLEY_GRAPH_URL";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub data_dir: Option<PathBuf>,
    /// `None`: the demo's default; `Some(None)`: no simulated chatter.
    pub demo_auto_chat: Option<Option<Duration>>,
    /// `None`: Meta's own Graph API.
    pub graph_url: Option<String>,
}

impl Options {
    /// Parse `args` (without the program name) over the process environment.
    pub fn from_env_and_args(args: impl IntoIterator<Item = OsString>) -> Result<Options, String> {
        let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let mut options = Options::parse(env(DATA_DIR_ENV), env(DEMO_AUTOCHAT_ENV), args)?;
        if options.graph_url.is_none() {
            options.graph_url = env(GRAPH_URL_ENV).map(|v| v.to_string_lossy().into_owned());
        }
        Ok(options)
    }

    fn parse(
        env_data_dir: Option<OsString>,
        env_autochat: Option<OsString>,
        args: impl IntoIterator<Item = OsString>,
    ) -> Result<Options, String> {
        let mut data_dir = env_data_dir.map(PathBuf::from);
        let mut autochat = env_autochat;
        let mut graph_url = None;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let text = arg.to_string_lossy();
            let (name, inline) = match text.split_once('=') {
                Some((name, value)) => (name.to_owned(), Some(OsString::from(value))),
                None => (text.into_owned(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match name.as_str() {
                "--data-dir" => data_dir = Some(PathBuf::from(value()?)),
                "--demo-autochat-secs" => autochat = Some(value()?),
                "--graph-url" => graph_url = Some(value()?.to_string_lossy().into_owned()),
                // Desktop launchers may add arguments (files, URLs) the app
                // does not take; they must not stop it from starting.
                _ => tracing::warn!(argument = %name, "ignoring an unknown argument"),
            }
        }
        let demo_auto_chat = match autochat {
            None => None,
            Some(secs) => {
                let secs = secs.to_string_lossy();
                let secs: u64 = secs.trim().parse().map_err(|_| {
                    format!(
                        "--demo-autochat-secs / {DEMO_AUTOCHAT_ENV} must be a whole number \
                         of seconds, not {secs:?}"
                    )
                })?;
                Some((secs > 0).then(|| Duration::from_secs(secs)))
            }
        };
        if data_dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
            return Err("--data-dir must not be empty".into());
        }
        if let Some(url) = &graph_url {
            check_graph_url(url)?;
        }
        Ok(Options { data_dir, demo_auto_chat, graph_url })
    }
}

/// `--graph-url` exists for the tests' sandbox. A token sent anywhere else
/// than Meta must stay on this machine, so only loopback is accepted: a
/// stray variable or a tampered launcher cannot send it to another host.
fn check_graph_url(url: &str) -> Result<(), String> {
    let refuse = || {
        format!(
            "--graph-url / {GRAPH_URL_ENV} is for tests and accepts only a loopback address \
             (http://127.0.0.1:PORT, http://[::1]:PORT or http://localhost:PORT), not {url:?}"
        )
    };
    let parsed = url::Url::parse(url.trim()).map_err(|_| refuse())?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    if loopback && matches!(parsed.scheme(), "http" | "https") {
        Ok(())
    } else {
        Err(refuse())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(env: (Option<&str>, Option<&str>), args: &[&str]) -> Result<Options, String> {
        Options::parse(
            env.0.map(OsString::from),
            env.1.map(OsString::from),
            args.iter().map(OsString::from),
        )
    }

    #[test]
    fn defaults_leave_everything_to_the_platform_and_the_demo() {
        assert_eq!(parse((None, None), &[]).unwrap(), Options::default());
    }

    #[test]
    fn arguments_in_both_spellings_override_the_environment() {
        let o = parse((Some("/env"), Some("5")), &["--data-dir", "/arg", "--demo-autochat-secs=0"])
            .unwrap();
        assert_eq!(o.data_dir, Some(PathBuf::from("/arg")));
        assert_eq!(o.demo_auto_chat, Some(None), "0 turns the simulated customers off");
        let o = parse((Some("/env"), Some("5")), &[]).unwrap();
        assert_eq!(o.data_dir, Some(PathBuf::from("/env")));
        assert_eq!(o.demo_auto_chat, Some(Some(Duration::from_secs(5))));
    }

    #[test]
    fn bad_values_are_refused_with_the_option_named() {
        assert!(parse((None, None), &["--data-dir"]).unwrap_err().contains("--data-dir"));
        assert!(parse((None, Some("soon")), &[]).unwrap_err().contains("whole number"));
        assert!(parse((None, None), &["--data-dir="]).is_err());
    }

    #[test]
    fn the_graph_url_is_taken_for_tests() {
        let o = parse((None, None), &["--graph-url", "http://127.0.0.1:9"]).unwrap();
        assert_eq!(o.graph_url.as_deref(), Some("http://127.0.0.1:9"));
        assert!(parse((None, None), &["--graph-url="]).is_err());
        for elsewhere in ["https://graph.example.com", "http://10.0.0.1:8080", "file:///tmp/x"] {
            let e = parse((None, None), &["--graph-url", elsewhere]).unwrap_err();
            assert!(e.contains("loopback"), "{elsewhere}: {e}");
        }
        assert!(parse((None, None), &["--graph-url", "http://localhost:4000"]).is_ok());
    }

    #[test]
    fn unknown_arguments_are_ignored() {
        assert_eq!(parse((None, None), &["%U", "--whatever"]).unwrap(), Options::default());
    }
}
