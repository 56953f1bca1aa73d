//! Confluent's wire format, shared by its Avro, JSON Schema and Protobuf serializers:
//! magic byte 0, the writer schema's registry id as 4 big-endian bytes, then the body.

use super::error::{DecodeError, Part};

/// The first byte of every record in the wire format.
const MAGIC: u8 = 0;
/// Magic byte plus schema id.
const HEADER_LEN: usize = 5;

/// The schema id of a record in the wire format, or `None` when the bytes have no
/// valid header.
pub fn schema_id(bytes: &[u8]) -> Option<u32> {
    match bytes {
        [MAGIC, a, b, c, d, ..] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

/// Splits a record into its schema id and body; `converter` names the class that
/// expected the header, for the error.
pub fn split<'a>(
    bytes: &'a [u8],
    part: Part,
    converter: &'static str,
) -> Result<(u32, &'a [u8]), DecodeError> {
    match schema_id(bytes) {
        Some(id) => Ok((id, &bytes[HEADER_LEN..])),
        None => Err(DecodeError::NotWireFormat { part, converter }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_gives_the_id_and_the_body() {
        let bytes = [0, 0, 0, 1, 2, 9, 9];
        assert_eq!(
            split(&bytes, Part::Value, "X").unwrap(),
            (258, &[9u8, 9][..])
        );
        assert_eq!(schema_id(&[0, 0, 0, 0, 7]), Some(7));
        for bad in [
            &b"{\"Id\":1}"[..],
            &[0, 0, 0][..],
            &[1, 0, 0, 0, 1][..],
            &[][..],
        ] {
            assert_eq!(
                split(bad, Part::Key, "X").unwrap_err(),
                DecodeError::NotWireFormat {
                    part: Part::Key,
                    converter: "X"
                }
            );
        }
    }
}
