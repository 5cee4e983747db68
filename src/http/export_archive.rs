//! The tar archive of an account export (`export.rs`): entries written in
//! the order they arrive, each hashed as it goes, then `manifest.json`.
//! Every entry's bytes pass through in pieces: small JSON is built in
//! memory, a conference's history is spooled to an unnamed file page by
//! page ([`Spool`]) since a tar header needs the size first, and files are
//! read from disk.

use std::io::{Read, Seek, Write};

use bytes::Bytes;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

pub(super) const ROOT: &str = "conclave-export";

/// One entry of the archive, under its name below `conclave-export/`.
pub(super) enum Entry {
    /// Small JSON, built whole.
    Json(String, Value),
    /// A finished spool (rewound).
    Spooled(String, std::fs::File),
    /// A file on disk.
    File(String, std::path::PathBuf),
    /// A file on disk sealed with its summary's key, decrypted into the
    /// archive (docs/encryption.md).
    Sealed(
        String,
        std::path::PathBuf,
        conclave_media::sealed_file::FileKey,
    ),
    /// Reading the account failed part-way: the archive stops without its
    /// manifest, so it can never pass for complete.
    Failed,
}

/// A JSON array written an element at a time to an unnamed file on the
/// data disk, with the same bytes `serde_json::to_vec_pretty` gives the
/// whole array.
pub(super) struct Spool {
    file: tokio::io::BufWriter<tokio::fs::File>,
    empty: bool,
}

impl Spool {
    pub async fn new(dir: std::path::PathBuf) -> std::io::Result<Spool> {
        let file = tokio::task::spawn_blocking(move || {
            create_private_dir(&dir)?;
            tempfile::tempfile_in(&dir)
        })
        .await
        .map_err(std::io::Error::other)??;
        let mut file = tokio::io::BufWriter::new(tokio::fs::File::from_std(file));
        file.write_all(b"[").await?;
        Ok(Spool { file, empty: true })
    }

    pub async fn push<T: Serialize>(&mut self, item: &T) -> std::io::Result<()> {
        // Pretty JSON has raw newlines only between tokens (strings escape
        // theirs), so indenting each line nests the element in the array.
        let text = serde_json::to_string_pretty(item)?.replace('\n', "\n  ");
        let lead: &[u8] = if self.empty { b"\n  " } else { b",\n  " };
        self.empty = false;
        self.file.write_all(lead).await?;
        self.file.write_all(text.as_bytes()).await
    }

    pub async fn finish(mut self) -> std::io::Result<std::fs::File> {
        let end: &[u8] = if self.empty { b"]" } else { b"\n]" };
        self.file.write_all(end).await?;
        self.file.flush().await?;
        let mut file = self.file.into_inner().into_std().await;
        file.rewind()?;
        Ok(file)
    }
}

fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Sends what the archive writer writes, 64 KiB at a time.
pub(super) struct Sink {
    pub tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    pub buf: Vec<u8>,
}

impl Sink {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the download stopped")
        })
    }
}

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Reads through while hashing what it read.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        self.hash.update(&out[..n]);
        Ok(n)
    }
}

fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o600);
    h.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    );
    h.set_entry_type(tar::EntryType::Regular);
    h
}

/// Appends `size` bytes read from `from`, returning their SHA-256.
fn append(
    tar: &mut tar::Builder<Sink>,
    name: &str,
    size: u64,
    from: impl Read,
) -> std::io::Result<String> {
    let mut reading = Hashing {
        inner: from.take(size),
        hash: Sha256::new(),
    };
    tar.append_data(&mut header(size), format!("{ROOT}/{name}"), &mut reading)?;
    Ok(hex::encode(reading.hash.finalize()))
}

/// Writes every entry as it arrives, then `manifest.json`.
pub(super) fn write(entries: impl Iterator<Item = Entry>, sink: Sink) -> std::io::Result<()> {
    let mut tar = tar::Builder::new(sink);
    let mut manifest = Vec::new();
    for entry in entries {
        let (name, size, sha256) = match entry {
            Entry::Json(name, value) => {
                let bytes = serde_json::to_vec_pretty(&value)?;
                let size = bytes.len() as u64;
                let sha256 = append(&mut tar, &name, size, bytes.as_slice())?;
                (name, size, sha256)
            }
            Entry::Spooled(name, file) => {
                let size = file.metadata()?.len();
                let sha256 = append(&mut tar, &name, size, file)?;
                (name, size, sha256)
            }
            Entry::File(name, path) => {
                let file = std::fs::File::open(&path)?;
                let size = file.metadata()?.len();
                let sha256 = append(&mut tar, &name, size, file)?;
                (name, size, sha256)
            }
            Entry::Sealed(name, path, key) => {
                let reader = conclave_media::sealed_file::SealedReader::open(
                    std::fs::File::open(&path)?,
                    key,
                )?;
                let size = reader.len();
                let sha256 = append(&mut tar, &name, size, reader)?;
                (name, size, sha256)
            }
            Entry::Failed => {
                return Err(std::io::Error::other(
                    "the account could not be read to the end",
                ))
            }
        };
        manifest.push(json!({"path": name, "bytes": size, "sha256": sha256}));
    }
    let body = serde_json::to_vec_pretty(&json!({
        "format": "conclave-export/1",
        "exported_at": chrono::Utc::now().to_rfc3339(),
        "entries": manifest,
    }))?;
    append(
        &mut tar,
        "manifest.json",
        body.len() as u64,
        body.as_slice(),
    )?;
    let mut sink = tar.into_inner()?;
    sink.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn spooled(items: &[Value]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path().join("spool")).await.unwrap();
        for item in items {
            spool.push(item).await.unwrap();
        }
        let mut out = Vec::new();
        spool.finish().await.unwrap().read_to_end(&mut out).unwrap();
        out
    }

    #[tokio::test]
    async fn a_spool_writes_what_pretty_printing_the_whole_array_writes() {
        for items in [
            vec![],
            vec![json!({"a": 1})],
            vec![
                json!({"name": "line\nbreak, \"quoted\"", "seats": [1, {"b": null}], "empty": []}),
                json!("text"),
                json!([[], {}]),
            ],
        ] {
            let whole = serde_json::to_vec_pretty(&items).unwrap();
            assert_eq!(
                String::from_utf8(spooled(&items).await).unwrap(),
                String::from_utf8(whole).unwrap()
            );
        }
    }
}
