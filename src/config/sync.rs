//! Settings for keeping two orgs in step: which input format records are read in
//! (`sink.input.format`), what a Change Data Capture gap event does
//! (`sink.cdc.gap.behavior`), and the client id every write names in its
//! `Sforce-Call-Options` header so the sink's own changes coming back through the other
//! org's CDC stream can be recognised and skipped (`sink.client.id`), and how lookups
//! travel between orgs (`sink.references*`).

use std::str::FromStr;
use std::time::Duration;

/// `sink.input.format`: how a record value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputFormat {
    /// A record with a `ChangeEventHeader` is a CDC event, any other a PushTopic record.
    #[default]
    Auto,
    /// Every record is a PushTopic record (a `ChangeEventHeader` is an ordinary field).
    PushTopic,
    /// Every record is a CDC event; one without `ChangeEventHeader` is a bad record.
    Cdc,
}

impl FromStr for InputFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(InputFormat::Auto),
            "pushtopic" => Ok(InputFormat::PushTopic),
            "cdc" => Ok(InputFormat::Cdc),
            _ => Err("must be auto, pushtopic or cdc".to_string()),
        }
    }
}

/// `sink.cdc.gap.behavior`: what a `GAP_*` event (a change Salesforce could not
/// describe, so the stream no longer carries it) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GapBehavior {
    /// Halt the task at the gap, with a trace that says how to resync.
    #[default]
    Fail,
    /// Report the gap (error topic, dead-letter queue) and go on.
    Skip,
}

impl FromStr for GapBehavior {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fail" => Ok(GapBehavior::Fail),
            "skip" => Ok(GapBehavior::Skip),
            _ => Err("must be fail or skip".to_string()),
        }
    }
}

/// `sink.references`: what a reference field's value (an Id of the source org) becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum References {
    /// Sent as it is (the Id must mean something in the target org).
    #[default]
    Keep,
    /// Sent through its relationship as the parent's External ID
    /// (`"Account": {"CustomId__c": "<source Id>"}`).
    ExternalId,
}

impl FromStr for References {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "keep" => Ok(References::Keep),
            "external.id" => Ok(References::ExternalId),
            _ => Err("must be keep or external.id".to_string()),
        }
    }
}

/// Reads `sink.references.static` (`OwnerId:005...,RecordTypeId:012...`): reference
/// fields set to a fixed Id of the target org.
pub fn parse_static_references(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((field, id)) = entry.split_once(':') else {
            return Err(format!("{entry:?} is not <field>:<Id>"));
        };
        let (field, id) = (field.trim(), id.trim());
        let api_name = field
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !api_name {
            return Err(format!("{field:?} is not a field API name"));
        }
        if !matches!(id.len(), 15 | 18) || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!(
                "{id:?} (for {field}) is not a 15- or 18-character Id"
            ));
        }
        if out.iter().any(|(f, _)| f.eq_ignore_ascii_case(field)) {
            return Err(format!("{field} is given twice"));
        }
        out.push((field.to_string(), id.to_string()));
    }
    Ok(out)
}

/// The org-to-org settings of a connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSettings {
    /// `sink.input.format`.
    pub input_format: InputFormat,
    /// `sink.cdc.gap.behavior`.
    pub gap_behavior: GapBehavior,
    /// `sink.client.id`: sent as `Sforce-Call-Options: client=<id>` on every call.
    pub client_id: String,
    /// `sink.references`.
    pub references: References,
    /// `sink.references.static`: reference field → fixed target-org Id.
    pub static_references: Vec<(String, String)>,
    /// `sink.references.wait.ms`: how long a record whose parent is not in the target
    /// org yet is retried before it is an error.
    pub references_wait: Duration,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            input_format: InputFormat::Auto,
            gap_behavior: GapBehavior::Fail,
            client_id: DEFAULT_CLIENT_ID.to_string(),
            references: References::Keep,
            static_references: Vec::new(),
            references_wait: Duration::from_millis(600_000),
        }
    }
}

/// `sink.client.id` when none is given.
pub const DEFAULT_CLIENT_ID: &str = "sobject-sink";

/// Checks a `sink.client.id` value: it goes into an HTTP header as `client=<id>` and is
/// matched inside `changeOrigin`, so it is limited to letters, digits, `-`, `_` and `.`.
pub fn check_client_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 40 {
        return Err("must be 1 to 40 characters".into());
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err("may hold only letters, digits, '-', '_' and '.'".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_behaviours_parse_in_any_case() {
        assert_eq!("CDC".parse::<InputFormat>(), Ok(InputFormat::Cdc));
        assert_eq!(
            " pushtopic".parse::<InputFormat>(),
            Ok(InputFormat::PushTopic)
        );
        assert!("avro".parse::<InputFormat>().is_err());
        assert_eq!("Skip".parse::<GapBehavior>(), Ok(GapBehavior::Skip));
        assert!("ignore".parse::<GapBehavior>().is_err());
    }

    #[test]
    fn static_references_are_field_id_pairs() {
        assert_eq!(
            parse_static_references(" OwnerId:005000000000001AAA , RecordTypeId:012000000000001")
                .unwrap(),
            [
                ("OwnerId".to_string(), "005000000000001AAA".to_string()),
                ("RecordTypeId".to_string(), "012000000000001".to_string())
            ]
        );
        assert!(parse_static_references("").unwrap().is_empty());
        assert!(parse_static_references("OwnerId").is_err());
        assert!(parse_static_references("OwnerId:short").is_err());
        assert!(parse_static_references("Owner Id:005000000000001").is_err());
        assert!(
            parse_static_references("OwnerId:005000000000001,ownerid:005000000000002").is_err()
        );
        assert_eq!(
            "External.Id".parse::<References>(),
            Ok(References::ExternalId)
        );
        assert!("id".parse::<References>().is_err());
    }

    #[test]
    fn client_ids_that_would_break_the_header_are_refused() {
        assert!(check_client_id("sobject-sink").is_ok());
        assert!(check_client_id("org_b.sync-2").is_ok());
        assert!(check_client_id("").is_err());
        assert!(check_client_id("a;b").is_err());
        assert!(check_client_id("a b").is_err());
        assert!(check_client_id(&"x".repeat(41)).is_err());
    }
}
