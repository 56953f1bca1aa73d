//! A walk over an Avro datum, before apache-avro decodes it, that refuses what would
//! make the decoder run out of memory or stack: a length or an item count larger than
//! the bytes left can hold, and nesting deeper than [`MAX_DEPTH`].
//!
//! apache-avro 0.21 reserves room for a block's announced item count before reading
//! any item (hundreds of millions of map entries fail the allocation and abort the
//! process), allocates a `fixed` of the schema's size before reading it, and recurses
//! once per nested value with no limit. The walk reads lengths, counts and union
//! branches exactly as apache-avro does and skips everything else. Where apache-avro
//! itself reports an error (an invalid union branch, a negative length, a varint too
//! long), the walk stops and lets it; a datum that ends before its schema does is
//! refused here, so a truncated string is not read as `null` as apache-avro would.

use apache_avro::schema::Name;
use apache_avro::Schema;

use super::error::{DecodeError, Part};
use super::schema::MAX_DEPTH;

/// Why the walk stopped early.
enum Stop {
    /// apache-avro reports this spot itself.
    Defer,
    /// The datum is refused for this reason.
    Refuse(String),
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

/// The outcome of walking one value.
type Step<T = ()> = Result<T, Stop>;

/// The datum being walked.
struct Walk<'a, R> {
    rest: &'a [u8],
    /// Array and map items the datum may still announce: one per byte of the body.
    /// An item takes at least a byte unless its type is empty (`null`, a record
    /// without fields), which no SObject field is made of.
    items_left: usize,
    resolve: R,
}

/// Checks `body`, a datum written with `root`, as described in the module doc.
/// `resolve` finds the schema a named reference stands for.
pub(super) fn check<'s>(
    root: &'s Schema,
    resolve: impl Fn(&Name) -> Option<&'s Schema>,
    body: &[u8],
    part: Part,
    id: u32,
) -> Result<(), DecodeError> {
    let mut walk = Walk {
        rest: body,
        items_left: body.len(),
        resolve,
    };
    match walk.value(root, 0) {
        Ok(()) | Err(Stop::Defer) => Ok(()),
        Err(Stop::Refuse(reason)) => Err(DecodeError::AvroBody { part, id, reason }),
        Err(Stop::TooDeep) => Err(DecodeError::TooDeep {
            part,
            limit: MAX_DEPTH,
        }),
    }
}

fn ends_early<T>() -> Step<T> {
    Err(Stop::Refuse("the datum ends before its schema does".into()))
}

impl<'a, 's, R: Fn(&Name) -> Option<&'s Schema>> Walk<'a, R> {
    /// apache-avro's variable-length integer, zigzag-decoded.
    fn long(&mut self) -> Step<i64> {
        let mut z = 0u64;
        for (j, &byte) in self.rest.iter().enumerate() {
            if j > 9 {
                return Err(Stop::Defer);
            }
            z |= u64::from(byte & 0x7f) << (j * 7);
            if byte >> 7 == 0 {
                self.rest = &self.rest[j + 1..];
                return Ok(if z & 1 == 0 {
                    (z >> 1) as i64
                } else {
                    !(z >> 1) as i64
                });
            }
        }
        ends_early()
    }

    /// Skips `len` bytes.
    fn skip(&mut self, len: usize) -> Step {
        match self.rest.get(len..) {
            Some(rest) => {
                self.rest = rest;
                Ok(())
            }
            None => ends_early(),
        }
    }

    /// A length-prefixed string or bytes.
    fn bytes(&mut self) -> Step {
        let len = self.long()?;
        let Ok(len) = usize::try_from(len) else {
            return Err(Stop::Defer);
        };
        self.skip(len)
    }

    /// The next block's item count of an array or map (0 at its end).
    fn block(&mut self) -> Step<usize> {
        let mut count = self.long()?;
        if count < 0 {
            let _size = self.long()?;
            count = match count.checked_neg() {
                Some(count) => count,
                None => return Err(Stop::Defer),
            };
        }
        let Ok(count) = usize::try_from(count) else {
            return Err(Stop::Defer);
        };
        if count > self.items_left {
            return Err(Stop::Refuse(format!(
                "a block claims {count} items, more than the rest of the datum can hold"
            )));
        }
        self.items_left -= count;
        Ok(count)
    }

    /// One value of `schema`, `depth` levels down (counted as the conversion to JSON
    /// counts them: record fields, array items and map values add one).
    fn value(&mut self, schema: &'s Schema, depth: usize) -> Step {
        if depth > MAX_DEPTH {
            return Err(Stop::TooDeep);
        }
        match schema {
            Schema::Null => Ok(()),
            Schema::Boolean => self.skip(1),
            Schema::Int
            | Schema::Long
            | Schema::Enum(_)
            | Schema::Date
            | Schema::TimeMillis
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => self.long().map(drop),
            Schema::Float => self.skip(4),
            Schema::Double => self.skip(8),
            Schema::Duration => self.skip(12),
            Schema::Bytes | Schema::String | Schema::Uuid | Schema::BigDecimal => self.bytes(),
            Schema::Fixed(fixed) => self.skip(fixed.size),
            Schema::Decimal(decimal) => self.value(&decimal.inner, depth),
            Schema::Union(union) => {
                let index = self.long()?;
                let variant = usize::try_from(index)
                    .ok()
                    .and_then(|i| union.variants().get(i));
                match variant {
                    Some(variant) => self.value(variant, depth),
                    None => Err(Stop::Defer),
                }
            }
            Schema::Record(record) => record
                .fields
                .iter()
                .try_for_each(|field| self.value(&field.schema, depth + 1)),
            Schema::Array(array) => loop {
                let count = self.block()?;
                if count == 0 {
                    return Ok(());
                }
                for _ in 0..count {
                    self.value(&array.items, depth + 1)?;
                }
            },
            Schema::Map(map) => loop {
                let count = self.block()?;
                if count == 0 {
                    return Ok(());
                }
                for _ in 0..count {
                    self.bytes()?;
                    self.value(&map.types, depth + 1)?;
                }
            },
            Schema::Ref { name } => match (self.resolve)(name) {
                Some(named) => self.value(named, depth),
                None => Err(Stop::Defer),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::avro::AvroSchema;
    use super::*;

    /// Zigzag varint, as Avro writes a long.
    fn long(n: i64) -> Vec<u8> {
        let mut z = ((n << 1) ^ (n >> 63)) as u64;
        let mut out = Vec::new();
        loop {
            let byte = (z & 0x7f) as u8;
            z >>= 7;
            if z == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    fn decode(schema: &str, body: &[u8]) -> Result<serde_json::Value, DecodeError> {
        AvroSchema::parse(schema)
            .expect("schema parses")
            .decode(body, Part::Value, 7)
    }

    fn refused_with(result: Result<serde_json::Value, DecodeError>, reason: &str) {
        match result {
            Err(DecodeError::AvroBody {
                part,
                id,
                reason: got,
            }) => {
                assert_eq!((part, id), (Part::Value, 7));
                assert!(got.contains(reason), "{got}");
            }
            other => panic!("expected a refusal saying {reason:?}, got {other:?}"),
        }
    }

    /// Found by the `record_avro` fuzz target: a map block announcing billions of
    /// entries made apache-avro reserve room for them and abort the process.
    #[test]
    fn an_item_count_beyond_the_bytes_left_is_refused_before_any_allocation() {
        let map = r#"{"type":"record","name":"R","fields":[{"name":"m","type":{"type":"map","values":"long"}}]}"#;
        refused_with(decode(map, &long(400_000_000)), "claims 400000000 items");
        // A negative count announces its block's size too.
        let mut body = long(-3_000_000_000);
        body.extend(long(10));
        refused_with(decode(map, &body), "claims 3000000000 items");
        let array = r#"{"type":"array","items":"string"}"#;
        refused_with(decode(array, &long(1 << 40)), "more than the rest");
        // A count the bytes can hold decodes as before.
        let mut body = long(2);
        for (key, value) in [("a", 1), ("b", -2)] {
            body.extend(long(1));
            body.extend(key.as_bytes());
            body.extend(long(value));
        }
        body.extend(long(0));
        assert_eq!(
            decode(map, &body).expect("decodes"),
            serde_json::json!({"m": {"a": 1, "b": -2}})
        );
    }

    #[test]
    fn nesting_is_refused_before_apache_avro_recurses_into_it() {
        // A chain far deeper than the stack of a worker thread would hold.
        let chain =
            r#"{"type":"record","name":"Link","fields":[{"name":"next","type":["null","Link"]}]}"#;
        let mut body = vec![2u8; 200_000];
        body.push(0);
        assert!(matches!(
            decode(chain, &body),
            Err(DecodeError::TooDeep {
                part: Part::Value,
                ..
            })
        ));
        // A record that holds itself reads no bytes at all on the way down.
        let endless = r#"{"type":"record","name":"R","fields":[{"name":"again","type":"R"}]}"#;
        assert!(matches!(
            decode(endless, &[]),
            Err(DecodeError::TooDeep { .. })
        ));
        // Shallow chains decode as before.
        assert_eq!(
            decode(chain, &[2, 2, 0]).expect("decodes"),
            serde_json::json!({"next": {"next": {"next": null}}})
        );
    }

    #[test]
    fn a_datum_that_ends_early_is_refused_rather_than_read_as_nulls() {
        // A fixed the schema makes huge is not allocated before its bytes are there.
        let fixed = r#"{"type":"fixed","name":"F","size":1000000000000}"#;
        refused_with(decode(fixed, &[1, 2, 3]), "ends before its schema does");
        // apache-avro reads a cut string, boolean or union as null.
        let record = r#"{"type":"record","name":"R","fields":[
            {"name":"s","type":"string"},{"name":"b","type":"boolean"},{"name":"u","type":["null","long"]}]}"#;
        refused_with(decode(record, &long(5)), "ends before its schema does");
        let mut body = long(1);
        body.push(b'x');
        refused_with(decode(record, &body), "ends before its schema does");
        body.push(1);
        refused_with(decode(record, &body), "ends before its schema does");
        body.extend(long(1));
        body.extend(long(42));
        assert_eq!(
            decode(record, &body).expect("decodes"),
            serde_json::json!({"s": "x", "b": true, "u": 42})
        );
    }
}
