//! Input intake: size limit, PEM (with surrounding text) or DER.

/// Inputs larger than this (64 KiB) are refused before any parsing.
pub const MAX_INPUT_LEN: usize = 64 * 1024;

/// Why the input could not be turned into DER bytes.
pub(crate) enum IntakeError {
    Empty,
    NoPemBlock,
    UnterminatedPem,
    SeveralPemBlocks,
    BadBase64,
}

impl IntakeError {
    pub(crate) fn message(&self) -> &'static str {
        match self {
            Self::Empty => "the input is empty",
            Self::NoPemBlock => "neither DER nor a PEM block with an accepted label",
            Self::UnterminatedPem => "the PEM block has no matching END line",
            Self::SeveralPemBlocks => "more than one PEM block: send exactly one",
            Self::BadBase64 => "the PEM block is not valid base64",
        }
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let rest = haystack.get(from..)?;
    if needle.is_empty() || rest.len() < needle.len() {
        return None;
    }
    rest.windows(needle.len())
        .position(|window| window == needle)
        .map(|at| at + from)
}

/// Returns the DER bytes: the input itself when it starts with a DER SEQUENCE tag,
/// otherwise the single PEM block with one of `labels` (text around it is ignored).
/// The caller has already enforced [`MAX_INPUT_LEN`].
pub(crate) fn to_der(input: &[u8], labels: &[&str]) -> Result<Vec<u8>, IntakeError> {
    if input.is_empty() {
        return Err(IntakeError::Empty);
    }
    if input.first() == Some(&0x30) {
        return Ok(input.to_vec());
    }
    let mut found: Option<(usize, usize, &str)> = None;
    for label in labels {
        let begin = format!("-----BEGIN {label}-----");
        if let Some(at) = find(input, begin.as_bytes(), 0) {
            if found.is_some() || find(input, begin.as_bytes(), at + begin.len()).is_some() {
                return Err(IntakeError::SeveralPemBlocks);
            }
            found = Some((at, at + begin.len(), label));
        }
    }
    let Some((_, body_start, label)) = found else {
        return Err(IntakeError::NoPemBlock);
    };
    let end = format!("-----END {label}-----");
    let body_end = find(input, end.as_bytes(), body_start).ok_or(IntakeError::UnterminatedPem)?;
    let body = input
        .get(body_start..body_end)
        .ok_or(IntakeError::UnterminatedPem)?;
    decode_base64(body).ok_or(IntakeError::BadBase64)
}

/// Lenient standard base64 (RFC 4648 §4): whitespace anywhere is ignored, padding is
/// optional; any other character is an error. Output is at most 3/4 of the input.
fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 3);
    let mut accumulator: u32 = 0;
    let mut bits = 0u32;
    let mut padding = 0usize;
    for &byte in text {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                padding += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => return None,
        };
        if padding > 0 {
            // Data after padding.
            return None;
        }
        accumulator = (accumulator << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((accumulator >> bits) & 0xff).ok()?);
            accumulator &= (1 << bits) - 1;
        }
    }
    if padding > 2 || bits >= 6 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_known_values() {
        assert_eq!(decode_base64(b"TWFu").unwrap(), b"Man");
        assert_eq!(decode_base64(b"TWE=").unwrap(), b"Ma");
        assert_eq!(decode_base64(b"TQ==").unwrap(), b"M");
        assert_eq!(decode_base64(b"TW\r\nFu").unwrap(), b"Man");
        assert!(decode_base64(b"TW!u").is_none());
        assert!(decode_base64(b"TQ==TQ").is_none());
        assert!(decode_base64(b"T").is_none());
    }
}
