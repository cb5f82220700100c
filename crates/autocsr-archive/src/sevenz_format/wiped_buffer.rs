//! A growable byte sink that leaves no copy behind: wiped on drop, and when it grows the
//! old allocation is wiped too (a plain `Vec` would hand it back to the allocator intact).
//! The compressors write the private key's compressed bytes into it before encryption.

use std::io::{self, Write};

use zeroize::Zeroizing;

pub(super) struct WipedBuffer {
    bytes: Zeroizing<Vec<u8>>,
}

impl WipedBuffer {
    pub(super) fn with_capacity(capacity: usize) -> WipedBuffer {
        WipedBuffer {
            bytes: Zeroizing::new(Vec::with_capacity(capacity)),
        }
    }

    /// Appends zeros up to a multiple of `block`.
    pub(super) fn pad_to_multiple_of(&mut self, block: usize) {
        let padding = self.bytes.len().next_multiple_of(block) - self.bytes.len();
        self.append(&vec![0u8; padding]);
    }

    pub(super) fn len(&self) -> usize {
        self.bytes.len()
    }

    pub(super) fn as_slice(&self) -> &[u8] {
        &self.bytes
    }

    pub(super) fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    fn append(&mut self, data: &[u8]) {
        let needed = self.bytes.len().saturating_add(data.len());
        if needed > self.bytes.capacity() {
            let mut grown = Zeroizing::new(Vec::with_capacity(
                needed.max(self.bytes.capacity().saturating_mul(2)),
            ));
            grown.extend_from_slice(&self.bytes);
            // The old allocation is wiped as it drops here.
            self.bytes = grown;
        }
        self.bytes.extend_from_slice(data);
    }
}

impl Write for WipedBuffer {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.append(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_past_its_capacity_and_pads() {
        let mut buffer = WipedBuffer::with_capacity(2);
        buffer.write_all(b"hello, world").unwrap();
        buffer.write_all(b"!").unwrap();
        assert_eq!(buffer.as_slice(), b"hello, world!");
        buffer.pad_to_multiple_of(16);
        assert_eq!(buffer.len(), 16);
        assert_eq!(&buffer.as_slice()[13..], &[0, 0, 0]);
        buffer.pad_to_multiple_of(16);
        assert_eq!(buffer.len(), 16, "already aligned: nothing added");
    }
}
