//! Sampled verification: check a fraction of an object's encrypted segments with ranged reads,
//! without downloading the whole object — like restic's `check --read-data-subset`.
//!
//! Every Tink segment can be authenticated on its own: the nonce carries its index and whether
//! it is the last. The sample always includes the first and the last segment (so truncation is
//! caught) plus random others; the object's size must match the manifest. A full `verify` also
//! checks every file's SHA-256; a sample cannot, and says so in its report.

use super::backend::Backend;
use super::manifest::ObjectRecord;
use crate::context::control::Control;
use crate::error::{Error, Result};
use crate::host::crypto::segment::{
    SegmentCipher, StreamHeader, CIPHERTEXT_SEGMENT_LEN, HEADER_LEN, TAG_LEN,
};
use crate::host::crypto::{Envelope, Key, ENVELOPE_LEN};
use crate::host::runtime::block_on;

/// What a sampled check read.
#[derive(Debug, Clone, Default)]
pub struct SampleReport {
    /// Segments authenticated.
    pub checked: usize,
    /// Segments in the object.
    pub total: usize,
    /// Bytes read.
    pub bytes_read: u64,
}

/// The indices to check: first, last, and random others up to `fraction` of `total`.
pub fn choose_segments(total: usize, fraction: f64) -> Vec<usize> {
    let wanted = ((total as f64 * fraction).ceil() as usize).clamp(total.min(2), total);
    let mut chosen = vec![0, total - 1];
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).expect("the OS provides randomness");
    let mut state = u64::from_le_bytes(seed) | 1;
    while chosen
        .iter()
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        < wanted
    {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chosen.push((state % total as u64) as usize);
    }
    chosen.sort_unstable();
    chosen.dedup();
    chosen
}

/// Authenticates a sample of the segments of `object` (stored at `relative`).
pub fn sample_object(
    backend: &Backend,
    relative: &str,
    object: &ObjectRecord,
    keys: &[Key],
    fraction: f64,
    control: &Control,
) -> Result<SampleReport> {
    let where_ = backend.describe(relative);
    let size = object.stored_size;
    let start = (ENVELOPE_LEN + HEADER_LEN) as u64;
    if size < start + TAG_LEN as u64 {
        return Err(Error::failed(format!(
            "{where_}: too short to be an encrypted object"
        )));
    }
    let head = block_on(backend.get_range(relative, 0..start))?;
    let envelope = Envelope::parse(&head[..ENVELOPE_LEN]).map_err(|e| e.context(&where_))?;
    let key = keys
        .iter()
        .find(|k| k.id() == envelope.key_id())
        .ok_or_else(|| {
            Error::failed(format!(
                "{where_}: wrong key (object key id {})",
                envelope.key_id()
            ))
        })?;
    let header_bytes: [u8; HEADER_LEN] = head[ENVELOPE_LEN..].try_into().expect("sliced to size");
    let header = StreamHeader::parse(&header_bytes).map_err(|e| e.context(&where_))?;
    let cipher = SegmentCipher::new(key, &header, &head[..ENVELOPE_LEN]);

    let stream_len = size - ENVELOPE_LEN as u64;
    let segment = CIPHERTEXT_SEGMENT_LEN as u64;
    let total = stream_len.div_ceil(segment) as usize;
    let mut report = SampleReport {
        total,
        ..Default::default()
    };
    for index in choose_segments(total, fraction) {
        control.check()?;
        let from = ENVELOPE_LEN as u64
            + if index == 0 {
                HEADER_LEN as u64
            } else {
                index as u64 * segment
            };
        let to = (ENVELOPE_LEN as u64 + (index as u64 + 1) * segment).min(size);
        let mut bytes = block_on(backend.get_range(relative, from..to))?.to_vec();
        if bytes.len() < TAG_LEN {
            return Err(Error::failed(format!(
                "{where_}: segment {index} is truncated"
            )));
        }
        let tag_at = bytes.len() - TAG_LEN;
        let tag: [u8; TAG_LEN] = bytes[tag_at..].try_into().expect("sliced to size");
        let last = index == total - 1;
        cipher
            .open(index as u32, last, &mut bytes[..tag_at], &tag)
            .map_err(|_| {
                Error::failed(format!(
                    "stored object {where_} is corrupted: segment {index} of {total} failed authentication"
                ))
                .with_hint("restore from another set, and check the storage for damage")
            })?;
        report.checked += 1;
        report.bytes_read += to - from;
    }
    Ok(report)
}

/// Parses a sample size such as `"10%"` or `0.1`.
pub fn parse_fraction(text: &str) -> Result<f64> {
    let value = match text.trim().strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => text.trim().parse::<f64>(),
    };
    match value {
        Ok(f) if f > 0.0 && f <= 1.0 => Ok(f),
        _ => Err(
            Error::usage(format!("sample \"{text}\" is not between 0% and 100%"))
                .with_hint("write it like \"10%\""),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_always_holds_first_and_last() {
        for total in [1, 2, 3, 10, 500] {
            let chosen = choose_segments(total, 0.1);
            assert_eq!(chosen[0], 0);
            assert_eq!(*chosen.last().unwrap(), total - 1);
            assert!(chosen.len() >= (total as f64 * 0.1).ceil() as usize);
        }
        assert_eq!(choose_segments(500, 1.0).len(), 500);
    }

    #[test]
    fn fractions_parse() {
        assert_eq!(parse_fraction("10%").unwrap(), 0.1);
        assert_eq!(parse_fraction("0.5").unwrap(), 0.5);
        assert!(parse_fraction("0%").is_err());
        assert!(parse_fraction("150%").is_err());
    }
}
