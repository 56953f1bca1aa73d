//! Turns the raw key and value bytes of one Kafka record into a [`SinkRecord`].
//!
//! Values are JsonConverter JSON, with or without the `{"schema", "payload"}` envelope,
//! or Confluent wire-format records (AvroConverter: an Avro body read with its writer
//! schema; JsonSchemaConverter: a JSON body read like schemaless JSON). Keys are any of
//! those (a struct with `Id`, a string or null), StringConverter text, or
//! ByteArrayConverter bytes (never read for an `Id`). JSON parsing uses simd-json on a
//! reused scratch copy of the bytes (simd-json parses in place), then walks the tape
//! once into `serde_json` values. An envelope whose schema text was seen before has
//! only its payload parsed (see `schema_cache`). Writer schemas come from the registry beforehand, in
//! a [`BatchSchemas`].

use std::borrow::Cow;
use std::cell::RefCell;

use serde_json::{Map, Value};
use simd_json::prelude::*;
use simd_json::tape::Value as TapeValue;
use simd_json::{Buffers, Tape};

use super::avro::AvroSchema;
use super::error::{DecodeError, Part};
use super::fields::Fields;
use super::registry::{BatchSchemas, Lookup, WriterSchema};
use super::schema::{kind_of, plain, FieldPath, SchemaWalker};
use super::schema_cache;
use super::wire;
use super::{EventType, RecordCoords, SinkRecord};
use crate::config::converter::{ConverterClass, DecimalFormat};
use crate::config::ConnectorConfig;

/// How record bytes are to be read; built from the connector's converter settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// `key.converter`.
    pub key_converter: ConverterClass,
    /// `value.converter`: JsonConverter, AvroConverter or JsonSchemaConverter.
    pub value_converter: ConverterClass,
    /// `key.converter.schemas.enable`.
    pub key_schemas_enable: bool,
    /// `value.converter.schemas.enable`.
    pub value_schemas_enable: bool,
    /// `value.converter.decimal.format` (both forms are read either way).
    pub decimal_format: DecimalFormat,
}

impl Default for DecodeOptions {
    /// Kafka Connect's defaults: JsonConverter with schemas on both sides.
    fn default() -> Self {
        DecodeOptions {
            key_converter: ConverterClass::Json,
            value_converter: ConverterClass::Json,
            key_schemas_enable: true,
            value_schemas_enable: true,
            decimal_format: DecimalFormat::Base64,
        }
    }
}

impl DecodeOptions {
    /// The options a connector configuration asks for.
    pub fn from_config(config: &ConnectorConfig) -> Self {
        DecodeOptions {
            key_converter: config.key_converter.class,
            value_converter: config.value_converter.class,
            key_schemas_enable: config.key_converter.schemas_enable,
            value_schemas_enable: config.value_converter.schemas_enable,
            decimal_format: config.value_converter.decimal_format,
        }
    }
}

/// One Kafka record as read from the consumer, before decoding.
#[derive(Debug, Clone)]
pub struct RawRecord<'a> {
    /// Topic, partition, offset.
    pub coords: RecordCoords,
    /// Kafka timestamp (epoch ms).
    pub timestamp: Option<i64>,
    /// Key bytes; `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// Value bytes; `None` for a tombstone.
    pub value: Option<&'a [u8]>,
}

/// Per-thread parse scratch space, reused so steady-state decoding does not allocate
/// parser buffers per record.
struct Scratch {
    input: Vec<u8>,
    buffers: Buffers,
    /// For an envelope's payload parsed on its own: one level less deep than a whole
    /// record may go, since the payload sits inside the envelope.
    payload_buffers: Buffers,
    /// The node vector of the last parse, kept empty between parses.
    tape: Option<Tape<'static>>,
}

impl Scratch {
    fn new(capacity: usize) -> Self {
        Scratch {
            input: Vec::with_capacity(capacity),
            buffers: Buffers::new(capacity),
            payload_buffers: Buffers::with_max_depth(capacity, simd_json::DEFAULT_MAX_DEPTH - 1),
            tape: None,
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::new(8192));
}

/// What is being parsed: a whole record part, or an envelope's payload on its own.
#[derive(Clone, Copy, PartialEq)]
enum Parsed {
    Whole,
    Payload,
}

/// Parses `bytes` and runs `f` on the root of the tape.
fn with_tape<T>(
    bytes: &[u8],
    part: Part,
    f: impl FnOnce(TapeValue<'_, '_>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    parse(bytes, part, Parsed::Whole, f)
}

/// Parses `bytes` (as a whole part, or as an envelope's payload, which may nest one
/// level less) and runs `f` on the root of the tape.
fn parse<T>(
    bytes: &[u8],
    part: Part,
    what: Parsed,
    f: impl FnOnce(TapeValue<'_, '_>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let run = |scratch: &mut Scratch| {
        scratch.input.clear();
        scratch.input.extend_from_slice(bytes);
        // `reset` empties the tape, so it borrows nothing while stored as 'static.
        let mut tape = scratch.tape.take().unwrap_or_else(Tape::null).reset();
        let buffers = match what {
            Parsed::Whole => &mut scratch.buffers,
            Parsed::Payload => &mut scratch.payload_buffers,
        };
        let parsed = simd_json::fill_tape(&mut scratch.input, buffers, &mut tape).map_err(|e| {
            DecodeError::NotJson {
                part,
                position: e.index(),
                reason: format!("{:?}", e.error()),
            }
        });
        let result = parsed.and_then(|()| f(tape.as_value()));
        scratch.tape = Some(tape.reset());
        result
    };
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => run(&mut scratch),
        // Only reachable if a caller nests decodes on one thread; use fresh buffers.
        Err(_) => run(&mut Scratch::new(bytes.len())),
    })
}

/// Splits a JsonConverter envelope into `(schema, payload)`; exactly those two keys,
/// as Connect requires.
fn envelope<'t, 'i>(
    root: TapeValue<'t, 'i>,
    part: Part,
) -> Result<(TapeValue<'t, 'i>, TapeValue<'t, 'i>), DecodeError> {
    let missing = DecodeError::MissingEnvelope { part };
    let obj = root.as_object().ok_or(missing.clone())?;
    if obj.len() != 2 {
        return Err(missing);
    }
    match (obj.get("schema"), obj.get("payload")) {
        (Some(schema), Some(payload)) => Ok((schema, payload)),
        _ => Err(missing),
    }
}

/// Receives the top-level fields of a record value, in record order.
trait FieldSink: Default {
    /// Room for `n` fields.
    fn reserve(&mut self, n: usize);
    /// One field.
    fn accept(&mut self, name: &str, value: Value) -> Result<(), DecodeError>;
    /// One field whose name a learned schema holds for the life of the process.
    fn accept_shared(&mut self, name: &'static str, value: Value) -> Result<(), DecodeError> {
        self.accept(name, value)
    }
    /// One field of a JSON object already read, whose names are unique and owned.
    fn accept_owned(&mut self, name: String, value: Value) -> Result<(), DecodeError> {
        self.accept(&name, value)
    }
}

/// The value as one untouched object (what transforms work on).
impl FieldSink for Map<String, Value> {
    fn reserve(&mut self, n: usize) {
        *self = Map::with_capacity(n);
    }

    fn accept(&mut self, name: &str, value: Value) -> Result<(), DecodeError> {
        self.insert(name.to_string(), value);
        Ok(())
    }

    fn accept_owned(&mut self, name: String, value: Value) -> Result<(), DecodeError> {
        self.insert(name, value);
        Ok(())
    }
}

/// The record's row fields plus the three routed metadata fields.
#[derive(Default)]
struct Row {
    id: Option<String>,
    object_type: Option<String>,
    /// `_EventType` as given; read once the whole value is seen (see [`Row::event_type`]).
    event_text: Option<String>,
    fields: Fields,
    /// Whether a name came from elsewhere than a learned schema (whose names are
    /// unique), so that two fields may share it.
    names_unchecked: bool,
}

impl Row {
    /// Completes the row once every field is in (a name given twice keeps its last
    /// value) and reads the record's `_EventType`. A Change Data Capture event (a
    /// value with a `ChangeEventHeader` struct) carries an event schema id there
    /// instead, so it is kept among the fields for the CDC reader rather than read as
    /// a PushTopic event.
    fn finish(&mut self) -> Result<Option<EventType>, DecodeError> {
        if self.names_unchecked {
            self.fields.settle_duplicates();
        }
        let Some(text) = self.event_text.take() else {
            return Ok(None);
        };
        if self
            .fields
            .get(super::cdc::HEADER_FIELD)
            .is_some_and(Value::is_object)
        {
            self.fields.insert("_EventType", Value::String(text));
            return Ok(None);
        }
        parse_event_type(&text).map(Some)
    }
}

impl Row {
    /// Routes `Id`, `_ObjectType` and `_EventType` to their own places.
    fn route(&mut self, name: &str, value: Value) -> Result<Option<Value>, DecodeError> {
        match name {
            "Id" => self.id = metadata_string(name, value)?,
            "_ObjectType" => self.object_type = metadata_string(name, value)?,
            "_EventType" => self.event_text = metadata_string(name, value)?,
            _ => return Ok(Some(value)),
        }
        Ok(None)
    }
}

impl FieldSink for Row {
    fn reserve(&mut self, n: usize) {
        self.fields = Fields::with_capacity(n);
    }

    fn accept(&mut self, name: &str, value: Value) -> Result<(), DecodeError> {
        if let Some(value) = self.route(name, value)? {
            self.names_unchecked = true;
            self.fields.push(Cow::Owned(name.to_string()), value);
        }
        Ok(())
    }

    fn accept_shared(&mut self, name: &'static str, value: Value) -> Result<(), DecodeError> {
        if let Some(value) = self.route(name, value)? {
            self.fields.push(Cow::Borrowed(name), value);
        }
        Ok(())
    }

    fn accept_owned(&mut self, name: String, value: Value) -> Result<(), DecodeError> {
        if let Some(value) = self.route(&name, value)? {
            self.fields.push(Cow::Owned(name), value);
        }
        Ok(())
    }
}

fn metadata_string(name: &str, value: Value) -> Result<Option<String>, DecodeError> {
    match value {
        Value::String(s) => Ok(Some(s)),
        Value::Null => Ok(None),
        other => Err(DecodeError::SchemaMismatch {
            field: name.to_string(),
            expected: "a string".into(),
            found: json_kind(&other).into(),
        }),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `created`, `updated`, `deleted`, `undeleted` (any case).
pub fn parse_event_type(text: &str) -> Result<EventType, DecodeError> {
    let t = text.trim();
    for (name, ev) in [
        ("created", EventType::Created),
        ("updated", EventType::Updated),
        ("deleted", EventType::Deleted),
        ("undeleted", EventType::Undeleted),
    ] {
        if t.eq_ignore_ascii_case(name) {
            return Ok(ev);
        }
    }
    Err(DecodeError::UnknownEventType {
        value: text.chars().take(40).collect(),
    })
}

/// The writer schema a record names, as the registry described it.
fn writer_schema(
    schemas: &BatchSchemas,
    part: Part,
    id: u32,
) -> Result<&WriterSchema, DecodeError> {
    match schemas.get(part, id) {
        Some(Lookup::Found(schema)) => Ok(schema.as_ref()),
        Some(Lookup::Unusable(reason)) => Err(DecodeError::UnusableSchema {
            part,
            id,
            reason: reason.clone(),
        }),
        // Not fetched for this batch counts as unknown: nothing else vouches for it.
        Some(Lookup::Missing) | None => Err(DecodeError::UnknownSchemaId { part, id }),
    }
}

/// The Avro writer schema of an AvroConverter record, and its body.
fn avro_body<'a, 's>(
    bytes: &'a [u8],
    part: Part,
    schemas: &'s BatchSchemas,
) -> Result<(u32, &'s AvroSchema, &'a [u8]), DecodeError> {
    let (id, body) = wire::split(bytes, part, ConverterClass::Avro.class_name())?;
    match writer_schema(schemas, part, id)? {
        WriterSchema::Avro(schema) => Ok((id, &**schema, body)),
        WriterSchema::Json => Err(DecodeError::UnusableSchema {
            part,
            id,
            reason: "it is a JSON schema, not an Avro one".into(),
        }),
    }
}

/// The JSON body of a JsonSchemaConverter record, once its schema id is known.
fn json_schema_body<'a>(
    bytes: &'a [u8],
    part: Part,
    schemas: &BatchSchemas,
) -> Result<&'a [u8], DecodeError> {
    let (id, body) = wire::split(bytes, part, ConverterClass::JsonSchema.class_name())?;
    writer_schema(schemas, part, id)?;
    Ok(body)
}

/// The fields of a JSON value that is already converted (Avro bodies).
fn row_of<S: FieldSink>(value: Value, part: Part) -> Result<S, DecodeError> {
    match value {
        Value::Null => Err(DecodeError::Tombstone),
        Value::Object(obj) => {
            let mut row = S::default();
            row.reserve(obj.len());
            for (k, v) in obj {
                row.accept_owned(k, v)?;
            }
            Ok(row)
        }
        other => Err(DecodeError::NotAnObject {
            part,
            found: json_kind(&other),
        }),
    }
}

fn decode_value<S: FieldSink>(
    bytes: &[u8],
    opts: &DecodeOptions,
    schemas: &BatchSchemas,
) -> Result<S, DecodeError> {
    let part = Part::Value;
    match opts.value_converter {
        ConverterClass::Avro => {
            let (id, schema, body) = avro_body(bytes, part, schemas)?;
            row_of(schema.decode(body, part, id)?, part)
        }
        ConverterClass::JsonSchema => {
            decode_json_value(json_schema_body(bytes, part, schemas)?, false)
        }
        _ => decode_json_value(bytes, opts.value_schemas_enable),
    }
}

fn decode_json_value<S: FieldSink>(bytes: &[u8], schemas_enable: bool) -> Result<S, DecodeError> {
    if !schemas_enable {
        return decode_json_in_full(bytes, false);
    }
    if let Some((schema, payload)) = schema_cache::split(bytes) {
        // Any failure is reported as the whole envelope's, by the full decode.
        if let Ok(row) = parse(payload, Part::Value, Parsed::Payload, |payload| {
            let mut row = S::default();
            let fields = schema.fields();
            row.reserve(fields.len());
            // The walk hands the fields over in the schema's order, so the k-th name
            // is the learned schema's k-th, which lives as long as the process.
            let mut shared = fields.iter().map(|field| field.name());
            SchemaWalker { part: Part::Value }.walk_compiled(
                fields,
                payload,
                &mut FieldPath::new(),
                &mut |name, value| match shared.next() {
                    Some(learned) if std::ptr::eq(learned, name) => {
                        row.accept_shared(learned, value)
                    }
                    _ => row.accept(name, value),
                },
            )?;
            Ok(row)
        }) {
            return Ok(row);
        }
        return decode_json_in_full(bytes, true);
    }
    let row = decode_json_in_full(bytes, true)?;
    schema_cache::learn(bytes);
    Ok(row)
}

/// Converts an envelope's payload as its Connect schema says.
fn walk_payload<'t, 'i, S: FieldSink>(
    schema: TapeValue<'t, 'i>,
    payload: TapeValue<'t, 'i>,
) -> Result<S, DecodeError> {
    let part = Part::Value;
    let walker = SchemaWalker { part };
    let fields = walker
        .root_struct_fields(schema)?
        .ok_or(DecodeError::NotAnObject {
            part,
            found: "not a Connect struct",
        })?;
    let mut row = S::default();
    row.reserve(fields.map_or(0, |f| f.len()));
    let mut path = FieldPath::new();
    walker.walk_struct(&fields, payload, &mut path, 0, &mut |name, value| {
        row.accept(name, value)
    })?;
    Ok(row)
}

/// Parses the whole value, envelope and all, and converts it.
fn decode_json_in_full<S: FieldSink>(bytes: &[u8], schemas_enable: bool) -> Result<S, DecodeError> {
    let part = Part::Value;
    with_tape(bytes, part, |root| {
        let mut row = S::default();
        let (schema, payload) = if schemas_enable {
            envelope(root, part)?
        } else {
            (TapeValue::null(), root)
        };
        if payload.is_null() {
            return Err(DecodeError::Tombstone);
        }
        if schema.is_null() {
            // Schemaless: the bare payload object, values as they are.
            let obj = payload.as_object().ok_or(DecodeError::NotAnObject {
                part,
                found: kind_of(&payload),
            })?;
            row.reserve(obj.len());
            for (k, v) in obj.iter() {
                row.accept(k, plain(v, part, 1)?)?;
            }
            return Ok(row);
        }
        walk_payload(schema, payload)
    })
}

/// The `Id` a decoded key carries: the key itself when a string, its `Id` field when
/// a struct, none when null.
pub fn key_id(key: Value) -> Result<Option<String>, DecodeError> {
    match key {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Object(mut obj) => match obj.remove("Id") {
            None => Ok(None),
            Some(id) => metadata_string("Id", id).map_err(|_| DecodeError::SchemaMismatch {
                field: "key Id".into(),
                expected: "a string".into(),
                found: "another JSON type".into(),
            }),
        },
        other => Err(DecodeError::SchemaMismatch {
            field: "(key)".into(),
            expected: "a struct with Id, a string or null".into(),
            found: json_kind(&other).into(),
        }),
    }
}

/// The key as a JSON value: `null` for an empty StringConverter key, and for a
/// ByteArrayConverter key (opaque bytes carry no Id).
pub fn decode_key_value(
    bytes: &[u8],
    opts: &DecodeOptions,
    schemas: &BatchSchemas,
) -> Result<Value, DecodeError> {
    let part = Part::Key;
    match opts.key_converter {
        ConverterClass::String => {
            let text = std::str::from_utf8(bytes).map_err(|_| DecodeError::NotUtf8 { part })?;
            Ok(if text.is_empty() {
                Value::Null
            } else {
                Value::String(text.to_string())
            })
        }
        ConverterClass::ByteArray => Ok(Value::Null),
        ConverterClass::Avro => {
            let (id, schema, body) = avro_body(bytes, part, schemas)?;
            schema.decode(body, part, id)
        }
        ConverterClass::JsonSchema => {
            let body = json_schema_body(bytes, part, schemas)?;
            with_tape(body, part, |root| plain(root, part, 0))
        }
        ConverterClass::Json => with_tape(bytes, part, |root| {
            if opts.key_schemas_enable {
                let (schema, payload) = envelope(root, part)?;
                if schema.is_null() {
                    plain(payload, part, 0)
                } else {
                    SchemaWalker { part }.convert(schema, payload, &mut FieldPath::new(), 0)
                }
            } else {
                plain(root, part, 0)
            }
        }),
    }
}

/// The `Id` a key carries, if any.
fn decode_key(
    bytes: &[u8],
    opts: &DecodeOptions,
    schemas: &BatchSchemas,
) -> Result<Option<String>, DecodeError> {
    key_id(decode_key_value(bytes, opts, schemas)?)
}

/// The value as one JSON object with every field (metadata included), in the form
/// [`decode`] reads it: schemaless, logical types converted. A tombstone (no value, a
/// null value or a null payload) is `null`.
pub fn decode_value_object(
    value: Option<&[u8]>,
    opts: &DecodeOptions,
    schemas: &BatchSchemas,
) -> Result<Value, DecodeError> {
    let Some(bytes) = value else {
        return Ok(Value::Null);
    };
    match decode_value::<Map<String, Value>>(bytes, opts, schemas) {
        Ok(map) => Ok(Value::Object(map)),
        Err(DecodeError::Tombstone) => Ok(Value::Null),
        Err(e) => Err(e),
    }
}

/// Builds the record from a value object such as [`decode_value_object`] returns
/// (after transforms, say): `Id`, `_ObjectType` and `_EventType` are routed as in
/// [`decode`]; `key_id` supplies the `Id` when the value has none.
pub fn assemble(
    coords: RecordCoords,
    timestamp: Option<i64>,
    value: Value,
    key_id: impl FnOnce() -> Result<Option<String>, DecodeError>,
) -> Result<SinkRecord, DecodeError> {
    let mut row: Row = row_of(value, Part::Value)?;
    let event_type = row.finish()?;
    let id = match row.id {
        Some(id) => Some(id),
        None => key_id()?,
    };
    Ok(SinkRecord {
        coords,
        timestamp,
        id,
        object_type: row.object_type,
        event_type,
        fields: row.fields,
    })
}

/// Decodes one JsonConverter/StringConverter record (no registry involved). The
/// value's `Id` wins; without one, the key's is used. A missing `Id` is not an error
/// here (an insert does not need one).
pub fn decode(raw: RawRecord<'_>, opts: &DecodeOptions) -> Result<SinkRecord, DecodeError> {
    decode_with(raw, opts, &BatchSchemas::default())
}

/// Like [`decode`], for any converter: wire-format records find their writer schema
/// in `schemas`, fetched beforehand (see [`super::RecordConverters`]).
pub fn decode_with(
    raw: RawRecord<'_>,
    opts: &DecodeOptions,
    schemas: &BatchSchemas,
) -> Result<SinkRecord, DecodeError> {
    let value = raw.value.ok_or(DecodeError::Tombstone)?;
    let mut row: Row = decode_value(value, opts, schemas)?;
    let event_type = row.finish()?;
    let id = match row.id {
        Some(id) => Some(id),
        None => match raw.key {
            Some(key) => decode_key(key, opts, schemas)?,
            None => None,
        },
    };
    Ok(SinkRecord {
        coords: raw.coords,
        timestamp: raw.timestamp,
        id,
        object_type: row.object_type,
        event_type,
        fields: row.fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    const CREATED: &str = include_str!("../../tests/fixtures/lead-created.schema.json");
    const KEY: &str = include_str!("../../tests/fixtures/lead-key.schema.json");
    const UPDATED: &str = include_str!("../../tests/fixtures/lead-updated.plain.json");
    const DELETED: &str = include_str!("../../tests/fixtures/lead-deleted.plain.json");

    fn coords() -> RecordCoords {
        RecordCoords {
            topic: Arc::from("leads"),
            partition: 0,
            offset: 7,
        }
    }

    fn raw<'a>(key: Option<&'a str>, value: Option<&'a str>) -> RawRecord<'a> {
        RawRecord {
            coords: coords(),
            timestamp: Some(1),
            key: key.map(str::as_bytes),
            value: value.map(str::as_bytes),
        }
    }

    fn plain_opts() -> DecodeOptions {
        DecodeOptions {
            value_schemas_enable: false,
            key_schemas_enable: false,
            ..DecodeOptions::default()
        }
    }

    fn envelope_value(schema: serde_json::Value, payload: serde_json::Value) -> String {
        json!({"schema": schema, "payload": payload}).to_string()
    }

    fn one_field(
        schema: serde_json::Value,
        value: serde_json::Value,
    ) -> Result<Value, DecodeError> {
        let mut field = schema;
        field["field"] = json!("F");
        let text = envelope_value(
            json!({"type": "struct", "fields": [field]}),
            json!({"F": value}),
        );
        decode(raw(None, Some(&text)), &DecodeOptions::default()).map(|r| r.fields["F"].clone())
    }

    #[test]
    fn a_schema_seen_before_gives_the_same_answers_as_a_full_parse() {
        let opts = DecodeOptions::default();
        let compact: Value = serde_json::from_str(CREATED).unwrap();
        let schema = compact["schema"].to_string();
        let payload = compact["payload"].to_string();
        let with = |p: &str| format!(r#"{{"schema":{schema},"payload":{p}}}"#);
        let mut other = compact["payload"].clone();
        other["LastName"] = json!("Other");
        let mut wrong_type = compact["payload"].clone();
        wrong_type["LastName"] = json!(42);
        // The compound Address field's own fields are read with the schema too.
        let mut nested_wrong = compact["payload"].clone();
        nested_wrong["Address"]["City"] = json!(5);
        let mut nested_reordered = compact["payload"].clone();
        nested_reordered["Address"] =
            json!({"StateCode": "WYK", "City": "Leeds", "Street": "1 Lane"});
        let mut nested_text = compact["payload"].clone();
        nested_text["Address"] = json!("12 Harbour Road");
        let records = [
            with(&payload),
            with(&other.to_string()),
            with(&wrong_type.to_string()),
            with(&nested_wrong.to_string()),
            with(&nested_reordered.to_string()),
            with(&nested_text.to_string()),
            with("null"),
            with("[1,2]"),
            with("{}"),
            with(&format!("{payload},\"extra\":1")),
            with(&format!("{payload} trailing")),
            with("{\"LastName\":"),
            // Nested as deep as a whole record may go, counting the envelope's level.
            with(&format!(
                "{{\"Deep\":{}{}}}",
                "[".repeat(simd_json::DEFAULT_MAX_DEPTH - 2),
                "]".repeat(simd_json::DEFAULT_MAX_DEPTH - 2)
            )),
            with(&format!(
                "{{\"Deep\":{}{}}}",
                "[".repeat(simd_json::DEFAULT_MAX_DEPTH - 3),
                "]".repeat(simd_json::DEFAULT_MAX_DEPTH - 3)
            )),
            format!(r#"{{"schema":{schema},"payload":{payload}}}   "#),
        ];
        for text in &records {
            let in_full = decode_json_in_full::<Row>(text.as_bytes(), true);
            // The first decode of the schema learns it; the second reuses it.
            for round in 0..2 {
                let got = decode(raw(None, Some(text)), &opts);
                let want = in_full
                    .as_ref()
                    .map(|_| decode_in_full_record(text))
                    .map_err(Clone::clone);
                assert_eq!(got, want.and_then(|r| r), "round {round} of {text}");
            }
        }
        assert!(
            schema_cache::split(records[1].as_bytes()).is_some(),
            "the schema was learned"
        );
        // A compound field's errors name the field inside it; its fields keep the
        // schema's order whatever order the payload gives them in.
        match decode(raw(None, Some(&records[3])), &opts) {
            Err(DecodeError::SchemaMismatch { field, .. }) => assert_eq!(field, "Address.City"),
            other => panic!("expected a mismatch at Address.City, got {other:?}"),
        }
        let reordered = decode(raw(None, Some(&records[4])), &opts).unwrap();
        let address = reordered.fields["Address"].as_object().unwrap();
        assert_eq!(
            address.keys().next().map(String::as_str),
            Some("GeocodeAccuracy")
        );
        assert_eq!(
            (&address["Street"], &address["City"]),
            (&json!("1 Lane"), &json!("Leeds"))
        );
        // The two deep records sit on either side of the parser's depth limit.
        let deep: Vec<bool> = records[13..15]
            .iter()
            .map(|t| decode_json_in_full::<Row>(t.as_bytes(), true).is_ok())
            .collect();
        assert_eq!(deep, [false, true]);
    }

    /// What [`decode`] gives for `text` when the envelope is parsed whole.
    fn decode_in_full_record(text: &str) -> Result<SinkRecord, DecodeError> {
        let mut row: Row = decode_json_in_full(text.as_bytes(), true)?;
        let event_type = row.finish()?;
        Ok(SinkRecord {
            coords: coords(),
            timestamp: Some(1),
            id: row.id,
            object_type: row.object_type,
            event_type,
            fields: row.fields,
        })
    }

    #[test]
    fn assembling_the_value_object_gives_what_decode_gives() {
        let opts = DecodeOptions::default();
        let direct = decode(raw(Some(KEY), Some(CREATED)), &opts).unwrap();
        let object =
            decode_value_object(Some(CREATED.as_bytes()), &opts, &BatchSchemas::default()).unwrap();
        assert_eq!(object["Id"], json!("00Q5e00000AbCdEEAV"));
        assert_eq!(object["_EventType"], json!("created"));
        let assembled = assemble(coords(), Some(1), object, || {
            key_id(decode_key_value(
                KEY.as_bytes(),
                &opts,
                &BatchSchemas::default(),
            )?)
        })
        .unwrap();
        assert_eq!(assembled, direct);
        // The key supplies the Id only when the value has none.
        let no_id = json!({"LastName": "X", "_EventType": "created"});
        let r = assemble(coords(), None, no_id, || Ok(Some("00QKEY".into()))).unwrap();
        assert_eq!(r.id.as_deref(), Some("00QKEY"));
        assert_eq!(
            decode_value_object(None, &plain_opts(), &BatchSchemas::default()).unwrap(),
            Value::Null
        );
        assert_eq!(
            assemble(coords(), None, Value::Null, || Ok(None)).unwrap_err(),
            DecodeError::Tombstone
        );
        assert!(matches!(
            assemble(coords(), None, json!([1]), || Ok(None)).unwrap_err(),
            DecodeError::NotAnObject { .. }
        ));
    }

    #[test]
    fn created_sample_decodes_with_logical_types_converted() {
        let r = decode(raw(Some(KEY), Some(CREATED)), &DecodeOptions::default()).unwrap();
        assert_eq!(r.id.as_deref(), Some("00Q5e00000AbCdEEAV"));
        assert_eq!(r.object_type.as_deref(), Some("Lead"));
        assert_eq!(r.event_type, Some(EventType::Created));
        assert_eq!(r.coords, coords());
        assert_eq!(r.timestamp, Some(1));
        let f = &r.fields;
        assert!(
            !f.contains_key("Id")
                && !f.contains_key("_EventType")
                && !f.contains_key("_ObjectType")
        );
        assert_eq!(f["CreatedDate"], json!("2025-11-27T00:00:00.000Z"));
        assert_eq!(f["ConvertedDate"], Value::Null);
        assert_eq!(f["NumberOfEmployees"], json!(140));
        assert_eq!(f["IsUnreadByOwner"], json!(true));
        assert_eq!(f["CleanStatus"], json!("5"));
        assert_eq!(f["AnnualRevenue"], json!("2500000"));
        assert_eq!(f["Address"]["City"], json!("Leeds"));
        assert_eq!(f["Address"]["Latitude"], Value::Null);
        // Field order follows the record.
        let keys: Vec<&str> = f.keys().collect();
        assert_eq!(
            &keys[..4],
            ["IsDeleted", "MasterRecordId", "LastName", "FirstName"]
        );
        assert_eq!(keys.last(), Some(&"CustomId__c"));
        assert_eq!(keys.len(), 35);
    }

    #[test]
    fn plain_samples_decode_as_they_are() {
        let r = decode(raw(None, Some(UPDATED)), &plain_opts()).unwrap();
        assert_eq!(r.event_type, Some(EventType::Updated));
        assert_eq!(r.id.as_deref(), Some("00Q5e00000AbCdEEAV"));
        assert_eq!(r.fields["Title"], json!("VP Data"));
        // No schema: an epoch-ms number stays a number.
        assert_eq!(r.fields["LastModifiedDate"], json!(1_764_288_000_000_i64));
        let d = decode(raw(None, Some(DELETED)), &plain_opts()).unwrap();
        assert_eq!(d.event_type, Some(EventType::Deleted));
        assert_eq!(d.fields.len(), 3);
        assert_eq!(d.fields["LastName"], Value::Null);
    }

    #[test]
    fn bare_object_under_schemas_enable_is_an_error_that_says_so() {
        let e = decode(raw(None, Some(UPDATED)), &DecodeOptions::default()).unwrap_err();
        assert_eq!(e, DecodeError::MissingEnvelope { part: Part::Value });
        assert!(e
            .to_string()
            .contains("value.converter.schemas.enable=false"));
    }

    #[test]
    fn id_comes_from_the_key_when_the_value_has_none() {
        let value = r#"{"LastName":"X","_EventType":"created"}"#;
        let r = decode(
            raw(Some(KEY), Some(value)),
            &DecodeOptions {
                key_schemas_enable: true,
                ..plain_opts()
            },
        )
        .unwrap();
        assert_eq!(r.id.as_deref(), Some("00Q5e00000AbCdEEAV"));
        let r = decode(raw(Some(r#""00QKEY""#), Some(value)), &plain_opts()).unwrap();
        assert_eq!(r.id.as_deref(), Some("00QKEY"));
        let r = decode(raw(Some(r#"{"Id":"00QOBJ"}"#), Some(value)), &plain_opts()).unwrap();
        assert_eq!(r.id.as_deref(), Some("00QOBJ"));
        let r = decode(raw(Some("null"), Some(value)), &plain_opts()).unwrap();
        assert_eq!(r.id, None);
        let string_keys = DecodeOptions {
            key_converter: ConverterClass::String,
            ..plain_opts()
        };
        let r = decode(raw(Some("00QRAW"), Some(value)), &string_keys).unwrap();
        assert_eq!(r.id.as_deref(), Some("00QRAW"));
        // Missing Id everywhere is not a decode error.
        assert_eq!(
            decode(raw(None, Some(value)), &plain_opts()).unwrap().id,
            None
        );
    }

    #[test]
    fn value_id_wins_over_the_key() {
        let r = decode(raw(Some(r#""other""#), Some(UPDATED)), &plain_opts()).unwrap();
        assert_eq!(r.id.as_deref(), Some("00Q5e00000AbCdEEAV"));
    }

    #[test]
    fn not_json_reports_the_position() {
        let e = decode(raw(None, Some(r#"{"Id": "x",, }"#)), &plain_opts()).unwrap_err();
        match e {
            DecodeError::NotJson { part, position, .. } => {
                assert_eq!(part, Part::Value);
                assert!(position > 0 && position < 14, "{position}");
            }
            other => panic!("unexpected {other:?}"),
        }
        let e = decode(raw(Some("{nope"), Some(UPDATED)), &plain_opts());
        // The key is only read when the value lacks an Id.
        assert!(e.is_ok());
        let e = decode(raw(Some("{nope"), Some("{}")), &plain_opts()).unwrap_err();
        assert!(matches!(
            e,
            DecodeError::NotJson {
                part: Part::Key,
                ..
            }
        ));
    }

    #[test]
    fn value_must_be_an_object() {
        let e = decode(raw(None, Some("[1,2]")), &plain_opts()).unwrap_err();
        assert_eq!(
            e,
            DecodeError::NotAnObject {
                part: Part::Value,
                found: "an array"
            }
        );
        let e = decode(raw(None, Some(r#""text""#)), &plain_opts()).unwrap_err();
        assert!(e.to_string().contains("must be a JSON object"));
    }

    #[test]
    fn tombstones_are_bad_records() {
        assert_eq!(
            decode(raw(None, None), &plain_opts()).unwrap_err(),
            DecodeError::Tombstone
        );
        assert_eq!(
            decode(raw(None, Some("null")), &plain_opts()).unwrap_err(),
            DecodeError::Tombstone
        );
        let v = envelope_value(json!({"type": "struct", "fields": []}), Value::Null);
        assert_eq!(
            decode(raw(None, Some(&v)), &DecodeOptions::default()).unwrap_err(),
            DecodeError::Tombstone
        );
    }

    #[test]
    fn unknown_event_type_is_an_error() {
        let e = decode(
            raw(None, Some(r#"{"Id":"a","_EventType":"merged"}"#)),
            &plain_opts(),
        )
        .unwrap_err();
        assert_eq!(
            e,
            DecodeError::UnknownEventType {
                value: "merged".into()
            }
        );
        let ok = decode(
            raw(None, Some(r#"{"Id":"a","_EventType":"UNDELETED"}"#)),
            &plain_opts(),
        )
        .unwrap();
        assert_eq!(ok.event_type, Some(EventType::Undeleted));
    }

    #[test]
    fn metadata_fields_must_be_strings() {
        let e = decode(raw(None, Some(r#"{"Id":42}"#)), &plain_opts()).unwrap_err();
        assert!(
            matches!(e, DecodeError::SchemaMismatch { ref field, .. } if field == "Id"),
            "{e}"
        );
    }

    #[test]
    fn value_contradicting_its_schema_names_the_field() {
        let e = one_field(json!({"type": "int32", "optional": true}), json!("12")).unwrap_err();
        assert_eq!(
            e,
            DecodeError::SchemaMismatch {
                field: "F".into(),
                expected: "int32".into(),
                found: "a string".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "field F: the schema declares int32, but the value is a string"
        );
        assert!(one_field(json!({"type": "int8"}), json!(300)).is_err());
        assert!(one_field(json!({"type": "int32"}), json!(1.5)).is_err());
        assert!(one_field(json!({"type": "boolean"}), json!(1)).is_err());
        assert!(one_field(json!({"type": "string"}), json!(true)).is_err());
        assert!(one_field(json!({"type": "double"}), json!("1.0")).is_err());
        assert_eq!(
            one_field(json!({"type": "double"}), json!(2)).unwrap(),
            json!(2.0)
        );
        assert_eq!(
            one_field(json!({"type": "int64"}), json!(-9)).unwrap(),
            json!(-9)
        );
    }

    #[test]
    fn nested_mismatch_path_names_struct_and_index() {
        let schema = json!({"type": "struct", "optional": true, "fields": [
            {"field": "Tags", "type": "array", "items": {"type": "string"}}
        ]});
        let e = one_field(schema, json!({"Tags": ["a", 3]})).unwrap_err();
        assert!(
            matches!(e, DecodeError::SchemaMismatch { ref field, .. } if field == "F.Tags[1]"),
            "{e}"
        );
    }

    #[test]
    fn required_null_is_an_error_and_default_replaces_null() {
        let e = one_field(json!({"type": "string", "optional": false}), Value::Null).unwrap_err();
        assert!(e.to_string().contains("a required string"), "{e}");
        let v = one_field(
            json!({"type": "string", "optional": true, "default": "dflt"}),
            Value::Null,
        )
        .unwrap();
        assert_eq!(v, json!("dflt"));
        // A field absent from the payload reads as null.
        let text = envelope_value(
            json!({"type": "struct", "fields": [{"field": "Gone", "type": "string", "optional": true}]}),
            json!({}),
        );
        let r = decode(raw(None, Some(&text)), &DecodeOptions::default()).unwrap();
        assert_eq!(r.fields["Gone"], Value::Null);
    }

    #[test]
    fn logical_types_convert() {
        let date = json!({"type": "int32", "name": "org.apache.kafka.connect.data.Date", "optional": true});
        assert_eq!(
            one_field(date.clone(), json!(20_419)).unwrap(),
            json!("2025-11-27")
        );
        let time = json!({"type": "int32", "name": "org.apache.kafka.connect.data.Time"});
        assert_eq!(
            one_field(time.clone(), json!(3_600_001)).unwrap(),
            json!("01:00:00.001Z")
        );
        let e = one_field(time, json!(90_000_000)).unwrap_err();
        assert!(matches!(e, DecodeError::BadLogicalValue { .. }), "{e}");
        let ts = json!({"type": "int64", "name": "org.apache.kafka.connect.data.Timestamp"});
        assert_eq!(
            one_field(ts.clone(), json!(0)).unwrap(),
            json!("1970-01-01T00:00:00.000Z")
        );
        assert!(one_field(ts, json!("2025-01-01")).is_err());
        let e = one_field(date, json!(9_999_999)).unwrap_err();
        assert!(
            e.to_string().contains("org.apache.kafka.connect.data.Date"),
            "{e}"
        );
    }

    #[test]
    fn decimals_read_base64_and_numeric_forms() {
        let dec = json!({"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal",
                         "parameters": {"scale": "2"}});
        // 12345 = 0x3039 → "MDk="
        assert_eq!(
            one_field(dec.clone(), json!("MDk=")).unwrap(),
            json!(123.45)
        );
        assert_eq!(
            one_field(dec.clone(), json!(123.45)).unwrap(),
            json!(123.45)
        );
        assert!(matches!(
            one_field(dec.clone(), json!("%%%")).unwrap_err(),
            DecodeError::BadLogicalValue { .. }
        ));
        let no_scale = json!({"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal"});
        assert!(one_field(no_scale, json!("MDk=")).is_err());
    }

    #[test]
    fn bytes_maps_and_arrays_follow_their_schemas() {
        assert_eq!(
            one_field(json!({"type": "bytes"}), json!("AAE=")).unwrap(),
            json!("AAE=")
        );
        assert!(one_field(json!({"type": "bytes"}), json!("not base64!")).is_err());
        let map = json!({"type": "map", "keys": {"type": "string"}, "values": {"type": "int32"}});
        assert_eq!(
            one_field(map.clone(), json!({"a": 1})).unwrap(),
            json!({"a": 1})
        );
        assert!(one_field(map, json!({"a": "x"})).is_err());
        let int_map =
            json!({"type": "map", "keys": {"type": "int32"}, "values": {"type": "string"}});
        assert_eq!(
            one_field(int_map.clone(), json!([[1, "x"]])).unwrap(),
            json!([[1, "x"]])
        );
        // Only string keys may come as a JSON object.
        assert!(one_field(int_map, json!({"1": "x"})).is_err());
    }

    #[test]
    fn payload_fields_missing_from_the_schema_are_dropped() {
        let text = envelope_value(
            json!({"type": "struct", "fields": [{"field": "A", "type": "string"}]}),
            json!({"A": "a", "Extra": 1}),
        );
        let r = decode(raw(None, Some(&text)), &DecodeOptions::default()).unwrap();
        assert_eq!(r.fields.len(), 1);
    }

    #[test]
    fn a_name_given_twice_keeps_its_first_place_and_its_last_value() {
        let plain = DecodeOptions {
            value_schemas_enable: false,
            ..DecodeOptions::default()
        };
        let text = r#"{"Id":"00Q1","A":1,"B":2,"A":3}"#;
        let r = decode(raw(None, Some(text)), &plain).unwrap();
        assert_eq!(r.fields.keys().collect::<Vec<_>>(), ["A", "B"]);
        assert_eq!(r.fields["A"], json!(3));
    }

    #[test]
    fn a_schema_naming_a_field_twice_gives_the_record_the_name_once() {
        let text = envelope_value(
            json!({"type": "struct", "fields": [
                {"field": "A", "type": "string"}, {"field": "A", "type": "string"}]}),
            json!({"A": "a"}),
        );
        // The first decode learns what it can of the schema; the second may use it.
        for _ in 0..2 {
            let r = decode(raw(None, Some(&text)), &DecodeOptions::default()).unwrap();
            assert_eq!(r.fields.keys().collect::<Vec<_>>(), ["A"]);
        }
    }

    #[test]
    fn payload_in_another_order_still_follows_the_schema() {
        let text = envelope_value(
            json!({"type": "struct", "fields": [
                {"field": "A", "type": "string"}, {"field": "B", "type": "int32"}]}),
            json!({"B": 2, "A": "a"}),
        );
        let r = decode(raw(None, Some(&text)), &DecodeOptions::default()).unwrap();
        assert_eq!(r.fields.keys().collect::<Vec<_>>(), ["A", "B"]);
        assert_eq!(r.fields["B"], json!(2));
    }

    #[test]
    fn envelope_must_have_exactly_schema_and_payload() {
        let v = r#"{"schema": null, "payload": {"Id": "a"}, "extra": 1}"#;
        assert!(matches!(
            decode(raw(None, Some(v)), &DecodeOptions::default()).unwrap_err(),
            DecodeError::MissingEnvelope { .. }
        ));
        // A null schema means a schemaless payload, as in Connect.
        let v = r#"{"schema": null, "payload": {"Id": "a", "N": 1}}"#;
        let r = decode(raw(None, Some(v)), &DecodeOptions::default()).unwrap();
        assert_eq!(r.fields["N"], json!(1));
    }

    #[test]
    fn unknown_schema_type_is_an_invalid_schema() {
        let e = one_field(json!({"type": "uuid"}), json!("x")).unwrap_err();
        assert!(
            matches!(e, DecodeError::InvalidSchema { ref path, .. } if path == "F"),
            "{e}"
        );
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        let e = decode(raw(None, Some(&deep)), &plain_opts()).unwrap_err();
        assert!(
            matches!(e, DecodeError::TooDeep { .. } | DecodeError::NotJson { .. }),
            "{e}"
        );
    }

    #[test]
    fn string_key_that_is_not_utf8_is_an_error() {
        let opts = DecodeOptions {
            key_converter: ConverterClass::String,
            ..plain_opts()
        };
        let rec = RawRecord {
            coords: coords(),
            timestamp: None,
            key: Some(&[0xff, 0xfe]),
            value: Some(b"{}"),
        };
        assert_eq!(
            decode(rec, &opts).unwrap_err(),
            DecodeError::NotUtf8 { part: Part::Key }
        );
    }
}
