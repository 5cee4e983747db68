//! Files encrypted at rest (recordings, shared documents) in independent
//! chunks, so a download can start anywhere without reading what comes
//! before it.
//!
//! Layout: a 32-byte header (`CNCLSEAL`, version 1, seven zero bytes, a
//! random 16-byte file id), then chunks of up to 64 KiB of plaintext, each
//! stored as a random 24-byte nonce, the XChaCha20-Poly1305 ciphertext and
//! its 16-byte tag. Every chunk's associated data is the header, the
//! chunk's index and whether it is the last, so chunks cannot be moved
//! between files or reordered, and a file cut at a chunk boundary fails
//! (its new last chunk was sealed as not last). Every file has a last
//! chunk, empty when the length is a multiple of 64 KiB, so the plaintext
//! length follows from the stored length alone. Random nonces (not a
//! counter) let a writer seal a chunk again after seeking back into it,
//! which the IVF writer does to patch its frame count.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

/// A file's data key: the key of its summary.
pub type FileKey = [u8; 32];

pub const MAGIC: &[u8; 8] = b"CNCLSEAL";
pub const HEADER_LEN: u64 = 32;
/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
/// Nonce and tag around each chunk's ciphertext.
pub const OVERHEAD: usize = 24 + 16;
const STORED_CHUNK: u64 = (CHUNK + OVERHEAD) as u64;

/// A file's header: magic, version and random id.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Header([u8; HEADER_LEN as usize]);

impl Header {
    pub fn new() -> Self {
        let mut bytes = [0u8; HEADER_LEN as usize];
        bytes[..8].copy_from_slice(MAGIC);
        bytes[8] = 1;
        rand::rngs::OsRng.fill_bytes(&mut bytes[16..]);
        Self(bytes)
    }

    /// The header of a sealed file, from its first bytes; `None` when they
    /// are not one (a file written before encryption at rest).
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let bytes: [u8; HEADER_LEN as usize] = bytes.get(..HEADER_LEN as usize)?.try_into().ok()?;
        (bytes[..8] == *MAGIC && bytes[8] == 1).then_some(Self(bytes))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Default for Header {
    fn default() -> Self {
        Self::new()
    }
}

/// Where chunk `index` starts in the stored file.
pub fn stored_offset(index: u64) -> u64 {
    HEADER_LEN + index * STORED_CHUNK
}

/// The plaintext length of a sealed file `stored` bytes long; `None` when
/// no sealed file has that length.
pub fn plain_len(stored: u64) -> Option<u64> {
    let body = stored.checked_sub(HEADER_LEN)?;
    let full = body / STORED_CHUNK;
    let rest = (body % STORED_CHUNK).checked_sub(OVERHEAD as u64)?;
    Some(full * CHUNK as u64 + rest)
}

/// The stored length of a sealed file of `plain` bytes.
pub fn stored_len(plain: u64) -> u64 {
    let full = plain / CHUNK as u64;
    stored_offset(full) + OVERHEAD as u64 + plain % CHUNK as u64
}

fn aad(header: &Header, index: u64, last: bool) -> [u8; HEADER_LEN as usize + 9] {
    let mut a = [0u8; HEADER_LEN as usize + 9];
    a[..32].copy_from_slice(&header.0);
    a[32..40].copy_from_slice(&index.to_be_bytes());
    a[40] = u8::from(last);
    a
}

/// Seals one chunk (at most [`CHUNK`] bytes).
pub fn seal_chunk(key: &FileKey, header: &Header, index: u64, last: bool, plain: &[u8]) -> Vec<u8> {
    debug_assert!(plain.len() <= CHUNK);
    let mut nonce = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let cipher = XChaCha20Poly1305::new(key.into());
    let sealed = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plain,
                aad: &aad(header, index, last),
            },
        )
        .expect("sealing a chunk cannot fail");
    let mut out = Vec::with_capacity(OVERHEAD + plain.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

/// Opens one stored chunk; `None` when the key is wrong, the bytes were
/// altered, or the chunk is not at `index` (or not `last`) in this file.
pub fn open_chunk(
    key: &FileKey,
    header: &Header,
    index: u64,
    last: bool,
    stored: &[u8],
) -> Option<Vec<u8>> {
    if stored.len() < OVERHEAD {
        return None;
    }
    let (nonce, body) = stored.split_at(24);
    XChaCha20Poly1305::new(key.into())
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: body,
                aad: &aad(header, index, last),
            },
        )
        .ok()
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// Seals a stream that is only appended to (an upload): hand it bytes as
/// they come, write out what it returns.
pub struct AppendSealer {
    key: FileKey,
    header: Header,
    index: u64,
    pending: Vec<u8>,
}

impl AppendSealer {
    /// A new file; the header is the first bytes to write.
    pub fn new(key: FileKey) -> (Self, Header) {
        let header = Header::new();
        let sealer = Self {
            key,
            header,
            index: 0,
            pending: Vec::with_capacity(CHUNK),
        };
        (sealer, header)
    }

    fn seal_pending(&mut self, last: bool) -> Vec<u8> {
        let stored = seal_chunk(&self.key, &self.header, self.index, last, &self.pending);
        self.index += 1;
        self.pending.clear();
        stored
    }

    /// Takes `data`; returns the stored bytes of every chunk it completed.
    /// A full chunk is sealed only once more follows: the last chunk is
    /// sealed as last, and a file whose length is a multiple of 64 KiB
    /// ends with an empty one.
    pub fn push(&mut self, mut data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        while !data.is_empty() {
            if self.pending.len() == CHUNK {
                out.extend(self.seal_pending(false));
            }
            let n = (CHUNK - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        out
    }

    /// The stored bytes of what is left, the last chunk included.
    pub fn finish(mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.pending.len() == CHUNK {
            out.extend(self.seal_pending(false));
        }
        out.extend(self.seal_pending(true));
        out
    }
}

/// A sealed file being written with seeks (the recording writers): bytes
/// before the last chunk are sealed as each 64 KiB fills; a write into an
/// earlier chunk opens it, and seals it again (fresh nonce) when the
/// writer moves away. Clones share the file, so the recorder can
/// [`finish`](Self::finish) it after handing a clone to a media writer.
#[derive(Clone)]
pub struct SealedWriter(Arc<Mutex<Inner>>);

struct Inner {
    file: File,
    key: FileKey,
    header: Header,
    /// Plaintext length so far.
    len: u64,
    pos: u64,
    /// Plaintext of the last chunk (index `len / CHUNK`), not yet stored.
    tail: Vec<u8>,
    /// An earlier chunk being patched, and whether it changed.
    patch: Option<(u64, Vec<u8>, bool)>,
    finished: bool,
}

impl SealedWriter {
    /// Starts a sealed file in `file` (created empty, opened for reading too).
    pub fn new(mut file: File, key: FileKey) -> io::Result<Self> {
        let header = Header::new();
        file.write_all(header.bytes())?;
        Ok(Self(Arc::new(Mutex::new(Inner {
            file,
            key,
            header,
            len: 0,
            pos: 0,
            tail: Vec::with_capacity(CHUNK),
            patch: None,
            finished: false,
        }))))
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seals what is left and returns the plaintext length. Later calls
    /// return the same length and write nothing.
    pub fn finish(&self) -> io::Result<u64> {
        self.inner().finish()
    }
}

impl Inner {
    fn flush_patch(&mut self) -> io::Result<()> {
        if let Some((index, plain, dirty)) = self.patch.take() {
            if dirty {
                let stored = seal_chunk(&self.key, &self.header, index, false, &plain);
                self.file.write_all_at(&stored, stored_offset(index))?;
            }
        }
        Ok(())
    }

    fn load_patch(&mut self, index: u64) -> io::Result<()> {
        if matches!(self.patch, Some((i, _, _)) if i == index) {
            return Ok(());
        }
        self.flush_patch()?;
        let mut stored = vec![0u8; STORED_CHUNK as usize];
        self.file.read_exact_at(&mut stored, stored_offset(index))?;
        let plain = open_chunk(&self.key, &self.header, index, false, &stored)
            .ok_or_else(|| invalid("a sealed chunk does not open"))?;
        self.patch = Some((index, plain, false));
        Ok(())
    }

    fn write_some(&mut self, buf: &[u8]) -> io::Result<usize> {
        let last = self.len / CHUNK as u64;
        let index = self.pos / CHUNK as u64;
        let off = (self.pos % CHUNK as u64) as usize;
        let n = (CHUNK - off).min(buf.len());
        if index == last {
            let end = off + n;
            if self.tail.len() < end {
                self.tail.resize(end, 0);
            }
            self.tail[off..end].copy_from_slice(&buf[..n]);
            self.pos += n as u64;
            self.len = self.len.max(self.pos);
            if self.tail.len() == CHUNK {
                let stored = seal_chunk(&self.key, &self.header, last, false, &self.tail);
                self.file.write_all_at(&stored, stored_offset(last))?;
                self.tail.clear();
            }
        } else {
            self.load_patch(index)?;
            if let Some((_, plain, dirty)) = &mut self.patch {
                plain[off..off + n].copy_from_slice(&buf[..n]);
                *dirty = true;
            }
            self.pos += n as u64;
        }
        Ok(n)
    }

    fn finish(&mut self) -> io::Result<u64> {
        if self.finished {
            return Ok(self.len);
        }
        self.flush_patch()?;
        let last = self.len / CHUNK as u64;
        let stored = seal_chunk(&self.key, &self.header, last, true, &self.tail);
        self.file.write_all_at(&stored, stored_offset(last))?;
        self.file.set_len(stored_len(self.len))?;
        self.file.sync_all()?;
        self.finished = true;
        Ok(self.len)
    }
}

impl Write for SealedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut inner = self.inner();
        if inner.finished {
            return Err(io::Error::other("the sealed file is finished"));
        }
        // Past the end: the gap reads as zeros, as in a plain file.
        while inner.pos > inner.len {
            let gap = (inner.pos - inner.len).min(CHUNK as u64) as usize;
            let at = inner.pos;
            inner.pos = inner.len;
            let zeros = vec![0u8; gap];
            let mut done = 0;
            while done < gap {
                done += inner.write_some(&zeros[done..])?;
            }
            inner.pos = at;
        }
        let mut done = 0;
        while done < buf.len() {
            done += inner.write_some(&buf[done..])?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner().flush_patch()
    }
}

impl Seek for SealedWriter {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let mut inner = self.inner();
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => inner.len.checked_add_signed(d),
            SeekFrom::Current(d) => inner.pos.checked_add_signed(d),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        inner.pos = pos;
        Ok(pos)
    }
}

/// A sealed file opened for reading, chunk by chunk.
pub struct SealedReader {
    file: File,
    key: FileKey,
    header: Header,
    len: u64,
    /// For [`Read`]: the next plaintext position.
    pos: u64,
}

impl SealedReader {
    pub fn open(file: File, key: FileKey) -> io::Result<Self> {
        let mut first = [0u8; HEADER_LEN as usize];
        file.read_exact_at(&mut first, 0)
            .map_err(|_| invalid("not a sealed file"))?;
        let header = Header::parse(&first).ok_or_else(|| invalid("not a sealed file"))?;
        let len = plain_len(file.metadata()?.len())
            .ok_or_else(|| invalid("a sealed file of impossible length"))?;
        Ok(Self {
            file,
            key,
            header,
            len,
            pos: 0,
        })
    }

    /// The plaintext length.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many chunks the file has (at least one).
    pub fn chunks(&self) -> u64 {
        self.len / CHUNK as u64 + 1
    }

    /// The plaintext of chunk `index`.
    pub fn chunk(&self, index: u64) -> io::Result<Vec<u8>> {
        let last = index + 1 == self.chunks();
        if index >= self.chunks() {
            return Err(invalid("no such chunk"));
        }
        let size = if last {
            (self.len % CHUNK as u64) as usize + OVERHEAD
        } else {
            STORED_CHUNK as usize
        };
        let mut stored = vec![0u8; size];
        self.file.read_exact_at(&mut stored, stored_offset(index))?;
        open_chunk(&self.key, &self.header, index, last, &stored)
            .ok_or_else(|| invalid("a sealed chunk does not open"))
    }
}

impl Read for SealedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            // The last chunk is checked even when it is empty: a file cut
            // at a chunk boundary must not read as complete.
            if self.pos == self.len && self.len.is_multiple_of(CHUNK as u64) {
                self.chunk(self.chunks() - 1)?;
                self.pos += 1;
            }
            return Ok(0);
        }
        let index = self.pos / CHUNK as u64;
        let off = (self.pos % CHUNK as u64) as usize;
        let plain = self.chunk(index)?;
        let n = (plain.len() - off).min(buf.len());
        buf[..n].copy_from_slice(&plain[off..off + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> FileKey {
        [b; 32]
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn read_all(path: &std::path::Path, k: FileKey) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        SealedReader::open(File::open(path)?, k)?.read_to_end(&mut out)?;
        Ok(out)
    }

    fn writer(path: &std::path::Path, k: FileKey) -> SealedWriter {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .unwrap();
        SealedWriter::new(file, k).unwrap()
    }

    #[test]
    fn lengths_round_trip_at_every_boundary() {
        for plain in [
            0,
            1,
            CHUNK as u64 - 1,
            CHUNK as u64,
            CHUNK as u64 + 1,
            3 * CHUNK as u64,
            1 << 30,
        ] {
            assert_eq!(plain_len(stored_len(plain)), Some(plain), "{plain}");
        }
        assert_eq!(plain_len(HEADER_LEN + 10), None);
        assert_eq!(plain_len(5), None);
    }

    #[test]
    fn written_bytes_read_back_and_never_appear_in_clear() {
        let dir = tempfile::tempdir().unwrap();
        for size in [0, 10, CHUNK, CHUNK + 7, 3 * CHUNK] {
            let path = dir.path().join(format!("f{size}"));
            let data = pattern(size);
            let mut w = writer(&path, key(1));
            for part in data.chunks(1000) {
                w.write_all(part).unwrap();
            }
            assert_eq!(w.finish().unwrap(), size as u64);
            let stored = std::fs::read(&path).unwrap();
            assert_eq!(stored.len() as u64, stored_len(size as u64));
            if size >= 64 {
                assert!(!stored.windows(64).any(|w| w == &data[..64]), "{size}");
            }
            assert_eq!(read_all(&path, key(1)).unwrap(), data, "{size}");
            assert!(
                read_all(&path, key(2)).is_err(),
                "another key opens nothing"
            );
        }
    }

    #[test]
    fn the_append_sealer_writes_what_the_reader_reads() {
        let dir = tempfile::tempdir().unwrap();
        for size in [0, 5, CHUNK, 2 * CHUNK, 2 * CHUNK + 3] {
            let data = pattern(size);
            let (mut s, header) = AppendSealer::new(key(3));
            let mut stored = header.bytes().to_vec();
            for part in data.chunks(10_000) {
                stored.extend(s.push(part));
            }
            stored.extend(s.finish());
            let path = dir.path().join(format!("a{size}"));
            std::fs::write(&path, &stored).unwrap();
            assert_eq!(read_all(&path, key(3)).unwrap(), data, "{size}");
        }
    }

    #[test]
    fn seeking_back_patches_an_earlier_chunk_as_the_ivf_writer_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ivf");
        let mut data = pattern(3 * CHUNK + 100);
        let mut w = writer(&path, key(4));
        w.write_all(&data).unwrap();
        w.seek(SeekFrom::Start(24)).unwrap();
        w.write_all(&[9, 9, 9, 9]).unwrap();
        w.seek(SeekFrom::Start(CHUNK as u64 * 2 - 2)).unwrap();
        w.write_all(&[7; 4]).unwrap();
        w.flush().unwrap();
        w.seek(SeekFrom::End(0)).unwrap();
        w.write_all(&[5; 3]).unwrap();
        w.finish().unwrap();
        data[24..28].copy_from_slice(&[9; 4]);
        data[CHUNK * 2 - 2..CHUNK * 2 + 2].copy_from_slice(&[7; 4]);
        data.extend([5; 3]);
        assert_eq!(read_all(&path, key(4)).unwrap(), data);
    }

    #[test]
    fn altered_reordered_or_cut_files_do_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data = pattern(2 * CHUNK);
        let mut w = writer(&path, key(5));
        w.write_all(&data).unwrap();
        w.finish().unwrap();
        let stored = std::fs::read(&path).unwrap();
        let bad = dir.path().join("bad");
        let flipped = {
            let mut s = stored.clone();
            s[HEADER_LEN as usize + 100] ^= 1;
            s
        };
        let swapped = {
            let mut s = stored.clone();
            let (a, b) = (stored_offset(0) as usize, stored_offset(1) as usize);
            let n = STORED_CHUNK as usize;
            s[a..a + n].copy_from_slice(&stored[b..b + n]);
            s[b..b + n].copy_from_slice(&stored[a..a + n]);
            s
        };
        // Cut at a chunk boundary: the empty last chunk is gone.
        let cut = stored[..stored_offset(2) as usize].to_vec();
        let other_header = {
            let mut s = stored.clone();
            s[20] ^= 1;
            s
        };
        for (what, bytes) in [
            ("flipped", flipped),
            ("swapped", swapped),
            ("cut", cut),
            ("header", other_header),
        ] {
            std::fs::write(&bad, &bytes).unwrap();
            assert!(read_all(&bad, key(5)).is_err(), "{what}");
        }
        assert_eq!(read_all(&path, key(5)).unwrap(), data);
    }

    #[test]
    fn a_plain_file_is_not_taken_for_a_sealed_one() {
        assert!(Header::parse(b"OggS\0\x02").is_none());
        assert!(Header::parse(Header::new().bytes()).is_some());
    }
}
