//! A fake Drone server on loopback: the build API bosun calls (restart, create, list), which
//! requires the bearer token, answers as Drone does, and records every request.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::json;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct State {
    /// `METHOD path?query` of every request that had the token.
    requests: Vec<String>,
    /// Builds restarted, as (new number, parent).
    restarted: Vec<(u64, u64)>,
    /// Requests answered 503 before any is served.
    fail_first: usize,
}

/// The running fake; dropping it stops the server.
pub struct FakeDrone {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for FakeDrone {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn api(
    req: HttpRequest,
    state: web::Data<Mutex<State>>,
    token: web::Data<String>,
) -> HttpResponse {
    let authorized = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {}", token.as_str()));
    if !authorized {
        return HttpResponse::Unauthorized().json(json!({"message": "Unauthorized"}));
    }
    let mut s = state.lock().expect("fake drone state");
    let line = format!("{} {}", req.method(), req.uri());
    s.requests.push(line);
    if s.fail_first > 0 {
        s.fail_first -= 1;
        return HttpResponse::ServiceUnavailable().json(json!({"message": "busy"}));
    }
    let path = req.path().to_string();
    let parts: Vec<&str> = path.trim_start_matches("/api/repos/").split('/').collect();
    match (req.method().as_str(), parts.as_slice()) {
        ("POST", [_, _, "builds", number]) => {
            let Ok(parent) = number.parse::<u64>() else {
                return HttpResponse::BadRequest().json(json!({"message": "bad build number"}));
            };
            let new = 1000 + s.restarted.len() as u64;
            s.restarted.push((new, parent));
            HttpResponse::Ok().json(json!({"number": new, "parent": parent, "status": "pending"}))
        }
        ("POST", [_, _, "builds"]) => {
            HttpResponse::Ok().json(json!({"number": 2000, "status": "pending"}))
        }
        ("GET", [_, _, "builds"]) => {
            let builds: Vec<_> = s
                .restarted
                .iter()
                .map(|(n, p)| json!({"number": n, "parent": p}))
                .collect();
            HttpResponse::Ok().json(builds)
        }
        _ => HttpResponse::NotFound().json(json!({"message": "Not Found"})),
    }
}

impl FakeDrone {
    /// Starts the fake; every API call needs `token`.
    pub fn start(token: &str) -> FakeDrone {
        let state = Arc::new(Mutex::new(State::default()));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake drone");
        let addr = listener.local_addr().expect("address");
        let data = web::Data::from(state.clone());
        let token = token.to_string();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .app_data(web::Data::new(token.clone()))
                        .default_service(web::to(api))
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
        let handle = rx.recv().expect("the fake drone started");
        FakeDrone {
            addr,
            state,
            handle,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every authorized request, `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().expect("state").requests.clone()
    }

    /// The next `n` requests get a 503.
    pub fn fail_next(&self, n: usize) {
        self.state.lock().expect("state").fail_first = n;
    }
}
