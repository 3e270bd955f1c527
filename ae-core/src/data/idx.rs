//! The IDX format of the MNIST files: a magic number naming the element type and rank, the
//! sizes as big-endian u32, then the bytes.

use anyhow::{bail, ensure, Result};

/// An IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// The IDX bytes of `array` (the inverse of [`parse`]): how a user's own images become a
/// `dataset: idx` folder.
pub fn encode(array: &IdxArray) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, array.dims.len() as u8];
    for &d in &array.dims {
        out.extend((d as u32).to_be_bytes());
    }
    out.extend(&array.data);
    out
}

/// Parses an uncompressed IDX file of u8 elements (type code 0x08).
pub fn parse(bytes: &[u8]) -> Result<IdxArray> {
    ensure!(
        bytes.len() >= 4,
        "too short for an IDX header ({} bytes)",
        bytes.len()
    );
    if bytes[0] != 0 || bytes[1] != 0 {
        bail!(
            "not an IDX file (magic {:02x}{:02x}{:02x}{:02x})",
            bytes[0],
            bytes[1],
            bytes[2],
            bytes[3]
        );
    }
    ensure!(
        bytes[2] == 0x08,
        "IDX element type 0x{:02x}, only unsigned bytes (0x08) are supported",
        bytes[2]
    );
    let rank = bytes[3] as usize;
    let header = 4 + 4 * rank;
    ensure!(
        bytes.len() >= header,
        "IDX header of rank {rank} is truncated"
    );
    let dims: Vec<usize> = (0..rank)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    let n: usize = dims.iter().product();
    ensure!(
        bytes.len() - header == n,
        "IDX data has {} bytes, its header {dims:?} says {n}",
        bytes.len() - header
    );
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array(dims: &[usize], data: &[u8]) -> Vec<u8> {
        encode(&IdxArray {
            dims: dims.to_vec(),
            data: data.to_vec(),
        })
    }

    /// The header by hand: magic 0x00000802 (u8, rank 2), then 2 and 3 as big-endian u32.
    #[test]
    fn encodes_and_parses_a_small_array() {
        let bytes = array(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        assert_eq!(bytes[..12], [0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3]);
        let a = parse(&bytes).unwrap();
        assert_eq!(a.dims, vec![2, 3]);
        assert_eq!(a.data, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn rejects_truncated_data_and_wrong_types() {
        assert!(parse(&array(&[2, 3], &[1, 2, 3]))
            .unwrap_err()
            .to_string()
            .contains("says 6"));
        let mut f32s = array(&[1], &[0, 0, 0, 0]);
        f32s[2] = 0x0d;
        assert!(parse(&f32s).unwrap_err().to_string().contains("0x0d"));
        assert!(parse(&[1, 2]).is_err());
    }
}
