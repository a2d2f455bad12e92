//! 12-bit levels packed two in three bytes: the storage of `Points`' wide body and of the
//! forecasts' `Curve`s. Levels 0..=0xFFF; the byte layout of a pair (a, b) is a's low 8 bits,
//! then b's low 4 and a's high 4 bits, then b's high 8 bits.
//!
//! May use: std only.

/// The highest level a 12-bit slot holds.
pub const MAX: u16 = 0xFFF;

/// Levels held in `bytes`.
pub fn len(bytes: &[u8]) -> usize {
    bytes.len() / 3 * 2 + usize::from(bytes.len() % 3 == 2)
}

/// Bytes that `n` levels take.
pub fn bytes_for(n: usize) -> usize {
    n / 2 * 3 + n % 2 * 2
}

/// Level `i`, if there is one.
pub fn get(bytes: &[u8], i: usize) -> Option<u16> {
    if i >= len(bytes) {
        return None;
    }
    let at = i / 2 * 3;
    let (b0, b1) = (bytes[at], bytes[at + 1]);
    Some(if i.is_multiple_of(2) {
        u16::from(b0) | u16::from(b1 & 0x0F) << 8
    } else {
        u16::from(b1 >> 4) | u16::from(bytes[at + 2]) << 4
    })
}

/// Appends level `k` (above `MAX`: `MAX`).
pub fn push(bytes: &mut Vec<u8>, k: u16) {
    let k = k.min(MAX);
    if len(bytes).is_multiple_of(2) {
        bytes.push((k & 0xFF) as u8);
        bytes.push((k >> 8) as u8);
    } else if let Some(last) = bytes.last_mut() {
        *last |= ((k & 0x0F) << 4) as u8;
        bytes.push((k >> 4) as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_level_packs_two_in_three_bytes_and_reads_back() {
        // Every level and an odd count (the last pair half full).
        let levels: Vec<u16> = (0..=MAX).rev().chain([0, MAX, 1]).collect();
        assert_eq!(levels.len() % 2, 1);
        let mut bytes = vec![];
        for (n, k) in levels.iter().enumerate() {
            push(&mut bytes, *k);
            assert_eq!(len(&bytes), n + 1);
            assert_eq!(bytes.len(), bytes_for(n + 1));
        }
        let back: Vec<u16> = (0..len(&bytes)).filter_map(|i| get(&bytes, i)).collect();
        assert_eq!(back, levels);
        assert_eq!(get(&bytes, levels.len()), None);
        // Above the top: the top.
        push(&mut bytes, u16::MAX);
        assert_eq!(get(&bytes, levels.len()), Some(MAX));
    }
}
