//! Avro bodies of Confluent's AvroConverter, read into the same JSON values the
//! JsonConverter path produces.
//!
//! The mapping follows what Confluent's AvroData writes: `["null", T]` unions are
//! optional fields, records are structs (compound fields stay JSON objects), enums are
//! their symbol, bytes and fixed are base64 text, maps with string keys are objects and
//! Connect maps with other keys (arrays of `io.confluent.connect.avro.MapEntry`) are
//! `[[key, value], …]` as JsonConverter writes them. Logical types, whether marked by
//! Avro's `logicalType` or only by AvroData's `connect.name`, become what
//! [`super::logical`] makes of Connect's: Date → `YYYY-MM-DD`, Time → `HH:MM:SS.sssZ`,
//! Timestamp → ISO-8601 UTC with milliseconds, Decimal → a JSON number.
//!
//! Decoding itself is apache-avro's (`from_avro_datum` with the writer schema).

use std::collections::HashMap;

use apache_avro::schema::{Name, ResolvedSchema};
use apache_avro::types::Value as Avro;
use apache_avro::Schema;
use base64::Engine as _;
use serde_json::{Map, Number, Value};

use super::avro_bounds;
use super::error::{DecodeError, Part};
use super::logical;
use super::schema::{FieldPath, Step, MAX_DEPTH};

/// AvroData's record name for the entries of a map whose keys are not strings.
const MAP_ENTRY: (&str, &str) = ("io.confluent.connect.avro", "MapEntry");
/// Precision given to a Connect Decimal whose schema does not state one (decoding
/// does not check it; Avro only requires one).
const DEFAULT_PRECISION: u64 = 64;

/// A parsed writer schema with its named types, ready to decode datums.
#[derive(Debug)]
pub struct AvroSchema {
    root: Schema,
    names: HashMap<Name, Schema>,
}

/// Adds the Avro `logicalType` that AvroData's `connect.name` implies, where a schema
/// node has the name and not the logical type (older AvroData wrote only the name).
fn mark_connect_logical_types(node: &mut Value) {
    match node {
        Value::Object(obj) => {
            if !obj.contains_key("logicalType") {
                let name = obj.get("connect.name").and_then(Value::as_str);
                let ty = obj.get("type").and_then(Value::as_str);
                let mark = match (name, ty) {
                    (Some(logical::DATE), Some("int")) => Some("date"),
                    (Some(logical::TIME), Some("int")) => Some("time-millis"),
                    (Some(logical::TIMESTAMP), Some("long")) => Some("timestamp-millis"),
                    (Some(logical::DECIMAL), Some("bytes")) => Some("decimal"),
                    _ => None,
                };
                if mark == Some("decimal") {
                    let params = obj.get("connect.parameters");
                    let param = |key: &str| {
                        params
                            .and_then(|p| p.get(key))
                            .and_then(Value::as_str)
                            .and_then(|v| v.trim().parse::<u64>().ok())
                    };
                    let scale = param("scale");
                    let precision = param("connect.decimal.precision");
                    if let Some(scale) = scale {
                        let precision = precision.unwrap_or(DEFAULT_PRECISION).max(scale).max(1);
                        obj.insert("scale".into(), scale.into());
                        obj.insert("precision".into(), precision.into());
                        obj.insert("logicalType".into(), "decimal".into());
                    }
                } else if let Some(mark) = mark {
                    obj.insert("logicalType".into(), mark.into());
                }
            }
            for child in obj.values_mut() {
                mark_connect_logical_types(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mark_connect_logical_types),
        _ => {}
    }
}

/// The schema kinds whose definitions carry a name and aliases.
const NAMED_KINDS: [&str; 3] = ["record", "enum", "fixed"];

/// Refuses a named type whose `name` or one of whose `aliases` is not a valid Avro
/// name. apache-avro 0.21 panics on such a name instead of returning an error, and the
/// schema text comes from the registry, so it is checked before apache-avro reads it.
/// Walks the places a schema can hold another: unions, `type`, `items`, `values` and
/// `fields` (a field object is read as a schema too).
fn check_names(node: &Value) -> Result<(), String> {
    match node {
        Value::Array(items) => items.iter().try_for_each(check_names),
        Value::Object(obj) => {
            let kind = obj.get("type").and_then(Value::as_str);
            if kind.is_some_and(|kind| NAMED_KINDS.contains(&kind)) {
                let name = obj.get("name").and_then(Value::as_str);
                let aliases = obj
                    .get("aliases")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str);
                for text in name.into_iter().chain(aliases) {
                    if Name::new(text).is_err() {
                        return Err(format!(
                            "{text:?} is not a valid Avro name (letters, digits and _, not starting with a digit, in dot-separated parts)"
                        ));
                    }
                }
            }
            ["type", "items", "values", "fields"]
                .iter()
                .filter_map(|key| obj.get(*key))
                .try_for_each(check_names)
        }
        _ => Ok(()),
    }
}

/// The part of an apache-avro message before its first `:` (what went wrong, not the
/// value it went wrong on: record values carry personal data).
fn short_reason(e: &apache_avro::Error) -> String {
    let text = e.to_string();
    let head = text.split(':').next().unwrap_or("").trim();
    head.chars().take(160).collect()
}

impl AvroSchema {
    /// Parses the registry's schema text.
    pub fn parse(text: &str) -> Result<AvroSchema, String> {
        let mut json: Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
        mark_connect_logical_types(&mut json);
        check_names(&json)?;
        let root = Schema::parse(&json).map_err(|e| short_reason(&e))?;
        let names = ResolvedSchema::try_from(&root)
            .map_err(|e| short_reason(&e))?
            .get_names()
            .iter()
            .map(|(n, s)| (n.clone(), (*s).clone()))
            .collect();
        Ok(AvroSchema { root, names })
    }

    /// Decodes one Avro body (the bytes after the wire-format header) into JSON.
    pub fn decode(&self, body: &[u8], part: Part, id: u32) -> Result<Value, DecodeError> {
        avro_bounds::check(&self.root, |name| self.resolve(name), body, part, id)?;
        let mut rest = body;
        let datum = apache_avro::from_avro_datum(&self.root, &mut rest, None).map_err(|e| {
            DecodeError::AvroBody {
                part,
                id,
                reason: short_reason(&e),
            }
        })?;
        if !rest.is_empty() {
            return Err(DecodeError::AvroBody {
                part,
                id,
                reason: format!("{} bytes follow the end of the datum", rest.len()),
            });
        }
        let mut path = FieldPath::new();
        self.convert(&self.root, datum, part, &mut path, 0)
    }

    /// The named type `name` refers to.
    fn resolve<'s>(&'s self, name: &Name) -> Option<&'s Schema> {
        self.names.get(name).or_else(|| {
            let mut same = self.names.iter().filter(|(n, _)| n.name == name.name);
            match (same.next(), same.next()) {
                (Some((_, s)), None) => Some(s),
                _ => None,
            }
        })
    }

    fn convert<'s>(
        &'s self,
        schema: &'s Schema,
        value: Avro,
        part: Part,
        path: &mut FieldPath<'s>,
        depth: usize,
    ) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep {
                part,
                limit: MAX_DEPTH,
            });
        }
        let schema = match schema {
            Schema::Ref { name } => {
                self.resolve(name)
                    .ok_or_else(|| DecodeError::InvalidSchema {
                        part,
                        path: path.render(),
                        reason: format!(
                            "the Avro schema names a type {} it does not define",
                            name.name
                        ),
                    })?
            }
            other => other,
        };
        Ok(match value {
            Avro::Null => Value::Null,
            Avro::Boolean(b) => Value::Bool(b),
            Avro::Int(i) => Value::Number(i.into()),
            Avro::Long(l) => Value::Number(l.into()),
            Avro::Float(f) => {
                // The shortest text that reads back as this f32, as JSON would carry it.
                let widened = format!("{f}").parse::<f64>().unwrap_or(f as f64);
                finite(widened, path)?
            }
            Avro::Double(d) => finite(d, path)?,
            Avro::Bytes(b) | Avro::Fixed(_, b) => {
                Value::String(base64::engine::general_purpose::STANDARD.encode(b))
            }
            Avro::String(s) => Value::String(s),
            Avro::Uuid(u) => Value::String(u.to_string()),
            Avro::Enum(_, symbol) => Value::String(symbol),
            Avro::Union(index, inner) => {
                let Schema::Union(union) = schema else {
                    return Err(mismatch(path, "a union"));
                };
                let variant = union
                    .variants()
                    .get(index as usize)
                    .ok_or_else(|| mismatch(path, "a union branch"))?;
                self.convert(variant, *inner, part, path, depth)?
            }
            Avro::Array(items) => {
                let Schema::Array(array) = schema else {
                    return Err(mismatch(path, "an array"));
                };
                let item_schema = match &*array.items {
                    Schema::Ref { name } => self.resolve(name).unwrap_or(&*array.items),
                    other => other,
                };
                let map_entries = matches!(item_schema, Schema::Record(r)
                    if r.name.name == MAP_ENTRY.1
                        && r.name.namespace.as_deref() == Some(MAP_ENTRY.0));
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    path.push(Step::Index(i));
                    let converted = self.convert(item_schema, item, part, path, depth + 1)?;
                    path.pop();
                    out.push(match converted {
                        Value::Object(mut entry) if map_entries => Value::Array(vec![
                            entry.remove("key").unwrap_or(Value::Null),
                            entry.remove("value").unwrap_or(Value::Null),
                        ]),
                        other => other,
                    });
                }
                Value::Array(out)
            }
            Avro::Map(entries) => {
                let Schema::Map(map) = schema else {
                    return Err(mismatch(path, "a map"));
                };
                // Avro maps are unordered; keys are sorted so output is stable.
                let mut entries: Vec<(String, Avro)> = entries.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                let mut out = Map::with_capacity(entries.len());
                for (k, v) in entries {
                    let converted = self.convert(&map.types, v, part, path, depth + 1)?;
                    out.insert(k, converted);
                }
                Value::Object(out)
            }
            Avro::Record(fields) => {
                let Schema::Record(record) = schema else {
                    return Err(mismatch(path, "a record"));
                };
                let mut out = Map::with_capacity(fields.len());
                for ((name, v), field) in fields.into_iter().zip(&record.fields) {
                    path.push(Step::Field(&field.name));
                    let converted = self.convert(&field.schema, v, part, path, depth + 1)?;
                    path.pop();
                    out.insert(name, converted);
                }
                Value::Object(out)
            }
            Avro::Date(days) => Value::String(
                logical::date_from_days(days.into())
                    .map_err(|r| bad_logical(logical::DATE, r, &*path))?,
            ),
            Avro::TimeMillis(ms) => Value::String(
                logical::time_from_millis(ms.into())
                    .map_err(|r| bad_logical(logical::TIME, r, &*path))?,
            ),
            Avro::TimeMicros(us) => Value::String(
                logical::time_from_millis(us.div_euclid(1000))
                    .map_err(|r| bad_logical(logical::TIME, r, &*path))?,
            ),
            Avro::TimestampMillis(ms) | Avro::LocalTimestampMillis(ms) => Value::String(
                logical::timestamp_from_millis(ms)
                    .map_err(|r| bad_logical(logical::TIMESTAMP, r, &*path))?,
            ),
            Avro::TimestampMicros(us) | Avro::LocalTimestampMicros(us) => Value::String(
                logical::timestamp_from_millis(us.div_euclid(1000))
                    .map_err(|r| bad_logical(logical::TIMESTAMP, r, &*path))?,
            ),
            Avro::TimestampNanos(ns) | Avro::LocalTimestampNanos(ns) => Value::String(
                logical::timestamp_from_millis(ns.div_euclid(1_000_000))
                    .map_err(|r| bad_logical(logical::TIMESTAMP, r, &*path))?,
            ),
            Avro::Decimal(decimal) => {
                let Schema::Decimal(d) = schema else {
                    return Err(mismatch(path, "a decimal"));
                };
                let bytes = <Vec<u8>>::try_from(&decimal)
                    .map_err(|e| bad_logical(logical::DECIMAL, short_reason(&e), &*path))?;
                logical::decimal_value(&bytes, d.scale.min(i32::MAX as usize) as i32)
                    .map_err(|r| bad_logical(logical::DECIMAL, r, &*path))?
            }
            Avro::BigDecimal(_) | Avro::Duration(_) => {
                return Err(DecodeError::SchemaMismatch {
                    field: path.render(),
                    expected: "a type Salesforce fields can hold".into(),
                    found: "an Avro big-decimal or duration, which this sink does not convert"
                        .into(),
                })
            }
        })
    }
}

fn bad_logical(logical: &'static str, reason: String, path: &FieldPath<'_>) -> DecodeError {
    DecodeError::BadLogicalValue {
        field: path.render(),
        logical,
        reason,
    }
}

fn finite(f: f64, path: &FieldPath<'_>) -> Result<Value, DecodeError> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| DecodeError::SchemaMismatch {
            field: path.render(),
            expected: "a finite number".into(),
            found: "NaN or an infinity".into(),
        })
}

fn mismatch(path: &FieldPath<'_>, expected: &str) -> DecodeError {
    DecodeError::SchemaMismatch {
        field: path.render(),
        expected: expected.into(),
        found: "a value of another Avro type".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn encode(schema: &str, value: Avro) -> Vec<u8> {
        let schema = Schema::parse_str(schema).unwrap();
        apache_avro::to_avro_datum(&schema, value).unwrap()
    }

    #[test]
    fn connect_names_alone_mark_logical_types() {
        let schema = r#"{"type":"record","name":"R","fields":[
            {"name":"D","type":{"type":"int","connect.name":"org.apache.kafka.connect.data.Date"}},
            {"name":"T","type":{"type":"long","connect.name":"org.apache.kafka.connect.data.Timestamp"}},
            {"name":"M","type":{"type":"int","connect.name":"org.apache.kafka.connect.data.Time"}},
            {"name":"N","type":{"type":"bytes","connect.name":"org.apache.kafka.connect.data.Decimal",
                               "connect.parameters":{"scale":"2"}}}]}"#;
        let parsed = AvroSchema::parse(schema).unwrap();
        // Written as the plain types they are on the wire.
        let plain = r#"{"type":"record","name":"R","fields":[
            {"name":"D","type":"int"},{"name":"T","type":"long"},
            {"name":"M","type":"int"},{"name":"N","type":"bytes"}]}"#;
        let body = encode(
            plain,
            Avro::Record(vec![
                ("D".into(), Avro::Int(20_419)),
                ("T".into(), Avro::Long(1_764_201_600_123)),
                ("M".into(), Avro::Int(3_600_001)),
                ("N".into(), Avro::Bytes(vec![0x30, 0x39])),
            ]),
        );
        let v = parsed.decode(&body, Part::Value, 1).unwrap();
        assert_eq!(
            v,
            json!({"D": "2025-11-27", "T": "2025-11-27T00:00:00.123Z",
                   "M": "01:00:00.001Z", "N": 123.45})
        );
    }

    #[test]
    fn plain_avro_logical_types_unions_enums_maps_and_arrays() {
        let schema = r#"{"type":"record","name":"Lead","namespace":"x","fields":[
            {"name":"Opt","type":["null","string"],"default":null},
            {"name":"Gone","type":["null","string"],"default":null},
            {"name":"Micros","type":{"type":"long","logicalType":"timestamp-micros"}},
            {"name":"Dec","type":{"type":"fixed","name":"F","size":3,"logicalType":"decimal","precision":6,"scale":3}},
            {"name":"Rating","type":{"type":"enum","name":"Rating","symbols":["Hot","Cold"]}},
            {"name":"Tags","type":{"type":"array","items":"string"}},
            {"name":"Scores","type":{"type":"map","values":"float"}},
            {"name":"Addr","type":["null",{"type":"record","name":"Address","fields":[
                {"name":"City","type":"string"}]}]},
            {"name":"Again","type":["null","Address"]},
            {"name":"Raw","type":"bytes"}]}"#;
        let parsed = AvroSchema::parse(schema).unwrap();
        let body = encode(
            schema,
            Avro::Record(vec![
                (
                    "Opt".into(),
                    Avro::Union(1, Box::new(Avro::String("x".into()))),
                ),
                ("Gone".into(), Avro::Union(0, Box::new(Avro::Null))),
                (
                    "Micros".into(),
                    Avro::TimestampMicros(1_764_201_600_123_999),
                ),
                (
                    "Dec".into(),
                    Avro::Decimal(apache_avro::Decimal::from(vec![0xFF, 0xFF, 0x85])),
                ),
                ("Rating".into(), Avro::Enum(1, "Cold".into())),
                ("Tags".into(), Avro::Array(vec![Avro::String("a".into())])),
                (
                    "Scores".into(),
                    Avro::Map(
                        [
                            ("b".to_string(), Avro::Float(1.1)),
                            ("a".to_string(), Avro::Float(2.5)),
                        ]
                        .into_iter()
                        .collect(),
                    ),
                ),
                (
                    "Addr".into(),
                    Avro::Union(
                        1,
                        Box::new(Avro::Record(vec![(
                            "City".into(),
                            Avro::String("Leeds".into()),
                        )])),
                    ),
                ),
                (
                    "Again".into(),
                    Avro::Union(
                        1,
                        Box::new(Avro::Record(vec![(
                            "City".into(),
                            Avro::String("York".into()),
                        )])),
                    ),
                ),
                ("Raw".into(), Avro::Bytes(vec![0, 1])),
            ]),
        );
        let v = parsed.decode(&body, Part::Value, 1).unwrap();
        assert_eq!(
            v,
            json!({"Opt": "x", "Gone": null, "Micros": "2025-11-27T00:00:00.123Z",
                   "Dec": -0.123, "Rating": "Cold", "Tags": ["a"],
                   "Scores": {"a": 2.5, "b": 1.1}, "Addr": {"City": "Leeds"},
                   "Again": {"City": "York"}, "Raw": "AAE="})
        );
        assert_eq!(
            v.as_object().unwrap().keys().next().map(String::as_str),
            Some("Opt")
        );
    }

    #[test]
    fn connect_maps_with_other_keys_read_as_pairs() {
        let schema = r#"{"type":"record","name":"R","fields":[{"name":"M","type":{"type":"array",
            "items":{"type":"record","name":"MapEntry","namespace":"io.confluent.connect.avro",
                     "fields":[{"name":"key","type":"int"},{"name":"value","type":"string"}]}}}]}"#;
        let parsed = AvroSchema::parse(schema).unwrap();
        let entry = Avro::Record(vec![
            ("key".into(), Avro::Int(1)),
            ("value".into(), Avro::String("x".into())),
        ]);
        let body = encode(
            schema,
            Avro::Record(vec![("M".into(), Avro::Array(vec![entry]))]),
        );
        assert_eq!(
            parsed.decode(&body, Part::Value, 1).unwrap(),
            json!({"M": [[1, "x"]]})
        );
    }

    #[test]
    fn short_and_long_bodies_are_errors_naming_the_schema_id() {
        let schema = r#"{"type":"record","name":"R","fields":[{"name":"A","type":"string"},{"name":"B","type":"long"}]}"#;
        let parsed = AvroSchema::parse(schema).unwrap();
        let mut body = encode(
            schema,
            Avro::Record(vec![
                ("A".into(), Avro::String("secret-value".into())),
                ("B".into(), Avro::Long(5)),
            ]),
        );
        let e = parsed.decode(&body[..3], Part::Value, 9).unwrap_err();
        assert!(matches!(e, DecodeError::AvroBody { id: 9, .. }), "{e}");
        assert!(!e.to_string().contains("secret"), "{e}");
        body.push(0);
        let e = parsed.decode(&body, Part::Value, 9).unwrap_err();
        assert!(e.to_string().contains("1 bytes follow"), "{e}");
    }

    #[test]
    fn schema_text_that_is_not_avro_is_refused() {
        assert!(AvroSchema::parse("{").is_err());
    }

    /// Found by the `record_avro` fuzz target: apache-avro panicked on these names.
    #[test]
    fn invalid_names_and_aliases_are_refused_without_a_panic() {
        let cases = [
            // The fuzzer's find: a record name with a non-ASCII letter.
            r#"{"type":"record","name":"Amouønts","fields":[]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"f","type":{"type":"fixed","name":"","size":1}}]}"#,
            r#"{"type":"record","name":"R","aliases":["not a name"],"fields":[]}"#,
            // A field object is read as a schema, aliases included.
            r#"{"type":"record","name":"R","fields":[{"name":"f","type":"enum","symbols":["A"],"aliases":["1st"]}]}"#,
            r#"["null",{"type":"enum","name":"E","symbols":["A"],"aliases":["x.y-z"]}]"#,
            r#"{"type":"array","items":{"type":"map","values":{"type":"fixed","name":"a b","size":2}}}"#,
        ];
        for text in cases {
            let err = AvroSchema::parse(text).expect_err(text);
            assert!(err.contains("is not a valid Avro name"), "{text}: {err}");
        }
        let fine = r#"{"type":"record","name":"ns.R","aliases":["Old","a.b.C"],"fields":[
            {"name":"f","type":{"type":"enum","name":"E","symbols":["A"],"aliases":["F"]}}]}"#;
        assert!(AvroSchema::parse(fine).is_ok());
        assert!(AvroSchema::parse(r#"{"type":"record","name":"R"}"#).is_err());
    }
}
