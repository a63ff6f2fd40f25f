//! Lenient readers over `serde_json::Value`.
//!
//! Meta is not consistent about types: ids and timestamps arrive as strings
//! in one payload and numbers in another, and optional parts come and go
//! between API versions. These helpers accept every spelling we have seen
//! and never panic, so a surprise costs one `Unsupported` item, not a batch.

use serde_json::Value;

/// A non-empty string at `key`, accepting numbers written as JSON numbers.
pub(super) fn text(v: &Value, key: &str) -> Option<String> {
    as_text(v.get(key)?)
}

pub(super) fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `true` or `"true"` at `key`; anything else is false.
pub(super) fn flag(v: &Value, key: &str) -> bool {
    match v.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// A number at `key`, also when written as a string.
pub(super) fn number(v: &Value, key: &str) -> Option<f64> {
    let n = match v.get(key)? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    n.is_finite().then_some(n)
}

/// An integer at `key`, also when written as a string.
pub(super) fn integer(v: &Value, key: &str) -> Option<i64> {
    match v.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// The array at `key`: `Ok(&[])` when absent or null, `Err` when present
/// but not a list (so the caller can say so instead of silently dropping).
pub(super) fn list<'a>(v: &'a Value, key: &str) -> Result<&'a [Value], String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!("\"{key}\" is not a list")),
    }
}

/// Meta's WhatsApp timestamps: Unix seconds, usually as a decimal string.
pub(super) fn unix_seconds_to_ms(v: Option<&Value>) -> Result<i64, String> {
    let seconds = match v {
        None | Some(Value::Null) => return Err("\"timestamp\" is missing".into()),
        Some(Value::String(s)) => {
            s.trim().parse::<i64>().map_err(|_| format!("timestamp {s:?} is not Unix seconds"))?
        }
        Some(Value::Number(n)) => {
            n.as_i64().ok_or_else(|| format!("timestamp {n} is not Unix seconds"))?
        }
        Some(other) => return Err(format!("timestamp {other} is not Unix seconds")),
    };
    seconds.checked_mul(1000).ok_or_else(|| format!("timestamp {seconds} is out of range"))
}

/// Instagram timestamps are Unix milliseconds as numbers. Some Business
/// Login examples show seconds, so a value too small to be a plausible
/// millisecond time (before 1973) is taken as seconds.
pub(super) fn unix_millis(v: Option<&Value>) -> Result<i64, String> {
    const SMALLEST_MS: i64 = 100_000_000_000;
    let raw = match v {
        None | Some(Value::Null) => return Err("\"timestamp\" is missing".into()),
        Some(Value::Number(n)) => {
            n.as_i64().ok_or_else(|| format!("timestamp {n} is not a Unix time"))?
        }
        Some(Value::String(s)) => {
            s.trim().parse::<i64>().map_err(|_| format!("timestamp {s:?} is not a Unix time"))?
        }
        Some(other) => return Err(format!("timestamp {other} is not a Unix time")),
    };
    if (0..SMALLEST_MS).contains(&raw) {
        raw.checked_mul(1000).ok_or_else(|| format!("timestamp {raw} is out of range"))
    } else {
        Ok(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps() {
        assert_eq!(unix_seconds_to_ms(Some(&json!("1700000000"))), Ok(1_700_000_000_000));
        assert_eq!(unix_seconds_to_ms(Some(&json!(1700000000))), Ok(1_700_000_000_000));
        assert!(unix_seconds_to_ms(Some(&json!("soon"))).unwrap_err().contains("\"soon\""));
        assert!(unix_seconds_to_ms(Some(&json!(i64::MAX))).unwrap_err().contains("out of range"));
        assert!(unix_seconds_to_ms(None).is_err());
        assert_eq!(unix_millis(Some(&json!(1569262485349i64))), Ok(1_569_262_485_349));
        assert_eq!(unix_millis(Some(&json!(1569262485))), Ok(1_569_262_485_000));
    }

    #[test]
    fn numbers_and_texts() {
        let v = json!({"a":"12.5","b":3,"c":"x","d":"","e":"true"});
        assert_eq!(number(&v, "a"), Some(12.5));
        assert_eq!(integer(&v, "b"), Some(3));
        assert_eq!(number(&v, "c"), None);
        assert_eq!(text(&v, "b").as_deref(), Some("3"));
        assert_eq!(text(&v, "d"), None);
        assert!(flag(&v, "e"));
        assert!(list(&v, "a").is_err());
        assert!(list(&v, "zz").unwrap().is_empty());
    }
}
