//! `Cast$Key` / `$Value`: cast top-level fields, or the whole key or value, to another
//! primitive type.
//!
//! Keys: `spec` (`field:type,...`, or a single `type` for the whole key or value),
//! `replace.null.with.default`. Types: `int8`, `int16`, `int32`, `int64`, `float32`,
//! `float64`, `boolean`, `string` (any case). Numbers narrow as Java's do (integers
//! wrap, decimals truncate toward zero), booleans become 1/0, text is parsed (a text
//! that is not a number of that type fails the record), numbers and booleans become
//! text. Nulls stay null; fields the record does not have are not added.

use serde_json::{Number, Value};

use super::config::Settings;
use super::{json_kind, require_object, Part, RecordError};

/// A target type of `Cast`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CastType {
    /// `int8`
    Int8,
    /// `int16`
    Int16,
    /// `int32`
    Int32,
    /// `int64`
    Int64,
    /// `float32`
    Float32,
    /// `float64`
    Float64,
    /// `boolean`
    Boolean,
    /// `string`
    String,
}

impl CastType {
    fn parse(text: &str) -> Result<Self, String> {
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "int8" => CastType::Int8,
            "int16" => CastType::Int16,
            "int32" => CastType::Int32,
            "int64" => CastType::Int64,
            "float32" => CastType::Float32,
            "float64" => CastType::Float64,
            "boolean" => CastType::Boolean,
            "string" => CastType::String,
            t @ ("bytes" | "array" | "map" | "struct") => {
                return Err(format!(
                    "Cast does not support casting to {t}; the types are int8, int16, int32, int64, float32, float64, boolean, string"
                ))
            }
            _ => {
                return Err(format!(
                    "invalid type {:?} in the cast spec; the types are int8, int16, int32, int64, float32, float64, boolean, string",
                    text.trim()
                ))
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            CastType::Int8 => "int8",
            CastType::Int16 => "int16",
            CastType::Int32 => "int32",
            CastType::Int64 => "int64",
            CastType::Float32 => "float32",
            CastType::Float64 => "float64",
            CastType::Boolean => "boolean",
            CastType::String => "string",
        }
    }
}

/// What a configured `Cast` casts.
#[derive(Debug, Clone, PartialEq)]
enum Spec {
    /// The whole key or value.
    Whole(CastType),
    /// Top-level fields.
    Fields(Vec<(String, CastType)>),
}

/// A configured `Cast`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cast {
    spec: Spec,
}

/// A JSON number as Java's `long` (unsigned values beyond `i64` wrap).
fn as_long(n: &Number) -> Option<i64> {
    n.as_i64().or_else(|| n.as_u64().map(|u| u as i64))
}

/// A JSON number as Java's `int`, narrowed as `Number.intValue()` does.
fn as_int(n: &Number) -> i32 {
    match as_long(n) {
        Some(l) => l as i32,
        None => n.as_f64().unwrap_or(0.0) as i32,
    }
}

/// A finite float as a JSON number; a float32 keeps its shortest decimal form.
fn float_value(x: f64) -> Option<Value> {
    Number::from_f64(x).map(Value::Number)
}

/// Casts one value; `Err` carries the reason without the value itself.
pub(crate) fn cast_value(value: &Value, to: CastType) -> Result<Value, String> {
    let unsupported = || format!("{} cannot be cast to {}", json_kind(value), to.name());
    let not_a = || format!("the text is not a valid {}", to.name());
    match value {
        Value::Null => Ok(Value::Null),
        Value::Array(_) | Value::Object(_) => Err(unsupported()),
        Value::Bool(b) => Ok(match to {
            CastType::String => Value::from(if *b { "true" } else { "false" }),
            CastType::Boolean => Value::Bool(*b),
            CastType::Float32 | CastType::Float64 => Value::from(if *b { 1.0 } else { 0.0 }),
            _ => Value::from(i64::from(*b)),
        }),
        Value::Number(n) => Ok(match to {
            CastType::Int8 => Value::from(as_int(n) as i8),
            CastType::Int16 => Value::from(as_int(n) as i16),
            CastType::Int32 => Value::from(as_int(n)),
            CastType::Int64 => {
                Value::from(as_long(n).unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as i64))
            }
            CastType::Float32 => {
                let f = n.as_f64().unwrap_or(0.0) as f32;
                float_value(f.to_string().parse::<f64>().unwrap_or(f64::from(f)))
                    .ok_or_else(unsupported)?
            }
            CastType::Float64 => float_value(n.as_f64().unwrap_or(0.0)).ok_or_else(unsupported)?,
            CastType::Boolean => {
                Value::Bool(as_long(n).unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as i64) != 0)
            }
            CastType::String => Value::from(n.to_string()),
        }),
        Value::String(s) => match to {
            CastType::String => Ok(value.clone()),
            CastType::Boolean => Ok(Value::Bool(s.eq_ignore_ascii_case("true"))),
            CastType::Int8 => s.parse::<i8>().map(Value::from).map_err(|_| not_a()),
            CastType::Int16 => s.parse::<i16>().map(Value::from).map_err(|_| not_a()),
            CastType::Int32 => s.parse::<i32>().map(Value::from).map_err(|_| not_a()),
            CastType::Int64 => s.parse::<i64>().map(Value::from).map_err(|_| not_a()),
            CastType::Float32 => s
                .trim()
                .parse::<f32>()
                .ok()
                .and_then(|f| float_value(f.to_string().parse::<f64>().ok()?))
                .ok_or_else(not_a),
            CastType::Float64 => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(float_value)
                .ok_or_else(not_a),
        },
    }
}

impl Cast {
    /// Reads the sub-keys; `None` when one was refused.
    pub(crate) fn configure(s: &mut Settings<'_>) -> Option<Self> {
        let entries = s.list("spec");
        s.replace_null_with_default();
        if entries.is_empty() {
            s.error(
                "spec",
                "is required: field:type pairs, or one type for the whole value",
            );
            return None;
        }
        let mut whole = None;
        let mut fields = Vec::new();
        for entry in &entries {
            let parsed = match entry.split(':').collect::<Vec<_>>()[..] {
                [ty] => CastType::parse(ty).map(|t| whole = Some(t)),
                [field, ty] if !field.trim().is_empty() => {
                    CastType::parse(ty).map(|t| fields.push((field.trim().to_string(), t)))
                }
                _ => Err(format!(
                    "invalid cast spec entry {entry:?}: expected field:type or a single type"
                )),
            };
            if let Err(message) = parsed {
                s.error("spec", message);
            }
        }
        if whole.is_some() && entries.len() > 1 {
            s.error(
                "spec",
                "a spec that casts the whole value may list only that one type",
            );
        }
        if s.failed() {
            return None;
        }
        Some(Cast {
            spec: match whole {
                Some(t) => Spec::Whole(t),
                None => Spec::Fields(fields),
            },
        })
    }

    /// Casts the configured fields (or the whole of `target`).
    pub fn apply(&self, target: &mut Value, part: Part) -> Result<(), RecordError> {
        if target.is_null() {
            return Ok(());
        }
        match &self.spec {
            Spec::Whole(t) => {
                *target = cast_value(target, *t).map_err(|r| RecordError::field(part, None, r))?;
            }
            Spec::Fields(fields) => {
                let map = require_object(target, part, "cast types")?;
                for (field, t) in fields {
                    if let Some(v) = map.get_mut(field) {
                        *v = cast_value(v, *t)
                            .map_err(|r| RecordError::field(part, Some(field), r))?;
                    }
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

    fn cast(spec: &str, mut v: Value) -> Result<Value, RecordError> {
        let t = configure(&[("spec", spec)], Cast::configure).unwrap();
        t.apply(&mut v, Part::Value).map(|()| v)
    }

    #[test]
    fn fields_cast_as_connect_does() {
        let v = json!({"a": "12", "b": 3.9, "c": 300, "d": true, "e": 0.1, "f": "TRUE",
                       "g": 5, "h": null, "keep": "x"});
        let out = cast(
            "a:int32,b:int64,c:int8,d:int16,e:float32,f:boolean,g:string,h:int32,absent:int32",
            v,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"a": 12, "b": 3, "c": 44, "d": 1, "e": 0.1, "f": true, "g": "5",
                   "h": null, "keep": "x"})
        );
    }

    #[test]
    fn numbers_to_boolean_and_text_to_float() {
        let out = cast(
            "a:boolean,b:boolean,c:float64,d:string",
            json!({"a": 0, "b": 2.5, "c": " 1e3 ", "d": 1.5}),
        )
        .unwrap();
        assert_eq!(out, json!({"a": false, "b": true, "c": 1000.0, "d": "1.5"}));
    }

    #[test]
    fn whole_value_cast() {
        assert_eq!(cast("string", json!(42)).unwrap(), json!("42"));
        assert_eq!(cast("int64", Value::Null).unwrap(), Value::Null);
        let e = cast("int32", json!({"a": 1})).unwrap_err();
        assert!(
            e.to_string().contains("an object cannot be cast to int32"),
            "{e}"
        );
    }

    #[test]
    fn bad_text_fails_the_record_naming_the_field() {
        let e = cast("n:int32", json!({"n": "abc"})).unwrap_err();
        assert_eq!(e.to_string(), "field n: the text is not a valid int32");
        assert!(cast("n:int8", json!({"n": "300"})).is_err());
        assert!(cast("n:float64", json!({"n": "NaN"})).is_err());
    }

    #[test]
    fn bad_specs_are_refused() {
        for bad in ["a:uuid", "a:bytes", "a:b:c", "int32,a:int8", ":int8"] {
            let e = configure(&[("spec", bad)], Cast::configure).unwrap_err();
            assert!(e.iter().any(|(k, _)| k.ends_with("spec")), "{bad}: {e:?}");
        }
        assert!(configure(&[], Cast::configure).is_err());
        assert!(configure(&[("spec", "A:Int32")], Cast::configure).is_ok());
    }
}
