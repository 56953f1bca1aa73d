//! Conversions of Kafka Connect logical types into the JSON text Salesforce expects:
//! Date → `YYYY-MM-DD`, Time → `HH:MM:SS.sssZ`, Timestamp → `YYYY-MM-DDTHH:MM:SS.sssZ`,
//! Decimal → a JSON number.
//!
//! Decimals: serde_json here has no arbitrary-precision numbers, so a decimal becomes a
//! JSON number when an `f64` (or `i64`) holds it exactly, and otherwise the exact
//! decimal text as a JSON string. Salesforce reads numeric strings for number,
//! currency and percent fields, so no digit is silently lost either way.

use std::fmt::Write as _;

use serde_json::{Number, Value};

/// Connect's Date logical type name.
pub const DATE: &str = "org.apache.kafka.connect.data.Date";
/// Connect's Time logical type name.
pub const TIME: &str = "org.apache.kafka.connect.data.Time";
/// Connect's Timestamp logical type name.
pub const TIMESTAMP: &str = "org.apache.kafka.connect.data.Timestamp";
/// Connect's Decimal logical type name.
pub const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";

const MS_PER_DAY: i64 = 86_400_000;
/// Longest unscaled Decimal read, in bytes (over 300 digits; a Salesforce number holds
/// 18). Longer values are refused: converting them costs time quadratic in their length.
pub const MAX_DECIMAL_BYTES: usize = 128;
/// Largest Decimal scale read, either sign. A scale is written out as that many digits,
/// so a scale of two billion would be a two-gigabyte string.
pub const MAX_DECIMAL_SCALE: u32 = 1000;

/// Civil date (proleptic Gregorian) of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn push_date(out: &mut String, days: i64) -> Result<(), String> {
    // Every year of 0000-9999 lies well within this; checking first keeps the
    // arithmetic of `civil_from_days` from overflowing on values near i64's ends.
    if days.unsigned_abs() > 1_000_000_000 {
        return Err(format!(
            "{days} days from 1970-01-01 is outside the years 0000-9999"
        ));
    }
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        return Err(format!("year {y} is outside 0000-9999"));
    }
    push_digits(out, y as u32, 4);
    out.push('-');
    push_digits(out, m, 2);
    out.push('-');
    push_digits(out, d, 2);
    Ok(())
}

/// Appends the last `width` decimal digits of `value`, zero-padded (every caller
/// passes a value that fits). Done by hand: `write!` with a width costs several
/// times more, and timestamps are on every record.
fn push_digits(out: &mut String, value: u32, width: u32) {
    let mut divisor = 10u32.pow(width - 1);
    while divisor > 0 {
        out.push(char::from(b'0' + (value / divisor % 10) as u8));
        divisor /= 10;
    }
}

fn push_time_of_day(out: &mut String, ms: i64) {
    // 0 <= ms < one day here, so every part fits in u32.
    let ms = ms as u32;
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (min, rest) = (rest / 60_000, rest % 60_000);
    let (s, milli) = (rest / 1000, rest % 1000);
    push_digits(out, h, 2);
    out.push(':');
    push_digits(out, min, 2);
    out.push(':');
    push_digits(out, s, 2);
    out.push('.');
    push_digits(out, milli, 3);
    out.push('Z');
}

/// Days since the epoch → `YYYY-MM-DD`.
pub fn date_from_days(days: i64) -> Result<String, String> {
    let mut out = String::with_capacity(10);
    push_date(&mut out, days)?;
    Ok(out)
}

/// Milliseconds since the epoch → `YYYY-MM-DDTHH:MM:SS.sssZ`.
pub fn timestamp_from_millis(ms: i64) -> Result<String, String> {
    let mut out = String::with_capacity(24);
    push_date(&mut out, ms.div_euclid(MS_PER_DAY))?;
    out.push('T');
    push_time_of_day(&mut out, ms.rem_euclid(MS_PER_DAY));
    Ok(out)
}

/// Milliseconds since midnight → `HH:MM:SS.sssZ`.
pub fn time_from_millis(ms: i64) -> Result<String, String> {
    if !(0..MS_PER_DAY).contains(&ms) {
        return Err(format!("{ms} ms is not within one day"));
    }
    let mut out = String::with_capacity(13);
    push_time_of_day(&mut out, ms);
    Ok(out)
}

/// Exact decimal text of a big-endian two's-complement unscaled value and a scale.
pub fn decimal_text(unscaled: &[u8], scale: i32) -> String {
    let negative = unscaled.first().is_some_and(|b| b & 0x80 != 0);
    // Magnitude: two's complement negation for negative values.
    let mut magnitude: Vec<u8> = unscaled.to_vec();
    if negative {
        for b in magnitude.iter_mut() {
            *b = !*b;
        }
        for b in magnitude.iter_mut().rev() {
            let (v, overflow) = b.overflowing_add(1);
            *b = v;
            if !overflow {
                break;
            }
        }
    }
    // Base 10^9 limbs, least significant first.
    let mut limbs: Vec<u32> = Vec::new();
    for &byte in &magnitude {
        let mut carry = byte as u64;
        for limb in limbs.iter_mut() {
            let v = (*limb as u64) * 256 + carry;
            *limb = (v % 1_000_000_000) as u32;
            carry = v / 1_000_000_000;
        }
        while carry > 0 {
            limbs.push((carry % 1_000_000_000) as u32);
            carry /= 1_000_000_000;
        }
    }
    let mut digits = String::new();
    match limbs.split_last() {
        None => digits.push('0'),
        Some((top, rest)) => {
            let _ = write!(digits, "{top}");
            for limb in rest.iter().rev() {
                let _ = write!(digits, "{limb:09}");
            }
        }
    }
    let mut text = String::new();
    if negative && digits != "0" {
        text.push('-');
    }
    if scale <= 0 {
        text.push_str(&digits);
        if digits != "0" {
            for _ in 0..scale.unsigned_abs() {
                text.push('0');
            }
        }
    } else {
        let scale = scale as usize;
        if digits.len() <= scale {
            text.push_str("0.");
            text.extend(std::iter::repeat_n('0', scale - digits.len()));
            text.push_str(&digits);
        } else {
            let (int, frac) = digits.split_at(digits.len() - scale);
            text.push_str(int);
            text.push('.');
            text.push_str(frac);
        }
    }
    text
}

/// Removes trailing fraction zeros (and a bare point): `12.500` → `12.5`, `3.0` → `3`.
fn normalize(text: &str) -> &str {
    if !text.contains('.') {
        return text;
    }
    text.trim_end_matches('0').trim_end_matches('.')
}

/// A decimal as a JSON value: a number when `i64`/`f64` represents it exactly, else the
/// exact text as a string (see the module note). Values longer than
/// [`MAX_DECIMAL_BYTES`] or scaled beyond [`MAX_DECIMAL_SCALE`] are refused.
pub fn decimal_value(unscaled: &[u8], scale: i32) -> Result<Value, String> {
    if unscaled.len() > MAX_DECIMAL_BYTES {
        return Err(format!(
            "the unscaled value has {} bytes; at most {MAX_DECIMAL_BYTES} are read",
            unscaled.len()
        ));
    }
    if scale.unsigned_abs() > MAX_DECIMAL_SCALE {
        return Err(format!(
            "the scale {scale} is outside -{MAX_DECIMAL_SCALE}..{MAX_DECIMAL_SCALE}"
        ));
    }
    let text = decimal_text(unscaled, scale);
    let norm = normalize(&text);
    if !norm.contains('.') {
        if let Ok(i) = norm.parse::<i64>() {
            return Ok(Value::Number(i.into()));
        }
    }
    if let Ok(f) = norm.parse::<f64>() {
        let shortest = if f == 0.0 {
            "0".to_string()
        } else {
            format!("{f}")
        };
        if shortest == norm {
            if let Some(n) = Number::from_f64(f) {
                return Ok(Value::Number(n));
            }
        }
    }
    Ok(Value::String(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_render_as_iso_days() {
        assert_eq!(date_from_days(0).unwrap(), "1970-01-01");
        assert_eq!(date_from_days(20_419).unwrap(), "2025-11-27");
        assert_eq!(date_from_days(-1).unwrap(), "1969-12-31");
        assert_eq!(date_from_days(11_016).unwrap(), "2000-02-29");
        assert!(date_from_days(3_000_000).is_err());
    }

    // Found while fuzzing the record decoder: a day count near i64::MAX overflowed the
    // calendar arithmetic (a panic in builds with overflow checks).
    #[test]
    fn day_counts_at_the_ends_of_i64_are_refused_not_overflowed() {
        for days in [i64::MAX, i64::MIN, i64::MAX - 719_468, 1_000_000_001] {
            let e = date_from_days(days).unwrap_err();
            assert!(e.contains("outside the years 0000-9999"), "{e}");
        }
        assert!(date_from_days(2_932_896).is_ok()); // 9999-12-31
        assert!(timestamp_from_millis(i64::MAX).is_err());
        assert!(timestamp_from_millis(i64::MIN).is_err());
    }

    #[test]
    fn timestamps_render_in_utc_with_milliseconds() {
        assert_eq!(
            timestamp_from_millis(1_764_201_600_000).unwrap(),
            "2025-11-27T00:00:00.000Z"
        );
        assert_eq!(
            timestamp_from_millis(1_670_582_776_123).unwrap(),
            "2022-12-09T10:46:16.123Z"
        );
        assert_eq!(
            timestamp_from_millis(-1).unwrap(),
            "1969-12-31T23:59:59.999Z"
        );
        // Every field at its widest and narrowest, against `format!`'s padding.
        for ms in [
            0,
            86_399_999,
            253_402_300_799_999, // 9999-12-31T23:59:59.999
            -62_167_219_200_000, // 0000-01-01T00:00:00.000
            1_000_000_000_007,
        ] {
            let text = timestamp_from_millis(ms).unwrap();
            let (days, rest) = (ms.div_euclid(MS_PER_DAY), ms.rem_euclid(MS_PER_DAY));
            let (y, m, d) = civil_from_days(days);
            let want = format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
                rest / 3_600_000,
                rest / 60_000 % 60,
                rest / 1000 % 60,
                rest % 1000
            );
            assert_eq!(text, want);
        }
    }

    #[test]
    fn times_render_within_a_day() {
        assert_eq!(time_from_millis(0).unwrap(), "00:00:00.000Z");
        assert_eq!(time_from_millis(45_296_789).unwrap(), "12:34:56.789Z");
        assert!(time_from_millis(86_400_000).is_err());
        assert!(time_from_millis(-5).is_err());
    }

    #[test]
    fn decimal_text_handles_sign_and_scale() {
        assert_eq!(decimal_text(&[0x30, 0x39], 2), "123.45");
        assert_eq!(decimal_text(&[0xCF, 0xC7], 2), "-123.45");
        assert_eq!(decimal_text(&[0x05], 3), "0.005");
        assert_eq!(decimal_text(&[0xFF], 0), "-1");
        assert_eq!(decimal_text(&[0x07], -2), "700");
        assert_eq!(decimal_text(&[], 2), "0.00");
        assert_eq!(decimal_text(&[0x00, 0x80], 0), "128");
    }

    #[test]
    fn decimals_become_numbers_unless_f64_would_lose_digits() {
        assert_eq!(decimal_value(&[0x30, 0x39], 2), Ok(json!(123.45)));
        assert_eq!(decimal_value(&[0x09, 0xC4], 2), Ok(json!(25)));
        // 2^70 + 1 does not fit an f64 exactly: kept as exact text.
        let big = [0x40, 0, 0, 0, 0, 0, 0, 0, 0x01];
        assert_eq!(decimal_value(&big, 0), Ok(json!("1180591620717411303425")));
        // 0.1 + many digits beyond f64's 17 significant digits.
        let v = decimal_value(&1_234_567_890_123_456_789_i128.to_be_bytes(), 18);
        assert_eq!(v, Ok(json!("1.234567890123456789")));
    }

    // Found by fuzzing (fuzz target record_envelope): a scale of 1419003109 built a
    // 1.4 GB string of zeros and took longer than the fuzzer's 10 s limit.
    #[test]
    fn decimals_with_huge_scales_or_lengths_are_refused_not_expanded() {
        let e = decimal_value(&[0x01], 1_419_003_109).unwrap_err();
        assert!(e.contains("scale 1419003109"), "{e}");
        assert!(decimal_value(&[0x01], i32::MIN).is_err());
        assert!(decimal_value(&[0x01], 1000).is_ok());
        assert!(decimal_value(&[0x01], -1000).is_ok());
        let long = vec![0x7f; MAX_DECIMAL_BYTES + 1];
        let e = decimal_value(&long, 0).unwrap_err();
        assert!(e.contains("129 bytes"), "{e}");
        assert!(decimal_value(&long[1..], 0).is_ok());
    }
}
