//! Salesforce record Ids: the 15-character case-sensitive form, the 18-character
//! case-insensitive form with its 3-character checksum suffix, and validation.
//!
//! The sink uses this to compare Ids coming from Kafka with Ids answered by the org, and
//! the simulator uses it to mint Ids and to reject malformed ones with `MALFORMED_ID`.

use thiserror::Error;

/// The 32 symbols a checksum character is drawn from, indexed by a 5-bit mask.
const SUFFIX_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// Why a string is not a valid Salesforce Id.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    /// The Id is neither 15 nor 18 characters long.
    #[error("malformed id {0}: an Id has 15 or 18 characters")]
    Length(String),
    /// The Id holds a character outside `[0-9A-Za-z]`.
    #[error("malformed id {0}: only letters and digits are allowed")]
    Character(String),
    /// The 18-character Id's suffix does not match its first 15 characters.
    #[error("malformed id {0}: the checksum suffix does not match")]
    Checksum(String),
}

/// Computes the 3-character checksum suffix of a 15-character Id body.
///
/// Each 5-character chunk becomes a bitmask of its upper-case letters (leftmost
/// character = bit 0), which indexes [`SUFFIX_ALPHABET`].
pub fn checksum(id15: &str) -> Result<String, IdError> {
    let bytes = id15.as_bytes();
    if bytes.len() != 15 {
        return Err(IdError::Length(id15.to_string()));
    }
    if !bytes.iter().all(u8::is_ascii_alphanumeric) {
        return Err(IdError::Character(id15.to_string()));
    }
    let mut suffix = String::with_capacity(3);
    for chunk in bytes.chunks(5) {
        let mut mask = 0usize;
        for (bit, c) in chunk.iter().enumerate() {
            if c.is_ascii_uppercase() {
                mask |= 1 << bit;
            }
        }
        // mask < 32 because a chunk has five characters.
        suffix.push(char::from(SUFFIX_ALPHABET[mask & 31]));
    }
    Ok(suffix)
}

/// Turns a 15-character Id into its 18-character form.
pub fn to_18(id15: &str) -> Result<String, IdError> {
    let suffix = checksum(id15)?;
    let mut out = String::with_capacity(18);
    out.push_str(id15);
    out.push_str(&suffix);
    Ok(out)
}

/// Accepts a 15- or 18-character Id and answers the canonical 18-character form.
///
/// An 18-character Id whose case was lost (all letters upper or all lower, for example
/// after a spreadsheet) is restored from its suffix; a mixed-case Id whose suffix does
/// not fit its body is an error.
pub fn normalize(id: &str) -> Result<String, IdError> {
    match id.len() {
        15 => to_18(id),
        18 => {
            if !id.bytes().all(|c| c.is_ascii_alphanumeric()) {
                return Err(IdError::Character(id.to_string()));
            }
            let (body, suffix) = id.split_at(15);
            // A body in mixed case still has its case, so its checksum must fit the suffix.
            // A body in one case has lost it (a spreadsheet, a case-insensitive store), and the
            // suffix tells which letters were upper case.
            let mixed = body.bytes().any(|c| c.is_ascii_uppercase())
                && body.bytes().any(|c| c.is_ascii_lowercase());
            let restored = if mixed {
                body.to_string()
            } else {
                restore_case(body, suffix).ok_or_else(|| IdError::Checksum(id.to_string()))?
            };
            let expected = checksum(&restored)?;
            if expected.eq_ignore_ascii_case(suffix) {
                Ok(format!("{restored}{expected}"))
            } else {
                Err(IdError::Checksum(id.to_string()))
            }
        }
        _ => Err(IdError::Length(id.to_string())),
    }
}

/// Answers the 15-character form of a valid 15- or 18-character Id.
pub fn to_15(id: &str) -> Result<String, IdError> {
    let full = normalize(id)?;
    Ok(full.chars().take(15).collect())
}

/// True when `id` is a valid 15- or 18-character Id.
pub fn is_valid(id: &str) -> bool {
    normalize(id).is_ok()
}

/// The 3-character key prefix of an Id (the object type), if the string is long enough.
pub fn key_prefix(id: &str) -> Option<&str> {
    id.get(0..3)
}

/// Uses the suffix bits to upper-case the letters of `body` that were upper case.
/// Answers `None` when a suffix character is outside the alphabet.
fn restore_case(body: &str, suffix: &str) -> Option<String> {
    let mut out = String::with_capacity(15);
    let body_bytes = body.as_bytes();
    for (chunk_index, s) in suffix.bytes().enumerate() {
        let upper = s.to_ascii_uppercase();
        let mask = SUFFIX_ALPHABET.iter().position(|&a| a == upper)?;
        let chunk = body_bytes.get(chunk_index * 5..chunk_index * 5 + 5)?;
        for (bit, c) in chunk.iter().enumerate() {
            let c = char::from(*c);
            if mask & (1 << bit) != 0 {
                out.push(c.to_ascii_uppercase());
            } else {
                // A clear bit means the character was not an upper-case letter.
                out.push(c.to_ascii_lowercase());
            }
        }
    }
    Some(out)
}

/// Encodes `n` in base 62 (`0-9A-Za-z`), left-padded with `0` to `width` characters.
///
/// The simulator builds Id bodies with it; digits beyond `width` are dropped from the
/// left, which never happens for the counters it uses.
pub fn base62(mut n: u64, width: usize) -> String {
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_pairs_get_their_documented_suffix() {
        assert_eq!(to_18("001D000000IqhSL").unwrap(), "001D000000IqhSLIAZ");
        assert_eq!(to_18("a0D30000001n7Pi").unwrap(), "a0D30000001n7PiEAI");
        assert_eq!(to_18("0038M0000016Wv8").unwrap(), "0038M0000016Wv8QAE");
        assert_eq!(to_18("00Di0000000icUB").unwrap(), "00Di0000000icUBEAY");
    }

    #[test]
    fn normalize_accepts_both_forms_and_answers_18() {
        assert_eq!(normalize("001D000000IqhSL").unwrap(), "001D000000IqhSLIAZ");
        assert_eq!(
            normalize("001D000000IqhSLIAZ").unwrap(),
            "001D000000IqhSLIAZ"
        );
        assert_eq!(
            normalize("001D000000IqhSLiaz").unwrap(),
            "001D000000IqhSLIAZ"
        );
    }

    #[test]
    fn normalize_restores_case_lost_in_an_18_char_id() {
        assert_eq!(
            normalize("001D000000IQHSLIAZ").unwrap(),
            "001D000000IqhSLIAZ"
        );
        assert_eq!(
            normalize("a0d30000001n7piEAI").unwrap(),
            "a0D30000001n7PiEAI"
        );
    }

    #[test]
    fn bad_checksum_length_and_characters_are_rejected() {
        assert!(matches!(
            normalize("001D000000IqhSLAAA"),
            Err(IdError::Checksum(_))
        ));
        assert!(matches!(
            normalize("001D000000IqhS"),
            Err(IdError::Length(_))
        ));
        assert!(matches!(
            normalize("001D000000Iqh-L"),
            Err(IdError::Character(_))
        ));
        assert!(!is_valid("not an id at all"));
    }

    #[test]
    fn to_15_drops_the_suffix() {
        assert_eq!(to_15("0038M0000016Wv8QAE").unwrap(), "0038M0000016Wv8");
    }

    #[test]
    fn base62_pads_to_width() {
        assert_eq!(base62(0, 4), "0000");
        assert_eq!(base62(61, 2), "0z");
        assert_eq!(base62(62, 3), "010");
    }
}
