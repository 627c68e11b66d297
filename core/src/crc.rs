//! CRC-32 (IEEE 802.3, the one zlib and git use), for WAL records, warm records and pack
//! indexes.
//!
//! With the `fast-crc` feature (on by default) this is `crc32fast`, which uses SIMD where the CPU
//! has it and a 16 KiB slice-by-16 table elsewhere. Without it, a byte-at-a-time table of 1 KiB:
//! slower, and what the browser build uses, where the 16 KiB table was 7 % of the compressed
//! WebAssembly module and IndexedDB, not the checksum, bounds the speed.

#[cfg(feature = "fast-crc")]
pub use crc32fast::{Hasher, hash};

#[cfg(not(feature = "fast-crc"))]
pub use small::{Hasher, hash};

/// The byte-at-a-time implementation.
pub mod small {
    /// The reflected IEEE polynomial.
    const POLY: u32 = 0xedb8_8320;

    #[allow(
        clippy::indexing_slicing,
        reason = "i < 256 by the loop, at compile time"
    )]
    const fn table() -> [u32; 256] {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 == 1 { POLY ^ (c >> 1) } else { c >> 1 };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    }

    static TABLE: [u32; 256] = table();

    /// A running CRC-32, with `crc32fast::Hasher`'s interface.
    #[derive(Clone, Debug)]
    pub struct Hasher(u32);

    impl Default for Hasher {
        fn default() -> Self {
            Self::new()
        }
    }

    impl Hasher {
        #[must_use]
        pub fn new() -> Hasher {
            Hasher(!0)
        }

        #[allow(
            clippy::indexing_slicing,
            reason = "the index is masked to 0..=255 of a 256-entry table"
        )]
        pub fn update(&mut self, bytes: &[u8]) {
            let mut crc = self.0;
            for &b in bytes {
                crc = TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
            }
            self.0 = crc;
        }

        #[must_use]
        pub fn finalize(self) -> u32 {
            !self.0
        }
    }

    #[must_use]
    pub fn hash(bytes: &[u8]) -> u32 {
        let mut h = Hasher::new();
        h.update(bytes);
        h.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::small;
    use alloc::vec::Vec;

    #[test]
    fn the_small_table_computes_what_crc32fast_does() {
        // The check value of CRC-32/ISO-HDLC.
        assert_eq!(small::hash(b"123456789"), 0xcbf4_3926);
        let data: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in [0, 1, 7, 64, 1000, 5000] {
            let part = data.get(..len).unwrap_or_default();
            assert_eq!(small::hash(part), crc32fast::hash(part), "{len} bytes");
            let mut h = small::Hasher::new();
            let (a, b) = part.split_at(len / 3);
            h.update(a);
            h.update(b);
            assert_eq!(
                h.finalize(),
                crc32fast::hash(part),
                "{len} bytes in two parts"
            );
        }
    }
}
