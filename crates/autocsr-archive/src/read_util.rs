//! Bounded reading shared by both formats.

use std::io::Read;

use zeroize::Zeroizing;

use crate::error::Error;
use crate::options::Limits;

/// True when an entry of `size` bytes compressed into `compressed` bytes is a ratio bomb.
pub(crate) fn ratio_exceeded(size: u64, compressed: u64, limits: &Limits) -> bool {
    size > limits.ratio_floor && size > compressed.saturating_mul(limits.max_ratio)
}

/// Reads exactly `declared` bytes into a wiping buffer allocated once (so no unwiped copy
/// is left behind by a reallocation), then checks that the stream really ends there: a
/// stream with more data, or less, is a lying size. Reading to the end also runs the
/// format's integrity check (AES HMAC, CRC) in the decoders that check at end of stream.
///
/// The caller has already checked `declared` against the limits.
pub(crate) fn read_exactly_declared<R: Read + ?Sized>(
    reader: &mut R,
    declared: u64,
    map_io: fn(std::io::Error) -> Error,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let len = usize::try_from(declared).map_err(|_| Error::EntryTooLarge)?;
    let mut data = Zeroizing::new(vec![0u8; len]);
    let mut filled = 0;
    while filled < len {
        let Some(rest) = data.get_mut(filled..) else {
            break;
        };
        match reader.read(rest) {
            Ok(0) => return Err(Error::SizeMismatch),
            Ok(read) => filled += read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(map_io(error)),
        }
    }
    let mut probe = [0u8; 1];
    loop {
        match reader.read(&mut probe) {
            Ok(0) => return Ok(data),
            Ok(_) => return Err(Error::SizeMismatch),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(map_io(error)),
        }
    }
}
