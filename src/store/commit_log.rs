//! The sled store's commit log: quote updates made durable by a write and one
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
//! The file is written in place, never appended to or cut: records overwrite blocks the
//! file already has, so `fdatasync` writes data alone, without a journal commit for the
//! file's new length (on ext4 a group's write and sync took 0.14-0.19 ms instead of
//! 0.26-0.28 and less CPU, `scripts/bench_log_sync.py`; BENCHMARKS.md has what it gave
//! commits). The file grows only past its end, in steps, and an emptied log
//! keeps its blocks. Records left from before the log was emptied stay in the file, so
//! each emptying starts a new random *generation*, written in the file's header, and every
//! record's checksum covers the generation: a record of an earlier one does not verify.
//!
//! Format: a header of `[magic: 8 bytes][generation: u64 LE][crc32 of both: u32 LE]`,
//! padded to [`HEADER_AREA`], then records of `[payload length: u32 LE][crc32 of the
//! generation, the length and the payload: u32 LE][payload]`, the payload a sequence of
//! `[key length: u32 LE][key][value length: u32 LE][value]`. The first record that is cut
//! short, damaged or of another generation ends the log: it was never acknowledged (its
//! sync did not return), and neither was anything after it. A file without the magic is
//! the format before this one (records from the file's start, checksums of the payload
//! alone); it is replayed and then rewritten in this format.

use std::fs::{File, OpenOptions};
use std::io::{Error, ErrorKind, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

/// Where the log lives inside the data directory.
pub const FILE_NAME: &str = "levy-commit-log";

/// The file's header: magic, generation and their checksum, padded; records follow it.
const HEADER_AREA: u64 = 32;

const MAGIC: &[u8; 8] = b"LEVYLOG\x02";

/// A record's header: length and checksum.
const HEADER: usize = 8;

/// A record larger than this is damage, not a quote (records are compressed versions).
const MAX_PAYLOAD: usize = 1 << 31;

/// The file grows by at least this much (a test's store stays small) and at most
/// [`MAX_GROWTH`]; in between, by its own size.
const MIN_GROWTH: u64 = 256 << 10;
const MAX_GROWTH: u64 = 8 << 20;

/// One record: the (key, value) pairs of one update, in the order they were applied.
pub type Entry = Vec<(Vec<u8>, Vec<u8>)>;

pub struct CommitLog {
    /// Records appended and not yet written; their checksums are filled in when they are
    /// written, in the generation they are written in.
    pending: Mutex<Vec<u8>>,
    /// The file; only the flusher (and a checkpoint) writes it.
    file: Mutex<LogFile>,
}

struct LogFile {
    file: File,
    generation: u64,
    /// Where the next record goes.
    end: u64,
    /// The file's length: blocks it has, which records overwrite.
    allocated: u64,
    /// What follows `end` may hold records of this generation (a write failed, or the
    /// log was opened with records to replay): nothing is written before a reset.
    must_reset: bool,
}

impl CommitLog {
    /// Opens (or creates) the log in `dir` and reads its records. With records, the
    /// caller applies them and then [`CommitLog::reset`]s (after a checkpoint); without,
    /// the log starts a new generation here.
    pub fn open(dir: &Path) -> std::io::Result<(CommitLog, Vec<Entry>)> {
        let path = dir.join(FILE_NAME);
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        if bytes.is_empty() {
            // A new file: its name must survive a crash like its records.
            File::open(dir)?.sync_all()?;
        }
        let (generation, entries, end) = read(&bytes)?;
        let log = CommitLog {
            pending: Mutex::new(Vec::new()),
            file: Mutex::new(LogFile {
                file,
                generation: generation.unwrap_or(0),
                end,
                allocated: bytes.len() as u64,
                must_reset: true,
            }),
        };
        if entries.is_empty() {
            log.reset()?;
        }
        Ok((log, entries))
    }

    /// Appends one record of `pairs` to what the next [`CommitLog::write`] writes.
    pub fn append(&self, pairs: &[(&[u8], &[u8])]) {
        let len: usize = pairs.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.reserve(HEADER + len);
        pending.extend_from_slice(&(len as u32).to_le_bytes());
        pending.extend_from_slice(&[0; 4]);
        for (k, v) in pairs {
            pending.extend_from_slice(&(k.len() as u32).to_le_bytes());
            pending.extend_from_slice(k);
            pending.extend_from_slice(&(v.len() as u32).to_le_bytes());
            pending.extend_from_slice(v);
        }
    }

    /// Writes every record appended so far, without syncing; returns the length of the
    /// log's records, or None when there was nothing to write. After an error nothing
    /// more is written until a [`CommitLog::reset`].
    pub fn write(&self) -> std::io::Result<Option<u64>> {
        let mut batch = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            if pending.is_empty() {
                return Ok(None);
            }
            // The next batch starts with a buffer about this size.
            let capacity = pending.len();
            std::mem::replace(&mut *pending, Vec::with_capacity(capacity))
        };
        let mut log = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if log.must_reset {
            return Err(Error::other("the commit log must be emptied first"));
        }
        seal(&mut batch, log.generation);
        let end = log.end + batch.len() as u64;
        let written = log
            .grow_to(end)
            .and_then(|_| log.file.write_all_at(&batch, log.end));
        if let Err(e) = written {
            // Part of the batch may be in the file, verifiable: nothing may follow it.
            log.must_reset = true;
            return Err(e);
        }
        log.end = end;
        Ok(Some(end - HEADER_AREA))
    }

    /// The length of the records written in this generation (0 for a log in the format
    /// before, waiting for its replay: its records may end inside the header's room).
    pub fn written(&self) -> u64 {
        let log = self.file.lock().unwrap_or_else(|p| p.into_inner());
        log.end.saturating_sub(HEADER_AREA)
    }

    /// Makes what was written durable.
    pub fn sync(&self) -> std::io::Result<()> {
        let log = self.file.lock().unwrap_or_else(|p| p.into_inner());
        log.file.sync_data()
    }

    /// Empties the log (everything in it is durable in sled: a checkpoint) by starting a
    /// new generation; the file keeps its blocks.
    pub fn reset(&self) -> std::io::Result<()> {
        let mut log = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let generation = loop {
            let g = uuid::Uuid::new_v4().as_u64_pair().0;
            if g != 0 && g != log.generation {
                break g;
            }
        };
        log.file.write_all_at(&header(generation), 0)?;
        log.file.sync_data()?;
        log.allocated = log.allocated.max(HEADER_AREA);
        log.generation = generation;
        log.end = HEADER_AREA;
        log.must_reset = false;
        Ok(())
    }
}

impl LogFile {
    /// Makes the file at least `end` long, with zeros written (not a sparse or unwritten
    /// range, whose first write would change the file's metadata again).
    fn grow_to(&mut self, end: u64) -> std::io::Result<()> {
        if end <= self.allocated {
            return Ok(());
        }
        let to = end + self.allocated.clamp(MIN_GROWTH, MAX_GROWTH);
        let zeros = vec![0u8; (to - self.allocated) as usize];
        self.file.write_all_at(&zeros, self.allocated)?;
        self.allocated = to;
        Ok(())
    }
}

/// The file's header for `generation`.
fn header(generation: u64) -> [u8; HEADER_AREA as usize] {
    let mut h = [0u8; HEADER_AREA as usize];
    h[..8].copy_from_slice(MAGIC);
    h[8..16].copy_from_slice(&generation.to_le_bytes());
    let crc = crc32fast::hash(&h[..16]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Fills in the checksums of a batch of appended records, for `generation`.
fn seal(batch: &mut [u8], generation: u64) {
    let mut at = 0;
    while at < batch.len() {
        let len = u32::from_le_bytes(batch[at..at + 4].try_into().expect("4 bytes")) as usize;
        let crc = checksum(
            Some(generation),
            &batch[at..at + 4],
            &batch[at + HEADER..at + HEADER + len],
        );
        batch[at + 4..at + HEADER].copy_from_slice(&crc.to_le_bytes());
        at += HEADER + len;
    }
}

/// A record's checksum: of its generation, length and payload; in the format before
/// generations, of the payload alone.
fn checksum(generation: Option<u64>, len: &[u8], payload: &[u8]) -> u32 {
    let Some(generation) = generation else {
        return crc32fast::hash(payload);
    };
    let mut h = crc32fast::Hasher::new();
    h.update(&generation.to_le_bytes());
    h.update(len);
    h.update(payload);
    h.finalize()
}

/// The file's generation (None: none yet, or the format before generations), its
/// records and where the next record goes.
fn read(bytes: &[u8]) -> std::io::Result<(Option<u64>, Vec<Entry>, u64)> {
    if bytes.starts_with(MAGIC) {
        let head = bytes.get(..20).ok_or_else(damaged_header)?;
        let crc = u32::from_le_bytes(head[16..20].try_into().expect("4 bytes"));
        if crc32fast::hash(&head[..16]) != crc {
            return Err(damaged_header());
        }
        let generation = u64::from_le_bytes(head[8..16].try_into().expect("8 bytes"));
        let (entries, end) = parse(bytes, HEADER_AREA as usize, Some(generation));
        return Ok((Some(generation), entries, end as u64));
    }
    if bytes.iter().take(HEADER_AREA as usize).all(|b| *b == 0) {
        // New, or created and never given its header (a crash right after).
        return Ok((None, Vec::new(), HEADER_AREA));
    }
    let (entries, end) = parse(bytes, 0, None);
    if end < bytes.len() && !entries.is_empty() {
        tracing::warn!(
            cut = bytes.len() - end,
            "the commit log ends in an unfinished record (never acknowledged); ignored"
        );
    }
    Ok((None, entries, end as u64))
}

fn damaged_header() -> Error {
    Error::new(ErrorKind::InvalidData, "the commit log's header is damaged")
}

/// The records of `generation` from `at`, and where they end.
fn parse(bytes: &[u8], mut at: usize, generation: Option<u64>) -> (Vec<Entry>, usize) {
    let mut entries = Vec::new();
    while let Some((entry, next)) = record(bytes, at, generation) {
        entries.push(entry);
        at = next;
    }
    (entries, at)
}

/// The record at `at` and where the next begins; None when it is cut short, damaged or
/// of another generation.
fn record(bytes: &[u8], at: usize, generation: Option<u64>) -> Option<(Entry, usize)> {
    let header = bytes.get(at..at + HEADER)?;
    let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    if len == 0 || len > MAX_PAYLOAD {
        return None;
    }
    let payload = bytes.get(at + HEADER..at + HEADER + len)?;
    if checksum(generation, &header[..4], payload) != crc {
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

    fn open(dir: &Path) -> (CommitLog, Vec<Entry>) {
        CommitLog::open(dir).unwrap()
    }

    fn file_len(dir: &Path) -> u64 {
        std::fs::metadata(dir.join(FILE_NAME)).unwrap().len()
    }

    fn write_two(dir: &Path) -> u64 {
        let (log, entries) = open(dir);
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
        let (_, entries) = open(dir.path());
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
    fn a_cut_or_damaged_record_ends_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let len = write_two(dir.path());
        let path = dir.path().join(FILE_NAME);
        let whole = std::fs::read(&path).unwrap();
        let end = (HEADER_AREA + len) as usize;
        // The second record cut short: only the first remains.
        let mut cut = whole.clone();
        cut[end - 3..end].fill(0);
        std::fs::write(&path, &cut).unwrap();
        let (log, entries) = open(dir.path());
        assert_eq!(entries.len(), 1);
        // After the replay's reset, new records are the only ones.
        log.reset().unwrap();
        log.append(&[(b"k4", b"v4")]);
        log.write().unwrap();
        drop(log);
        let (_, entries) = open(dir.path());
        assert_eq!(entries, vec![vec![(b"k4".to_vec(), b"v4".to_vec())]]);
        // A flipped byte in a record's payload: that record and all after it are dropped.
        let mut damaged = std::fs::read(&path).unwrap();
        damaged[HEADER_AREA as usize + HEADER + 5] ^= 0xff;
        std::fs::write(&path, &damaged).unwrap();
        let (_, entries) = open(dir.path());
        assert!(entries.is_empty());
    }

    #[test]
    fn records_from_before_a_reset_do_not_come_back() {
        let dir = tempfile::tempdir().unwrap();
        write_two(dir.path());
        let (log, entries) = open(dir.path());
        assert_eq!(entries.len(), 2);
        log.reset().unwrap();
        // As long as the old first record, so that the old second one starts right where
        // this one ends: only its generation tells it apart.
        log.append(&[(b"K1", b"V1"), (b"K2", b"")]);
        assert_eq!(log.write().unwrap(), Some((HEADER + 8 + 4 + 8 + 2) as u64));
        log.sync().unwrap();
        drop(log);
        let (_, entries) = open(dir.path());
        assert_eq!(
            entries,
            vec![vec![
                (b"K1".to_vec(), b"V1".to_vec()),
                (b"K2".to_vec(), b"".to_vec())
            ]]
        );
    }

    #[test]
    fn the_file_is_written_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = open(dir.path());
        log.append(&[(b"k", b"v")]);
        log.write().unwrap();
        let grown = file_len(dir.path());
        assert!(
            grown >= HEADER_AREA + MIN_GROWTH,
            "grown by a step: {grown}"
        );
        for _ in 0..100 {
            log.append(&[(b"k", &[7u8; 1000])]);
            log.write().unwrap();
        }
        assert_eq!(
            file_len(dir.path()),
            grown,
            "records overwrite the step's zeros"
        );
        log.reset().unwrap();
        assert_eq!(
            file_len(dir.path()),
            grown,
            "an emptied log keeps its blocks"
        );
        let big = vec![1u8; 2 * grown as usize];
        log.append(&[(b"k", &big)]);
        log.write().unwrap();
        assert!(file_len(dir.path()) > 2 * grown);
        drop(log);
        let (_, entries) = open(dir.path());
        assert_eq!(entries, vec![vec![(b"k".to_vec(), big)]]);
    }

    #[test]
    fn a_log_with_records_to_replay_takes_no_more_until_reset() {
        let dir = tempfile::tempdir().unwrap();
        write_two(dir.path());
        let (log, entries) = open(dir.path());
        assert_eq!(entries.len(), 2);
        log.append(&[(b"k5", b"v5")]);
        assert!(log.write().is_err());
        log.reset().unwrap();
        log.append(&[(b"k6", b"v6")]);
        assert_eq!(log.write().unwrap(), Some((HEADER + 8 + 4) as u64));
    }

    #[test]
    fn the_format_before_generations_is_read() {
        let dir = tempfile::tempdir().unwrap();
        // [len][crc32 of the payload][payload] from the file's start, then a cut record.
        let payload = [&2u32.to_le_bytes()[..], b"k1", &2u32.to_le_bytes(), b"v1"].concat();
        let mut old = (payload.len() as u32).to_le_bytes().to_vec();
        old.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        old.extend_from_slice(&payload);
        old.extend_from_slice(&[9, 0, 0]);
        std::fs::write(dir.path().join(FILE_NAME), &old).unwrap();
        let (log, entries) = open(dir.path());
        assert_eq!(entries, vec![vec![(b"k1".to_vec(), b"v1".to_vec())]]);
        // Its one record ends 20 bytes in, inside the new format's header room.
        assert_eq!(log.written(), 0);
        log.reset().unwrap();
        drop(log);
        let (_, entries) = open(dir.path());
        assert!(entries.is_empty(), "rewritten in the new format, empty");
        assert!(std::fs::read(dir.path().join(FILE_NAME))
            .unwrap()
            .starts_with(MAGIC));
    }

    #[test]
    fn a_damaged_header_is_an_error_and_a_zeroed_one_an_empty_log() {
        let dir = tempfile::tempdir().unwrap();
        write_two(dir.path());
        let path = dir.path().join(FILE_NAME);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[9] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(CommitLog::open(dir.path()).is_err());
        std::fs::write(&path, vec![0u8; 4096]).unwrap();
        let (log, entries) = open(dir.path());
        assert!(entries.is_empty());
        log.append(&[(b"k", b"v")]);
        log.write().unwrap();
        drop(log);
        assert_eq!(open(dir.path()).1.len(), 1);
    }
}
