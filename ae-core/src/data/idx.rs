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

/// The longest IDX header: the magic number and 255 sizes.
pub const MAX_HEADER: usize = 4 + 4 * 255;

/// An IDX file's header: its sizes, and how many bytes it takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub dims: Vec<usize>,
    pub len: usize,
}

impl Header {
    /// The bytes of data the sizes call for (None: more than a usize holds).
    fn data_len(&self) -> Option<usize> {
        self.dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
    }
}

/// The magic number (the first 4 bytes), as IDX's documentation writes it.
fn magic(bytes: &[u8]) -> String {
    format!(
        "0x{:08x}",
        u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes"))
    )
}

/// The header at the start of `bytes` (a whole file, or its first [`MAX_HEADER`] bytes).
pub fn header(bytes: &[u8]) -> Result<Header> {
    ensure!(
        bytes.len() >= 4,
        "{} bytes: too short for an IDX header (a 4-byte magic number, then the sizes)",
        bytes.len()
    );
    ensure!(
        bytes[0] == 0 && bytes[1] == 0,
        "wrong magic number {}: not an IDX file (IDX files start with 0x0000, the element type 0x08 \
         and the rank: 0x00000803 for images, 0x00000801 for labels)",
        magic(bytes)
    );
    ensure!(
        bytes[2] == 0x08,
        "wrong magic number {}: element type 0x{:02x}; only unsigned bytes (0x08, as in 0x00000803) \
         are supported",
        magic(bytes),
        bytes[2]
    );
    let rank = bytes[3] as usize;
    ensure!(rank > 0, "wrong magic number {}: rank 0", magic(bytes));
    let len = 4 + 4 * rank;
    ensure!(
        bytes.len() >= len,
        "truncated in its header: the magic number {} gives {rank} sizes ({len} bytes), the file \
         has {} bytes",
        magic(bytes),
        bytes.len()
    );
    let dims = (0..rank)
        .map(|i| {
            u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize
        })
        .collect();
    Ok(Header { dims, len })
}

/// Parses an uncompressed IDX file of u8 elements (type code 0x08).
pub fn parse(bytes: &[u8]) -> Result<IdxArray> {
    let h = header(bytes)?;
    let data = bytes.len() - h.len;
    if h.data_len() != Some(data) {
        // A wrong rank in the magic number reads data as sizes, or sizes as data: say so when
        // another rank fits the file exactly.
        let fits = |rank: usize| {
            let mut other = bytes[..4].to_vec();
            other[3] = rank as u8;
            other.extend_from_slice(&bytes[4..]);
            header(&other)
                .ok()
                .filter(|o| o.data_len() == Some(bytes.len() - o.len))
                .map(|o| (magic(&other), o.dims))
        };
        if let Some((right, dims)) = (1..=4).filter(|&r| r != h.dims.len()).find_map(fits) {
            bail!(
                "wrong magic number {}: it gives rank {}, but the file is laid out as {right} \
                 (sizes {dims:?})",
                magic(bytes),
                h.dims.len()
            );
        }
        match h.data_len() {
            Some(n) => bail!(
                "{data} bytes of data, its header's sizes {:?} say {n}: truncated or not written \
                 to the end",
                h.dims
            ),
            None => bail!("its header's sizes {:?} overflow", h.dims),
        }
    }
    Ok(IdxArray {
        dims: h.dims,
        data: bytes[h.len..].to_vec(),
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
            .contains("say 6"));
        let mut f32s = array(&[1], &[0, 0, 0, 0]);
        f32s[2] = 0x0d;
        let e = parse(&f32s).unwrap_err().to_string();
        assert!(e.contains("wrong magic number 0x00000d01"), "{e}");
        assert!(parse(&[1, 2]).is_err());
        let e = parse(&[8, 3, 0, 0, 0, 0, 0, 1, 0]).unwrap_err().to_string();
        assert!(
            e.contains("wrong magic number 0x08030000: not an IDX file"),
            "{e}"
        );
    }

    /// Images whose magic number says rank 4: their first pixels were read as a fourth size.
    #[test]
    fn a_wrong_rank_is_a_wrong_magic_number() {
        let mut bytes = array(&[3, 2, 2], &[0; 12]);
        bytes[3] = 4;
        let e = parse(&bytes).unwrap_err().to_string();
        assert!(
            e.contains("wrong magic number 0x00000804: it gives rank 4")
                && e.contains("laid out as 0x00000803 (sizes [3, 2, 2])"),
            "{e}"
        );
        let sizes = [0, 0, 8, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert!(parse(&sizes).is_err());
    }
}
