//! Files sent to a client (recordings, shared documents): streamed 64 KiB
//! at a time, decrypted on the fly when sealed (src/summary_keys.rs), and
//! with single byte ranges (RFC 9110 `Range: bytes=`), so a player can
//! seek in an hour of recording without the server reading what comes
//! before. A sealed file is read from the chunk holding the range's start.

use std::io;
use std::sync::Arc;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use conclave_media::sealed_file::{FileKey, SealedReader, CHUNK};

use crate::error::AppError;

/// A file opened for sending.
pub(crate) enum Source {
    Clear(std::fs::File, u64),
    Sealed(Arc<SealedReader>),
}

impl Source {
    /// Opens `path`, sealed with `key` when given.
    pub(crate) fn open(path: &std::path::Path, key: Option<FileKey>) -> io::Result<Self> {
        let file = std::fs::File::open(path)?;
        Ok(match key {
            Some(key) => Source::Sealed(Arc::new(SealedReader::open(file, key)?)),
            None => {
                let len = file.metadata()?.len();
                Source::Clear(file, len)
            }
        })
    }

    /// The length the client sees.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Source::Clear(_, len) => *len,
            Source::Sealed(r) => r.len(),
        }
    }
}

/// The single range asked for, within a file of `len` bytes: `None` for
/// the whole file, `Err` when it cannot be satisfied. Several ranges are
/// answered with the whole file, which RFC 9110 allows.
fn range(req: &HttpRequest, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(value) = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        // The last `b` bytes.
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        (len.saturating_sub(n), len)
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() {
            len
        } else {
            b.parse::<u64>().map_err(|_| ())?.saturating_add(1).min(len)
        };
        (start, end)
    };
    if start >= len || start >= end {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// Bytes `[start, end)` of the source, a chunk at a time off the
/// async threads.
fn stream(
    source: Source,
    start: u64,
    end: u64,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, io::Error>> {
    let source = Arc::new(source);
    futures_util::stream::unfold(start, move |at| {
        let source = source.clone();
        async move {
            if at >= end {
                return None;
            }
            let read = tokio::task::spawn_blocking(move || read_at(&source, at, end))
                .await
                .unwrap_or_else(|_| Err(io::Error::other("reading a file stopped")));
            match read {
                Ok(bytes) if bytes.is_empty() => None,
                Ok(bytes) => {
                    let next = at + bytes.len() as u64;
                    Some((Ok(bytes::Bytes::from(bytes)), next))
                }
                // Ends the stream: the client sees a body shorter than its
                // length, never wrong bytes.
                Err(e) => Some((Err(e), end)),
            }
        }
    })
}

/// Up to 64 KiB from `at`, never past `end`.
fn read_at(source: &Source, at: u64, end: u64) -> io::Result<Vec<u8>> {
    let want = (end - at).min(CHUNK as u64) as usize;
    match source {
        Source::Clear(file, _) => {
            use std::os::unix::fs::FileExt;
            let mut buf = vec![0u8; want];
            let n = file.read_at(&mut buf, at)?;
            buf.truncate(n);
            Ok(buf)
        }
        Source::Sealed(reader) => {
            let index = at / CHUNK as u64;
            let off = (at % CHUNK as u64) as usize;
            let plain = reader.chunk(index)?;
            let to = plain.len().min(off + want);
            Ok(plain.get(off..to).unwrap_or_default().to_vec())
        }
    }
}

/// Answers with the file, or the range of it asked for.
pub(crate) fn respond(
    req: &HttpRequest,
    mut builder: HttpResponseBuilder,
    source: Source,
) -> Result<HttpResponse, AppError> {
    let len = source.len();
    builder.insert_header((header::ACCEPT_RANGES, "bytes"));
    match range(req, len) {
        Err(()) => Ok(HttpResponse::build(StatusCode::RANGE_NOT_SATISFIABLE)
            .insert_header((header::CONTENT_RANGE, format!("bytes */{len}")))
            .finish()),
        Ok(None) => Ok(builder.body(actix_web::body::SizedStream::new(
            len,
            stream(source, 0, len),
        ))),
        Ok(Some((start, end))) => {
            builder.status(StatusCode::PARTIAL_CONTENT);
            builder.insert_header((
                header::CONTENT_RANGE,
                format!("bytes {start}-{}/{len}", end - 1),
            ));
            Ok(builder.body(actix_web::body::SizedStream::new(
                end - start,
                stream(source, start, end),
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::range;
    use actix_web::test::TestRequest;

    fn ask(value: &str, len: u64) -> Result<Option<(u64, u64)>, ()> {
        let req = TestRequest::default()
            .insert_header(("range", value))
            .to_http_request();
        range(&req, len)
    }

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        assert_eq!(ask("bytes=0-99", 1000), Ok(Some((0, 100))));
        assert_eq!(ask("bytes=500-", 1000), Ok(Some((500, 1000))));
        assert_eq!(ask("bytes=-10", 1000), Ok(Some((990, 1000))));
        assert_eq!(ask("bytes=900-5000", 1000), Ok(Some((900, 1000))));
        assert_eq!(ask("bytes=-5000", 1000), Ok(Some((0, 1000))));
        assert_eq!(
            ask("bytes=0-1,5-6", 1000),
            Ok(None),
            "several: the whole file"
        );
        assert_eq!(ask("items=0-1", 1000), Ok(None));
        for bad in [
            "bytes=1000-",
            "bytes=5-2",
            "bytes=-0",
            "bytes=x-",
            "bytes=abc",
        ] {
            assert_eq!(ask(bad, 1000), Err(()), "{bad}");
        }
        assert_eq!(ask("bytes=0-", 0), Err(()));
    }
}
