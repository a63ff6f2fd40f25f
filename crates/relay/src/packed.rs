//! The per-device headers of one webhook event, packed into its
//! `event_bodies` row (store schema 5).
//!
//! An event's body is sealed once; each device gets a short header (the
//! body key boxed for it, `0x03` envelopes in `parley_protocol`). Stored as
//! one row per device, those headers were most of what a group commit
//! wrote: three B-tree entries per event, in three places of the tree, each
//! rewriting its page into the WAL. Packed, they ride in the body's row.
//!
//! Layout, repeated once per device: the device id's length (1 byte), the
//! id (ASCII), the header's length (2 bytes, little endian), the header.
//! Device ids are short hex strings and headers about 105 bytes, so both
//! lengths fit with room to spare; [`pack`] refuses anything that does not.

use crate::store::StoreError;

fn corrupt(what: &'static str) -> StoreError {
    StoreError::Corrupt(what)
}

/// Pack `(device id, header)` pairs.
pub(crate) fn pack<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    for (device_id, header) in headers {
        let id_len = u8::try_from(device_id.len()).map_err(|_| corrupt("device id too long"))?;
        let header_len = u16::try_from(header.len()).map_err(|_| corrupt("header too long"))?;
        out.reserve(3 + device_id.len() + header.len());
        out.push(id_len);
        out.extend_from_slice(device_id.as_bytes());
        out.extend_from_slice(&header_len.to_le_bytes());
        out.extend_from_slice(header);
    }
    Ok(out)
}

/// Iterate over the packed `(device id, header)` pairs.
pub(crate) fn entries(packed: &[u8]) -> impl Iterator<Item = Result<(&[u8], &[u8]), StoreError>> {
    let mut rest = packed;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let entry = (|| {
            let (&id_len, after) = rest.split_first().ok_or_else(|| corrupt("truncated"))?;
            let id_len = usize::from(id_len);
            if after.len() < id_len + 2 {
                return Err(corrupt("truncated device id"));
            }
            let (id, after) = after.split_at(id_len);
            let header_len = usize::from(u16::from_le_bytes([after[0], after[1]]));
            let after = &after[2..];
            if after.len() < header_len {
                return Err(corrupt("truncated header"));
            }
            let (header, after) = after.split_at(header_len);
            rest = after;
            Ok((id, header))
        })();
        if entry.is_err() {
            // Stop after reporting: nothing past a bad length can be trusted.
            rest = &[];
        }
        Some(entry)
    })
}

/// The header packed for `device_id`, if the event has one for it.
pub(crate) fn find<'a>(packed: &'a [u8], device_id: &str) -> Result<Option<&'a [u8]>, StoreError> {
    for entry in entries(packed) {
        let (id, header) = entry?;
        if id == device_id.as_bytes() {
            return Ok(Some(header));
        }
    }
    Ok(None)
}

/// How many devices the event has a header for.
#[cfg(test)]
pub(crate) fn count(packed: &[u8]) -> Result<usize, StoreError> {
    entries(packed).try_fold(0, |n, entry| entry.map(|_| n + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_headers_are_found_by_device_and_counted() {
        let a = [1u8; 105];
        let b = [2u8; 105];
        let packed = pack([("dev-a", &a[..]), ("dev-b", &b[..]), ("", &[][..])]).unwrap();
        assert_eq!(find(&packed, "dev-a").unwrap(), Some(&a[..]));
        assert_eq!(find(&packed, "dev-b").unwrap(), Some(&b[..]));
        assert_eq!(find(&packed, "").unwrap(), Some(&[][..]));
        assert_eq!(find(&packed, "dev-c").unwrap(), None);
        // A prefix of a stored id is not that id.
        assert_eq!(find(&packed, "dev").unwrap(), None);
        assert_eq!(count(&packed).unwrap(), 3);
        assert_eq!(count(&[]).unwrap(), 0);
    }

    #[test]
    fn a_truncated_list_is_an_error_not_a_panic() {
        let packed = pack([("dev-a", &[7u8; 105][..])]).unwrap();
        for cut in 1..packed.len() {
            assert!(find(&packed[..cut], "dev-z").is_err(), "cut at {cut}");
            assert!(count(&packed[..cut]).is_err());
        }
    }

    #[test]
    fn oversized_parts_are_refused() {
        let long_id = "x".repeat(256);
        assert!(pack([(long_id.as_str(), &[0u8; 1][..])]).is_err());
        assert!(pack([("dev", &vec![0u8; 70_000][..])]).is_err());
    }
}
