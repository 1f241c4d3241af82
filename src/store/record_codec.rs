//! How the sled store's records are stored: their JSON, zstd-compressed with a dictionary.
//!
//! Every version of every quote repeats the same field names and much of the same text
//! (`"destination_address"`, `"tax_inclusive"`, `"sales_tax_summary"`, ...). A small
//! dictionary trained on the fixtures' quotes (`scripts/train-record-dict`) holds them
//! once, so a 3-item version compresses to about two thirds of what zstd makes of it
//! alone, for no more CPU per commit (BENCHMARKS.md, commits). Frames name their
//! dictionary by id: records written before it (no id) and plain JSON records still read,
//! and a frame naming a dictionary this binary lacks is a damaged record, never a guess.

use super::StoreError;

/// The records' dictionary. It never changes: a new one gets a new id and a file of its
/// own, and this one stays for reading.
const DICTIONARY: &[u8] = include_bytes!("records-1279612505.zdict");
/// Its id, 0x4C455659 ("LEVY"): in zstd's range for private dictionaries.
const DICTIONARY_ID: u32 = 1_279_612_505;

/// A storage failure from any error (its text is for the log only).
pub(super) fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// zstd frames start with this magic; anything else is a plain JSON record.
pub(super) const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

pub(super) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(e.to_string());
    if bytes.starts_with(&ZSTD_MAGIC) {
        let json = decompress(bytes).map_err(|e| corrupt(&e))?;
        serde_json::from_slice(&json).map_err(|e| corrupt(&e))
    } else {
        serde_json::from_slice(bytes).map_err(|e| corrupt(&e))
    }
}

/// Which dictionary a frame was compressed with: none, or this binary's.
fn dictionary_of(frame: &[u8]) -> std::io::Result<Option<&'static [u8]>> {
    match zstd::zstd_safe::get_dict_id_from_frame(frame).map(|id| id.get()) {
        None => Ok(None),
        Some(DICTIONARY_ID) => Ok(Some(DICTIONARY)),
        Some(other) => Err(std::io::Error::other(format!(
            "a record compressed with dictionary {other}, which this Levy does not have"
        ))),
    }
}

/// A record's JSON. The buffer is the frame's own content size: zstd's bulk API, given
/// only a limit, allocates the whole limit (a gigabyte, mapped and unmapped per record);
/// and the contexts are reused per thread, as a fresh one costs more than the record.
pub(super) fn decompress(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    thread_local! {
        /// Without a dictionary, and with the records' dictionary.
        static DECOMPRESSORS: std::cell::RefCell<[Option<zstd::bulk::Decompressor<'static>>; 2]> =
            const { std::cell::RefCell::new([None, None]) };
    }
    let dictionary = dictionary_of(bytes)?;
    let too_large = || std::io::Error::other("a record over the size limit");
    match zstd::zstd_safe::get_frame_content_size(bytes) {
        Ok(Some(size)) => {
            let size = usize::try_from(size)
                .ok()
                .filter(|s| *s <= MAX_RECORD)
                .ok_or_else(too_large)?;
            DECOMPRESSORS.with(|d| {
                let mut d = d.borrow_mut();
                let d = &mut d[usize::from(dictionary.is_some())];
                if d.is_none() {
                    *d = Some(match dictionary {
                        Some(dict) => zstd::bulk::Decompressor::with_dictionary(dict)?,
                        None => zstd::bulk::Decompressor::new()?,
                    });
                }
                let mut json = Vec::with_capacity(size);
                d.as_mut()
                    .expect("just set")
                    .decompress_to_buffer(bytes, &mut json)?;
                Ok(json)
            })
        }
        // A frame that does not say its size (not written by Levy): streamed, bounded.
        _ => {
            use std::io::Read;
            let mut json = Vec::new();
            let decoder = match dictionary {
                Some(dict) => zstd::stream::read::Decoder::with_dictionary(bytes, dict)?,
                None => zstd::stream::read::Decoder::with_buffer(bytes)?,
            };
            decoder.take(MAX_RECORD as u64 + 1).read_to_end(&mut json)?;
            if json.len() > MAX_RECORD {
                return Err(too_large());
            }
            Ok(json)
        }
    }
}

/// zstd's level for records: a fast negative level by default. With the dictionary, level
/// 1 stores a sixth less than -5 for about the same CPU per commit (0-4 µs more, within this
/// machine's noise; BENCHMARKS.md, commits), so -5 stays while commit speed is the target;
/// `[store] zstd_level = 1` is the operator's choice for disk. `0` stores records
/// uncompressed (6 KB for a 3-item quote's version).
pub const DEFAULT_ZSTD_LEVEL: i32 = -5;

/// A record as stored: its JSON, zstd-compressed at `level` with the dictionary (`0`:
/// plain JSON).
pub(super) fn encode<T: serde::Serialize>(value: &T, level: i32) -> Result<Vec<u8>, StoreError> {
    with_encoded(value, level, |bytes| Ok(bytes.to_vec()))
}

/// Lends `record` the stored form of `value`, built in this thread's reused buffers: a
/// commit's 10 KB of JSON and its compressed form cost no allocation and no regrowth.
pub(super) fn with_encoded<T: serde::Serialize, R>(
    value: &T,
    level: i32,
    record: impl FnOnce(&[u8]) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    thread_local! {
        static BUFFERS: std::cell::RefCell<(Vec<u8>, Vec<u8>)> =
            const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
        // One compression context per thread, reused: a fresh one costs about a megabyte.
        static COMPRESSOR: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { std::cell::RefCell::new(None) };
    }
    BUFFERS.with(|buffers| {
        // Taken out while in use, so a nested call (none today) gets fresh buffers.
        let (mut json, mut packed) = std::mem::take(&mut *buffers.borrow_mut());
        json.clear();
        let out = (|| {
            serde_json::to_writer(&mut json, value).map_err(backend)?;
            if json.len() > MAX_RECORD {
                return Err(StoreError::Backend(format!(
                    "a record of {} bytes is over the limit",
                    json.len()
                )));
            }
            if level == 0 {
                return record(&json);
            }
            packed.clear();
            packed.reserve(zstd::zstd_safe::compress_bound(json.len()));
            COMPRESSOR.with(|c| {
                let mut c = c.borrow_mut();
                if c.as_ref().is_none_or(|(l, _)| *l != level) {
                    let compressor = zstd::bulk::Compressor::with_dictionary(level, DICTIONARY);
                    *c = Some((level, compressor.map_err(backend)?));
                }
                c.as_mut()
                    .expect("just set")
                    .1
                    .compress_to_buffer(&json, &mut packed)
                    .map_err(backend)
            })?;
            record(&packed)
        })();
        // Kept for the next record unless a large quote made them large.
        if json.capacity() <= KEPT_BUFFER && packed.capacity() <= KEPT_BUFFER {
            *buffers.borrow_mut() = (json, packed);
        }
        out
    })
}

/// The largest encoding buffers a thread keeps between records.
const KEPT_BUFFER: usize = 1 << 20;

/// The largest record accepted (uncompressed): well above any quote within the body limits.
const MAX_RECORD: usize = 1 << 30;

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3-item quote's request, as a record's content.
    fn quote() -> serde_json::Value {
        serde_json::from_str(include_str!("../../quotes/commit.json")).unwrap()
    }

    fn compress_with(dictionary: &[u8], json: &[u8]) -> Vec<u8> {
        zstd::bulk::Compressor::with_dictionary(DEFAULT_ZSTD_LEVEL, dictionary)
            .unwrap()
            .compress(json)
            .unwrap()
    }

    #[test]
    fn the_dictionary_is_the_one_records_name() {
        let id = zstd::zstd_safe::get_dict_id_from_dict(DICTIONARY).map(|i| i.get());
        assert_eq!(id, Some(DICTIONARY_ID));
        // Stored records depend on these exact bytes: a retrained file needs a new id.
        assert_eq!(crc32fast::hash(DICTIONARY), 0x82c8_55b1);
    }

    #[test]
    fn records_are_compressed_with_the_dictionary_and_read_back() {
        let value = quote();
        let stored = encode(&value, DEFAULT_ZSTD_LEVEL).unwrap();
        let id = zstd::zstd_safe::get_dict_id_from_frame(&stored).map(|i| i.get());
        assert_eq!(id, Some(DICTIONARY_ID));
        assert_eq!(decode::<serde_json::Value>(&stored).unwrap(), value);
        let json = serde_json::to_vec(&value).unwrap();
        let alone = zstd::bulk::compress(&json, DEFAULT_ZSTD_LEVEL).unwrap();
        assert!(
            stored.len() * 10 < alone.len() * 9,
            "{} bytes with the dictionary, {} without",
            stored.len(),
            alone.len()
        );
    }

    #[test]
    fn records_written_without_a_dictionary_still_read() {
        let value = quote();
        let json = serde_json::to_vec(&value).unwrap();
        let old = zstd::bulk::compress(&json, 1).unwrap();
        assert_eq!(zstd::zstd_safe::get_dict_id_from_frame(&old), None);
        assert_eq!(decode::<serde_json::Value>(&old).unwrap(), value);
        assert_eq!(decode::<serde_json::Value>(&json).unwrap(), value);
    }

    #[test]
    fn a_streamed_frame_with_the_dictionary_reads() {
        use std::io::Write;
        let json = serde_json::to_vec(&quote()).unwrap();
        let mut e =
            zstd::stream::write::Encoder::with_dictionary(Vec::new(), 1, DICTIONARY).unwrap();
        e.write_all(&json).unwrap();
        let streamed = e.finish().unwrap();
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&streamed)
                .ok()
                .flatten(),
            None
        );
        assert_eq!(decompress(&streamed).unwrap(), json);
    }

    #[test]
    fn a_record_naming_another_dictionary_is_damaged() {
        // The same dictionary under another id: decoding must not guess.
        let mut other = DICTIONARY.to_vec();
        other[4..8].copy_from_slice(&(DICTIONARY_ID + 1).to_le_bytes());
        let json = serde_json::to_vec(&quote()).unwrap();
        let frame = compress_with(&other, &json);
        let id = zstd::zstd_safe::get_dict_id_from_frame(&frame).map(|i| i.get());
        assert_eq!(id, Some(DICTIONARY_ID + 1));
        match decode::<serde_json::Value>(&frame) {
            Err(StoreError::Corrupt(e)) => assert!(e.contains("dictionary"), "{e}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(decompress(&compress_with(DICTIONARY, &json)).unwrap(), json);
    }
}
