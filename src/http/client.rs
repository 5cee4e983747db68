//! The browser client (`web/`): the meeting room page, the account pages
//! (`/account`), their ES modules (`web/app`, `web/vendor`) and styles,
//! built into the binary so `cargo run` serves them from anywhere. No build
//! step: what is in `web/` is what the browser gets (docs/web.md).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::rooms::Rooms;

/// One file of `web/`, built into the binary: its URL path and body.
macro_rules! web_file {
    ($url:literal, $file:literal) => {
        ($url, include_str!(concat!("../../web/", $file)))
    };
}

/// Every file the browser may load. A file added to `web/app` or
/// `web/vendor` must be listed here (a test checks).
const FILES: &[(&str, &str)] = &[
    web_file!("/", "room.html"),
    web_file!("/room.css", "room.css"),
    web_file!("/manifest.webmanifest", "manifest.webmanifest"),
    web_file!("/app/main.js", "app/main.js"),
    web_file!("/app/types.js", "app/types.js"),
    web_file!("/app/state.js", "app/state.js"),
    web_file!("/app/protocol.js", "app/protocol.js"),
    web_file!("/app/api.js", "app/api.js"),
    web_file!("/app/media.js", "app/media.js"),
    web_file!("/app/media_stats.js", "app/media_stats.js"),
    web_file!("/app/devices.js", "app/devices.js"),
    web_file!("/app/session.js", "app/session.js"),
    web_file!("/app/words.js", "app/words.js"),
    web_file!("/app/sounds.js", "app/sounds.js"),
    web_file!("/app/views/html.js", "app/views/html.js"),
    web_file!("/app/views/app.js", "app/views/app.js"),
    web_file!("/app/views/join.js", "app/views/join.js"),
    web_file!("/app/views/room.js", "app/views/room.js"),
    web_file!("/app/views/videos.js", "app/views/videos.js"),
    web_file!("/app/views/chat.js", "app/views/chat.js"),
    web_file!("/app/views/documents.js", "app/views/documents.js"),
    web_file!("/app/views/participants.js", "app/views/participants.js"),
    web_file!("/app/views/settings.js", "app/views/settings.js"),
    web_file!("/app/views/waiting.js", "app/views/waiting.js"),
    web_file!("/app/handover.js", "app/handover.js"),
    web_file!("/account", "account.html"),
    web_file!("/account.css", "account.css"),
    web_file!("/app/account/main.js", "app/account/main.js"),
    web_file!("/app/account/auth.js", "app/account/auth.js"),
    web_file!("/app/account/load.js", "app/account/load.js"),
    web_file!("/app/account/shell.js", "app/account/shell.js"),
    web_file!("/app/account/join.js", "app/account/join.js"),
    web_file!("/app/account/line.js", "app/account/line.js"),
    web_file!("/app/account/conferences.js", "app/account/conferences.js"),
    web_file!("/app/account/reports.js", "app/account/reports.js"),
    web_file!("/app/account/erase.js", "app/account/erase.js"),
    web_file!("/app/account/recordings.js", "app/account/recordings.js"),
    web_file!("/app/account/contacts.js", "app/account/contacts.js"),
    web_file!("/app/account/waiting.js", "app/account/waiting.js"),
    web_file!("/app/account/delete.js", "app/account/delete.js"),
    web_file!("/app/account/export.js", "app/account/export.js"),
    web_file!("/app/account/retention.js", "app/account/retention.js"),
    web_file!(
        "/app/account/organisation.js",
        "app/account/organisation.js"
    ),
    web_file!("/app/account/keys.js", "app/account/keys.js"),
    web_file!("/app/account/webhooks.js", "app/account/webhooks.js"),
    web_file!("/app/account/deliveries.js", "app/account/deliveries.js"),
    web_file!("/vendor/preact.module.js", "vendor/preact.module.js"),
    web_file!("/vendor/hooks.module.js", "vendor/hooks.module.js"),
    web_file!("/vendor/htm.module.js", "vendor/htm.module.js"),
];

/// The binary files: the web app's icons (drawn by scripts/make-icons.py).
const IMAGES: &[(&str, &[u8])] = &[
    (
        "/icons/icon-192.png",
        include_bytes!("../../web/icons/icon-192.png"),
    ),
    (
        "/icons/icon-512.png",
        include_bytes!("../../web/icons/icon-512.png"),
    ),
];

/// The content type, by the path's extension.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("webmanifest") => "application/manifest+json",
        Some("png") => "image/png",
        _ => "text/html; charset=utf-8",
    }
}

/// Only this origin's own script, style, media and WebSocket: no inline
/// script, no third party, no framing (the page holds codes and a camera).
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; media-src 'self' blob:; img-src 'self' data:; manifest-src 'self'; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn configure(cfg: &mut web::ServiceConfig) {
    for &(path, body) in FILES {
        cfg.service(web::resource(path).route(web::get().to(
            move |req: HttpRequest, rooms: web::Data<Rooms>| async move {
                let mut res = file(body, content_type(path));
                if path == "/" {
                    // The page's device cookie, issued or renewed before the
                    // page opens its WebSocket (crate::device).
                    let token =
                        crate::device::from_request(&req).unwrap_or_else(crate::crypto::new_token);
                    let _ = res.add_cookie(&crate::device::cookie(&token, rooms.secure_cookies));
                }
                res
            },
        )));
    }
    for &(path, body) in IMAGES {
        cfg.service(
            web::resource(path)
                .route(web::get().to(move || async move { file(body, content_type(path)) })),
        );
    }
}

fn file(
    body: impl actix_web::body::MessageBody + 'static,
    content_type: &'static str,
) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        // A new server version is picked up on the next load.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module under `web/app` and `web/vendor` is served, or the page
    /// would fail to load in the browser with a missing import.
    #[test]
    fn every_module_is_served() {
        let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let mut missing = Vec::new();
        for dir in ["app", "app/views", "app/account", "vendor", "icons"] {
            for entry in std::fs::read_dir(web.join(dir)).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                if name.ends_with(".js") || name.ends_with(".png") {
                    let url = format!("/{dir}/{name}");
                    let served = FILES.iter().any(|(path, _)| *path == url)
                        || IMAGES.iter().any(|(path, _)| *path == url);
                    if !served {
                        missing.push(url);
                    }
                }
            }
        }
        assert!(missing.is_empty(), "add to FILES: {missing:?}");
        assert_eq!(
            content_type("/app/main.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("/room.css"), "text/css; charset=utf-8");
        assert_eq!(
            content_type("/manifest.webmanifest"),
            "application/manifest+json"
        );
        assert_eq!(content_type("/icons/icon-192.png"), "image/png");
        for (path, body) in IMAGES {
            assert!(body.starts_with(b"\x89PNG\r\n\x1a\n"), "{path} is a PNG");
        }
        assert_eq!(content_type("/"), "text/html; charset=utf-8");
    }
}
