//! CSS embedded in the binary, served under a name that carries its content's hash, so it
//! can be cached for a year and a new build is fetched at once.

use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError, web};

const BOOTSTRAP: &[u8] = include_bytes!("../../../assets/bootstrap.min.css");
const APP: &[u8] = include_bytes!("../../../assets/app.css");

struct Stylesheet {
    path: String,
    body: Vec<u8>,
}

static STYLESHEET: LazyLock<Stylesheet> = LazyLock::new(|| {
    let mut body = BOOTSTRAP.to_vec();
    body.push(b'\n');
    body.extend_from_slice(APP);
    let hash = crate::crypto::sha256_hex(&body);
    Stylesheet {
        path: format!("/assets/app.{}.css", &hash[..16]),
        body,
    }
});

/// The stylesheet's path, hash included.
pub fn stylesheet() -> &'static str {
    &STYLESHEET.path
}

pub async fn get_asset(name: web::Path<String>) -> HttpResponse {
    let sheet = &*STYLESHEET;
    if sheet.path.strip_prefix("/assets/") != Some(name.as_str()) {
        return crate::error::Error::NotFound.error_response();
    }
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        ))
        .body(web::Bytes::from_static(sheet.body.as_slice()))
}
