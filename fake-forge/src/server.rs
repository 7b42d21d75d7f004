//! The HTTP side: one catch-all actix handler that logs the request, applies injected faults,
//! and hands the request to the GitHub or GitLab router.

use crate::world::World;
use crate::{github, gitlab};
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use serde_json::Value;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// One request as the fake received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, … as sent.
    pub method: String,
    /// The path exactly as sent, still percent-encoded (`/api/v4/projects/grp%2Fproj/…`).
    pub path: String,
    /// The raw query string, without `?` (empty if none).
    pub query: String,
    /// The body as text (lossy UTF-8).
    pub body: String,
    /// All headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// When the request arrived (before any injected delay).
    pub received: SystemTime,
    /// When the answer was ready to send, or `None` while the request is still being served.
    pub answered: Option<SystemTime>,
    /// The status answered, or `None` while the request is still being served.
    pub status: Option<u16>,
    /// The status the fake's API produced, when the request reached it: it differs from
    /// `status` for a [`Fault::LostResponse`], and is `None` when a fault answered instead.
    pub served_status: Option<u16>,
    /// The headers answered (names as sent), for checks on `retry-after` and the like.
    pub response_headers: Vec<(String, String)>,
    /// False when no route matched (answered 404).
    pub routed: bool,
}

impl RecordedRequest {
    /// The first value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The credential sent: `Authorization` (GitHub, GitLab OAuth) or `PRIVATE-TOKEN` (GitLab).
    pub fn auth(&self) -> Option<&str> {
        self.header("authorization")
            .or_else(|| self.header("private-token"))
    }

    /// The body parsed as JSON (GitHub requests).
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// The body parsed as `application/x-www-form-urlencoded` pairs (GitLab requests).
    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }

    /// One form field of the body.
    pub fn form_field(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The query parameters, decoded.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }

    /// Every value of a repeated form field (`assignee_ids[]=1&assignee_ids[]=2`).
    pub fn form_values(&self, name: &str) -> Vec<String> {
        self.form()
            .into_iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v)
            .collect()
    }

    /// The first value of a response header (name in any case).
    pub fn response_header(&self, name: &str) -> Option<&str> {
        self.response_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the fake answered the client to wait (429, or GitHub's 403 rate limits), and
    /// until when: `answered` plus `retry-after`, or the `x-ratelimit-reset` epoch.
    pub fn wait_until(&self) -> Option<SystemTime> {
        let answered = self.answered?;
        let limited = self.status == Some(429)
            || (self.status == Some(403)
                && (self.response_header("retry-after").is_some()
                    || self.response_header("x-ratelimit-remaining") == Some("0")));
        if !limited {
            return None;
        }
        if let Some(secs) = self
            .response_header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            return Some(answered + Duration::from_secs(secs));
        }
        self.response_header("x-ratelimit-reset")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|epoch| SystemTime::UNIX_EPOCH + Duration::from_secs(epoch))
    }
}

/// A failure the fake answers with instead of serving a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// `500 Internal Server Error`.
    Status500,
    /// Any status with this message, in the forge's error shape.
    Status {
        /// The HTTP status.
        status: u16,
        /// The error message in the body.
        message: String,
    },
    /// `429` with `Retry-After` (and GitLab's `RateLimit-*` headers on GitLab paths).
    TooManyRequests {
        /// The `Retry-After` value.
        retry_after_secs: u64,
    },
    /// GitHub's secondary rate limit: `403`, a message saying so, and `retry-after` if given.
    GitHubSecondaryLimit {
        /// The `retry-after` value; `None` sends no header.
        retry_after_secs: Option<u64>,
    },
    /// GitHub's primary rate limit: `403` with `x-ratelimit-remaining: 0` and the reset epoch.
    PrimaryLimit {
        /// The `x-ratelimit-reset` value, in seconds since the Unix epoch.
        reset_epoch: u64,
    },
    /// Waits this long, then serves the request normally.
    Delay(Duration),
    /// Waits until the test opens the gate (at most a minute, so a failing test cannot hang),
    /// then serves the request normally: holds a call until something else has happened.
    Hold(Gate),
    /// Serves the request (its change to the world happens) but answers `502 Bad Gateway`,
    /// as when a proxy loses the forge's answer: the client cannot tell whether it worked.
    LostResponse,
}

/// What a [`Fault::Hold`] waits for; clones share one gate.
#[derive(Debug, Clone)]
pub struct Gate(Arc<tokio::sync::watch::Sender<bool>>);

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        Gate(Arc::new(tokio::sync::watch::Sender::new(false)))
    }

    /// Lets every held request through, now and later.
    pub fn open(&self) {
        self.0.send_replace(true);
    }

    async fn wait(&self, longest: Duration) {
        let mut open = self.0.subscribe();
        let _ = tokio::time::timeout(longest, open.wait_for(|o| *o)).await;
    }
}

impl Default for Gate {
    fn default() -> Self {
        Gate::new()
    }
}

impl PartialEq for Gate {
    fn eq(&self, other: &Gate) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Gate {}

/// What a router answers; kept free of actix types so the routers are plain functions.
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    /// A non-JSON body (GitLab's plain-text 429, raw file contents), used when `body` is `None`.
    pub text: Option<String>,
    /// Raw bytes with their content type (raw file reads), used when `body` and `text` are `None`.
    pub bytes: Option<(String, Vec<u8>)>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
            text: None,
            bytes: None,
        }
    }

    /// A reply without a body (`204 No Content`).
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
            text: None,
            bytes: None,
        }
    }

    /// Raw bytes (a raw file read).
    pub fn raw(status: u16, content_type: &str, bytes: Vec<u8>) -> Reply {
        Reply {
            bytes: Some((content_type.to_string(), bytes)),
            ..Reply::empty(status)
        }
    }

    pub fn header(mut self, name: &str, value: impl ToString) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// A request as the routers see it.
pub(crate) struct Req<'a> {
    pub method: &'a str,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The `Accept` header, if any (GitHub's raw file reads ask for `vnd.github.raw`).
    pub accept: Option<String>,
    /// Path segments after the API prefix, still percent-encoded.
    pub segments: Vec<&'a str>,
    pub query: Vec<(String, String)>,
    pub body: &'a [u8],
    pub content_type: String,
    /// `http://host:port` plus the API prefix, for URLs in responses.
    pub base: String,
    /// `http://host:port` plus the full path, for `Link` headers.
    pub self_url: String,
}

impl Req<'_> {
    /// A query parameter.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as a JSON value, if it is JSON.
    pub fn json_body(&self) -> Option<Value> {
        serde_json::from_slice(self.body).ok()
    }

    /// Every value of a list field: a form's repeated `name[]` (or a single `name`), or a JSON
    /// array (or a single value) under `name`; numbers come back as decimal strings.
    pub fn body_list(&self, name: &str) -> Option<Vec<String>> {
        if self.content_type.contains("json") {
            let v = self.json_body()?;
            let scalar = |x: &Value| match x {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            };
            return match v.get(name)? {
                Value::Array(a) => Some(a.iter().filter_map(scalar).collect()),
                other => scalar(other).map(|s| vec![s]),
            };
        }
        let list = format!("{name}[]");
        let values: Vec<String> = form_urlencoded::parse(self.body)
            .filter(|(k, _)| *k == list || *k == name)
            .map(|(_, v)| v.into_owned())
            .collect();
        (!values.is_empty()).then_some(values)
    }

    /// A body field from a form or JSON body (arrays joined with commas), as GitLab reads both.
    pub fn body_field(&self, name: &str) -> Option<String> {
        if self.content_type.contains("json") {
            let v = self.json_body()?;
            return match v.get(name)? {
                Value::String(s) => Some(s.clone()),
                Value::Array(a) => Some(
                    a.iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                other => Some(other.to_string()),
            };
        }
        form_urlencoded::parse(self.body)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// Decodes one percent-encoded path segment.
pub(crate) fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// When a fault rule fires.
enum Schedule {
    /// On the next `remaining` matching requests.
    Next { remaining: usize },
    /// On every `n`th matching request (the `n`th, `2n`th, …), for ever.
    Every { n: usize, seen: usize },
}

struct FaultRule {
    path_substring: String,
    schedule: Schedule,
    /// The faults answered in turn, one per firing.
    faults: Vec<Fault>,
    fired: usize,
}

impl FaultRule {
    /// Counts a matching request; the fault to answer it with, if this rule fires.
    fn fire(&mut self) -> Option<Fault> {
        let fires = match &mut self.schedule {
            Schedule::Next { remaining } if *remaining > 0 => {
                *remaining -= 1;
                true
            }
            Schedule::Next { .. } => false,
            Schedule::Every { n, seen } => {
                *seen += 1;
                *seen % (*n).max(1) == 0
            }
        };
        if !fires || self.faults.is_empty() {
            return None;
        }
        let fault = self.faults[self.fired % self.faults.len()].clone();
        self.fired += 1;
        Some(fault)
    }

    fn spent(&self) -> bool {
        matches!(self.schedule, Schedule::Next { remaining: 0 })
    }
}

/// State shared between the test thread and the server thread.
#[derive(Default)]
pub(crate) struct Shared {
    world: Mutex<World>,
    log: Mutex<Vec<RecordedRequest>>,
    faults: Mutex<Vec<FaultRule>>,
    hooks: Mutex<crate::hooks::Hooks>,
}

impl Shared {
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn log(&self) -> MutexGuard<'_, Vec<RecordedRequest>> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Webhooks and their delivery logs (`hooks.rs`).
    pub(crate) fn hooks(&self) -> MutexGuard<'_, crate::hooks::Hooks> {
        self.hooks.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn faults(&self) -> MutexGuard<'_, Vec<FaultRule>> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add_fault(&self, path_substring: &str, n: usize, fault: Fault) {
        self.faults().push(FaultRule {
            path_substring: path_substring.to_string(),
            schedule: Schedule::Next { remaining: n },
            faults: vec![fault],
            fired: 0,
        });
    }

    pub fn add_periodic_fault(&self, path_substring: &str, every: usize, faults: Vec<Fault>) {
        self.faults().push(FaultRule {
            path_substring: path_substring.to_string(),
            schedule: Schedule::Every { n: every, seen: 0 },
            faults,
            fired: 0,
        });
    }

    /// Drops every pending fault rule.
    pub fn clear_faults(&self) {
        self.faults().clear();
    }

    /// Counts the request against every live rule matching the path, in the order the rules
    /// were added, until one fires.
    fn take_fault(&self, path: &str) -> Option<Fault> {
        let mut faults = self.faults();
        let fault = faults
            .iter_mut()
            .filter(|r| !r.spent() && path.contains(&r.path_substring))
            .find_map(FaultRule::fire);
        faults.retain(|r| !r.spent());
        fault
    }

    fn record(&self, req: &HttpRequest, body: &Bytes) -> usize {
        let headers = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut log = self.log();
        log.push(RecordedRequest {
            method: req.method().as_str().to_string(),
            path: req.path().to_string(),
            query: req.query_string().to_string(),
            body: String::from_utf8_lossy(body).into_owned(),
            headers,
            received: SystemTime::now(),
            answered: None,
            status: None,
            served_status: None,
            response_headers: Vec::new(),
            routed: true,
        });
        log.len() - 1
    }

    fn finish(&self, idx: usize, reply: &Reply, routed: bool, served: Option<u16>) {
        if let Some(r) = self.log().get_mut(idx) {
            r.answered = Some(SystemTime::now());
            r.status = Some(reply.status);
            r.served_status = served;
            r.response_headers = reply.headers.clone();
            r.routed = routed;
        }
    }
}

/// Binds `127.0.0.1:0` and runs the server on a new thread until its handle is stopped.
pub(crate) fn spawn(shared: Arc<Shared>) -> (SocketAddr, actix_web::dev::ServerHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("fake forge: bind 127.0.0.1:0");
    let addr = listener
        .local_addr()
        .expect("fake forge: a bound socket has an address");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(format!("fake-forge-{}", addr.port()))
        .spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let data = web::Data::from(shared);
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                        .default_service(web::to(dispatch))
                })
                .workers(1)
                .disable_signals()
                .shutdown_timeout(0)
                .listen(listener)
                .expect("fake forge: listen on the bound socket")
                .run();
                let _ = tx.send(server.handle());
                let _ = server.await;
            });
        })
        .expect("fake forge: spawn the server thread");
    let handle = rx.recv().expect("fake forge: the server thread started");
    (addr, handle)
}

async fn dispatch(req: HttpRequest, body: Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let idx = shared.record(&req, &body);
    let path = req.path().to_string();
    let gitlab = path.starts_with("/api/v4/") || path == "/api/v4";
    let fault = shared.take_fault(&path);
    let lose_response = fault == Some(Fault::LostResponse);
    match fault {
        Some(Fault::Delay(d)) => actix_web::rt::time::sleep(d).await,
        Some(Fault::Hold(gate)) => gate.wait(Duration::from_secs(60)).await,
        Some(Fault::LostResponse) | None => {}
        Some(fault) => {
            let reply = fault_reply(&fault, gitlab);
            shared.finish(idx, &reply, true, None);
            return into_response(reply);
        }
    }

    let host = req.connection_info().host().to_string();
    let (prefix, rest) = if gitlab {
        ("/api/v4", &path["/api/v4".len()..])
    } else if let Some(rest) = path.strip_prefix("/api/v3") {
        ("/api/v3", rest)
    } else {
        ("", path.as_str())
    };
    let query = form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let accept = req
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let r = Req {
        method: req.method().as_str(),
        authorization,
        accept,
        segments: rest.split('/').filter(|s| !s.is_empty()).collect(),
        query,
        body: &body,
        content_type,
        base: format!("http://{host}{prefix}"),
        self_url: format!("http://{host}{path}"),
    };
    let reply = match crate::hooks::route(&shared, &r, gitlab).await {
        Some(reply) => Some(reply),
        None => {
            let mut world = shared.world();
            if gitlab {
                gitlab::route(&mut world, &r)
            } else {
                github::route(&mut world, &r)
            }
        }
    };
    let routed = reply.is_some();
    let reply = reply.unwrap_or_else(|| not_routed(gitlab));
    let served = Some(reply.status);
    let reply = if lose_response {
        fault_reply(&Fault::LostResponse, gitlab)
    } else {
        reply
    };
    shared.finish(idx, &reply, routed, served);
    into_response(reply)
}

fn not_routed(gitlab: bool) -> Reply {
    if gitlab {
        Reply::json(404, serde_json::json!({"error": "404 Not Found"}))
    } else {
        github::error(404, "Not Found")
    }
}

fn fault_reply(fault: &Fault, gitlab: bool) -> Reply {
    let error = |status: u16, message: &str| {
        if gitlab {
            Reply::json(status, serde_json::json!({ "message": message }))
        } else {
            github::error(status, message)
        }
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    match fault {
        Fault::Status500 => error(500, "500 Internal Server Error"),
        Fault::Status { status, message } => error(*status, message),
        Fault::TooManyRequests { retry_after_secs } if gitlab => Reply {
            text: Some("Retry later\n".to_string()),
            ..Reply::empty(429)
        }
        .header("Retry-After", retry_after_secs)
        .header("RateLimit-Name", "throttle_authenticated_api")
        .header("RateLimit-Limit", 2000)
        .header("RateLimit-Observed", 2001)
        .header("RateLimit-Remaining", 0)
        .header("RateLimit-Reset", now + retry_after_secs),
        Fault::TooManyRequests { retry_after_secs } => {
            error(429, "Too Many Requests").header("retry-after", retry_after_secs)
        }
        Fault::GitHubSecondaryLimit { retry_after_secs } => {
            let reply = error(
                403,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you \
                 try again.",
            );
            match retry_after_secs {
                Some(secs) => reply.header("retry-after", secs),
                None => reply,
            }
        }
        Fault::PrimaryLimit { reset_epoch } => error(403, "API rate limit exceeded for user ID 1.")
            .header("x-ratelimit-limit", 5000)
            .header("x-ratelimit-remaining", 0)
            .header("x-ratelimit-used", 5000)
            .header("x-ratelimit-reset", reset_epoch)
            .header("x-ratelimit-resource", "core"),
        Fault::Delay(_) | Fault::Hold(_) => error(500, "unreachable: delays are served"),
        Fault::LostResponse => error(502, "502 Bad Gateway"),
    }
}

fn into_response(reply: Reply) -> HttpResponse {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = HttpResponse::build(status);
    for (k, v) in &reply.headers {
        res.insert_header((k.as_str(), v.as_str()));
    }
    match (reply.body, reply.text, reply.bytes) {
        (Some(json), _, _) => res.content_type("application/json").body(json.to_string()),
        (None, Some(text), _) => res.content_type("text/plain").body(text),
        (None, None, Some((content_type, bytes))) => res.content_type(content_type).body(bytes),
        (None, None, None) => res.finish(),
    }
}
