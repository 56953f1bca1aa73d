//! Configuration errors: one entry per problem, each naming the key, its value and the
//! rule it breaks, so the REST `validate` endpoint can attach them to their keys.

use std::fmt;

/// One problem with one configuration key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key the problem belongs to (for cross-key rules, the key that must change).
    pub key: String,
    /// The value as given, `[hidden]` for password-type keys, `None` when the key is absent.
    pub value: Option<String>,
    /// What is wrong and what would be accepted.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}={}: {}", self.key, v, self.message),
            None => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

/// Every problem found in one configuration (validation does not stop at the first).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The problems, in the order they were found.
    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }

    /// The messages attached to `key` (what `configs[].value.errors` shows).
    pub fn messages_for(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|e| e.key == key)
            .map(|e| e.message.clone())
            .collect()
    }

    /// Number of problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no problem was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn push(&mut self, key: &str, value: Option<String>, message: impl Into<String>) {
        self.0.push(ConfigError {
            key: key.to_string(),
            value,
            message: message.into(),
        });
    }
}

impl std::error::Error for ConfigErrors {}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} configuration error(s)", self.0.len())?;
        for e in &self.0 {
            write!(f, "; {e}")?;
        }
        Ok(())
    }
}
