//! The Privacy & data screen's logic, as plain functions with host tests:
//! retention choices, the sentences shown after a purge or an export, the
//! export progress, and the checks done before a destructive action.

use parley_types::{
    ChannelKind, ExportSummary, NotificationContent, PurgeOutcome, RetentionPeriod,
};

/// The retention periods offered, besides a custom number of days.
pub const PRESET_DAYS: [u32; 3] = [30, 90, 365];
/// The longest custom period the core accepts.
pub const MAX_DAYS: u32 = 36_500;
/// What the typed confirmation of "Delete all my data" must be.
pub const DELETE_ALL_WORD: &str = "DELETE";

/// The `<select>` value for a period; `None` is "same as all channels"
/// (only offered per channel).
pub fn choice_value(period: Option<RetentionPeriod>) -> String {
    match period {
        None => "global".into(),
        Some(RetentionPeriod::Forever) => "forever".into(),
        Some(RetentionPeriod::Days { days }) if PRESET_DAYS.contains(&days) => days.to_string(),
        Some(RetentionPeriod::Days { .. }) => "custom".into(),
    }
}

/// The custom-days field's initial text for a period.
pub fn custom_text(period: Option<RetentionPeriod>) -> String {
    match period {
        Some(RetentionPeriod::Days { days }) if !PRESET_DAYS.contains(&days) => days.to_string(),
        _ => String::new(),
    }
}

/// The choices of a retention `<select>`: (value, label).
pub fn choices(per_channel: bool) -> Vec<(&'static str, &'static str)> {
    let mut list = Vec::new();
    if per_channel {
        list.push(("global", "Same as all channels"));
    }
    list.extend([
        ("30", "30 days"),
        ("90", "90 days"),
        ("365", "365 days"),
        ("forever", "Forever"),
        ("custom", "Custom…"),
    ]);
    list
}

/// Turn a choice (and the custom field) into what `set_retention` takes:
/// `Ok(None)` follows the global period. Errors are sentences.
pub fn parse_choice(value: &str, custom: &str) -> Result<Option<RetentionPeriod>, String> {
    match value {
        "global" => Ok(None),
        "forever" => Ok(Some(RetentionPeriod::Forever)),
        "custom" => {
            let text = custom.trim().replace([',', '_', ' '], "");
            match text.parse::<u32>() {
                Ok(days) if (1..=MAX_DAYS).contains(&days) => {
                    Ok(Some(RetentionPeriod::Days { days }))
                }
                _ => Err(format!(
                    "Type a number of days from 1 to {}, or choose Forever.",
                    thousands(u64::from(MAX_DAYS))
                )),
            }
        }
        preset => preset
            .parse::<u32>()
            .ok()
            .filter(|d| PRESET_DAYS.contains(d))
            .map(|days| Some(RetentionPeriod::Days { days }))
            .ok_or_else(|| "Choose how long to keep messages.".to_owned()),
    }
}

/// `1204` → `"1,204"`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

fn channel_name(channel: ChannelKind) -> &'static str {
    match channel {
        ChannelKind::Whatsapp => "WhatsApp",
        ChannelKind::Instagram => "Instagram",
    }
}

/// "1,204 messages and 37 files older than 90 days deleted." When the
/// channels keep messages for different periods, one clause per channel.
pub fn purge_sentence(outcome: &PurgeOutcome) -> String {
    let applied: Vec<_> = outcome.channels.iter().filter(|c| c.days.is_some()).collect();
    if applied.is_empty() {
        return "Messages are kept forever, so nothing was deleted.".into();
    }
    let clause = |messages, files, days: u32| {
        format!(
            "{} and {} older than {} deleted",
            plural(messages, "message", "messages"),
            plural(files, "file", "files"),
            plural(u64::from(days), "day", "days")
        )
    };
    let same = applied.iter().all(|c| c.days == applied[0].days);
    if same && applied.len() == outcome.channels.len() {
        let days = applied[0].days.unwrap_or_default();
        return format!("{}.", capitalise(&clause(outcome.messages, outcome.media_files, days)));
    }
    let parts: Vec<String> = outcome
        .channels
        .iter()
        .map(|c| match c.days {
            Some(days) => {
                format!("{}: {}", channel_name(c.channel), clause(c.messages, c.media_files, days))
            }
            None => format!("{}: kept forever, nothing deleted", channel_name(c.channel)),
        })
        .collect();
    format!("{}.", parts.join("; "))
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Said once an export is written: what and where, and that it is plain.
pub fn export_sentence(summary: &ExportSummary) -> String {
    format!(
        "Exported {}, {} and {} to {}. These files are not encrypted: keep them safe and \
         delete them when you are done.",
        plural(summary.contacts, "contact", "contacts"),
        plural(summary.messages, "message", "messages"),
        plural(summary.media_files, "file", "files"),
        summary.dir
    )
}

/// Whole percent done, 0 to 100.
pub fn percent(done: u64, total: u64) -> u32 {
    if total == 0 {
        return 100;
    }
    ((done.min(total) as u128 * 100) / total as u128) as u32
}

/// A first check of an export folder before asking the core (which checks
/// again, and also that it is new or empty): a full path.
pub fn check_export_path(path: &str) -> Result<(), String> {
    let p = path.trim();
    let windows_drive = p.len() > 2
        && p.as_bytes()[0].is_ascii_alphabetic()
        && p.as_bytes()[1] == b':'
        && matches!(p.as_bytes()[2], b'\\' | b'/');
    if p.is_empty() {
        return Err("Type the folder to export to.".into());
    }
    if !(p.starts_with('/') || p.starts_with("\\\\") || windows_drive) {
        return Err("Type a full folder path, such as /home/you/Parley export.".into());
    }
    Ok(())
}

/// Whether the typed confirmation allows "Delete all my data".
pub fn delete_all_confirmed(typed: &str) -> bool {
    typed.trim() == DELETE_ALL_WORD
}

pub fn notification_choices() -> [(NotificationContent, &'static str); 3] {
    [
        (NotificationContent::Full, "Sender and message text"),
        (NotificationContent::SenderOnly, "Sender only"),
        (NotificationContent::Hidden, "Nothing (just \"New message\")"),
    ]
}

/// The idle-time choices of the app lock, in minutes (0: only at start).
pub const IDLE_CHOICES: [(u32, &str); 5] = [
    (1, "1 minute"),
    (5, "5 minutes"),
    (15, "15 minutes"),
    (60, "1 hour"),
    (0, "Only at start and when I lock it"),
];

/// Checks a new passphrase and its repetition before sending it.
pub fn check_new_passphrase(passphrase: &str, again: &str) -> Result<(), String> {
    if passphrase.chars().count() < 8 {
        return Err("Choose a passphrase of at least 8 characters.".into());
    }
    if passphrase != again {
        return Err("The two passphrases differ: type the same one twice.".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_types::ChannelPurge;

    #[test]
    fn choices_round_trip_through_the_select() {
        for period in [
            None,
            Some(RetentionPeriod::Forever),
            Some(RetentionPeriod::Days { days: 30 }),
            Some(RetentionPeriod::Days { days: 365 }),
            Some(RetentionPeriod::Days { days: 45 }),
        ] {
            let parsed = parse_choice(&choice_value(period), &custom_text(period)).unwrap();
            assert_eq!(parsed, period);
        }
        assert_eq!(
            parse_choice("custom", " 1,000 ").unwrap(),
            Some(RetentionPeriod::Days { days: 1000 })
        );
        for bad in ["", "0", "-3", "abc", "36501"] {
            let e = parse_choice("custom", bad).unwrap_err();
            assert!(e.contains("from 1 to 36,500"), "{e}");
        }
        assert!(parse_choice("45", "").is_err(), "only presets as plain values");
        assert_eq!(choices(true)[0].0, "global");
        assert_ne!(choices(false)[0].0, "global");
    }

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1204), "1,204");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }

    fn outcome(channels: Vec<ChannelPurge>) -> PurgeOutcome {
        PurgeOutcome {
            messages: channels.iter().map(|c| c.messages).sum(),
            media_files: channels.iter().map(|c| c.media_files).sum(),
            channels,
        }
    }

    fn ch(channel: ChannelKind, days: Option<u32>, messages: u64, files: u64) -> ChannelPurge {
        ChannelPurge { channel, days, messages, media_files: files }
    }

    #[test]
    fn the_purge_report_is_one_sentence() {
        let same = outcome(vec![
            ch(ChannelKind::Whatsapp, Some(90), 1200, 30),
            ch(ChannelKind::Instagram, Some(90), 4, 7),
        ]);
        assert_eq!(
            purge_sentence(&same),
            "1,204 messages and 37 files older than 90 days deleted."
        );
        let one = outcome(vec![
            ch(ChannelKind::Whatsapp, Some(1), 1, 1),
            ch(ChannelKind::Instagram, Some(1), 0, 0),
        ]);
        assert_eq!(purge_sentence(&one), "1 message and 1 file older than 1 day deleted.");
        let mixed = outcome(vec![
            ch(ChannelKind::Whatsapp, Some(30), 3, 0),
            ch(ChannelKind::Instagram, None, 0, 0),
        ]);
        assert_eq!(
            purge_sentence(&mixed),
            "WhatsApp: 3 messages and 0 files older than 30 days deleted; \
             Instagram: kept forever, nothing deleted."
        );
        let forever = outcome(vec![
            ch(ChannelKind::Whatsapp, None, 0, 0),
            ch(ChannelKind::Instagram, None, 0, 0),
        ]);
        assert!(purge_sentence(&forever).contains("nothing was deleted"));
    }

    #[test]
    fn the_export_says_where_and_that_it_is_unencrypted() {
        let s = export_sentence(&ExportSummary {
            dir: "/home/a/Parley export".into(),
            contacts: 2,
            conversations: 2,
            messages: 1204,
            media_files: 1,
        });
        assert!(s.contains("2 contacts, 1,204 messages and 1 file to /home/a/Parley export"));
        assert!(s.contains("not encrypted"));
    }

    #[test]
    fn progress_is_a_bounded_percentage() {
        assert_eq!(percent(0, 10), 0);
        assert_eq!(percent(5, 10), 50);
        assert_eq!(percent(11, 10), 100);
        assert_eq!(percent(0, 0), 100);
        assert_eq!(percent(999_999, 1_000_000), 99);
    }

    #[test]
    fn export_paths_must_be_full_paths() {
        assert!(check_export_path("/home/a/export").is_ok());
        assert!(check_export_path("C:\\Users\\a\\export").is_ok());
        assert!(check_export_path("  ").is_err());
        assert!(check_export_path("export").unwrap_err().contains("full folder path"));
    }

    #[test]
    fn delete_all_needs_the_word() {
        assert!(delete_all_confirmed("DELETE"));
        assert!(delete_all_confirmed(" DELETE "));
        assert!(!delete_all_confirmed("delete"));
        assert!(!delete_all_confirmed(""));
    }

    #[test]
    fn new_passphrases_are_checked_before_sending() {
        assert!(check_new_passphrase("short", "short").is_err());
        assert!(check_new_passphrase("long enough", "long enougH").unwrap_err().contains("differ"));
        assert!(check_new_passphrase("long enough", "long enough").is_ok());
    }
}
