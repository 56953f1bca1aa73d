//! The subset of Java's `SimpleDateFormat` patterns that `TimestampConverter` accepts,
//! always in UTC: `y` (year; `yy` is two digits), `M`/`MM` (month number), `d`, `H`,
//! `m`, `s` (day, hour 0-23, minute, second), `S` (milliseconds), text in single quotes
//! (`''` for a quote) and any other non-letter character as itself. Other pattern
//! letters (month and day names, 12-hour clocks, zones, ...) are refused when the
//! configuration is read.
//!
//! Parsing is strict where Java is lenient: the whole text must match and out-of-range
//! values (month 13) are refused rather than rolled over.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};

/// One numeric date-time field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Milli,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(String),
    Number(Field, usize),
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DatePattern {
    text: String,
    tokens: Vec<Token>,
}

fn push_literal(tokens: &mut Vec<Token>, c: char) {
    match tokens.last_mut() {
        Some(Token::Literal(s)) => s.push(c),
        _ => tokens.push(Token::Literal(c.to_string())),
    }
}

impl DatePattern {
    /// Compiles `text`, or says which part is not supported.
    pub(crate) fn compile(text: &str) -> Result<Self, String> {
        let chars: Vec<char> = text.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                if chars.get(i + 1) == Some(&'\'') {
                    push_literal(&mut tokens, '\'');
                    i += 2;
                    continue;
                }
                // Quoted text up to the closing quote; '' inside is a quote.
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(format!("pattern {text:?} has an unclosed quote")),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            push_literal(&mut tokens, '\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&q) => {
                            push_literal(&mut tokens, q);
                            i += 1;
                        }
                    }
                }
                continue;
            }
            if !c.is_ascii_alphabetic() {
                push_literal(&mut tokens, c);
                i += 1;
                continue;
            }
            let run = chars[i..].iter().take_while(|&&d| d == c).count();
            let field = match c {
                'y' => Field::Year,
                'M' if run <= 2 => Field::Month,
                'M' => {
                    return Err(format!(
                        "pattern {text:?}: month names (MMM) are not supported; use MM"
                    ))
                }
                'd' => Field::Day,
                'H' => Field::Hour,
                'm' => Field::Minute,
                's' => Field::Second,
                'S' => Field::Milli,
                other => {
                    return Err(format!(
                        "pattern {text:?}: the letter {other:?} is not supported; the supported letters are y, M, d, H, m, s, S, with other text in single quotes"
                    ))
                }
            };
            tokens.push(Token::Number(field, run));
            i += run;
        }
        Ok(DatePattern {
            text: text.to_string(),
            tokens,
        })
    }

    /// The pattern as configured.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Formats epoch milliseconds (UTC).
    pub(crate) fn format(&self, ms: i64) -> Result<String, String> {
        let t = DateTime::<Utc>::from_timestamp_millis(ms)
            .ok_or_else(|| "the timestamp is out of range".to_string())?;
        let mut out = String::with_capacity(self.text.len() + 8);
        for token in &self.tokens {
            match token {
                Token::Literal(s) => out.push_str(s),
                Token::Number(field, width) => {
                    let (value, width) = match field {
                        Field::Year if t.year() < 1 => {
                            return Err("years before 1 AD cannot be formatted".into())
                        }
                        Field::Year if *width == 2 => (i64::from(t.year() % 100), 2),
                        Field::Year => (i64::from(t.year()), *width),
                        Field::Month => (i64::from(t.month()), *width),
                        Field::Day => (i64::from(t.day()), *width),
                        Field::Hour => (i64::from(t.hour()), *width),
                        Field::Minute => (i64::from(t.minute()), *width),
                        Field::Second => (i64::from(t.second()), *width),
                        Field::Milli => (i64::from(t.timestamp_subsec_millis()), *width),
                    };
                    out.push_str(&format!("{value:0width$}"));
                }
            }
        }
        Ok(out)
    }

    /// Parses `text` as a whole into epoch milliseconds (UTC); `None` when it does not
    /// match.
    pub(crate) fn parse(&self, text: &str) -> Option<i64> {
        let bytes = text.as_bytes();
        let mut pos = 0;
        let (mut year, mut month, mut day) = (1970_i64, 1_i64, 1_i64);
        let (mut hour, mut minute, mut second, mut milli) = (0_i64, 0_i64, 0_i64, 0_i64);
        for (n, token) in self.tokens.iter().enumerate() {
            match token {
                Token::Literal(s) => {
                    if !text[pos..].starts_with(s.as_str()) {
                        return None;
                    }
                    pos += s.len();
                }
                Token::Number(field, width) => {
                    let adjacent = matches!(self.tokens.get(n + 1), Some(Token::Number(..)));
                    let available = bytes[pos..]
                        .iter()
                        .take_while(|b| b.is_ascii_digit())
                        .count();
                    let take = if adjacent { *width } else { available.min(10) };
                    if take == 0 || available < take {
                        return None;
                    }
                    let value: i64 = text[pos..pos + take].parse().ok()?;
                    pos += take;
                    match field {
                        Field::Year if *width <= 2 && take == 2 => year = two_digit_year(value),
                        Field::Year => year = value,
                        Field::Month => month = value,
                        Field::Day => day = value,
                        Field::Hour => hour = value,
                        Field::Minute => minute = value,
                        Field::Second => second = value,
                        Field::Milli => milli = value,
                    }
                }
            }
        }
        if pos != bytes.len() {
            return None;
        }
        let date = NaiveDate::from_ymd_opt(
            i32::try_from(year).ok()?,
            u32::try_from(month).ok()?,
            u32::try_from(day).ok()?,
        )?;
        let time = date.and_hms_milli_opt(
            u32::try_from(hour).ok()?,
            u32::try_from(minute).ok()?,
            u32::try_from(second).ok()?,
            u32::try_from(milli).ok().filter(|m| *m < 1000)?,
        )?;
        Some(time.and_utc().timestamp_millis())
    }
}

/// A two-digit year placed, as Java does, within 80 years before and 20 after now.
fn two_digit_year(yy: i64) -> i64 {
    let start = i64::from(Utc::now().year()) - 80;
    let year = start - start.rem_euclid(100) + yy;
    if year < start {
        year + 100
    } else {
        year
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2025-11-27T13:05:09.042Z
    const MS: i64 = 1_764_248_709_042;

    #[test]
    fn formats_the_supported_letters() {
        let p = DatePattern::compile("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").unwrap();
        assert_eq!(p.format(MS).unwrap(), "2025-11-27T13:05:09.042Z");
        let p = DatePattern::compile("dd/M/yy H'h' 'o''clock'").unwrap();
        assert_eq!(p.format(MS).unwrap(), "27/11/25 13h o'clock");
        let p = DatePattern::compile("yyyyMMddHHmmss").unwrap();
        assert_eq!(p.format(0).unwrap(), "19700101000000");
    }

    #[test]
    fn parses_whole_texts_only() {
        let p = DatePattern::compile("yyyy-MM-dd HH:mm:ss.SSS").unwrap();
        assert_eq!(p.parse("2025-11-27 13:05:09.042"), Some(MS));
        assert_eq!(p.parse("2025-11-27 13:05:09.042 trailing"), None);
        assert_eq!(p.parse("2025-13-27 13:05:09.042"), None, "month 13");
        let p = DatePattern::compile("yyyyMMdd").unwrap();
        assert_eq!(p.parse("19700102"), Some(86_400_000));
        let p = DatePattern::compile("d/M/yyyy").unwrap();
        assert_eq!(p.parse("2/1/1970"), Some(86_400_000));
        assert_eq!(p.parse("x/1/1970"), None);
        let p = DatePattern::compile("yy-MM-dd").unwrap();
        let ms = p.parse("25-11-27").unwrap();
        assert_eq!(
            DatePattern::compile("yyyy").unwrap().format(ms).unwrap(),
            "2025"
        );
    }

    #[test]
    fn unsupported_letters_are_refused() {
        for bad in [
            "yyyy-MMM-dd",
            "hh:mm a",
            "yyyy-MM-dd'T'HH:mm:ssXXX",
            "EEE",
            "'open",
        ] {
            assert!(DatePattern::compile(bad).is_err(), "{bad}");
        }
    }
}
