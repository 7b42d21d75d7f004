//! `POST /hook/drone`: Drone's build webhooks (`DRONE_WEBHOOK_ENDPOINT`), verified and
//! journaled like a forge's.
//!
//! Drone signs with HTTP Signatures (draft-cavage): `Signature: keyId="…",
//! algorithm="hmac-sha256",signature="<base64>",headers="date digest"` over
//! `date: <Date>\ndigest: <Digest>` with `DRONE_WEBHOOK_SECRET`. The signature covers only
//! those two headers, so bosun also checks the body against `Digest` (`SHA-256=<base64>`) and
//! `Date` against a 5-minute window. Answers: 202 journaled; 200 the same body again; 401
//! unsigned, wrongly signed, a body that is not the digested one, a stale date, or Drone not
//! configured; 400 not JSON; 413 over the body limit; 503 journal unavailable.

use super::AppState;
use super::hook::{ReceiveError, header, read_body};
use crate::store::{InsertOutcome, NewDelivery, Payload};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use std::sync::atomic::Ordering;
use subtle::ConstantTimeEq;

/// How far Drone's `Date` may be from bosun's clock.
const WINDOW_SECONDS: i64 = 5 * 60;

/// The parameters of a `Signature` header.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SignatureParams {
    pub algorithm: String,
    pub headers: Vec<String>,
    pub signature: String,
}

/// Parses `keyId="…",algorithm="…",signature="…",headers="…"` (with or without `Signature `).
pub fn parse_signature(value: &str) -> Option<SignatureParams> {
    let value = value
        .trim()
        .strip_prefix("Signature ")
        .unwrap_or(value.trim());
    let mut params = SignatureParams::default();
    for part in value.split(',') {
        let (key, raw) = part.trim().split_once('=')?;
        let text = raw.trim().trim_matches('"').to_string();
        match key.trim() {
            "algorithm" => params.algorithm = text,
            "headers" => params.headers = text.split_whitespace().map(str::to_lowercase).collect(),
            "signature" => params.signature = text,
            _ => {}
        }
    }
    (!params.signature.is_empty()).then_some(params)
}

/// Whether the signature covers `date` and `digest` with HMAC-SHA256 under `secret`.
pub fn signature_valid(secret: &str, params: &SignatureParams, date: &str, digest: &str) -> bool {
    if params.algorithm != "hmac-sha256"
        || !params.headers.iter().any(|h| h == "date")
        || !params.headers.iter().any(|h| h == "digest")
    {
        return false;
    }
    let mut lines = Vec::new();
    for name in &params.headers {
        match name.as_str() {
            "date" => lines.push(format!("date: {date}")),
            "digest" => lines.push(format!("digest: {digest}")),
            // Drone signs no other header; one bosun cannot reproduce fails the check.
            _ => return false,
        }
    }
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(lines.join("\n").as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    expected
        .as_bytes()
        .ct_eq(params.signature.as_bytes())
        .into()
}

/// Whether `digest` (`SHA-256=<base64>`) is the body's.
pub fn digest_matches(digest: &str, body: &[u8]) -> bool {
    let expected = format!(
        "SHA-256={}",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body))
    );
    expected.as_bytes().ct_eq(digest.trim().as_bytes()).into()
}

/// Whether an HTTP date is within the window of now.
pub fn date_fresh(date: &str, now: chrono::DateTime<chrono::Utc>) -> bool {
    chrono::DateTime::parse_from_rfc2822(date)
        .is_ok_and(|d| (now - d.with_timezone(&chrono::Utc)).num_seconds().abs() <= WINDOW_SECONDS)
}

/// `POST /hook/drone`
pub async fn receive(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ReceiveError> {
    if state.shutting_down.load(Ordering::Relaxed) {
        return Err(ReceiveError::Unavailable(
            "bosun is shutting down; retry later",
        ));
    }
    let Some(drone) = &state.settings.drone else {
        return Err(ReceiveError::Unauthorized("Drone is not configured"));
    };
    let Some(secret) = &drone.webhook_secret else {
        return Err(ReceiveError::Unauthorized(
            "Drone's webhook secret is not configured",
        ));
    };
    let signature = header(&req, "signature")
        .or_else(|| header(&req, "authorization"))
        .and_then(parse_signature)
        .ok_or(ReceiveError::Unauthorized("missing Signature header"))?;
    let (Some(date), Some(digest)) = (header(&req, "date"), header(&req, "digest")) else {
        return Err(ReceiveError::Unauthorized("missing Date or Digest header"));
    };
    if !signature_valid(secret.expose_secret(), &signature, date, digest) {
        return Err(ReceiveError::Unauthorized("invalid Signature"));
    }
    if !date_fresh(date, chrono::Utc::now()) {
        return Err(ReceiveError::Unauthorized("stale or unreadable Date"));
    }
    let body = read_body(&req, payload, state.settings.limits.max_body_bytes).await?;
    if !digest_matches(digest, &body) {
        return Err(ReceiveError::Unauthorized(
            "the body does not match its Digest",
        ));
    }
    let routing: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| ReceiveError::BadRequest("invalid JSON"))?;
    let repo = routing["repo"]["slug"].as_str().map(str::to_string);
    let number = routing["build"]["ref"]
        .as_str()
        .and_then(crate::webhook::drone::number_of_ref)
        .map(|n| n as i64);
    let forge = drone.forge;
    let item_key = match (&repo, number) {
        (Some(repo), Some(n)) => {
            let sigil = if forge == bosun_plugins::ForgeKind::GitLab {
                '!'
            } else {
                '#'
            };
            format!("{forge}:{repo}{sigil}{n}")
        }
        (Some(repo), None) => format!("{forge}:{repo}"),
        (None, _) => format!("{forge}:-"),
    };
    let delivery = NewDelivery {
        // Drone sends a body once; the same body again is a duplicate.
        delivery_id: format!("drone:sha256:{}", hex::encode(Sha256::digest(&body))),
        forge,
        event: crate::webhook::drone::EVENT.into(),
        repo,
        number,
        item_key,
        headers: "{}".into(),
        payload: Payload::encode(body, state.settings.database.payload_compression),
    };
    let outcome = state.journal(delivery).await.map_err(|e| {
        tracing::warn!(error = %e, "could not journal a Drone webhook");
        ReceiveError::Unavailable("cannot store the delivery now; retry later")
    })?;
    Ok(match outcome {
        InsertOutcome::Inserted => HttpResponse::Accepted().body("accepted\n"),
        InsertOutcome::Duplicate => HttpResponse::Ok().body("already received\n"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector of the reference: Drone's own test body, secret and date.
    #[test]
    fn drones_signature_and_digest() {
        let body = br#"{"event":"user","action":"created","user":{"id":0,"login":"octocat","email":"","machine":false,"admin":false,"active":false,"avatar":"","syncing":false,"synced":0,"created":0,"updated":0,"last_login":0}}"#;
        let digest = "SHA-256=bw+FzoGHHfDn+x1a2CDnH9RyUxhWgEP4m68MDZSw73c=";
        assert!(digest_matches(digest, body));
        assert!(!digest_matches(digest, b"{}"));
        let header = r#"keyId="hmac-key",algorithm="hmac-sha256",signature="Jm10Eo/MPbPKjCe4U7DXbzYTVgmy7o2npKb++jCpPqk=",headers="date digest""#;
        let params = parse_signature(header).expect("parses");
        let date = "Mon, 02 Jan 2006 15:04:05 GMT";
        assert!(signature_valid(
            "GMEuUHQfmrMRsseWxi9YlIeBtn9lm6im",
            &params,
            date,
            digest
        ));
        assert!(!signature_valid("other", &params, date, digest));
        let only_date = SignatureParams {
            headers: vec!["date".into()],
            ..params
        };
        assert!(!signature_valid(
            "GMEuUHQfmrMRsseWxi9YlIeBtn9lm6im",
            &only_date,
            date,
            digest
        ));
        let now = chrono::DateTime::parse_from_rfc2822(date)
            .expect("date")
            .with_timezone(&chrono::Utc);
        assert!(date_fresh(date, now));
        assert!(!date_fresh(date, now + chrono::Duration::minutes(6)));
    }
}
