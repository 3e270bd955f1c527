//! TensorFlow's record framing, which event files use: a little-endian u64 length, the masked
//! CRC32C of those 8 bytes, the payload, the masked CRC32C of the payload.

/// TensorFlow's mask: a CRC stored beside data that itself holds CRCs stays checkable.
pub fn masked_crc(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// `payload` framed as one record.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(payload.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&masked_crc(payload).to_le_bytes());
    out
}

/// The payloads of the whole records at the start of `bytes`, up to the first one that is cut
/// short or fails its checksum (a kill mid-write leaves such a tail; nothing after it is read).
pub fn payloads(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 12 {
        let (len, tail) = rest.split_at(8);
        let crc = u32::from_le_bytes(tail[..4].try_into().expect("4 bytes"));
        if masked_crc(len) != crc {
            break;
        }
        let n = u64::from_le_bytes(len.try_into().expect("8 bytes"));
        let body = &tail[4..];
        let Some(n) = usize::try_from(n)
            .ok()
            .filter(|&n| n.saturating_add(4) <= body.len())
        else {
            break;
        };
        let (payload, after) = body.split_at(n);
        let crc = u32::from_le_bytes(after[..4].try_into().expect("4 bytes"));
        if masked_crc(payload) != crc {
            break;
        }
        out.push(payload);
        rest = &after[4..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CRC32C's published check value, and its mask as TensorBoard's own `masked_crc32c`
    /// gives it.
    #[test]
    fn crc32c_of_the_check_string_and_its_mask() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(masked_crc(b"123456789"), 0xc78a_b0e5);
    }

    #[test]
    fn framed_records_read_back_and_a_torn_tail_is_dropped() {
        let mut file = frame(b"first");
        file.extend(frame(b""));
        file.extend(frame(b"third record"));
        assert_eq!(
            payloads(&file),
            [&b"first"[..], &b""[..], &b"third record"[..]]
        );
        // Cut anywhere inside the last record: the two before it remain.
        let whole = file.len();
        for cut in whole - 27..whole {
            assert_eq!(payloads(&file[..cut]).len(), 2, "cut at {cut}");
        }
        // A flipped bit in a payload stops the reading there.
        file[8 + 4 + 1] ^= 1;
        assert!(payloads(&file).is_empty());
    }
}
