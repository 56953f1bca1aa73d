//! A wrapper for credentials so they cannot leak through `Debug`, `Display` or logs.
//!
//! Every password-type setting (passwords, tokens, client secrets, keystore passwords)
//! is held as a [`Secret`]; reading the clear text takes an explicit
//! [`Secret::expose`] call, which makes each use easy to find in review.

use std::fmt;

/// What a secret prints as, everywhere.
pub const HIDDEN: &str = "[hidden]";

/// A credential whose text never appears in `Debug` or `Display` output. It can be
/// read from a file (the simulator's org files) but not written: serialising it would
/// put the clear text wherever the output goes.
#[derive(Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a clear-text credential.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The clear text, for the one place that must send it (a login request, a
    /// librdkafka property). Never log the result.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the credential is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(HIDDEN)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(HIDDEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_clear_text() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[hidden]");
        assert_eq!(format!("{s}"), "[hidden]");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some([hidden])");
        assert_eq!(s.expose(), "hunter2");
    }
}
