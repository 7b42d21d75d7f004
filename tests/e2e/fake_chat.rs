//! A fake of the chat platforms' group robots on loopback: DingTalk (checks the signed-mode
//! `timestamp`/`sign` and the keyword, as DingTalk does, answering `errcode` 310000 when they
//! are wrong), Feishu (checks the body's `timestamp`/`sign`), Slack and WeCom, and Slack's Web
//! API `chat.postMessage` (checks the bot token, answering `invalid_auth` otherwise, as Slack
//! does). It records every message with the time it arrived, for tests to assert on.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// One message a robot took.
#[derive(Debug, Clone)]
pub struct Received {
    /// `dingtalk`, `feishu`, `slack` or `wecom`.
    pub platform: String,
    pub body: Value,
    pub at: Instant,
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    refused: Vec<String>,
}

/// The bot token the fake Slack Web API accepts.
pub const SLACK_BOT_TOKEN: &str = "xoxb-bosun-test-token";

/// What the robots require.
#[derive(Clone)]
struct Rules {
    dingtalk_secret: String,
    dingtalk_keyword: String,
    feishu_secret: String,
}

/// The running fake; dropping it stops the server.
pub struct FakeChat {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for FakeChat {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

fn hmac_base64(key: &[u8], message: &[u8]) -> String {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).expect("any key");
    mac.update(message);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

/// DingTalk's checks: a fresh timestamp, the signature over it, and the keyword.
fn dingtalk_refusal(rules: &Rules, query: &str, body: &Value) -> Option<&'static str> {
    let params: Vec<(String, String)> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| {
            let v = percent_encoding::percent_decode_str(v).decode_utf8_lossy();
            (k.to_string(), v.into_owned())
        })
        .collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (Some(ts), Some(sign)) = (get("timestamp"), get("sign")) else {
        return Some("sign not match");
    };
    let Ok(ts_ms) = ts.parse::<u128>() else {
        return Some("invalid timestamp");
    };
    if now_ms().abs_diff(ts_ms) > 3_600_000 {
        return Some("invalid timestamp");
    }
    let secret = &rules.dingtalk_secret;
    if hmac_base64(secret.as_bytes(), format!("{ts}\n{secret}").as_bytes()) != sign {
        return Some("sign not match");
    }
    if !body.to_string().contains(&rules.dingtalk_keyword) {
        return Some("keywords not in content");
    }
    None
}

fn feishu_refusal(rules: &Rules, body: &Value) -> Option<&'static str> {
    let ts = body["timestamp"].as_str()?;
    let sign = body["sign"].as_str().unwrap_or("");
    let expected = hmac_base64(format!("{ts}\n{}", rules.feishu_secret).as_bytes(), b"");
    (expected != sign).then_some("sign match fail or timestamp is not within one hour")
}

async fn robot(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Mutex<State>>,
    rules: web::Data<Rules>,
) -> HttpResponse {
    let platform = req.match_info().get("platform").unwrap_or("").to_string();
    let Ok(json) = serde_json::from_slice::<Value>(&body) else {
        return HttpResponse::BadRequest().body("invalid_payload");
    };
    let refusal = match platform.as_str() {
        "dingtalk" => dingtalk_refusal(&rules, req.query_string(), &json),
        "feishu" => feishu_refusal(&rules, &json),
        "slack-api" => {
            let bearer = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok());
            (bearer != Some(&format!("Bearer {SLACK_BOT_TOKEN}"))).then_some("invalid_auth")
        }
        _ => None,
    };
    let mut s = state.lock().expect("fake chat state");
    if let Some(why) = refusal {
        s.refused.push(format!("{platform}: {why}"));
        return match platform.as_str() {
            "feishu" => HttpResponse::Ok().json(json!({"code": 19021, "msg": why})),
            "slack-api" => HttpResponse::Ok().json(json!({"ok": false, "error": why})),
            _ => HttpResponse::Ok().json(json!({"errcode": 310000, "errmsg": why})),
        };
    }
    s.received.push(Received {
        platform: platform.clone(),
        body: json,
        at: Instant::now(),
    });
    match platform.as_str() {
        "slack" => HttpResponse::Ok().body("ok"),
        "slack-api" => HttpResponse::Ok().json(json!({"ok": true, "ts": "1700000000.000200"})),
        "feishu" => HttpResponse::Ok().json(json!({"code": 0, "msg": "success", "data": {}})),
        _ => HttpResponse::Ok().json(json!({"errcode": 0, "errmsg": "ok"})),
    }
}

impl FakeChat {
    /// Starts the robots; DingTalk and Feishu require these secrets and DingTalk the keyword.
    pub fn start(dingtalk_secret: &str, dingtalk_keyword: &str, feishu_secret: &str) -> FakeChat {
        let rules = Rules {
            dingtalk_secret: dingtalk_secret.into(),
            dingtalk_keyword: dingtalk_keyword.into(),
            feishu_secret: feishu_secret.into(),
        };
        let state = Arc::new(Mutex::new(State::default()));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake chat");
        let addr = listener.local_addr().expect("address");
        let data = web::Data::from(state.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .app_data(web::Data::new(rules.clone()))
                        .route("/{platform}/{rest:.*}", web::post().to(robot))
                })
                .workers(1)
                .disable_signals()
                .shutdown_timeout(0)
                .listen(listener)
                .expect("listen")
                .run();
                let _ = tx.send(server.handle());
                let _ = server.await;
            });
        });
        let handle = rx.recv().expect("the fake chat started");
        FakeChat {
            addr,
            state,
            handle,
        }
    }

    /// The webhook URL of a platform's robot.
    pub fn url(&self, platform: &str) -> String {
        match platform {
            "dingtalk" => format!(
                "http://{}/dingtalk/robot/send?access_token=t0ken",
                self.addr
            ),
            other => format!("http://{}/{other}/hook/t0ken", self.addr),
        }
    }

    /// The base URL of the fake Slack Web API (`[chat.slack] api_url`).
    pub fn slack_api_url(&self) -> String {
        format!("http://{}/slack-api", self.addr)
    }

    /// Every message taken so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().expect("fake chat state").received.clone()
    }

    /// Every request refused so far, with the reason.
    pub fn refused(&self) -> Vec<String> {
        self.state.lock().expect("fake chat state").refused.clone()
    }
}
