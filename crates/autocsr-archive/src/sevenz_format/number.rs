//! The 7z NUMBER: a little-endian integer of 1 to 9 bytes whose first byte's leading one
//! bits say how many bytes follow (7zFormat.txt, "REAL_UINT64").

/// Reads a NUMBER from the front of `bytes`, advancing it. `None` if it is cut off.
pub(super) fn read_number(bytes: &mut &[u8]) -> Option<u64> {
    let (&first, rest) = bytes.split_first()?;
    *bytes = rest;
    let mut mask = 0x80u8;
    let mut value: u64 = 0;
    for index in 0..8u32 {
        if first & mask == 0 {
            let high = u64::from(first & mask.wrapping_sub(1));
            return Some(value | high.checked_shl(8 * index).unwrap_or(0));
        }
        let (&next, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(next) << (8 * index);
        mask >>= 1;
    }
    Some(value)
}

/// Appends `value` as a NUMBER, in its shortest form.
pub(super) fn write_number(out: &mut Vec<u8>, value: u64) {
    let mut first: u8 = 0;
    let mut mask: u8 = 0x80;
    let mut extra: u32 = 0;
    while extra < 8 {
        // With `extra` bytes following, the first byte still has 7 - extra free bits.
        if value < 1u64 << (7 * (extra + 1)) {
            let high = value.checked_shr(8 * extra).unwrap_or(0);
            first |= u8::try_from(high).unwrap_or(0);
            break;
        }
        first |= mask;
        mask >>= 1;
        extra += 1;
    }
    out.push(first);
    out.extend(value.to_le_bytes().iter().take(extra as usize));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_decode() {
        let mut one: &[u8] = &[0x05];
        assert_eq!(read_number(&mut one), Some(5));
        let mut two: &[u8] = &[0x81, 0x02];
        assert_eq!(read_number(&mut two), Some(0x102));
        let mut nine: &[u8] = &[0xFF, 1, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(read_number(&mut nine), Some(1));
        let mut short: &[u8] = &[0x81];
        assert_eq!(read_number(&mut short), None);
    }

    #[test]
    fn numbers_encode_shortest_and_round_trip() {
        let cases: [(u64, &[u8]); 5] = [
            (0, &[0x00]),
            (0x7F, &[0x7F]),
            (0x80, &[0x80, 0x80]),
            (0x102, &[0x81, 0x02]),
            (
                u64::MAX,
                &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            ),
        ];
        for (value, expected) in cases {
            let mut out = Vec::new();
            write_number(&mut out, value);
            assert_eq!(out, expected, "{value:#x}");
        }
        for shift in 0..64 {
            for value in [1u64 << shift, (1u64 << shift) - 1, (1u64 << shift) + 1] {
                let mut out = Vec::new();
                write_number(&mut out, value);
                let mut read: &[u8] = &out;
                assert_eq!(read_number(&mut read), Some(value));
                assert!(read.is_empty());
            }
        }
    }
}
