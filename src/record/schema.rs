//! Walks a JsonConverter payload along its Connect schema: checks every value against
//! its declared type and converts logical types, producing `serde_json` values.
//!
//! Both the schema and the payload are read straight from the simd-json tape. A
//! schema seen before (see `schema_cache`) also keeps its fields read, a compound
//! field's own fields included ([`CompiledFields`]), and each node's type and logical
//! name resolved, so a record's walk starts at its values.

use base64::Engine as _;
use serde_json::{Map, Number, Value};
use simd_json::prelude::*;
use simd_json::tape::Value as TapeValue;
use simd_json::ValueType;
use std::borrow::Cow;

use super::error::{DecodeError, Part};
use super::logical;

/// Deepest nesting accepted (SObject rows are at most a few levels deep).
pub const MAX_DEPTH: usize = 32;

/// One step of a field path, rendered only when an error needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step<'i> {
    Field(&'i str),
    Index(usize),
}

/// The current position in the payload, for error messages.
pub(crate) struct FieldPath<'i> {
    steps: Vec<Step<'i>>,
}

impl<'i> FieldPath<'i> {
    pub(crate) fn new() -> Self {
        FieldPath {
            steps: Vec::with_capacity(4),
        }
    }

    pub(crate) fn push(&mut self, step: Step<'i>) {
        self.steps.push(step);
    }

    pub(crate) fn pop(&mut self) {
        self.steps.pop();
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        for step in &self.steps {
            match step {
                Step::Field(name) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(name);
                }
                Step::Index(i) => {
                    out.push('[');
                    out.push_str(&i.to_string());
                    out.push(']');
                }
            }
        }
        if out.is_empty() {
            out.push_str("(root)");
        }
        out
    }
}

/// A Connect base type, read once from a node's `type` text.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `int8` to `int64`, with the range the type holds.
    Integer {
        min: i64,
        max: i64,
    },
    /// `float32`, `float64` (and their aliases `float`, `double`).
    Float,
    Boolean,
    Text,
    /// Base64 text.
    Bytes,
    Array,
    Map,
    Struct,
    /// A type Connect does not have; refused when a value meets it.
    Unknown,
}

impl Kind {
    fn of(ty: &str) -> Kind {
        match ty {
            "int8" => Kind::Integer {
                min: i8::MIN as i64,
                max: i8::MAX as i64,
            },
            "int16" => Kind::Integer {
                min: i16::MIN as i64,
                max: i16::MAX as i64,
            },
            "int32" => Kind::Integer {
                min: i32::MIN as i64,
                max: i32::MAX as i64,
            },
            "int64" => Kind::Integer {
                min: i64::MIN,
                max: i64::MAX,
            },
            "float" | "float32" | "double" | "float64" => Kind::Float,
            "boolean" => Kind::Boolean,
            "string" => Kind::Text,
            "bytes" => Kind::Bytes,
            "array" => Kind::Array,
            "map" => Kind::Map,
            "struct" => Kind::Struct,
            _ => Kind::Unknown,
        }
    }
}

/// A Connect logical type, read once from a node's `name`; other names (a struct's,
/// say) leave the value to its base type.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Logical {
    Date,
    Time,
    Timestamp,
    Decimal,
}

impl Logical {
    fn of(name: Option<&str>) -> Option<Logical> {
        match name? {
            logical::DATE => Some(Logical::Date),
            logical::TIME => Some(Logical::Time),
            logical::TIMESTAMP => Some(Logical::Timestamp),
            logical::DECIMAL => Some(Logical::Decimal),
            _ => None,
        }
    }
}

/// The attributes of one Connect schema node, read in one pass over its keys.
#[derive(Clone, Copy)]
pub(crate) struct SchemaNode<'t, 'i> {
    ty: &'i str,
    kind: Kind,
    logical: Option<Logical>,
    optional: bool,
    name: Option<&'i str>,
    /// The `parameters` object.
    parameters: Option<TapeValue<'t, 'i>>,
    fields: Option<simd_json::tape::Array<'t, 'i>>,
    items: Option<TapeValue<'t, 'i>>,
    keys: Option<TapeValue<'t, 'i>>,
    values: Option<TapeValue<'t, 'i>>,
    default: Option<TapeValue<'t, 'i>>,
}

/// A short, content-free description of a JSON value's kind.
pub(crate) fn kind_of(v: &TapeValue<'_, '_>) -> &'static str {
    match v.value_type() {
        ValueType::Null => "null",
        ValueType::Bool => "a boolean",
        ValueType::I64 | ValueType::U64 => "an integer",
        ValueType::F64 => "a decimal number",
        ValueType::String => "a string",
        ValueType::Array => "an array",
        ValueType::Object => "an object",
        _ => "an unsupported JSON value",
    }
}

/// Converts a JSON value without a schema (schemaless payloads), keeping it as it is.
pub(crate) fn plain(v: TapeValue<'_, '_>, part: Part, depth: usize) -> Result<Value, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooDeep {
            part,
            limit: MAX_DEPTH,
        });
    }
    Ok(match v.value_type() {
        ValueType::Null => Value::Null,
        ValueType::Bool => Value::Bool(v.as_bool().unwrap_or_default()),
        ValueType::I64 => Value::Number(v.as_i64().unwrap_or_default().into()),
        ValueType::U64 => Value::Number(v.as_u64().unwrap_or_default().into()),
        ValueType::F64 => v
            .as_f64()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        ValueType::String => Value::String(v.as_str().unwrap_or_default().to_string()),
        ValueType::Array => {
            let arr = v.as_array();
            let mut out = Vec::with_capacity(arr.as_ref().map_or(0, |a| a.len()));
            for item in arr.iter().flat_map(|a| a.iter()) {
                out.push(plain(item, part, depth + 1)?);
            }
            Value::Array(out)
        }
        ValueType::Object => {
            let obj = v.as_object();
            let mut out = Map::with_capacity(obj.as_ref().map_or(0, |o| o.len()));
            if let Some(obj) = obj {
                for (k, item) in obj.iter() {
                    out.insert(k.to_string(), plain(item, part, depth + 1)?);
                }
            }
            Value::Object(out)
        }
        _ => Value::Null,
    })
}

/// One field of a struct schema: as it stands in the tape, or already read (and
/// borrowed, as a node is too large to copy for every field of every record).
#[derive(Clone, Copy)]
enum FieldSchema<'n, 't, 'i> {
    Raw(TapeValue<'t, 'i>),
    Read(&'n CompiledField<'t, 'i>),
}

/// One struct field read beforehand: its name, its node, and, for a struct, its own
/// fields read too (so that a compound field such as `Address` is not read again for
/// every record).
pub(crate) struct CompiledField<'t, 'i> {
    name: &'i str,
    node: SchemaNode<'t, 'i>,
    fields: Option<CompiledFields<'t, 'i>>,
}

impl<'i> CompiledField<'_, 'i> {
    /// The field's name.
    pub(crate) fn name(&self) -> &'i str {
        self.name
    }
}

/// A struct schema's fields, each with its name and its node already read.
pub(crate) type CompiledFields<'t, 'i> = Vec<CompiledField<'t, 'i>>;

/// Checks and converts payloads against Connect schemas for one record part.
pub(crate) struct SchemaWalker {
    pub(crate) part: Part,
}

impl SchemaWalker {
    fn invalid(&self, path: &FieldPath<'_>, reason: impl Into<String>) -> DecodeError {
        DecodeError::InvalidSchema {
            part: self.part,
            path: path.render(),
            reason: reason.into(),
        }
    }

    fn node<'t, 'i>(
        &self,
        schema: TapeValue<'t, 'i>,
        path: &FieldPath<'_>,
    ) -> Result<SchemaNode<'t, 'i>, DecodeError> {
        let obj = schema
            .as_object()
            .ok_or_else(|| self.invalid(path, "a schema must be a JSON object"))?;
        let mut node = SchemaNode {
            ty: "",
            kind: Kind::Unknown,
            logical: None,
            optional: false,
            name: None,
            parameters: None,
            fields: None,
            items: None,
            keys: None,
            values: None,
            default: None,
        };
        for (k, v) in obj.iter() {
            match k {
                "type" => node.ty = v.into_string().unwrap_or_default(),
                "optional" => node.optional = v.as_bool().unwrap_or(false),
                "name" => node.name = v.into_string(),
                "parameters" if v.is_object() => node.parameters = Some(v),
                "fields" => node.fields = v.as_array(),
                "items" => node.items = Some(v),
                "keys" => node.keys = Some(v),
                "values" => node.values = Some(v),
                "default" if !v.is_null() => node.default = Some(v),
                _ => {}
            }
        }
        if node.ty.is_empty() {
            return Err(self.invalid(path, "the schema has no \"type\""));
        }
        node.kind = Kind::of(node.ty);
        node.logical = Logical::of(node.name);
        Ok(node)
    }

    fn mismatch(&self, path: &FieldPath<'_>, expected: &str, v: &TapeValue<'_, '_>) -> DecodeError {
        DecodeError::SchemaMismatch {
            field: path.render(),
            expected: expected.to_string(),
            found: kind_of(v).to_string(),
        }
    }

    /// Converts `value` as described by `schema`.
    pub(crate) fn convert<'t, 'i>(
        &self,
        schema: TapeValue<'t, 'i>,
        value: TapeValue<'t, 'i>,
        path: &mut FieldPath<'i>,
        depth: usize,
    ) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep {
                part: self.part,
                limit: MAX_DEPTH,
            });
        }
        let node = self.node(schema, path)?;
        self.convert_node(&node, None, value, path, depth)
    }

    /// Converts `value` as the already-read schema `node` describes (with `compiled`,
    /// a struct node's fields read beforehand).
    fn convert_node<'t, 'i>(
        &self,
        node: &SchemaNode<'t, 'i>,
        compiled: Option<&CompiledFields<'t, 'i>>,
        value: TapeValue<'t, 'i>,
        path: &mut FieldPath<'i>,
        depth: usize,
    ) -> Result<Value, DecodeError> {
        let value = if value.is_null() {
            match node.default {
                // Connect replaces a null with the schema default.
                Some(default) => default,
                None if node.optional => return Ok(Value::Null),
                None => {
                    return Err(DecodeError::SchemaMismatch {
                        field: path.render(),
                        expected: format!("a required {}", node.ty),
                        found: "null".to_string(),
                    })
                }
            }
        } else {
            value
        };
        if let Some(logical) = node.logical {
            return self.logical(node, logical, value, path);
        }
        match node.kind {
            Kind::Integer { min, max } => self.integer(value, path, node.ty, min, max),
            Kind::Float => match value.cast_f64() {
                Some(f) => Ok(Number::from_f64(f)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)),
                None => Err(self.mismatch(path, node.ty, &value)),
            },
            Kind::Boolean => value
                .as_bool()
                .map(Value::Bool)
                .ok_or_else(|| self.mismatch(path, "boolean", &value)),
            Kind::Text => value
                .as_str()
                .map(|s| Value::String(s.to_string()))
                .ok_or_else(|| self.mismatch(path, "string", &value)),
            Kind::Bytes => {
                let s = value
                    .as_str()
                    .ok_or_else(|| self.mismatch(path, "bytes (base64 text)", &value))?;
                if base64::engine::general_purpose::STANDARD.decode(s).is_err() {
                    return Err(DecodeError::SchemaMismatch {
                        field: path.render(),
                        expected: "bytes (base64 text)".into(),
                        found: "text that is not base64".into(),
                    });
                }
                Ok(Value::String(s.to_string()))
            }
            Kind::Array => self.array(node, value, path, depth),
            Kind::Map => self.map(node, value, path, depth),
            Kind::Struct => {
                let raw = node_fields(node);
                let mut out = Map::with_capacity(match compiled {
                    Some(fields) => fields.len(),
                    None => raw.map_or(0, |f| f.len()),
                });
                let mut insert = |k: &str, v| {
                    out.insert(k.to_string(), v);
                    Ok(())
                };
                match compiled {
                    Some(fields) => {
                        let read = fields.iter().map(FieldSchema::Read);
                        self.walk_fields(read, value, path, depth, &mut insert)?;
                    }
                    None => self.walk_struct(&raw, value, path, depth, &mut insert)?,
                }
                Ok(Value::Object(out))
            }
            Kind::Unknown => Err(self.invalid(path, format!("unknown Connect type {:?}", node.ty))),
        }
    }

    fn integer(
        &self,
        value: TapeValue<'_, '_>,
        path: &FieldPath<'_>,
        ty: &str,
        min: i64,
        max: i64,
    ) -> Result<Value, DecodeError> {
        let n = match value.value_type() {
            ValueType::I64 => value.as_i64(),
            ValueType::U64 => value.as_u64().and_then(|u| i64::try_from(u).ok()),
            _ => return Err(self.mismatch(path, ty, &value)),
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Ok(Value::Number(n.into())),
            _ => Err(DecodeError::SchemaMismatch {
                field: path.render(),
                expected: ty.to_string(),
                found: format!("an integer outside the {ty} range"),
            }),
        }
    }

    /// Converts a logical type's value.
    fn logical(
        &self,
        node: &SchemaNode<'_, '_>,
        logical: Logical,
        value: TapeValue<'_, '_>,
        path: &FieldPath<'_>,
    ) -> Result<Value, DecodeError> {
        let bad = |name: &'static str, reason: String| DecodeError::BadLogicalValue {
            field: path.render(),
            logical: name,
            reason,
        };
        let int = |ty: &str| -> Result<i64, DecodeError> {
            match value.value_type() {
                ValueType::I64 => value.as_i64(),
                ValueType::U64 => value.as_u64().and_then(|u| i64::try_from(u).ok()),
                _ => None,
            }
            .ok_or_else(|| self.mismatch(path, ty, &value))
        };
        let text = match logical {
            Logical::Date => {
                let days = int("int32 (Date: days since 1970-01-01)")?;
                logical::date_from_days(days).map_err(|r| bad(logical::DATE, r))?
            }
            Logical::Time => {
                let ms = int("int32 (Time: milliseconds since midnight)")?;
                logical::time_from_millis(ms).map_err(|r| bad(logical::TIME, r))?
            }
            Logical::Timestamp => {
                let ms = int("int64 (Timestamp: milliseconds since 1970-01-01)")?;
                logical::timestamp_from_millis(ms).map_err(|r| bad(logical::TIMESTAMP, r))?
            }
            Logical::Decimal => return self.decimal(node, value, path),
        };
        Ok(Value::String(text))
    }

    fn decimal(
        &self,
        node: &SchemaNode<'_, '_>,
        value: TapeValue<'_, '_>,
        path: &FieldPath<'_>,
    ) -> Result<Value, DecodeError> {
        let bad = |reason: String| DecodeError::BadLogicalValue {
            field: path.render(),
            logical: logical::DECIMAL,
            reason,
        };
        match value.value_type() {
            // decimal.format=NUMERIC: the number is already the value.
            ValueType::I64 | ValueType::U64 | ValueType::F64 => Ok(plain(value, self.part, 0)?),
            // decimal.format=BASE64: unscaled two's-complement bytes plus the scale.
            ValueType::String => {
                let scale_param = node
                    .parameters
                    .and_then(|p| p.as_object())
                    .and_then(|p| p.get("scale"));
                let scale = match scale_param {
                    Some(s) => s
                        .as_str()
                        .and_then(|t| t.trim().parse::<i32>().ok())
                        .or_else(|| s.as_i64().and_then(|i| i32::try_from(i).ok()))
                        .ok_or_else(
                            || bad("the schema's scale parameter is not a number".into()),
                        )?,
                    None => return Err(bad("the schema has no scale parameter".into())),
                };
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(value.as_str().unwrap_or_default())
                    .map_err(|_| bad("the value is not base64".into()))?;
                logical::decimal_value(&bytes, scale).map_err(bad)
            }
            _ => Err(self.mismatch(path, "Decimal (base64 text or number)", &value)),
        }
    }

    fn array<'t, 'i>(
        &self,
        node: &SchemaNode<'t, 'i>,
        value: TapeValue<'t, 'i>,
        path: &mut FieldPath<'i>,
        depth: usize,
    ) -> Result<Value, DecodeError> {
        let items = node
            .items
            .ok_or_else(|| self.invalid(path, "an array schema needs \"items\""))?;
        let arr = value
            .as_array()
            .ok_or_else(|| self.mismatch(path, "array", &value))?;
        let mut out = Vec::with_capacity(arr.len());
        for (i, item) in arr.iter().enumerate() {
            path.push(Step::Index(i));
            let converted = self.convert(items, item, path, depth + 1);
            path.pop();
            out.push(converted?);
        }
        Ok(Value::Array(out))
    }

    /// Connect maps: a JSON object when keys are strings, else an array of `[key, value]`.
    fn map<'t, 'i>(
        &self,
        node: &SchemaNode<'t, 'i>,
        value: TapeValue<'t, 'i>,
        path: &mut FieldPath<'i>,
        depth: usize,
    ) -> Result<Value, DecodeError> {
        let (Some(keys), Some(values)) = (node.keys, node.values) else {
            return Err(self.invalid(path, "a map schema needs \"keys\" and \"values\""));
        };
        if let Some(obj) = value.as_object() {
            let key_node = self.node(keys, path)?;
            if key_node.kind != Kind::Text {
                return Err(self.mismatch(path, "map as an array of [key, value] pairs", &value));
            }
            let mut out = Map::new();
            for (k, v) in obj.iter() {
                path.push(Step::Field(k));
                let converted = self.convert(values, v, path, depth + 1);
                path.pop();
                out.insert(k.to_string(), converted?);
            }
            return Ok(Value::Object(out));
        }
        let arr = value
            .as_array()
            .ok_or_else(|| self.mismatch(path, "map", &value))?;
        let mut out = Vec::with_capacity(arr.len());
        for (i, pair) in arr.iter().enumerate() {
            path.push(Step::Index(i));
            let result = match pair.as_array() {
                Some(kv) if kv.len() == 2 => {
                    let k = kv.get(0).map(|k| self.convert(keys, k, path, depth + 1));
                    let v = kv.get(1).map(|v| self.convert(values, v, path, depth + 1));
                    match (k, v) {
                        (Some(k), Some(v)) => k.and_then(|k| v.map(|v| Value::Array(vec![k, v]))),
                        _ => Err(self.mismatch(path, "a [key, value] pair", &pair)),
                    }
                }
                _ => Err(self.mismatch(path, "a [key, value] pair", &pair)),
            };
            path.pop();
            out.push(result?);
        }
        Ok(Value::Array(out))
    }

    /// Walks a struct in schema field order, handing each converted field to `sink`.
    /// Payload fields the schema does not declare are dropped, as Connect does.
    pub(crate) fn walk_struct<'t, 'i>(
        &self,
        fields: &Option<simd_json::tape::Array<'t, 'i>>,
        value: TapeValue<'t, 'i>,
        path: &mut FieldPath<'i>,
        depth: usize,
        sink: &mut dyn FnMut(&'i str, Value) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        let fields = fields
            .as_ref()
            .ok_or_else(|| self.invalid(path, "a struct schema needs \"fields\""))?;
        self.walk_fields(
            fields.iter().map(FieldSchema::Raw),
            value,
            path,
            depth,
            sink,
        )
    }

    /// Walks a struct whose fields were read beforehand, like [`Self::walk_struct`].
    pub(crate) fn walk_compiled<'t, 'i>(
        &self,
        fields: &CompiledFields<'t, 'i>,
        value: TapeValue<'t, 'i>,
        path: &mut FieldPath<'i>,
        sink: &mut dyn FnMut(&'i str, Value) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        let read = fields.iter().map(FieldSchema::Read);
        self.walk_fields(read, value, path, 0, sink)
    }

    /// Reads every field of a struct schema once, for [`Self::walk_compiled`]; a
    /// struct field's own fields are read too, where they can be (else they are read
    /// from the schema as each record meets them, which reports what is wrong).
    pub(crate) fn compile<'t, 'i>(
        &self,
        fields: &Option<simd_json::tape::Array<'t, 'i>>,
    ) -> Result<CompiledFields<'t, 'i>, DecodeError> {
        self.compile_fields(fields, &mut FieldPath::new(), 0)
    }

    fn compile_fields<'t, 'i>(
        &self,
        fields: &Option<simd_json::tape::Array<'t, 'i>>,
        path: &mut FieldPath<'i>,
        depth: usize,
    ) -> Result<CompiledFields<'t, 'i>, DecodeError> {
        let fields = fields
            .as_ref()
            .ok_or_else(|| self.invalid(path, "a struct schema needs \"fields\""))?;
        fields
            .iter()
            .map(|f| {
                let (name, node) = self.read_field(FieldSchema::Raw(f), path)?;
                let node = node.into_owned();
                let nested = (node.kind == Kind::Struct && depth < MAX_DEPTH)
                    .then(|| {
                        path.push(Step::Field(name));
                        let nested = self.compile_fields(&node_fields(&node), path, depth + 1);
                        path.pop();
                        nested.ok()
                    })
                    .flatten();
                Ok(CompiledField {
                    name,
                    node,
                    fields: nested,
                })
            })
            .collect()
    }

    /// A struct field's name and schema node (`path` is the struct's).
    fn read_field<'n, 't, 'i>(
        &self,
        field: FieldSchema<'n, 't, 'i>,
        path: &mut FieldPath<'i>,
    ) -> Result<(&'i str, Cow<'n, SchemaNode<'t, 'i>>), DecodeError> {
        let field_schema = match field {
            FieldSchema::Read(field) => return Ok((field.name, Cow::Borrowed(&field.node))),
            FieldSchema::Raw(field_schema) => field_schema,
        };
        let name = field_schema
            .as_object()
            .and_then(|o| o.get("field"))
            .and_then(|f| f.into_string())
            .ok_or_else(|| self.invalid(path, "a struct field has no \"field\" name"))?;
        path.push(Step::Field(name));
        let node = self.node(field_schema, path);
        path.pop();
        Ok((name, Cow::Owned(node?)))
    }

    fn walk_fields<'n, 't: 'n, 'i: 'n>(
        &self,
        fields: impl Iterator<Item = FieldSchema<'n, 't, 'i>>,
        value: TapeValue<'t, 'i>,
        path: &mut FieldPath<'i>,
        depth: usize,
        sink: &mut dyn FnMut(&'i str, Value) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        let obj = value
            .as_object()
            .ok_or_else(|| self.mismatch(path, "struct", &value))?;
        // JsonConverter writes payload fields in schema order, so walking the payload
        // alongside finds nearly every field at once; a lookup covers payloads
        // written in another order.
        let mut entries = obj.iter();
        let mut next = entries.next();
        for field in fields {
            let compiled = match field {
                FieldSchema::Read(field) => field.fields.as_ref(),
                FieldSchema::Raw(_) => None,
            };
            let (name, node) = self.read_field(field, path)?;
            let found = match next {
                Some((k, v)) if k == name => {
                    next = entries.next();
                    Some(v)
                }
                _ => obj.get(name),
            };
            let field_value = found.unwrap_or(TapeValue::null());
            path.push(Step::Field(name));
            let converted = self.convert_node(&node, compiled, field_value, path, depth + 1);
            path.pop();
            sink(name, converted?)?;
        }
        Ok(())
    }

    /// Reads a top-level schema: returns its struct fields, or the error for a non-struct.
    pub(crate) fn root_struct_fields<'t, 'i>(
        &self,
        schema: TapeValue<'t, 'i>,
    ) -> Result<Option<Option<simd_json::tape::Array<'t, 'i>>>, DecodeError> {
        let path = FieldPath::new();
        let node = self.node(schema, &path)?;
        Ok((node.ty == "struct").then(|| node_fields(&node)))
    }
}

fn node_fields<'t, 'i>(node: &SchemaNode<'t, 'i>) -> Option<simd_json::tape::Array<'t, 'i>> {
    node.fields
}
