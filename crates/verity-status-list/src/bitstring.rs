//! The uncompressed status bitstring (Bitstring Status List v1.0 section 2.2 `encodedList`,
//! section 7.1 "Bitstring Encoding").

use std::fmt;

use crate::StatusListError;

/// Smallest list Verity issues and accepts: 131,072 entries = 16 KB (spec section 3.2 step 2,
/// `minimumNumberOfEntries`).
pub const MIN_LIST_BITS: usize = 131_072;

/// A list of 1-bit statuses. Index 0 is the most significant (left-most) bit of byte 0; the last
/// index is the least significant bit of the last byte. A set bit (1) means the status applies.
#[derive(Clone, PartialEq, Eq)]
pub struct Bitstring {
    bytes: Vec<u8>,
}

impl fmt::Debug for Bitstring {
    // 16 KB of bytes help nobody in a log line; the shape does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bitstring")
            .field("len", &self.len())
            .field("set", &self.count_set())
            .finish()
    }
}

impl Bitstring {
    /// An all-zero list of `len` bits: at least [`MIN_LIST_BITS`] and a multiple of 8.
    pub fn new(len: usize) -> Result<Bitstring, StatusListError> {
        if len < MIN_LIST_BITS {
            return Err(StatusListError::ListTooShort {
                bits: len as u64,
                min: MIN_LIST_BITS as u64,
            });
        }
        if !len.is_multiple_of(8) {
            return Err(StatusListError::ListNotByteAligned { bits: len as u64 });
        }
        Ok(Bitstring {
            bytes: vec![0; len / 8],
        })
    }

    /// Wraps raw list bytes (e.g. as stored), refusing lists of fewer than `min_bits` bits.
    pub fn from_bytes(bytes: Vec<u8>, min_bits: usize) -> Result<Bitstring, StatusListError> {
        let bits = (bytes.len() as u64).saturating_mul(8);
        if bits < min_bits as u64 {
            return Err(StatusListError::ListTooShort {
                bits,
                min: min_bits as u64,
            });
        }
        Ok(Bitstring { bytes })
    }

    /// Number of entries (bits).
    pub fn len(&self) -> usize {
        self.bytes.len() * 8
    }

    /// True for a list with no entries (only reachable through [`Bitstring::from_bytes`] with a
    /// zero minimum).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The status bit at `index`.
    pub fn get(&self, index: usize) -> Result<bool, StatusListError> {
        let (byte, mask) = self.locate(index)?;
        Ok(self.bytes[byte] & mask != 0)
    }

    /// Sets (`true`) or clears (`false`) the status bit at `index`.
    pub fn set(&mut self, index: usize, value: bool) -> Result<(), StatusListError> {
        let (byte, mask) = self.locate(index)?;
        if value {
            self.bytes[byte] |= mask;
        } else {
            self.bytes[byte] &= !mask;
        }
        Ok(())
    }

    /// How many bits are set.
    pub fn count_set(&self) -> usize {
        self.bytes.iter().map(|b| b.count_ones() as usize).sum()
    }

    /// The raw bytes, index 0 in the top bit of the first byte.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn locate(&self, index: usize) -> Result<(usize, u8), StatusListError> {
        if index >= self.len() {
            return Err(StatusListError::IndexOutOfRange {
                index: index as u64,
                len: self.len() as u64,
            });
        }
        // Left-most bit first (spec section 7.1): bit 0 is 0x80 of byte 0.
        Ok((index / 8, 0x80 >> (index % 8)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_list_is_all_zero_and_sized() {
        let list = Bitstring::new(MIN_LIST_BITS).unwrap();
        assert_eq!(list.len(), 131_072);
        assert_eq!(list.as_bytes().len(), 16 * 1024);
        assert_eq!(list.count_set(), 0);
        assert!(!list.is_empty());
        let bigger = Bitstring::new(MIN_LIST_BITS * 2).unwrap();
        assert_eq!(bigger.len(), 262_144);
    }

    #[test]
    fn short_or_unaligned_lengths_are_refused() {
        assert_eq!(
            Bitstring::new(MIN_LIST_BITS - 8),
            Err(StatusListError::ListTooShort {
                bits: 131_064,
                min: 131_072
            })
        );
        assert_eq!(
            Bitstring::new(0),
            Err(StatusListError::ListTooShort {
                bits: 0,
                min: 131_072
            })
        );
        assert_eq!(
            Bitstring::new(MIN_LIST_BITS + 1),
            Err(StatusListError::ListNotByteAligned { bits: 131_073 })
        );
    }

    /// Spec section 7.1: "the first (zeroth) index refers to the left-most bit of the bitstring
    /// array"; 131,072 bits have indexes 0 to 131,071.
    #[test]
    fn bit_order_is_most_significant_bit_first() {
        let mut list = Bitstring::new(MIN_LIST_BITS).unwrap();
        list.set(0, true).unwrap();
        assert_eq!(list.as_bytes()[0], 0x80);
        list.set(7, true).unwrap();
        assert_eq!(list.as_bytes()[0], 0x81);
        list.set(0, false).unwrap();
        assert_eq!(list.as_bytes()[0], 0x01);
        list.set(8, true).unwrap();
        assert_eq!(list.as_bytes()[1], 0x80);
        list.set(131_071, true).unwrap();
        assert_eq!(list.as_bytes()[16 * 1024 - 1], 0x01);
        assert!(list.get(7).unwrap() && list.get(8).unwrap() && list.get(131_071).unwrap());
        assert!(!list.get(0).unwrap() && !list.get(9).unwrap());
        assert_eq!(list.count_set(), 3);
    }

    #[test]
    fn out_of_range_indexes_are_errors() {
        let mut list = Bitstring::new(MIN_LIST_BITS).unwrap();
        let err = StatusListError::IndexOutOfRange {
            index: 131_072,
            len: 131_072,
        };
        assert_eq!(list.get(131_072), Err(err.clone()));
        assert_eq!(list.set(131_072, true), Err(err));
        assert!(list.get(usize::MAX).is_err());
        assert_eq!(list.count_set(), 0);
    }

    #[test]
    fn from_bytes_checks_the_minimum() {
        let list = Bitstring::from_bytes(vec![0x40; 25], 200).unwrap();
        assert_eq!(list.len(), 200);
        assert!(list.get(1).unwrap() && !list.get(0).unwrap());
        assert_eq!(
            Bitstring::from_bytes(vec![0; 24], 200),
            Err(StatusListError::ListTooShort {
                bits: 192,
                min: 200
            })
        );
        assert!(Bitstring::from_bytes(Vec::new(), 0).unwrap().is_empty());
    }

    #[test]
    fn debug_shows_shape_not_contents() {
        let mut list = Bitstring::new(MIN_LIST_BITS).unwrap();
        list.set(5, true).unwrap();
        assert_eq!(format!("{list:?}"), "Bitstring { len: 131072, set: 1 }");
    }
}
