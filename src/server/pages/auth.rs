//! The admin token: replay needs it (header `Authorization: Bearer …` or the form's `token`
//! field), and with `[server] private_pages` reading the dashboard needs it too (the header,
//! or the session cookie `/login` sets).
//!
//! Tokens are compared in constant time on their SHA-256 digests, so neither their content
//! nor their length leaks through timing. The cookie never holds the token itself: it holds
//! an HMAC of a fixed label keyed by the token, which changes when the token is rotated. The
//! cookie is `HttpOnly` and `SameSite=Strict`, and it does not authorize replay, so a page on
//! another site cannot make a signed-in browser replay anything.

use super::{Chrome, PageError, html};
use crate::config::Settings;
use crate::server::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const COOKIE: &str = "bosun_session";

/// Whether `candidate` is the configured admin token; always false when none is configured.
pub fn token_matches(settings: &Settings, candidate: &str) -> bool {
    let Some(token) = &settings.admin_token else {
        return false;
    };
    let want = Sha256::digest(token.expose_secret().as_bytes());
    let got = Sha256::digest(candidate.as_bytes());
    bool::from(want.ct_eq(&got))
}

/// The token sent as `Authorization: Bearer …`, if any.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The cookie value for a signed-in browser: HMAC-SHA256(token, label), hex.
fn session_value(settings: &Settings) -> Option<String> {
    let token = settings.admin_token.as_ref()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(token.expose_secret().as_bytes()).ok()?;
    mac.update(b"bosun dashboard session v1");
    Some(hex::encode(mac.finalize().into_bytes()))
}

fn cookie<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get_all("cookie")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn session_ok(req: &HttpRequest, settings: &Settings) -> bool {
    match (cookie(req, COOKIE), session_value(settings)) {
        (Some(got), Some(want)) => {
            bool::from(Sha256::digest(got.as_bytes()).ct_eq(&Sha256::digest(want.as_bytes())))
        }
        _ => false,
    }
}

/// Lets a read-only page through: always when pages are public, else with the token in the
/// header or a valid session cookie.
pub fn require_reader(req: &HttpRequest, settings: &Settings) -> Result<(), PageError> {
    if !settings.private_pages
        || bearer(req).is_some_and(|t| token_matches(settings, t))
        || session_ok(req, settings)
    {
        Ok(())
    } else {
        Err(PageError::Unauthorized(
            "these pages are private: sign in at /login with the admin token".into(),
        ))
    }
}

/// Lets an admin action through with the token from the header or the form, else says why not.
pub fn require_admin(
    req: &HttpRequest,
    settings: &Settings,
    form_token: Option<&str>,
) -> Result<(), PageError> {
    if settings.admin_token.is_none() {
        return Err(PageError::Forbidden(
            "replay from the web is disabled: no admin token is configured (server.admin_token_env)"
                .into(),
        ));
    }
    let candidate = bearer(req).or(form_token.filter(|t| !t.is_empty()));
    match candidate {
        Some(t) if token_matches(settings, t) => Ok(()),
        Some(_) => Err(PageError::Unauthorized("the admin token is wrong".into())),
        None => Err(PageError::Unauthorized(
            "the admin token is required (Authorization: Bearer, or the token field)".into(),
        )),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    message: Option<&'static str>,
}

/// `GET /login`: the sign-in form.
pub async fn login_form(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    html(&LoginPage {
        chrome: Chrome {
            private_pages: state.settings.private_pages,
        },
        message: None,
    })
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
}

/// `POST /login`: a right token sets the session cookie and goes to the dashboard.
pub async fn login(
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let settings = &state.settings;
    let Some(value) = session_value(settings).filter(|_| token_matches(settings, &form.token))
    else {
        let mut response = html(&LoginPage {
            chrome: Chrome {
                private_pages: settings.private_pages,
            },
            message: Some("That is not the admin token."),
        })?;
        *response.status_mut() = actix_web::http::StatusCode::UNAUTHORIZED;
        return Ok(response);
    };
    let secure = if settings.help_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", "/"))
        .insert_header((
            "Set-Cookie",
            format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict{secure}"),
        ))
        .finish())
}

/// `POST /logout`: forgets the session cookie.
pub async fn logout() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", "/login"))
        .insert_header((
            "Set-Cookie",
            format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
        ))
        .finish()
}
