//! Webhooks and their delivery logs, for `bosun reconcile`'s tests.
//!
//! A test registers a hook (its owner, the URL it posts to, its secret) and seeds its log with
//! deliveries, typically ones bosun "never got": the fake records them (guid, event, payload,
//! the status the forge saw) without sending anything. The list endpoints read that log; the
//! redelivery endpoints really POST the stored payload to the hook's URL, signed and with the
//! headers the forge would send, and append a redelivery entry with the same guid and the
//! status bosun answered, as GitHub and GitLab do.
//!
//! Served:
//! - GitHub: `GET /repos/{o}/{r}/hooks`, `GET /orgs/{org}/hooks`; under either,
//!   `GET /hooks/{id}/deliveries?per_page=&cursor=` (newest first, `Link` cursor paging) and
//!   `POST /hooks/{id}/deliveries/{delivery}/attempts` (202); with the App's JWT:
//!   `GET /app/hook/config`, `GET /app/hook/deliveries`, `POST /app/hook/deliveries/{id}/attempts`.
//! - GitLab (under `/api/v4`): `GET /projects/{id}/hooks`,
//!   `GET /projects/{id}/hooks/{hook}/events?page=&per_page=` (newest first) and
//!   `POST /projects/{id}/hooks/{hook}/events/{event}/resend`.

use crate::FakeForge;
use crate::server::{Reply, Req, Shared, decode};
use bosun_plugins::ForgeKind;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Whose hook it is: where the forge lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookOwner {
    /// A GitHub repository (`owner/repo`) or GitLab project (its path).
    Repo(String),
    /// A GitHub organisation.
    Org(String),
    /// The GitHub App's own hook (one per App).
    App,
}

/// A registered webhook.
#[derive(Debug, Clone)]
pub struct Hook {
    /// The forge's id of the hook.
    pub id: u64,
    /// The forge it belongs to.
    pub forge: ForgeKind,
    /// Where it is listed.
    pub owner: HookOwner,
    /// Where deliveries are POSTed.
    pub url: String,
    /// GitHub's HMAC key, or GitLab's token.
    pub secret: String,
}

/// One attempt the forge logged for a hook.
#[derive(Debug, Clone)]
pub struct HookDelivery {
    /// The attempt's id (what redelivery names).
    pub id: u64,
    /// The hook it belongs to.
    pub hook: u64,
    /// GitHub's `X-GitHub-Delivery`; GitLab's `Idempotency-Key` (and `X-Gitlab-Event-UUID`).
    pub guid: String,
    /// The event header value (`issue_comment`, `Note Hook` …).
    pub event: String,
    /// The body sent (or that would have been).
    pub payload: Vec<u8>,
    /// When the attempt was made.
    pub delivered_at: DateTime<Utc>,
    /// Whether it was a redelivery.
    pub redelivery: bool,
    /// What the receiver answered; 0 when it could not be reached.
    pub status_code: u16,
}

/// A delivery to seed a hook's log with: by default one bosun never got (status 0, now).
#[derive(Debug, Clone)]
pub struct Logged {
    /// The delivery's id, kept by redeliveries.
    pub guid: String,
    /// The event header value.
    pub event: String,
    /// The body.
    pub payload: Vec<u8>,
    /// What the receiver answered; 0: unreachable.
    pub status_code: u16,
    /// When the attempt was made.
    pub at: DateTime<Utc>,
}

impl Logged {
    /// A delivery the forge tried just now and could not make (connection refused).
    pub fn missed(guid: &str, event: &str, payload: &[u8]) -> Logged {
        Logged {
            guid: guid.to_string(),
            event: event.to_string(),
            payload: payload.to_vec(),
            status_code: 0,
            at: Utc::now(),
        }
    }

    /// The status the receiver answered (202: bosun got it).
    pub fn status(mut self, code: u16) -> Logged {
        self.status_code = code;
        self
    }

    /// When the forge made the attempt.
    pub fn at(mut self, at: DateTime<Utc>) -> Logged {
        self.at = at;
        self
    }
}

/// Every hook and every logged attempt.
#[derive(Debug, Default)]
pub(crate) struct Hooks {
    hooks: Vec<Hook>,
    deliveries: Vec<HookDelivery>,
    next_id: u64,
}

impl Hooks {
    fn next(&mut self) -> u64 {
        self.next_id += 1;
        // Far from the world's ids, so a mix-up shows.
        7_000_000 + self.next_id
    }

    fn hook(&self, forge: ForgeKind, owner: &HookOwner, id: u64) -> Option<&Hook> {
        self.hooks
            .iter()
            .find(|h| h.forge == forge && &h.owner == owner && h.id == id)
    }

    /// A hook's log, newest first.
    fn log(&self, hook: u64) -> Vec<&HookDelivery> {
        let mut out: Vec<&HookDelivery> =
            self.deliveries.iter().filter(|d| d.hook == hook).collect();
        out.sort_by_key(|d| std::cmp::Reverse((d.delivered_at, d.id)));
        out
    }
}

impl FakeForge {
    /// Registers a webhook and returns its id.
    pub fn add_hook(&self, forge: ForgeKind, owner: HookOwner, url: &str, secret: &str) -> u64 {
        let mut hooks = self.shared.hooks();
        let id = hooks.next();
        hooks.hooks.push(Hook {
            id,
            forge,
            owner,
            url: url.to_string(),
            secret: secret.to_string(),
        });
        id
    }

    /// Adds an attempt to a hook's log without sending anything; returns its id.
    #[track_caller]
    pub fn log_delivery(&self, hook: u64, logged: Logged) -> u64 {
        let mut hooks = self.shared.hooks();
        assert!(
            hooks.hooks.iter().any(|h| h.id == hook),
            "fake forge: no hook {hook}"
        );
        let id = hooks.next();
        hooks.deliveries.push(HookDelivery {
            id,
            hook,
            guid: logged.guid,
            event: logged.event,
            payload: logged.payload,
            delivered_at: logged.at,
            redelivery: false,
            status_code: logged.status_code,
        });
        id
    }

    /// A hook's log, newest first (redeliveries included).
    pub fn hook_deliveries(&self, hook: u64) -> Vec<HookDelivery> {
        self.shared.hooks().log(hook).into_iter().cloned().collect()
    }
}

/// What a route asks for, worked out under the lock.
enum Call {
    Answer(Reply),
    /// Send this attempt again, then log it and answer.
    Redeliver {
        hook: Hook,
        original: HookDelivery,
    },
}

/// The hook endpoints; `None` for other paths.
pub(crate) async fn route(shared: &Shared, req: &Req<'_>, gitlab: bool) -> Option<Reply> {
    let call = {
        let world = shared.world();
        let hooks = shared.hooks();
        if gitlab {
            gitlab_call(&hooks, req)?
        } else {
            let call = github_call(&hooks, req)?;
            let checked = if req.segments.first() == Some(&"app") {
                crate::github::check_jwt(&world, req)
            } else {
                crate::github::check_installation_token(&world, req)
            };
            if let Err(refused) = checked {
                return Some(*refused);
            }
            call
        }
    };
    Some(match call {
        Call::Answer(reply) => reply,
        Call::Redeliver { hook, original } => {
            let status = send(&hook, &original).await;
            let mut hooks = shared.hooks();
            let id = hooks.next();
            hooks.deliveries.push(HookDelivery {
                id,
                redelivery: true,
                delivered_at: Utc::now(),
                status_code: status,
                ..original
            });
            if gitlab {
                Reply::json(201, json!({ "response_status": status }))
            } else {
                Reply::json(202, json!({}))
            }
        }
    })
}

fn github_call(hooks: &Hooks, req: &Req<'_>) -> Option<Call> {
    let not_found = || Some(Call::Answer(crate::github::error(404, "Not Found")));
    let (owner, rest): (HookOwner, &[&str]) = match req.segments.as_slice() {
        ["repos", o, r, "hooks", rest @ ..] => (
            HookOwner::Repo(format!("{}/{}", decode(o), decode(r))),
            rest,
        ),
        ["orgs", org, "hooks", rest @ ..] => (HookOwner::Org(decode(org)), rest),
        ["app", "hook", rest @ ..] => (HookOwner::App, rest),
        _ => return None,
    };
    let app_hook = || {
        hooks
            .hooks
            .iter()
            .find(|h| h.forge == ForgeKind::GitHub && h.owner == HookOwner::App)
    };
    let (hook, rest) = match (&owner, rest) {
        (HookOwner::App, ["config"]) if req.method == "GET" => {
            let Some(hook) = app_hook() else {
                return not_found();
            };
            return Some(Call::Answer(Reply::json(
                200,
                json!({ "url": hook.url, "content_type": "json", "secret": "********", "insecure_ssl": "0" }),
            )));
        }
        (HookOwner::App, rest) => match app_hook() {
            Some(hook) => (hook, rest),
            None => return not_found(),
        },
        (_, []) if req.method == "GET" => {
            let list: Vec<Value> = hooks
                .hooks
                .iter()
                .filter(|h| h.forge == ForgeKind::GitHub && h.owner == owner)
                .map(|h| github_hook_json(req, h))
                .collect();
            return Some(Call::Answer(Reply::json(200, Value::Array(list))));
        }
        (_, [id, rest @ ..]) => match id
            .parse()
            .ok()
            .and_then(|id| hooks.hook(ForgeKind::GitHub, &owner, id))
        {
            Some(hook) => (hook, rest),
            None => return not_found(),
        },
        _ => return None,
    };
    match (req.method, rest) {
        ("GET", ["deliveries"]) => Some(Call::Answer(github_deliveries(hooks, req, hook.id))),
        ("POST", ["deliveries", id, "attempts"]) => {
            let original = id.parse::<u64>().ok().and_then(|id| {
                hooks
                    .deliveries
                    .iter()
                    .find(|d| d.id == id && d.hook == hook.id)
            });
            match original {
                Some(original) => Some(Call::Redeliver {
                    hook: hook.clone(),
                    original: original.clone(),
                }),
                None => not_found(),
            }
        }
        _ => None,
    }
}

fn github_hook_json(req: &Req<'_>, h: &Hook) -> Value {
    json!({
        "type": "Repository", "id": h.id, "name": "web", "active": true,
        "events": ["*"],
        "config": { "url": h.url, "content_type": "json", "insecure_ssl": "0", "secret": "********" },
        "updated_at": "2024-01-01T00:00:00Z", "created_at": "2024-01-01T00:00:00Z",
        "url": format!("{}/hooks/{}", req.base, h.id),
    })
}

/// One page of a hook's log, newest first; `cursor` is the id the page starts at.
fn github_deliveries(hooks: &Hooks, req: &Req<'_>, hook: u64) -> Reply {
    let per_page = req
        .query_param("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let cursor = req
        .query_param("cursor")
        .and_then(|v| v.parse::<u64>().ok());
    let mut log = hooks.log(hook);
    if let Some(cursor) = cursor {
        let start = log.iter().position(|d| d.id == cursor).unwrap_or(log.len());
        log.drain(..start);
    }
    let page: Vec<Value> = log
        .iter()
        .take(per_page)
        .map(|d| {
            let action = serde_json::from_slice::<Value>(&d.payload)
                .ok()
                .and_then(|v| v.get("action").and_then(Value::as_str).map(str::to_string));
            json!({
                "id": d.id, "guid": d.guid,
                "delivered_at": d.delivered_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                "redelivery": d.redelivery, "duration": 0.1,
                "status": if (200..300).contains(&d.status_code) { "OK".to_string() } else { format!("Invalid HTTP Response: {}", d.status_code) },
                "status_code": d.status_code, "event": d.event, "action": action,
                "installation_id": null, "repository_id": null, "throttled_at": null,
            })
        })
        .collect();
    let reply = Reply::json(200, Value::Array(page));
    match log.get(per_page) {
        Some(next) => {
            let base = req.self_url.split('?').next().unwrap_or_default();
            reply.header(
                "link",
                format!(
                    "<{base}?per_page={per_page}&cursor={}>; rel=\"next\"",
                    next.id
                ),
            )
        }
        None => reply,
    }
}

fn gitlab_call(hooks: &Hooks, req: &Req<'_>) -> Option<Call> {
    let not_found = || {
        Some(Call::Answer(Reply::json(
            404,
            json!({ "message": "404 Not found" }),
        )))
    };
    let (project, rest) = match req.segments.as_slice() {
        ["projects", id, "hooks", rest @ ..] => (HookOwner::Repo(decode(id)), rest),
        _ => return None,
    };
    if let ("GET", []) = (req.method, rest) {
        let list: Vec<Value> = hooks
            .hooks
            .iter()
            .filter(|h| h.forge == ForgeKind::GitLab && h.owner == project)
            .map(|h| {
                json!({
                    "id": h.id, "url": h.url, "project_id": 1, "push_events": true,
                    "merge_requests_events": true, "note_events": true, "enable_ssl_verification": true,
                    "created_at": "2024-01-01T00:00:00Z",
                })
            })
            .collect();
        return Some(Call::Answer(Reply::json(200, Value::Array(list))));
    }
    let [id, rest @ ..] = rest else {
        return None;
    };
    let Some(hook) = id
        .parse()
        .ok()
        .and_then(|id| hooks.hook(ForgeKind::GitLab, &project, id))
    else {
        return not_found();
    };
    match (req.method, rest) {
        ("GET", ["events"]) => Some(Call::Answer(gitlab_events(hooks, req, hook))),
        ("POST", ["events", event, "resend"]) => {
            let original = event.parse::<u64>().ok().and_then(|id| {
                hooks
                    .deliveries
                    .iter()
                    .find(|d| d.id == id && d.hook == hook.id)
            });
            match original {
                Some(original) => Some(Call::Redeliver {
                    hook: hook.clone(),
                    original: original.clone(),
                }),
                None => not_found(),
            }
        }
        _ => None,
    }
}

/// One page of a GitLab hook's event log, newest first, as GitLab's `WebHookLog` entity.
fn gitlab_events(hooks: &Hooks, req: &Req<'_>, hook: &Hook) -> Reply {
    let per_page = req
        .query_param("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, 100);
    let page = req
        .query_param("page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let log = hooks.log(hook.id);
    let items: Vec<Value> = log
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|d| {
            json!({
                "id": d.id, "url": hook.url, "trigger": gitlab_trigger(&d.event),
                "request_headers": {
                    "Content-Type": "application/json", "User-Agent": "GitLab/17.9.0",
                    "X-Gitlab-Event": d.event, "X-Gitlab-Token": "[REDACTED]",
                    "X-Gitlab-Event-UUID": d.guid, "Idempotency-Key": d.guid,
                },
                "request_data": String::from_utf8_lossy(&d.payload),
                "response_headers": {}, "response_body": "",
                "execution_duration": 0.1,
                "response_status": if d.status_code == 0 { "internal error".to_string() } else { d.status_code.to_string() },
                "created_at": d.delivered_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            })
        })
        .collect();
    let mut reply = Reply::json(200, Value::Array(items))
        .header("x-page", page)
        .header("x-per-page", per_page);
    if page * per_page < log.len() {
        reply = reply.header("x-next-page", page + 1);
    }
    reply
}

/// GitLab's trigger name for an event header (`Note Hook` → `note_hooks`).
fn gitlab_trigger(event: &str) -> String {
    event
        .trim_end_matches(" Hook")
        .to_ascii_lowercase()
        .replace(' ', "_")
        + "_hooks"
}

/// POSTs an attempt again to the hook's URL as the forge would; the status bosun answered,
/// 0 when it could not be reached. Plain HTTP/1.1 on loopback, so the fake needs no client.
async fn send(hook: &Hook, d: &HookDelivery) -> u16 {
    let Some(rest) = hook.url.strip_prefix("http://") else {
        return 0;
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        d.payload.len()
    );
    match hook.forge {
        ForgeKind::GitHub => {
            head.push_str(&format!(
                "User-Agent: GitHub-Hookshot/fake\r\nX-GitHub-Event: {}\r\nX-GitHub-Delivery: {}\r\nX-GitHub-Hook-ID: {}\r\nX-Hub-Signature-256: sha256={}\r\n",
                d.event,
                d.guid,
                hook.id,
                hmac_sha256_hex(hook.secret.as_bytes(), &d.payload)
            ));
        }
        ForgeKind::GitLab => {
            head.push_str(&format!(
                "User-Agent: GitLab/17.9.0\r\nX-Gitlab-Event: {}\r\nX-Gitlab-Token: {}\r\nIdempotency-Key: {}\r\nX-Gitlab-Event-UUID: {}\r\nX-Gitlab-Webhook-UUID: {}-{}\r\n",
                d.event, hook.secret, d.guid, d.guid, d.guid, d.id
            ));
        }
    }
    head.push_str("\r\n");
    let Ok(mut stream) = tokio::net::TcpStream::connect(authority).await else {
        return 0;
    };
    if stream.write_all(head.as_bytes()).await.is_err()
        || stream.write_all(&d.payload).await.is_err()
    {
        return 0;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    // "HTTP/1.1 202 Accepted"
    String::from_utf8_lossy(&answer)
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// HMAC-SHA256 (RFC 2104) in hex, as GitHub signs deliveries.
fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2.
    #[test]
    fn hmac_matches_the_rfc_vector() {
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn gitlab_triggers_are_named_like_gitlab() {
        assert_eq!(gitlab_trigger("Note Hook"), "note_hooks");
        assert_eq!(gitlab_trigger("Merge Request Hook"), "merge_request_hooks");
    }
}
