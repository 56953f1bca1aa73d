//! `TimestampConverter$Key` / `$Value`: convert a timestamp field (or the whole key or
//! value) between epoch numbers, formatted text and Connect's Date, Time and
//! Timestamp types.
//!
//! Keys: `target.type` (`string`, `unix`, `Date`, `Time`, `Timestamp`; required),
//! `field` (empty: the whole key or value), `format` (a `SimpleDateFormat` pattern, see
//! [`super::date_pattern`]; required for `target.type=string`, and used to read text
//! inputs), `unix.precision` (`seconds`, `milliseconds` (default), `microseconds`,
//! `nanoseconds`), `replace.null.with.default`. All in UTC.
//!
//! Inputs, in the schemaless form the converters produce: a whole number is a unix
//! time in `unix.precision`; text is read with `format` when it matches, else as one
//! of the forms the converter gives Connect's logical types (`YYYY-MM-DDTHH:MM:SS.sssZ`
//! for a Timestamp, `YYYY-MM-DD` for a Date, `HH:MM:SS.sssZ` for a Time). Outputs:
//! `unix` is a whole number, `string` the formatted text, and Date/Time/Timestamp the
//! same text forms the converter uses for those types (what Salesforce reads for date,
//! time and datetime fields). Nulls stay null; a missing field is not added.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde_json::Value;

use super::config::Settings;
use super::date_pattern::DatePattern;
use super::{json_kind, require_object, Part, RecordError};
use crate::record::logical::{date_from_days, time_from_millis, timestamp_from_millis};

const MS_PER_DAY: i64 = 86_400_000;

/// `target.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    String,
    Unix,
    Date,
    Time,
    Timestamp,
}

/// `unix.precision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Precision {
    Seconds,
    Millis,
    Micros,
    Nanos,
}

impl Precision {
    fn to_millis(self, n: i64) -> i64 {
        match self {
            Precision::Seconds => n.saturating_mul(1000),
            Precision::Millis => n,
            Precision::Micros => n / 1000,
            Precision::Nanos => n / 1_000_000,
        }
    }

    fn of_millis(self, ms: i64) -> i64 {
        match self {
            Precision::Seconds => ms / 1000,
            Precision::Millis => ms,
            Precision::Micros => ms.saturating_mul(1000),
            Precision::Nanos => ms.saturating_mul(1_000_000),
        }
    }
}

/// A configured `TimestampConverter`.
#[derive(Debug, Clone, PartialEq)]
pub struct TimestampConverter {
    field: Option<String>,
    target: Target,
    format: Option<DatePattern>,
    precision: Precision,
}

/// Reads the text forms the converter gives Connect's logical types.
fn parse_logical_text(text: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc).timestamp_millis());
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(d.and_time(NaiveTime::MIN).and_utc().timestamp_millis());
    }
    let time = text.strip_suffix('Z')?;
    let t = NaiveTime::parse_from_str(time, "%H:%M:%S%.f").ok()?;
    Some(
        NaiveDate::from_ymd_opt(1970, 1, 1)?
            .and_time(t)
            .and_utc()
            .timestamp_millis(),
    )
}

impl TimestampConverter {
    /// Reads the sub-keys; `None` when one was refused.
    pub(crate) fn configure(s: &mut Settings<'_>) -> Option<Self> {
        let field = s.string("field");
        let target = match s.string("target.type").as_deref() {
            Some("string") => Some(Target::String),
            Some("unix") => Some(Target::Unix),
            Some("Date") => Some(Target::Date),
            Some("Time") => Some(Target::Time),
            Some("Timestamp") => Some(Target::Timestamp),
            Some(_) => {
                s.error(
                    "target.type",
                    "must be one of string, unix, Date, Time, Timestamp",
                );
                None
            }
            None => {
                s.error(
                    "target.type",
                    "is required: string, unix, Date, Time or Timestamp",
                );
                None
            }
        };
        let format = match s.string("format") {
            Some(p) => match DatePattern::compile(&p) {
                Ok(p) => Some(p),
                Err(message) => {
                    s.error("format", message);
                    None
                }
            },
            None => None,
        };
        if target == Some(Target::String) && s.string("format").is_none() {
            s.error("format", "is required when target.type=string");
        }
        let precision = match s.string("unix.precision").as_deref() {
            None | Some("milliseconds") => Precision::Millis,
            Some("seconds") => Precision::Seconds,
            Some("microseconds") => Precision::Micros,
            Some("nanoseconds") => Precision::Nanos,
            Some(_) => {
                s.error(
                    "unix.precision",
                    "must be one of seconds, milliseconds, microseconds, nanoseconds",
                );
                Precision::Millis
            }
        };
        s.replace_null_with_default();
        let target = target?;
        (!s.failed()).then_some(TimestampConverter {
            field,
            target,
            format,
            precision,
        })
    }

    /// Reads an input timestamp into epoch milliseconds.
    fn to_millis(&self, value: &Value) -> Result<i64, String> {
        match value {
            Value::Number(n) => n
                .as_i64()
                .map(|v| self.precision.to_millis(v))
                .ok_or_else(|| "a unix timestamp must be a whole number".to_string()),
            Value::String(text) => self
                .format
                .as_ref()
                .and_then(|p| p.parse(text))
                .or_else(|| parse_logical_text(text))
                .ok_or_else(|| match &self.format {
                    Some(p) => format!(
                        "the text matches neither the pattern {:?} nor an ISO-8601 date, time or timestamp",
                        p.text()
                    ),
                    None => "the text is not an ISO-8601 date, time or timestamp (set format to read other text)".to_string(),
                }),
            other => Err(format!("{} cannot be read as a timestamp", json_kind(other))),
        }
    }

    /// Writes epoch milliseconds as the target type.
    fn write_millis(&self, ms: i64) -> Result<Value, String> {
        Ok(match self.target {
            Target::Unix => Value::from(self.precision.of_millis(ms)),
            Target::String => match &self.format {
                Some(p) => Value::from(p.format(ms)?),
                None => return Err("no format is configured".into()),
            },
            Target::Timestamp => Value::from(timestamp_from_millis(ms)?),
            Target::Date => Value::from(date_from_days(ms.div_euclid(MS_PER_DAY))?),
            Target::Time => Value::from(time_from_millis(ms.rem_euclid(MS_PER_DAY))?),
        })
    }

    fn convert(&self, value: &Value) -> Result<Value, String> {
        if value.is_null() {
            return Ok(Value::Null);
        }
        self.write_millis(self.to_millis(value)?)
    }

    /// Converts the configured field (or the whole of `target`).
    pub fn apply(&self, target: &mut Value, part: Part) -> Result<(), RecordError> {
        match &self.field {
            None => {
                *target = self
                    .convert(target)
                    .map_err(|r| RecordError::field(part, None, r))?;
            }
            Some(field) => {
                if target.is_null() {
                    return Ok(());
                }
                let map = require_object(target, part, "converting timestamp formats")?;
                if let Some(v) = map.get_mut(field) {
                    *v = self
                        .convert(v)
                        .map_err(|r| RecordError::field(part, Some(field), r))?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::test_support::configure;
    use serde_json::json;

    fn convert(pairs: &[(&str, &str)], mut v: Value) -> Result<Value, RecordError> {
        let t = configure(pairs, TimestampConverter::configure).unwrap();
        t.apply(&mut v, Part::Value).map(|()| v)
    }

    // 2025-11-27T13:05:09.042Z
    const MS: i64 = 1_764_248_709_042;

    #[test]
    fn unix_to_every_target() {
        let f = |target: &str| {
            convert(
                &[
                    ("field", "ts"),
                    ("target.type", target),
                    ("format", "yyyy-MM-dd HH:mm"),
                ],
                json!({"ts": MS, "other": 1}),
            )
            .unwrap()["ts"]
                .clone()
        };
        assert_eq!(f("Timestamp"), json!("2025-11-27T13:05:09.042Z"));
        assert_eq!(f("Date"), json!("2025-11-27"));
        assert_eq!(f("Time"), json!("13:05:09.042Z"));
        assert_eq!(f("string"), json!("2025-11-27 13:05"));
        assert_eq!(f("unix"), json!(MS));
    }

    #[test]
    fn text_inputs_and_precisions() {
        let out = convert(
            &[
                ("target.type", "unix"),
                ("format", "dd.MM.yyyy"),
                ("unix.precision", "seconds"),
            ],
            json!("27.11.2025"),
        )
        .unwrap();
        assert_eq!(out, json!(1_764_201_600));
        // A Timestamp already converted to ISO text by the converter.
        let out = convert(
            &[("target.type", "unix"), ("unix.precision", "microseconds")],
            json!("2025-11-27T13:05:09.042Z"),
        )
        .unwrap();
        assert_eq!(out, json!(MS * 1000));
        let out = convert(
            &[
                ("target.type", "Timestamp"),
                ("unix.precision", "nanoseconds"),
            ],
            json!(MS * 1_000_000 + 999),
        )
        .unwrap();
        assert_eq!(out, json!("2025-11-27T13:05:09.042Z"));
        let out = convert(&[("target.type", "unix")], json!("13:05:09.042Z")).unwrap();
        assert_eq!(out, json!(47_109_042));
    }

    #[test]
    fn unreadable_inputs_fail_the_record() {
        let e = convert(
            &[("field", "ts"), ("target.type", "unix"), ("format", "yyyy")],
            json!({"ts": "soon"}),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("field ts: the text matches neither"),
            "{e}"
        );
        let e = convert(&[("target.type", "unix")], json!(true)).unwrap_err();
        assert!(e.to_string().contains("a boolean cannot be read"), "{e}");
        assert_eq!(
            convert(&[("target.type", "unix")], Value::Null).unwrap(),
            Value::Null
        );
    }

    #[test]
    fn configuration_rules() {
        let refused = |pairs: &[(&str, &str)], key: &str| {
            let e = configure(pairs, TimestampConverter::configure).unwrap_err();
            assert!(e.iter().any(|(k, _)| k.ends_with(key)), "{pairs:?}: {e:?}");
        };
        refused(&[], "target.type");
        refused(&[("target.type", "timestamp")], "target.type");
        refused(&[("target.type", "string")], "format");
        refused(
            &[("target.type", "string"), ("format", "yyyy-MM-dd hh:mm a")],
            "format",
        );
        refused(
            &[("target.type", "unix"), ("unix.precision", "minutes")],
            "unix.precision",
        );
    }
}
