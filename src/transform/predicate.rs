//! Connect's built-in predicates: `TopicNameMatches` (`pattern`, matched against the
//! whole topic name, as Java's `Matcher.matches` does), `HasHeaderKey` (`name`) and
//! `RecordIsTombstone` (the value is null at that point of the chain).

use regex::Regex;

use super::config::{Settings, PREDICATES, PREDICATES_PACKAGE};
use super::record::ConnectRecord;

/// A compiled `TopicNameMatches` pattern; two are equal when their text is.
#[derive(Debug, Clone)]
pub struct TopicPattern {
    text: String,
    whole: Regex,
}

impl PartialEq for TopicPattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl TopicPattern {
    /// Compiles `text` to match whole topic names.
    pub fn new(text: &str) -> Result<Self, regex::Error> {
        Ok(TopicPattern {
            text: text.to_string(),
            whole: Regex::new(&format!("^(?:{text})$"))?,
        })
    }

    /// True when the whole of `topic` matches.
    pub fn matches(&self, topic: &str) -> bool {
        self.whole.is_match(topic)
    }
}

/// One configured predicate.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// `org.apache.kafka.connect.transforms.predicates.TopicNameMatches`.
    TopicNameMatches(TopicPattern),
    /// `org.apache.kafka.connect.transforms.predicates.HasHeaderKey`.
    HasHeaderKey(String),
    /// `org.apache.kafka.connect.transforms.predicates.RecordIsTombstone`.
    RecordIsTombstone,
}

impl Predicate {
    /// Builds the predicate `class` from its sub-keys; `Err` when the class is not
    /// built in, `Ok(None)` when a sub-key was refused (recorded in `s`).
    pub(crate) fn configure(class: &str, s: &mut Settings<'_>) -> Result<Option<Self>, String> {
        let short = class.strip_prefix(PREDICATES_PACKAGE).unwrap_or_default();
        match short {
            "TopicNameMatches" => Ok(s.required("pattern").and_then(|text| {
                match TopicPattern::new(&text) {
                    Ok(p) => Some(Predicate::TopicNameMatches(p)),
                    Err(e) => {
                        s.error("pattern", format!("is not a valid regular expression: {e}"));
                        None
                    }
                }
            })),
            "HasHeaderKey" => Ok(s.required("name").map(Predicate::HasHeaderKey)),
            "RecordIsTombstone" => Ok(Some(Predicate::RecordIsTombstone)),
            _ => Err(format!(
                "{class} is not a predicate built into sobject-sink; the built-in predicates are {PREDICATES_PACKAGE}{{{}}}",
                PREDICATES.join(", ")
            )),
        }
    }

    /// Whether the predicate holds for `record`.
    pub fn test(&self, record: &ConnectRecord) -> bool {
        match self {
            Predicate::TopicNameMatches(p) => p.matches(&record.meta.coords.topic),
            Predicate::HasHeaderKey(name) => record.meta.header_keys.iter().any(|k| k == name),
            Predicate::RecordIsTombstone => record.value.is_null(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::record::test_record;
    use serde_json::{json, Value};

    #[test]
    fn topic_name_matches_the_whole_name() {
        let p = Predicate::TopicNameMatches(TopicPattern::new("lead.*").unwrap());
        assert!(p.test(&test_record(json!({}))));
        let p = Predicate::TopicNameMatches(TopicPattern::new("lead").unwrap());
        assert!(!p.test(&test_record(json!({}))), "a prefix is not a match");
        let p = Predicate::TopicNameMatches(TopicPattern::new("a|leads").unwrap());
        assert!(p.test(&test_record(json!({}))), "alternation is grouped");
    }

    #[test]
    fn has_header_key_looks_at_names() {
        let p = Predicate::HasHeaderKey("trace".into());
        let mut r = test_record(json!({}));
        assert!(!p.test(&r));
        r.meta.header_keys = vec!["other".into(), "trace".into()];
        assert!(p.test(&r));
    }

    #[test]
    fn record_is_tombstone_tests_the_current_value() {
        assert!(Predicate::RecordIsTombstone.test(&test_record(Value::Null)));
        assert!(!Predicate::RecordIsTombstone.test(&test_record(json!({}))));
    }
}
