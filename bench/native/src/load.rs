//! `load`: the HTTP load generator of the service section of `npm run bench`.
//!
//! Runs whole managed backups against a running `wallet-backup-service` on
//! loopback: `POST /api/v3/clients/me/backup-share-pairs` (random 32-hex
//! `backupId`, a `--share-bytes` custodian share) → `PUT …/{id}/cipher-text`
//! (a `wbk1.` envelope with the right method byte and backup id, as in
//! `service/tests/common/mod.rs`) → `POST …/{id}/confirm`.
//!
//!   load --base http://127.0.0.1:PORT [--levels 1,8,32] [--max-seconds 5]
//!        [--max-backups 2000] [--warmup 20] [--share-bytes 300]
//!
//! The API keys come from the environment variable `WALLET_BACKUP_BENCH_KEYS`
//! (comma-separated), not from the command line. Worker `w` of a level uses
//! key `w mod keys` and its own keep-alive HTTP/1.1 connection. Each level
//! stops at `--max-backups` started backups or after `--max-seconds`,
//! whichever comes first. Prints one JSON object on stdout.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64ct::{Base64UrlUnpadded, Encoding};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;

type Conn = SendRequest<Full<Bytes>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The method byte of `PASSWORD` in a `wbk1.` envelope.
const PASSWORD_METHOD_BYTE: u8 = 1;

struct Config {
    host: String,
    levels: Vec<usize>,
    max_seconds: f64,
    max_backups: usize,
    warmup: usize,
    share_bytes: usize,
    keys: Vec<String>,
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).expect("OS random source");
    b
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `wbk1.` ‖ base64url(`wbk` 0x01, method byte, 16-byte backup id, 90 random bytes):
/// the header start the service checks, like the integration tests' `envelope`.
fn envelope(backup_id: &[u8]) -> String {
    let mut bytes = b"wbk\x01".to_vec();
    bytes.push(PASSWORD_METHOD_BYTE);
    bytes.extend_from_slice(backup_id);
    bytes.extend(random_bytes(90));
    format!("wbk1.{}", Base64UrlUnpadded::encode_string(&bytes))
}

async fn connect(host: &str) -> Result<Conn, BoxError> {
    let stream = TcpStream::connect(host).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

async fn call(
    conn: &mut Conn,
    host: &str,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, Value), BoxError> {
    conn.ready().await?;
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", host)
        .header("authorization", format!("Bearer {key}"));
    let bytes = match body {
        Some(v) => {
            request = request.header("content-type", "application/json");
            serde_json::to_vec(&v)?
        }
        None => Vec::new(),
    };
    let response = conn.send_request(request.body(Full::new(Bytes::from(bytes)))?).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// One whole managed backup; returns [whole, create, cipher-text, confirm] in ms.
async fn backup(conn: &mut Conn, host: &str, key: &str, share: &str) -> Result<[f64; 4], BoxError> {
    let id = random_bytes(16);
    let t0 = Instant::now();
    let body = json!({ "backupMethod": "PASSWORD", "backupId": hex(&id), "custodianShare": share });
    let (status, created) =
        call(conn, host, key, Method::POST, "/api/v3/clients/me/backup-share-pairs", Some(body)).await?;
    if status != 201 {
        return Err(format!("create pair: {status} {created}").into());
    }
    let pair = created["id"].as_str().ok_or("create pair: no id")?.to_owned();
    let t1 = Instant::now();
    let path = format!("/api/v3/clients/me/backup-share-pairs/{pair}/cipher-text");
    let (status, stored) =
        call(conn, host, key, Method::PUT, &path, Some(json!({ "cipherText": envelope(&id) }))).await?;
    if status != 200 || stored["status"] != "STORED_CLIENT_BACKUP_SHARE" {
        return Err(format!("cipher-text: {status} {stored}").into());
    }
    let t2 = Instant::now();
    let path = format!("/api/v3/clients/me/backup-share-pairs/{pair}/confirm");
    let (status, confirmed) = call(conn, host, key, Method::POST, &path, None).await?;
    if status != 200 || confirmed["status"] != "COMPLETED" {
        return Err(format!("confirm: {status} {confirmed}").into());
    }
    let t3 = Instant::now();
    let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
    Ok([ms(t0, t3), ms(t0, t1), ms(t1, t2), ms(t2, t3)])
}

/// Nearest-rank percentiles of ms samples.
fn stats(mut v: Vec<f64>) -> Value {
    if v.is_empty() {
        return Value::Null;
    }
    v.sort_by(f64::total_cmp);
    let pct = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    json!({ "p50": round(pct(0.50)), "p99": round(pct(0.99)), "max": round(v[v.len() - 1]) })
}

struct Worker {
    samples: Vec<[f64; 4]>,
    errors: usize,
    first_error: Option<String>,
}

async fn level(cfg: &Arc<Config>, share: &Arc<String>, concurrency: usize, limit: usize, seconds: f64) -> Value {
    // Connections first, so the clock covers backups only.
    let mut conns = Vec::with_capacity(concurrency);
    let mut connect_errors = 0usize;
    for _ in 0..concurrency {
        match connect(&cfg.host).await {
            Ok(c) => conns.push(c),
            Err(e) => {
                connect_errors += 1;
                eprintln!("load: connect: {e}");
            }
        }
    }
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for (w, mut conn) in conns.into_iter().enumerate() {
        let (cfg, share, next) = (cfg.clone(), share.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let key = &cfg.keys[w % cfg.keys.len()];
            let mut out = Worker { samples: Vec::new(), errors: 0, first_error: None };
            while Instant::now() < deadline && next.fetch_add(1, Ordering::Relaxed) < limit {
                match backup(&mut conn, &cfg.host, key, &share).await {
                    Ok(t) => out.samples.push(t),
                    Err(e) => {
                        out.errors += 1;
                        out.first_error.get_or_insert_with(|| e.to_string());
                        // A broken connection stays broken: this worker stops.
                        if conn.is_closed() {
                            break;
                        }
                    }
                }
            }
            out
        }));
    }
    let mut samples = Vec::new();
    let (mut errors, mut first_error) = (connect_errors, None);
    for t in tasks {
        match t.await {
            Ok(w) => {
                samples.extend(w.samples);
                errors += w.errors;
                first_error = first_error.or(w.first_error);
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert_with(|| format!("worker: {e}"));
            }
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let column = |i: usize| samples.iter().map(|s| s[i]).collect::<Vec<f64>>();
    json!({
        "concurrency": concurrency,
        "backups": samples.len(),
        "errors": errors,
        "first_error": first_error,
        "seconds": (wall * 1000.0).round() / 1000.0,
        "backups_per_s": ((samples.len() as f64 / wall) * 10.0).round() / 10.0,
        "backup_ms": stats(column(0)),
        "create_ms": stats(column(1)),
        "cipher_text_ms": stats(column(2)),
        "confirm_ms": stats(column(3)),
    })
}

fn parse(args: &[String]) -> Result<Config, BoxError> {
    let mut base = None;
    let mut cfg = Config {
        host: String::new(),
        levels: vec![1, 8, 32],
        max_seconds: 5.0,
        max_backups: 2000,
        warmup: 20,
        share_bytes: 300,
        keys: Vec::new(),
    };
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().ok_or_else(|| format!("{} needs a value", args[i]))?;
        match args[i].as_str() {
            "--base" => base = Some(v),
            "--levels" => cfg.levels = v.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "--max-seconds" => cfg.max_seconds = v.parse()?,
            "--max-backups" => cfg.max_backups = v.parse()?,
            "--warmup" => cfg.warmup = v.parse()?,
            "--share-bytes" => cfg.share_bytes = v.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
        i += 2;
    }
    let base = base.ok_or("--base http://127.0.0.1:PORT is needed")?;
    let host = base.strip_prefix("http://").ok_or("--base must be http://HOST:PORT")?.trim_end_matches('/');
    cfg.host = host.to_owned();
    cfg.keys = std::env::var("WALLET_BACKUP_BENCH_KEYS")
        .map_err(|_| "WALLET_BACKUP_BENCH_KEYS (comma-separated API keys) is needed")?
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    if cfg.keys.is_empty() || cfg.levels.contains(&0) || cfg.share_bytes == 0 {
        return Err("need at least one key, levels >= 1 and --share-bytes >= 1".into());
    }
    Ok(cfg)
}

/// Entry point of `wallet-backup-bench-native load …` (args after `load`).
pub fn main(args: &[String]) -> std::process::ExitCode {
    let cfg = match parse(args) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("load: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let out = runtime.block_on(async {
        // A custodian share of `share_bytes` characters (hex of random bytes).
        let share = Arc::new(hex(&random_bytes(cfg.share_bytes.div_ceil(2)))[..cfg.share_bytes].to_owned());
        let warmup = level(&cfg, &share, 1, cfg.warmup, 30.0).await;
        let mut levels = Vec::new();
        for &c in &cfg.levels {
            levels.push(level(&cfg, &share, c, cfg.max_backups, cfg.max_seconds).await);
        }
        json!({
            "keys": cfg.keys.len(),
            "share_bytes": cfg.share_bytes,
            "max_seconds": cfg.max_seconds,
            "max_backups": cfg.max_backups,
            "warmup": { "backups": warmup["backups"], "errors": warmup["errors"], "first_error": warmup["first_error"] },
            "levels": levels,
        })
    });
    println!("{out}");
    std::process::ExitCode::SUCCESS
}
