//! The browser client (`web/`): the meeting room page and its script and
//! style, built into the binary so `cargo run` serves them from anywhere.
//! No build step: what is in `web/` is what the browser gets.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::rooms::Rooms;

/// Path, body, content type.
const FILES: [(&str, &str, &str); 3] = [
    (
        "/",
        include_str!("../../web/room.html"),
        "text/html; charset=utf-8",
    ),
    (
        "/room.js",
        include_str!("../../web/room.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "/room.css",
        include_str!("../../web/room.css"),
        "text/css; charset=utf-8",
    ),
];

/// Only this origin's own script, style, media and WebSocket: no inline
/// script, no third party, no framing (the page holds codes and a camera).
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; media-src 'self' blob:; img-src 'self' data:; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn configure(cfg: &mut web::ServiceConfig) {
    for (path, body, content_type) in FILES {
        cfg.service(web::resource(path).route(web::get().to(
            move |req: HttpRequest, rooms: web::Data<Rooms>| async move {
                let mut res = file(body, content_type);
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
}

fn file(body: &'static str, content_type: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        // A new server version is picked up on the next load.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}
