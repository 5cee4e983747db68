//! The OpenAPI document, generated from the handlers' annotations and served
//! at `/api/v1/openapi.json`.

use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    accounts, api_keys, attendance, conferences, contacts, documents, erasure, export, health,
    history, join, organisations, recordings, reports, retention, summary, waiting_room, webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Conclave API", description = "Accounts, conference lines and codes. Errors are application/problem+json with a stable `code`."),
    paths(
        health::healthz, health::readyz, health::metrics,
        accounts::sign_up, accounts::sign_in, accounts::sign_out, accounts::me,
        conferences::line, conferences::reset_access_code, conferences::reset_moderator_pin,
        conferences::set_default_security_code, conferences::clear_default_security_code,
        conferences::schedule, conferences::list, conferences::get, conferences::set_security_code,
        contacts::list, contacts::rename, contacts::delete,
        history::sessions, history::audit, history::chat,
        attendance::attendance, attendance::attendance_csv, reports::sessions,
        documents::upload, documents::download,
        recordings::list, recordings::download, recordings::delete_file, recordings::delete_recording,
        summary::delete,
        waiting_room::get, waiting_room::set,
        api_keys::create, api_keys::list, api_keys::revoke, api_keys::mint,
        webhooks::create, webhooks::list, webhooks::delete, webhooks::deliveries, webhooks::retry,
        join::check,
        erasure::delete_account, erasure::erase_participant, export::export,
        retention::get, retention::set,
        organisations::get, organisations::rename, organisations::members, organisations::set_role,
        organisations::remove, organisations::invitations, organisations::invite, organisations::revoke,
        organisations::mine, organisations::accept,
    ),
    components(schemas(crate::error::Problem)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/openapi.json").route(web::get().to(document)));
}

async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
