//! What a stranger can hold, over real sockets on loopback: stalled heads,
//! idle keep-alive connections, stalled bodies, too many connections from one
//! address or in all, too many requests at once, requests without a valid
//! key, and remote servers (a custodian webhook, a JWKS endpoint) answering
//! with endless bodies. Service settings are short (1–2 s); the checks give
//! them generous margins.
//!
//! Linux lets a socket bind any 127.x address as its source, which gives
//! each test as many "addresses" as it needs.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{new_backup_id, serve_config, webhook_client, Answer, Api, Receiver, TestServer};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use wallet_backup_service::api::BODY_LIMIT;
use wallet_backup_service::{ConnectionLimits, RateLimit, ServeConfig, WebhookPolicy};

const SECRET: &[u8] = b"whsec-test-0123456789abcdef-0123456789abcdef";

/// Settings no test here is about: no per-key limit, no anonymous limit,
/// long timeouts, high caps; each test shortens what it checks.
fn quiet(config: &mut ServeConfig) {
    config.rate_limit = RateLimit { per_second: 0.0, burst: 0 };
    config.anonymous_rate_limit = RateLimit { per_second: 0.0, burst: 0 };
    config.connections = ConnectionLimits {
        header_timeout: Duration::from_secs(30),
        body_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(30),
        max_connections: 2000,
        max_connections_per_ip: 1000,
        shutdown_grace: Duration::from_secs(10),
        ..ConnectionLimits::default()
    };
}

async fn server(edit: impl FnOnce(&mut ServeConfig)) -> TestServer {
    serve_config(tempfile::tempdir().unwrap(), |config| {
        quiet(config);
        edit(config);
    })
    .await
}

/// A TCP connection to the service from `source` (a 127.x address).
async fn connect_from(source: &str, server: &TestServer) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(server.running.addr()).await.unwrap()
}

/// A response read off a raw connection.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or("<no code>").to_owned()
    }
}

/// Reads one response (with a `Content-Length` body) off `stream`; `None` if
/// the connection closes (or is reset) first. Panics after `limit`.
async fn read_response(stream: &mut TcpStream, limit: Duration) -> Option<Raw> {
    tokio::time::timeout(limit, async {
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers.iter().find(|(n, _)| n == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = buf[head_end..].to_vec();
        while body.len() < length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => body.extend_from_slice(&chunk[..n]),
            }
        }
        Some(Raw { status, headers, body })
    })
    .await
    .expect("no response and no close within the limit")
}

/// Whether the server closes (or resets) `stream` within `limit`; whatever it
/// sends first is read and dropped.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    tokio::time::timeout(limit, async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

fn get(path: &str, key: Option<&str>) -> String {
    let auth = key.map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n")
}

fn key_of(api: &Api) -> String {
    api.key.clone().unwrap()
}

fn create_pair_request(key: &str, backup_id: &str) -> Vec<u8> {
    let body = serde_json::json!({ "backupMethod": "PASSWORD", "backupId": backup_id, "custodianShare": "c2hhcmU" })
        .to_string();
    format!(
        "POST /api/v3/clients/me/backup-share-pairs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

// ---------------------------------------------------------------- heads

#[tokio::test]
async fn stalled_heads_are_closed_while_normal_requests_succeed() {
    let header_timeout = Duration::from_millis(1500);
    let server = server(|c| c.connections.header_timeout = header_timeout).await;
    let api = server.client("honest", true).await;

    // 300 connections from 127.0.0.2 that send part of a head and stall (the
    // idle timeout is 30 s here: only the header timeout can close them).
    let opened = Instant::now();
    let mut stalled = Vec::new();
    for _ in 0..300 {
        let mut stream = connect_from("127.0.0.2", &server).await;
        stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        stalled.push(stream);
    }
    // Honest requests keep being answered meanwhile.
    for _ in 0..20 {
        let reply = tokio::time::timeout(Duration::from_secs(5), api.get("/api/v3/clients/me")).await;
        assert_eq!(reply.expect("an honest request timed out").status, 200);
    }
    // Every stalled connection is closed by the server, within the header
    // timeout plus a generous margin.
    let closes = stalled
        .into_iter()
        .map(|mut stream| tokio::spawn(async move { closed_within(&mut stream, Duration::from_secs(15)).await }));
    for close in closes {
        assert!(close.await.unwrap(), "a stalled connection was still open after 15 s");
    }
    let took = opened.elapsed();
    assert!(took < header_timeout + Duration::from_secs(10), "closing the stalled connections took {took:?}");
}

#[tokio::test]
async fn a_head_that_trickles_in_is_cut_at_the_header_timeout() {
    // A byte every 300 ms keeps the idle timer (1 s) from firing; the header
    // timer (2 s) does not care.
    let server = server(|c| {
        c.connections.header_timeout = Duration::from_secs(2);
        c.connections.idle_timeout = Duration::from_secs(1);
    })
    .await;
    let mut stream = connect_from("127.0.0.2", &server).await;
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let start = Instant::now();
    let closed = loop {
        if start.elapsed() > Duration::from_secs(15) {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        if stream.write_all(b"X").await.is_err() {
            break true;
        }
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_millis(1), stream.read(&mut byte)).await;
        if let Ok(Ok(0) | Err(_)) = read {
            break true;
        }
    };
    assert!(closed, "a trickling head kept its connection for 15 s");
}

// ---------------------------------------------------------------- idle

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_but_not_one_with_a_request_in_flight() {
    let receiver = Receiver::start(SECRET).await;
    let server = server(|c| {
        c.connections.idle_timeout = Duration::from_secs(1);
        c.webhook = WebhookPolicy { timeout: Duration::from_secs(10), attempts: 1, backoff: Duration::ZERO };
    })
    .await;
    let api = server.client("honest", true).await;
    let key = key_of(&api);

    // Keep-alive works: two requests on one connection, then silence.
    let mut stream = connect_from("127.0.0.1", &server).await;
    for _ in 0..2 {
        stream.write_all(get("/api/v3/clients/me", Some(&key)).as_bytes()).await.unwrap();
        let reply = read_response(&mut stream, Duration::from_secs(5)).await.expect("answered");
        assert_eq!(reply.status, 200);
        assert_ne!(reply.header("connection"), Some("close"));
        assert_eq!(reply.header("keep-alive"), Some("timeout=1"));
    }
    // The header timeout is 30 s: closing within a few seconds is the idle timeout.
    assert!(closed_within(&mut stream, Duration::from_secs(6)).await, "an idle connection stayed open");

    // A request in flight for 2.5 s (the webhook takes its time) keeps its connection.
    receiver.script(&[Answer::Delay(2500)]);
    let (webhook_api, _) = webhook_client(&server, &receiver.url, SECRET).await;
    let mut stream = connect_from("127.0.0.1", &server).await;
    stream.write_all(&create_pair_request(&key_of(&webhook_api), &new_backup_id())).await.unwrap();
    let reply = read_response(&mut stream, Duration::from_secs(15)).await.expect("the busy connection was closed");
    assert_eq!(reply.status, 201, "{:?}", reply.json());
    assert_eq!(receiver.deliveries().len(), 1);
}

// ---------------------------------------------------------------- bodies

#[tokio::test]
async fn a_stalled_body_with_a_valid_key_gets_408_and_its_connection_closes() {
    let server = server(|c| c.connections.body_timeout = Duration::from_secs(1)).await;
    let api = server.client("slow", true).await;
    let mut stream = connect_from("127.0.0.1", &server).await;
    let head = format!(
        "POST /api/v3/clients/me/backup-share-pairs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"backupM",
        key_of(&api)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let reply = read_response(&mut stream, Duration::from_secs(10)).await.expect("an answer before the close");
    assert_eq!(reply.status, 408, "{:?}", reply.json());
    assert_eq!(reply.code(), "REQUEST_TIMEOUT");
    assert!(reply.json()["error"]["message"].is_string());
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(closed_within(&mut stream, Duration::from_secs(5)).await, "the connection stayed open after the 408");
}

#[tokio::test]
async fn an_unread_body_closes_its_connection_with_connection_close() {
    // No key: the API refuses before reading the body, and says the connection closes.
    let server = server(|_| {}).await;
    let mut stream = connect_from("127.0.0.1", &server).await;
    stream
        .write_all(b"POST /api/v3/clients/me/backup-share-pairs HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")
        .await
        .unwrap();
    let reply = read_response(&mut stream, Duration::from_secs(10)).await.expect("answered");
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(closed_within(&mut stream, Duration::from_secs(5)).await);
}

// ---------------------------------------------------------------- caps

/// Opens a connection from `source` and has one request answered on it, so
/// the server holds it (keep-alive).
async fn held_connection(source: &str, server: &TestServer, key: &str) -> TcpStream {
    let mut stream = connect_from(source, server).await;
    stream.write_all(get("/api/v3/clients/me", Some(key)).as_bytes()).await.unwrap();
    let reply = read_response(&mut stream, Duration::from_secs(5)).await.expect("answered");
    assert_eq!(reply.status, 200);
    stream
}

/// A new connection from `source` is refused at once: closed, or a `503`
/// `OVERLOADED` with `Connection: close`, within a few seconds (not hung).
async fn refused_at_once(source: &str, server: &TestServer, key: &str) {
    let mut stream = connect_from(source, server).await;
    let _ = stream.write_all(get("/api/v3/clients/me", Some(key)).as_bytes()).await;
    let reply = read_response(&mut stream, Duration::from_secs(3)).await;
    eprintln!("over the cap from {source}: {}", reply.as_ref().map_or("closed".into(), |r| r.status.to_string()));
    if let Some(reply) = reply {
        assert_eq!(reply.status, 503);
        assert_eq!(reply.code(), "OVERLOADED");
        assert_eq!(reply.header("connection"), Some("close"));
        assert!(reply.header("retry-after").is_some());
        assert!(closed_within(&mut stream, Duration::from_secs(3)).await);
    }
}

#[tokio::test]
async fn over_the_connection_caps_new_connections_are_refused_at_once() {
    let server = server(|c| {
        c.connections.max_connections = 10;
        c.connections.max_connections_per_ip = 4;
    })
    .await;
    let api = server.client("many", true).await;
    let key = key_of(&api);

    // Per address: a fifth connection from 127.0.0.5 is refused, another address is served.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(held_connection("127.0.0.5", &server, &key).await);
    }
    refused_at_once("127.0.0.5", &server, &key).await;
    held.push(held_connection("127.0.0.6", &server, &key).await);

    // In all: 4 + 1 + 4 + 1 = 10 connections; an eleventh, from a fresh address, is refused.
    for _ in 0..4 {
        held.push(held_connection("127.0.0.7", &server, &key).await);
    }
    held.push(held_connection("127.0.0.8", &server, &key).await);
    refused_at_once("127.0.0.9", &server, &key).await;

    // A closed connection gives its place back.
    drop(held.pop());
    let start = Instant::now();
    loop {
        let mut stream = connect_from("127.0.0.9", &server).await;
        stream.write_all(get("/api/v3/clients/me", Some(&key)).as_bytes()).await.unwrap();
        match read_response(&mut stream, Duration::from_secs(3)).await {
            Some(reply) if reply.status == 200 => break,
            _ => assert!(start.elapsed() < Duration::from_secs(5), "the freed place was not given back"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn past_the_in_flight_limits_requests_get_503_at_once() {
    let server = server(|c| {
        c.connections.max_requests_in_flight = 3;
        c.connections.max_body_memory = BODY_LIMIT * 3 / 2;
    })
    .await;
    let api = server.client("busy", true).await;
    let key = key_of(&api);
    let stalled_post = |length: usize| {
        format!(
            "POST /api/v3/clients/me/backup-share-pairs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{"
        )
    };
    // A request whose maximal body is coming holds two thirds of the memory for bodies.
    let mut big = connect_from("127.0.0.1", &server).await;
    big.write_all(stalled_post(BODY_LIMIT).as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut second = connect_from("127.0.0.1", &server).await;
    second.write_all(stalled_post(BODY_LIMIT).as_bytes()).await.unwrap();
    let reply = read_response(&mut second, Duration::from_secs(5)).await.expect("answered at once");
    assert_eq!((reply.status, reply.code().as_str()), (503, "OVERLOADED"));
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(reply.header("connection"), Some("close"));
    // Bodiless requests still fit.
    assert_eq!(api.get("/api/v3/clients/me").await.status, 200);

    // Three requests in flight (two small stalled bodies and the big one): a fourth is shed.
    let mut small = Vec::new();
    for _ in 0..2 {
        let mut stream = connect_from("127.0.0.1", &server).await;
        stream.write_all(stalled_post(100).as_bytes()).await.unwrap();
        small.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let shed = api.get("/api/v3/clients/me").await;
    assert_eq!((shed.status, shed.code()), (503, "OVERLOADED"));
    assert_eq!(shed.headers.get("retry-after").unwrap(), "1");

    // Once they are gone, requests are served again.
    drop(small);
    drop(big);
    let start = Instant::now();
    while api.get("/api/v3/clients/me").await.status != 200 {
        assert!(start.elapsed() < Duration::from_secs(5), "places in flight were not given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------- anonymous rate limit

/// An HTTP client whose connections come from `source`.
fn client_from(source: &str) -> reqwest::Client {
    common::install_tls_provider();
    reqwest::Client::builder().local_address(source.parse::<std::net::IpAddr>().unwrap()).build().unwrap()
}

async fn status(client: &reqwest::Client, method: &str, url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = client.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn requests_without_a_valid_key_are_rate_limited_per_address() {
    let server = server(|c| c.anonymous_rate_limit = RateLimit { per_second: 0.2, burst: 5 }).await;
    let api = server.client("neighbour", true).await;
    let key = format!("Bearer {}", key_of(&api));
    let unknown = format!("Bearer wbk_live_{}", "A".repeat(43));
    let me = format!("{}/api/v3/clients/me", server.base);
    let nowhere = format!("{}/nowhere", server.base);
    let stranger = client_from("127.0.0.3");

    // CORS preflights (browsers send them without a key, one per URL a page
    // calls) neither count nor are refused: a page's many never run the address dry.
    let preflight = [("origin", "https://wallet.example"), ("access-control-request-method", "GET")];
    for _ in 0..30 {
        let answer = status(&stranger, "OPTIONS", &me, &preflight).await;
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.headers()["access-control-allow-origin"], "*");
    }

    // The burst: no key, an unknown route, an OPTIONS that is no preflight, an unknown key, a made-up key on an unknown route.
    assert_eq!(status(&stranger, "GET", &me, &[]).await.status(), 401);
    assert_eq!(status(&stranger, "GET", &nowhere, &[]).await.status(), 404);
    assert_ne!(status(&stranger, "OPTIONS", &me, &[]).await.status(), 429);
    assert_eq!(status(&stranger, "GET", &me, &[("authorization", &unknown)]).await.status(), 401);
    assert_eq!(status(&stranger, "GET", &nowhere, &[("authorization", &unknown)]).await.status(), 404);

    // Then 429 RATE_LIMITED with Retry-After, whatever the request but a preflight.
    for (method, url, headers) in [
        ("GET", &me, vec![]),
        ("GET", &nowhere, vec![]),
        ("OPTIONS", &me, vec![]),
        ("GET", &me, vec![("authorization", unknown.as_str())]),
        ("GET", &nowhere, vec![("authorization", unknown.as_str())]),
    ] {
        let response = status(&stranger, method, url, &headers).await;
        assert_eq!(response.status(), 429, "{method} {url}");
        let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(retry_after >= 1);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "RATE_LIMITED");
    }

    // Preflights still pass: a page at this address can still call with its key.
    assert_eq!(status(&stranger, "OPTIONS", &me, &preflight).await.status(), 200);
    // A client with a valid key at the same address is not affected.
    for _ in 0..10 {
        assert_eq!(status(&stranger, "GET", &me, &[("authorization", &key)]).await.status(), 200);
    }
    // Nor is a stranger at another address.
    assert_eq!(status(&client_from("127.0.0.4"), "GET", &me, &[]).await.status(), 401);
}

// ---------------------------------------------------------------- shutdown

#[tokio::test]
async fn shutdown_lets_a_request_finish_and_is_bounded() {
    let receiver = Receiver::start(SECRET).await;
    let server = server(|c| {
        c.connections.shutdown_grace = Duration::from_secs(1);
        c.webhook = WebhookPolicy { timeout: Duration::from_secs(30), attempts: 1, backoff: Duration::ZERO };
    })
    .await;
    let (webhook_api, _) = webhook_client(&server, &receiver.url, SECRET).await;
    let key = key_of(&webhook_api);
    let mut idle = connect_from("127.0.0.1", &server).await;

    // A request in flight for 600 ms finishes, saying the connection closes.
    receiver.script(&[Answer::Delay(600), Answer::Hang]);
    let mut finishing = connect_from("127.0.0.1", &server).await;
    finishing.write_all(&create_pair_request(&key, &new_backup_id())).await.unwrap();
    // One that would hang for 30 s is cut when the grace (1 s) is over.
    let mut hanging = connect_from("127.0.0.1", &server).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    hanging.write_all(&create_pair_request(&key, &new_backup_id())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let TestServer { running, dir, .. } = server;
    let addr = running.addr();
    let start = Instant::now();
    let shutdown = tokio::spawn(running.shutdown());
    let reply = read_response(&mut finishing, Duration::from_secs(10)).await.expect("the request in flight finished");
    assert_eq!(reply.status, 201, "{:?}", reply.json());
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(closed_within(&mut idle, Duration::from_secs(2)).await, "an idle connection outlived the shutdown");
    assert!(closed_within(&mut hanging, Duration::from_secs(10)).await);
    tokio::time::timeout(Duration::from_secs(10), shutdown).await.expect("shutdown is bounded").unwrap().unwrap();
    assert!(start.elapsed() < Duration::from_secs(8), "shutdown took {:?}", start.elapsed());
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting after shutdown");
    drop(dir);
}

// ---------------------------------------------------------------- remote answers

/// Serializes the tests that measure the process's memory.
static MEMORY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `VmRSS` or `VmHWM` of this process, in bytes.
fn vm(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// Runs `work`; returns how far the process's peak memory rose above what it used before.
async fn peak_growth<F: std::future::Future>(work: F) -> (F::Output, u64) {
    // Resets VmHWM to the current RSS (Linux ≥ 4.0); without it, VmHWM can only overstate.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = vm("VmRSS:");
    let output = work.await;
    let growth = vm("VmHWM:").saturating_sub(before);
    eprintln!("peak memory rose by {} KiB", growth >> 10);
    (output, growth)
}

/// A server that answers every request with `200` and a chunked body of
/// `total` bytes, written as fast as the client takes it (no length known
/// beforehand). Returns its address and how many body bytes it sent.
async fn endless_answers(total: u64) -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            let counter = counter.clone();
            tokio::spawn(async move {
                // Read the request head (and whatever body came with it).
                let mut buf = vec![0u8; 64 * 1024];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
                if stream.write_all(head).await.is_err() {
                    return;
                }
                let chunk = vec![b' '; 64 * 1024];
                let framed = [format!("{:x}\r\n", chunk.len()).into_bytes(), chunk, b"\r\n".to_vec()].concat();
                while counter.load(Ordering::Relaxed) < total {
                    if stream.write_all(&framed).await.is_err() {
                        return;
                    }
                    counter.fetch_add(64 * 1024, Ordering::Relaxed);
                }
                let _ = stream.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    (addr, sent)
}

const ENDLESS: u64 = 512 * 1024 * 1024;
const MEMORY_BOUND: u64 = 128 * 1024 * 1024;

#[tokio::test]
async fn a_webhook_answering_an_endless_body_is_a_failed_delivery_not_memory() {
    let _serial = MEMORY.lock().await;
    let (addr, sent) = endless_answers(ENDLESS).await;
    let server = server(|c| {
        c.webhook = WebhookPolicy { timeout: Duration::from_secs(10), attempts: 2, backoff: Duration::from_millis(10) };
    })
    .await;
    let (api, client_id) = webhook_client(&server, &format!("http://{addr}/custody"), SECRET).await;
    let backup_id = new_backup_id();
    let (reply, growth) = peak_growth(api.create_pair("PASSWORD", &backup_id, "c2hhcmU")).await;
    assert_eq!((reply.status, reply.code()), (502, "CUSTODIAN_WEBHOOK_FAILED"), "{}", reply.body);
    let pair_status: String =
        sqlx::query_scalar("SELECT status FROM backup_share_pairs WHERE client_id = $1 AND backup_id = $2")
            .bind(client_id)
            .bind(backup_id)
            .fetch_one(server.running.store().pool())
            .await
            .unwrap();
    assert_eq!(pair_status, "FAILED");
    assert!(
        growth < MEMORY_BOUND,
        "memory rose by {} MiB while the webhook sent {} MiB",
        growth >> 20,
        sent.load(Ordering::Relaxed) >> 20
    );
}

#[tokio::test]
async fn an_operator_answering_an_endless_fetch_at_recovery_is_a_503_not_memory() {
    let _serial = MEMORY.lock().await;
    let (addr, sent) = endless_answers(ENDLESS).await;
    let server = server(|c| {
        c.webhook = WebhookPolicy { timeout: Duration::from_secs(10), attempts: 2, backoff: Duration::from_millis(10) };
    })
    .await;
    // The pair is made with an operator that keeps it; then the operator's URL answers without end.
    let receiver = Receiver::start(SECRET).await;
    let (api, client_id) = webhook_client(&server, &receiver.url, SECRET).await;
    let backup_id = new_backup_id();
    assert_eq!(api.create_pair("PASSWORD", &backup_id, "c2hhcmU").await.status, 201);
    let endless = wallet_backup_service::store::WebhookSetting {
        url: format!("http://{addr}/custody"),
        secret: zeroize::Zeroizing::new(SECRET.to_vec()),
    };
    let store = server.running.store();
    assert!(store.set_custodian_webhook(server.running.kms(), &client_id, &endless).await.unwrap());
    let (reply, growth) = peak_growth(api.custodian_share_by_backup_id(&backup_id)).await;
    assert_eq!((reply.status, reply.code()), (503, "CUSTODIAN_WEBHOOK_FAILED"), "{}", reply.body);
    let cap = wallet_backup_service::webhook::MAX_FETCH_ANSWER_BYTES as u64;
    assert!(sent.load(Ordering::Relaxed) > cap, "the endless answer was not read up to the cap");
    assert!(
        growth < MEMORY_BOUND,
        "memory rose by {} MiB while the operator sent {} MiB (cap {} MiB)",
        growth >> 20,
        sent.load(Ordering::Relaxed) >> 20,
        cap >> 20
    );
}

#[tokio::test]
async fn a_jwks_endpoint_answering_an_endless_body_is_a_failed_fetch_not_memory() {
    use wallet_backup_service::firebase::{KeyStore, TokenError};
    use wallet_backup_service::FirebaseConfig;
    let _serial = MEMORY.lock().await;
    let (addr, sent) = endless_answers(ENDLESS).await;
    let config = FirebaseConfig {
        jwks_url: format!("http://{addr}/jwks"),
        fetch_timeout: Duration::from_secs(10),
        ..FirebaseConfig::default()
    };
    let keys = KeyStore::new(&config).unwrap();
    let (fetched, growth) = peak_growth(keys.key("some-kid")).await;
    match fetched {
        Err(TokenError::KeysUnavailable(_)) => {}
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("a key out of an endless answer"),
    }
    assert!(
        growth < MEMORY_BOUND,
        "memory rose by {} MiB while the endpoint sent {} MiB",
        growth >> 20,
        sent.load(Ordering::Relaxed) >> 20
    );
}
