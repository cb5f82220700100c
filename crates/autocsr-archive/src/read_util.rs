//! Bounded reading shared by both formats.

use std::io::Read;

use zeroize::Zeroizing;

use crate::error::{Error, LimitKind};
use crate::options::Limits;

/// Refuses `size` bytes that were compressed into `compressed` bytes as a ratio bomb.
pub(crate) fn check_ratio(size: u64, compressed: u64, limits: &Limits) -> Result<(), Error> {
    if size > limits.ratio_floor && size > compressed.saturating_mul(limits.max_ratio) {
        return Err(Error::LimitExceeded {
            what: LimitKind::CompressionRatio,
            limit: limits.max_ratio,
        });
    }
    Ok(())
}

/// Adds an entry's declared `size` to the running `total`, refusing once it passes
/// [`Limits::max_total_size`].
pub(crate) fn add_to_total(total: &mut u64, size: u64, limits: &Limits) -> Result<(), Error> {
    *total = total.saturating_add(size);
    if *total > limits.max_total_size {
        return Err(Error::LimitExceeded {
            what: LimitKind::TotalSize,
            limit: limits.max_total_size,
        });
    }
    Ok(())
}

/// An I/O error from a decoder, as both formats report it: a cut-off stream is
/// `Truncated`, data the decoder rejects is `Corrupt`, anything else a real I/O error.
pub(crate) fn decoder_io_error(io: std::io::Error) -> Error {
    match io.kind() {
        std::io::ErrorKind::UnexpectedEof => Error::Truncated,
        std::io::ErrorKind::InvalidData
        | std::io::ErrorKind::Other
        | std::io::ErrorKind::InvalidInput => Error::Corrupt,
        _ => Error::Io(io),
    }
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
