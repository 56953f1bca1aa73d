//! A test producer of Confluent's wire format: it turns JsonConverter records (schema
//! envelope) into what Confluent's AvroConverter would have written for the same
//! Connect data: the Avro schema as AvroData derives it, the Avro binary body, and the
//! 5-byte header (magic 0, schema id).

use apache_avro::schema::{Name, ResolvedSchema};
use apache_avro::types::Value as Avro;
use apache_avro::Schema;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Whether Connect logical types also carry Avro's `logicalType` (current AvroData)
/// or only `connect.name` (older AvroData).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogicalStyle {
    /// `connect.name` and `logicalType`.
    Both,
    /// `connect.name` only.
    ConnectNameOnly,
}

/// The Avro type AvroData writes for one Connect schema node.
fn avro_type(connect: &Value, style: LogicalStyle) -> Value {
    let name = connect["name"].as_str();
    let logical = |base: &str, avro_logical: &str| {
        let mut t = json!({"type": base, "connect.version": 1, "connect.name": name});
        if style == LogicalStyle::Both {
            t["logicalType"] = json!(avro_logical);
        }
        t
    };
    let inner = match (connect["type"].as_str().unwrap_or(""), name) {
        ("int64", Some("org.apache.kafka.connect.data.Timestamp")) => {
            logical("long", "timestamp-millis")
        }
        ("int32", Some("org.apache.kafka.connect.data.Date")) => logical("int", "date"),
        ("int32", Some("org.apache.kafka.connect.data.Time")) => logical("int", "time-millis"),
        ("struct", _) => {
            let full = name.unwrap_or("io.confluent.connect.avro.ConnectDefault");
            let (namespace, short) = full.rsplit_once('.').unwrap_or(("", full));
            let fields: Vec<Value> = connect["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| {
                    let mut field = json!({"name": f["field"], "type": avro_type(f, style)});
                    if f["optional"] == json!(true) {
                        field["default"] = Value::Null;
                    }
                    field
                })
                .collect();
            json!({"type": "record", "name": short, "namespace": namespace, "fields": fields})
        }
        ("string", _) => json!("string"),
        ("boolean", _) => json!("boolean"),
        ("int8" | "int16" | "int32", _) => json!("int"),
        ("int64", _) => json!("long"),
        ("float32", _) => json!("float"),
        ("float64" | "double", _) => json!("double"),
        ("bytes", _) => json!("bytes"),
        (other, _) => panic!("no Avro mapping in the test producer for Connect type {other}"),
    };
    if connect["optional"] == json!(true) {
        json!(["null", inner])
    } else {
        inner
    }
}

/// Confluent's wire format: magic byte, big-endian schema id, body.
pub fn wire(id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(0);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Encodes Connect data of one schema as Avro.
pub struct AvroEncoder {
    /// The Avro schema text to register.
    pub schema_text: String,
    schema: Schema,
    names: HashMap<Name, Schema>,
}

impl AvroEncoder {
    /// The encoder for a Connect schema (the `schema` half of a JsonConverter envelope).
    pub fn for_connect_schema(connect: &Value, style: LogicalStyle) -> AvroEncoder {
        let mut root = connect.clone();
        root["optional"] = json!(false);
        let avro = avro_type(&root, style);
        let schema_text = avro.to_string();
        let schema = Schema::parse_str(&schema_text).expect("test producer schema parses");
        let names = ResolvedSchema::try_from(&schema)
            .expect("names resolve")
            .get_names()
            .iter()
            .map(|(n, s)| (n.clone(), (*s).clone()))
            .collect();
        AvroEncoder {
            schema_text,
            schema,
            names,
        }
    }

    fn value(&self, schema: &Schema, json: &Value) -> Avro {
        match schema {
            Schema::Ref { name } => self.value(&self.names[name], json),
            Schema::Union(u) => match json {
                Value::Null => Avro::Union(0, Box::new(Avro::Null)),
                other => Avro::Union(1, Box::new(self.value(&u.variants()[1], other))),
            },
            Schema::Record(r) => Avro::Record(
                r.fields
                    .iter()
                    .map(|f| (f.name.clone(), self.value(&f.schema, &json[&f.name])))
                    .collect(),
            ),
            Schema::Null => Avro::Null,
            Schema::String => Avro::String(json.as_str().expect("a string").to_string()),
            Schema::Boolean => Avro::Boolean(json.as_bool().expect("a boolean")),
            Schema::Int => Avro::Int(json.as_i64().expect("an int") as i32),
            Schema::Long => Avro::Long(json.as_i64().expect("a long")),
            Schema::Float => Avro::Float(json.as_f64().expect("a float") as f32),
            Schema::Double => Avro::Double(json.as_f64().expect("a double")),
            Schema::Date => Avro::Date(json.as_i64().expect("days") as i32),
            Schema::TimeMillis => Avro::TimeMillis(json.as_i64().expect("ms") as i32),
            Schema::TimestampMillis => Avro::TimestampMillis(json.as_i64().expect("ms")),
            other => panic!("the test producer does not write {other:?}"),
        }
    }

    /// The Avro body of a payload (no header).
    pub fn body(&self, payload: &Value) -> Vec<u8> {
        let value = self.value(&self.schema, payload);
        apache_avro::to_avro_datum(&self.schema, value).expect("payload matches its schema")
    }
}
