//! The sled store's commit log: quote updates made durable by an append and one
//! `fdatasync`, instead of a sled flush per group commit.
//!
//! A sled flush seals its IO buffer, hands the write to one of sled's IO threads, waits for
//! it (`sync_file_range`) and then needs an `fdatasync` of its own: two disk waits and two
//! thread hand-offs per group (sled's IO threads were 15 % of the process's CPU under
//! commits). An update of a quote is instead
//! applied to sled (memory) and its records appended here, under the quote's lock, in the
//! order sled saw them; the flusher writes what was appended and syncs it. sled itself is
//! flushed only at a checkpoint (the log grew past its limit, or a write that is not in the
//! log must become durable), after which the log is emptied. Opening replays the log into
//! sled, so every acknowledged update is there again, in order.
//!
//! Format: records of `[payload length: u32 LE][crc32 of payload: u32 LE][payload]`, the
//! payload a sequence of `[key length: u32 LE][key][value length: u32 LE][value]`. A record
//! cut short or damaged ends the log: it was never acknowledged (its sync did not return),
//! and neither was anything after it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Mutex;

/// Where the log lives inside the data directory.
pub const FILE_NAME: &str = "levy-commit-log";

/// A record's header: length and checksum.
const HEADER: usize = 8;

/// A record larger than this is damage, not a quote (records are compressed versions).
const MAX_PAYLOAD: usize = 1 << 31;

/// One record: the (key, value) pairs of one update, in the order they were applied.
pub type Entry = Vec<(Vec<u8>, Vec<u8>)>;

pub struct CommitLog {
    /// Records appended and not yet written.
    pending: Mutex<Vec<u8>>,
    /// The file and how long it is; only the flusher (and a checkpoint) writes it.
    file: Mutex<(File, u64)>,
}

impl CommitLog {
    /// Opens (or creates) the log in `dir` and reads its whole records; a damaged tail is
    /// cut off. The caller applies the entries, then [`CommitLog::reset`]s after a checkpoint.
    pub fn open(dir: &Path) -> std::io::Result<(CommitLog, Vec<Entry>)> {
        let path = dir.join(FILE_NAME);
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let (entries, whole) = parse(&bytes);
        if whole < bytes.len() {
            tracing::warn!(
                cut = bytes.len() - whole,
                "the commit log ends in an unfinished record (never acknowledged); cut off"
            );
            file.set_len(whole as u64)?;
            file.sync_data()?;
        }
        file.seek(SeekFrom::Start(whole as u64))?;
        let log = CommitLog {
            pending: Mutex::new(Vec::new()),
            file: Mutex::new((file, whole as u64)),
        };
        Ok((log, entries))
    }

    /// Appends one record of `pairs` to what the next [`CommitLog::write`] writes.
    pub fn append(&self, pairs: &[(&[u8], &[u8])]) {
        let len: usize = pairs.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let start = pending.len();
        pending.reserve(HEADER + len);
        pending.extend_from_slice(&(len as u32).to_le_bytes());
        pending.extend_from_slice(&[0; 4]);
        for (k, v) in pairs {
            pending.extend_from_slice(&(k.len() as u32).to_le_bytes());
            pending.extend_from_slice(k);
            pending.extend_from_slice(&(v.len() as u32).to_le_bytes());
            pending.extend_from_slice(v);
        }
        let crc = crc32fast::hash(&pending[start + HEADER..]);
        pending[start + 4..start + HEADER].copy_from_slice(&crc.to_le_bytes());
    }

    /// Writes every record appended so far, without syncing; returns the log's length, or
    /// None when there was nothing to write.
    pub fn write(&self) -> std::io::Result<Option<u64>> {
        let batch = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            if pending.is_empty() {
                return Ok(None);
            }
            // The next batch starts with a buffer about this size.
            let capacity = pending.len();
            std::mem::replace(&mut *pending, Vec::with_capacity(capacity))
        };
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let (f, len) = &mut *file;
        if let Err(e) = f.write_all(&batch) {
            // A partial write is a damaged tail: cut it, so later records stay readable.
            let _ = f.set_len(*len).and_then(|_| f.seek(SeekFrom::Start(*len)));
            return Err(e);
        }
        *len += batch.len() as u64;
        Ok(Some(*len))
    }

    /// Makes what was written durable.
    pub fn sync(&self) -> std::io::Result<()> {
        self.file
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .sync_data()
    }

    /// Empties the log: everything in it is durable in sled (a checkpoint).
    pub fn reset(&self) -> std::io::Result<()> {
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let (f, len) = &mut *file;
        f.set_len(0)?;
        f.seek(SeekFrom::Start(0))?;
        f.sync_data()?;
        *len = 0;
        Ok(())
    }
}

/// The whole records at the start of `bytes`, and where they end.
fn parse(bytes: &[u8]) -> (Vec<Entry>, usize) {
    let mut entries = Vec::new();
    let mut at = 0;
    while let Some((entry, next)) = record(bytes, at) {
        entries.push(entry);
        at = next;
    }
    (entries, at)
}

/// The record at `at` and where the next begins; None when it is cut short or damaged.
fn record(bytes: &[u8], at: usize) -> Option<(Entry, usize)> {
    let header = bytes.get(at..at + HEADER)?;
    let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    if len > MAX_PAYLOAD {
        return None;
    }
    let payload = bytes.get(at + HEADER..at + HEADER + len)?;
    if crc32fast::hash(payload) != crc {
        return None;
    }
    let mut pairs = Vec::new();
    let mut rest = payload;
    while !rest.is_empty() {
        let (key, r) = field(rest)?;
        let (value, r) = field(r)?;
        pairs.push((key.to_vec(), value.to_vec()));
        rest = r;
    }
    Some((pairs, at + HEADER + len))
}

/// One length-prefixed field and what follows it.
fn field(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let value = bytes.get(4..4 + len)?;
    Some((value, &bytes[4 + len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_two(dir: &Path) -> u64 {
        let (log, entries) = CommitLog::open(dir).unwrap();
        assert!(entries.is_empty());
        log.append(&[(b"k1", b"v1"), (b"k2", b"")]);
        log.append(&[(b"k3", b"value three")]);
        let len = log.write().unwrap().unwrap();
        log.sync().unwrap();
        assert_eq!(log.write().unwrap(), None, "nothing appended since");
        len
    }

    #[test]
    fn records_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        write_two(dir.path());
        let (_, entries) = CommitLog::open(dir.path()).unwrap();
        assert_eq!(
            entries,
            vec![
                vec![
                    (b"k1".to_vec(), b"v1".to_vec()),
                    (b"k2".to_vec(), b"".to_vec())
                ],
                vec![(b"k3".to_vec(), b"value three".to_vec())],
            ]
        );
    }

    #[test]
    fn a_cut_or_damaged_tail_ends_the_log_and_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let len = write_two(dir.path());
        let path = dir.path().join(FILE_NAME);
        let whole = std::fs::read(&path).unwrap();
        // The second record cut short: only the first remains, and the file is cut there.
        std::fs::write(&path, &whole[..whole.len() - 3]).unwrap();
        let (log, entries) = CommitLog::open(dir.path()).unwrap();
        assert_eq!(entries.len(), 1);
        let first = len as usize - (HEADER + 8 + 2 + 11);
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, first);
        // New records follow the last whole one and read back.
        log.append(&[(b"k4", b"v4")]);
        log.write().unwrap();
        drop(log);
        let (_, entries) = CommitLog::open(dir.path()).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1], vec![(b"k4".to_vec(), b"v4".to_vec())]);
        // A flipped byte in a record's payload: that record and all after it are dropped.
        let mut damaged = std::fs::read(&path).unwrap();
        damaged[HEADER + 5] ^= 0xff;
        std::fs::write(&path, &damaged).unwrap();
        let (_, entries) = CommitLog::open(dir.path()).unwrap();
        assert!(entries.is_empty());
    }

    #[test]
    fn a_reset_empties_the_log() {
        let dir = tempfile::tempdir().unwrap();
        write_two(dir.path());
        let (log, entries) = CommitLog::open(dir.path()).unwrap();
        assert_eq!(entries.len(), 2);
        log.reset().unwrap();
        log.append(&[(b"k5", b"v5")]);
        assert_eq!(log.write().unwrap(), Some((HEADER + 8 + 4) as u64));
        drop(log);
        let (_, entries) = CommitLog::open(dir.path()).unwrap();
        assert_eq!(entries, vec![vec![(b"k5".to_vec(), b"v5".to_vec())]]);
    }
}
