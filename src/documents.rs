//! Where shared documents' bytes live: `data_dir/documents/<conference>/<document>`,
//! both UUIDs the server made, so no name a client sends ever reaches a
//! path. Uploads are written to a temporary file in the same directory
//! tree and renamed into place once complete, so a half-written upload is
//! never served. The name a client gave is metadata only, cleaned by
//! [`clean_filename`].

use std::io;
use std::path::{Path, PathBuf};

use conclave_actors::{ConferenceId, DocumentId};

pub struct DocumentFiles {
    root: PathBuf,
    /// Largest upload accepted, in bytes.
    pub max_bytes: u64,
}

impl DocumentFiles {
    pub fn new(data_dir: &Path, max_bytes: u64) -> Self {
        Self {
            root: data_dir.join("documents"),
            max_bytes,
        }
    }

    /// The final place of a document's bytes.
    pub fn path(&self, conference: ConferenceId, document: DocumentId) -> PathBuf {
        self.root
            .join(conference.0.simple().to_string())
            .join(document.0.simple().to_string())
    }

    /// The folder of every document of a conference.
    pub fn folder(&self, conference: ConferenceId) -> PathBuf {
        self.root.join(conference.0.simple().to_string())
    }

    /// A fresh temporary file for an upload, in the conference's directory
    /// (so the final rename stays on one file system).
    pub fn temporary(&self, conference: ConferenceId) -> io::Result<PathBuf> {
        let dir = self.root.join(conference.0.simple().to_string());
        create_private_dir(&dir)?;
        Ok(dir.join(format!(".upload-{}", uuid::Uuid::new_v4().simple())))
    }

    /// Deletes a document's bytes off the caller's thread; a missing file
    /// is not an error (already deleted).
    pub fn delete_later(&self, conference: ConferenceId, document: DocumentId) {
        let path = self.path(conference, document);
        std::thread::spawn(move || match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::error!(error = %e, %document, "cannot delete a document's bytes"),
        });
    }
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Longest stored name, in characters.
const MAX_NAME_CHARS: usize = 200;

/// A display name from whatever the client sent: the last path component
/// (either slash), without control characters, bidirectional controls
/// (which could show `exe.pdf` for `fdp.exe`) or leading dots, at most 200
/// characters, and `document` when nothing visible is left.
pub fn clean_filename(raw: &str) -> String {
    use conclave_actors::text::{is_bidi_control, is_invisible};
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|&c| !c.is_control() && !is_bidi_control(c))
        .collect::<String>()
        .trim_matches(is_invisible)
        .trim_start_matches('.')
        .trim_matches(is_invisible)
        .chars()
        .take(MAX_NAME_CHARS)
        .collect();
    if cleaned.is_empty() {
        "document".to_owned()
    } else {
        cleaned
    }
}

/// The content type as recorded: the client's, when it is a well-formed
/// `type/subtype` (parameters dropped), else `application/octet-stream`.
pub fn clean_content_type(raw: Option<&str>) -> String {
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    raw.and_then(|r| r.split(';').next())
        .map(|r| r.trim().to_ascii_lowercase())
        .filter(|r| matches!(r.split_once('/'), Some((t, s)) if token(t) && token(s)))
        .unwrap_or_else(|| "application/octet-stream".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_filenames_become_harmless_names() {
        for (raw, clean) in [
            ("agenda.pdf", "agenda.pdf"),
            ("../../etc/passwd", "passwd"),
            ("..\\..\\windows\\system.ini", "system.ini"),
            ("/absolute/path/x.txt", "x.txt"),
            ("..", "document"),
            (".hidden", "hidden"),
            ("", "document"),
            ("a\u{0}b\r\nc.txt", "abc.txt"),
            ("dir/", "document"),
            ("Zoë's plan ✓.docx", "Zoë's plan ✓.docx"),
            ("invoice\u{202E}fdp.exe", "invoicefdp.exe"),
            ("\u{2066}x\u{2069}.txt", "x.txt"),
            ("\u{200B}\u{FEFF}", "document"),
        ] {
            assert_eq!(clean_filename(raw), clean, "{raw:?}");
        }
        assert_eq!(clean_filename(&"x".repeat(1000)).chars().count(), 200);
    }

    #[test]
    fn content_types_are_recorded_only_when_well_formed() {
        assert_eq!(
            clean_content_type(Some("application/pdf")),
            "application/pdf"
        );
        assert_eq!(
            clean_content_type(Some("Text/Plain; charset=utf-8")),
            "text/plain"
        );
        for bad in [
            None,
            Some(""),
            Some("pdf"),
            Some("a/b/c"),
            Some("text/<script>"),
            Some("/x"),
        ] {
            assert_eq!(
                clean_content_type(bad),
                "application/octet-stream",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn paths_are_made_of_server_ids_only() {
        let files = DocumentFiles::new(Path::new("/data"), 1);
        let (c, d) = (ConferenceId::new(), DocumentId::new());
        let p = files.path(c, d);
        assert!(p.starts_with("/data/documents"));
        assert_eq!(p.components().count(), 5);
    }
}
