//! A wrapper for values that must never be printed: passwords, security tokens,
//! client secrets, access tokens and key passwords.
//!
//! Everything that formats a [`Secret`] (Debug, Display, and therefore every log line
//! and error message built with `{}` or `{:?}`) sees `[hidden]`. The only way to the
//! value is [`Secret::expose`], which makes each use easy to find in review.

use std::fmt;
use std::sync::Arc;

/// A string that prints as `[hidden]`. Cloning is cheap (the text is shared).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Arc::from(value.into()))
    }

    /// The value itself; call this only where the value goes on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the value is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[hidden]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[hidden]")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[hidden]");
        assert_eq!(format!("{s}"), "[hidden]");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some([hidden])");
        assert_eq!(s.expose(), "hunter2");
    }
}
