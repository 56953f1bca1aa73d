//! The four write operations the sink can apply to a Salesforce row.

use std::fmt;
use std::str::FromStr;

/// A write against the target SObject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Create a row (`POST /composite/sobjects`).
    Insert,
    /// Change an existing row, by Id or by External ID.
    Update,
    /// Create or change a row addressed by its External ID.
    Upsert,
    /// Remove a row.
    Delete,
}

impl Operation {
    /// The lower-case name used in configuration and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Insert => "insert",
            Operation::Update => "update",
            Operation::Upsert => "upsert",
            Operation::Delete => "delete",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Operation {
    type Err = String;

    /// Case-insensitive, as `salesforce.sink.object.operation` is.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "insert" => Ok(Operation::Insert),
            "update" => Ok(Operation::Update),
            "upsert" => Ok(Operation::Upsert),
            "delete" => Ok(Operation::Delete),
            _ => Err("must be one of insert, update, upsert, delete".to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_parse_in_any_case() {
        assert_eq!("UPSERT".parse::<Operation>(), Ok(Operation::Upsert));
        assert_eq!(" delete ".parse::<Operation>(), Ok(Operation::Delete));
        assert!("merge".parse::<Operation>().is_err());
    }
}
