//! CSS and the passkey script, embedded in the binary, served under names that carry their
//! content's hash, so they can be cached for a year and a new build is fetched at once.

use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError, web};

const BOOTSTRAP: &[u8] = include_bytes!("../../../assets/bootstrap.min.css");
const APP: &[u8] = include_bytes!("../../../assets/app.css");
const PASSKEYS: &[u8] = include_bytes!("../../../assets/passkeys.js");

struct Asset {
    path: String,
    body: Vec<u8>,
    content_type: &'static str,
}

impl Asset {
    fn new(stem: &str, extension: &str, body: Vec<u8>, content_type: &'static str) -> Self {
        let hash = crate::crypto::sha256_hex(&body);
        Self {
            path: format!("/assets/{stem}.{}.{extension}", &hash[..16]),
            body,
            content_type,
        }
    }
}

static STYLESHEET: LazyLock<Asset> = LazyLock::new(|| {
    let mut body = BOOTSTRAP.to_vec();
    body.push(b'\n');
    body.extend_from_slice(APP);
    Asset::new("app", "css", body, "text/css; charset=utf-8")
});

static PASSKEY_SCRIPT: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "passkeys",
        "js",
        PASSKEYS.to_vec(),
        "text/javascript; charset=utf-8",
    )
});

/// The stylesheet's path, hash included.
pub fn stylesheet() -> &'static str {
    &STYLESHEET.path
}

/// The passkey script's path, hash included: the console's only script, on `/login` and
/// `/profile`.
pub fn passkey_script() -> &'static str {
    &PASSKEY_SCRIPT.path
}

pub async fn get_asset(name: web::Path<String>) -> HttpResponse {
    let found = [&*STYLESHEET, &*PASSKEY_SCRIPT]
        .into_iter()
        .find(|asset| asset.path.strip_prefix("/assets/") == Some(name.as_str()));
    let Some(asset) = found else {
        return crate::error::Error::NotFound.error_response();
    };
    HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        ))
        .body(web::Bytes::from_static(asset.body.as_slice()))
}
