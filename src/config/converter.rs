//! The Kafka Connect converter settings the sink understands: which converter class
//! reads keys and values, and how JsonConverter writes decimals.

use std::fmt;

/// Kafka Connect's JSON converter class.
pub const JSON_CONVERTER: &str = "org.apache.kafka.connect.json.JsonConverter";
/// Kafka Connect's string converter class (keys only here).
pub const STRING_CONVERTER: &str = "org.apache.kafka.connect.storage.StringConverter";

/// How the bytes of a key or value are turned into data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConverterClass {
    /// `org.apache.kafka.connect.json.JsonConverter`.
    Json,
    /// `org.apache.kafka.connect.storage.StringConverter`: the bytes are UTF-8 text.
    String,
}

impl ConverterClass {
    /// Reads a class name; only the two supported classes are accepted.
    pub fn parse(class: &str) -> Option<Self> {
        match class.trim() {
            JSON_CONVERTER => Some(ConverterClass::Json),
            STRING_CONVERTER => Some(ConverterClass::String),
            _ => None,
        }
    }

    /// The Java class name.
    pub fn class_name(self) -> &'static str {
        match self {
            ConverterClass::Json => JSON_CONVERTER,
            ConverterClass::String => STRING_CONVERTER,
        }
    }
}

impl fmt::Display for ConverterClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.class_name())
    }
}

/// JsonConverter's `decimal.format`: how a Connect Decimal is written in JSON.
///
/// Reading accepts both forms whatever the setting (as Connect's JsonConverter does);
/// the setting documents what the producer is expected to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DecimalFormat {
    /// Base64 of the big-endian two's-complement unscaled value (Connect's default).
    #[default]
    Base64,
    /// A plain JSON number.
    Numeric,
}

impl DecimalFormat {
    /// Case-insensitive `BASE64` or `NUMERIC`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "BASE64" => Some(DecimalFormat::Base64),
            "NUMERIC" => Some(DecimalFormat::Numeric),
            _ => None,
        }
    }
}

/// The settings of one converter (key or value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConverterConfig {
    /// The converter class.
    pub class: ConverterClass,
    /// `*.converter.schemas.enable` (Connect's default is true).
    pub schemas_enable: bool,
    /// `*.converter.decimal.format`.
    pub decimal_format: DecimalFormat,
}

impl Default for ConverterConfig {
    fn default() -> Self {
        ConverterConfig {
            class: ConverterClass::Json,
            schemas_enable: true,
            decimal_format: DecimalFormat::Base64,
        }
    }
}
