//! Running the service in production (issue 13, parts 2 and 3), against the
//! real binary: HTTPS with certificates made here by a test CA (rcgen), the
//! certificate re-read when its files change, the TLS handshake under the
//! listener's timeouts and caps, the refusal of plain HTTP on a non-loopback
//! address (and the proxy flags), `/healthz` and `/readyz` with a database
//! and a KMS that fail under the running service, the Prometheus metrics,
//! and the JSON log format. Every request goes over a real socket; HTTPS is
//! spoken by a rustls client that trusts only the test CA.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SerialNumber};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

const BIN: &str = env!("CARGO_BIN_EXE_wallet-backup-service");
/// The longest a test waits for something the service does by itself (a
/// reload, a timeout): a bound that ends a broken test, not a measurement.
const PATIENCE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- certificates

/// A certificate authority made for one test.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Self { der: cert.der().clone(), issuer: Issuer::new(params, key) }
    }

    /// A server certificate for `localhost` and 127.0.0.1 with this subject and serial.
    fn leaf(&self, subject: &str, serial: u64) -> Leaf {
        let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, subject);
        params.serial_number = Some(SerialNumber::from(serial));
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf { cert_pem: cert.pem(), key_pem: key.serialize_pem(), der: cert.der().to_vec() }
    }
}

struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

/// The files `serve --tls-cert/--tls-key` read.
struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
}

impl CertFiles {
    fn new(dir: &Path) -> Self {
        Self { cert: dir.join("tls-cert.pem"), key: dir.join("tls-key.pem") }
    }

    /// Overwrites both files in place (as `cp` would), key first.
    fn write(&self, leaf: &Leaf) {
        std::fs::write(&self.key, &leaf.key_pem).unwrap();
        std::fs::write(&self.cert, &leaf.cert_pem).unwrap();
    }

    fn args(&self) -> Vec<String> {
        vec!["--tls-cert".into(), self.cert.display().to_string(), "--tls-key".into(), self.key.display().to_string()]
    }
}

// ---------------------------------------------------------------- clients

/// A rustls client that trusts only `ca`, offering `alpn`.
fn connector(ca: &CertificateDer<'static>, alpn: &[&[u8]]) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    // Every handshake a full one: a resumed session shows the certificate of the session it resumes.
    config.resumption = rustls::client::Resumption::disabled();
    TlsConnector::from(Arc::new(config))
}

async fn handshake(addr: SocketAddr, connector: &TlsConnector) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(PATIENCE, connector.connect(name, tcp)).await.expect("handshake ends")
}

/// The DER of the certificate the server presented.
fn peer_cert(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    stream.get_ref().1.peer_certificates().expect("a certificate")[0].to_vec()
}

/// An answer read off the wire.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("<no code>")
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// One HTTP/1.1 request (`Connection: close`) on `stream`; the body is
/// JSON when it parses as JSON, else a JSON string of the text.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Answer {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let raw = read_all(stream).await;
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no answer: {text:?}"));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("status: {head}"));
    let body = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()));
    Answer { status, head: head.to_owned(), body }
}

/// Reads until the peer closes (a TLS peer that closes without `close_notify` counts as closed).
async fn read_all<S: AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match tokio::time::timeout(PATIENCE, stream.read(&mut buf)).await.expect("the peer answers or closes") {
            Ok(0) | Err(_) => return raw,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
}

/// A client of a service: plain HTTP, or HTTPS trusting `ca`.
#[derive(Clone)]
struct Client {
    addr: SocketAddr,
    tls: Option<TlsConnector>,
    key: Option<String>,
}

impl Client {
    fn with_key(&self, key: &str) -> Self {
        Self { key: Some(key.to_owned()), ..self.clone() }
    }

    async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&Value>) -> Answer {
        let authorization = self.key.as_ref().map(|k| format!("Bearer {k}"));
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(a) = &authorization {
            all.push(("Authorization", a));
        }
        match &self.tls {
            Some(connector) => {
                let mut stream = handshake(self.addr, connector).await.expect("TLS handshake");
                exchange(&mut stream, method, path, &all, body).await
            }
            None => {
                let mut stream = TcpStream::connect(self.addr).await.unwrap();
                exchange(&mut stream, method, path, &all, body).await
            }
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, &[], None).await
    }

    /// A whole managed backup (create, cipherText, confirm); returns (pair id, backup id).
    async fn backup(&self, method: &str, share: &str) -> (String, String) {
        let backup_id = common::new_backup_id();
        let body = json!({ "backupMethod": method, "backupId": backup_id, "custodianShare": share });
        let created = self.send("POST", "/api/v3/clients/me/backup-share-pairs", &[], Some(&body)).await;
        assert_eq!(created.status, 201, "{created:?}");
        let id = created.body["id"].as_str().unwrap().to_owned();
        let cipher = json!({ "cipherText": common::envelope(method, &backup_id) });
        let path = format!("/api/v3/clients/me/backup-share-pairs/{id}/cipher-text");
        assert_eq!(self.send("PUT", &path, &[], Some(&cipher)).await.status, 200);
        let path = format!("/api/v3/clients/me/backup-share-pairs/{id}/confirm");
        assert_eq!(self.send("POST", &path, &[], None).await.status, 200);
        (id, backup_id)
    }
}

// ---------------------------------------------------------------- the binary

/// A `serve` process with its stderr in a file.
struct Service {
    child: Child,
    url: String,
    addr: SocketAddr,
    metrics: Option<String>,
    log: PathBuf,
}

impl Service {
    fn client(&self, ca: Option<&Ca>) -> Client {
        Client { addr: self.addr, tls: ca.map(|ca| connector(&ca.der, &[b"http/1.1"])), key: None }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// SIGTERM, then the whole log once it exited.
    async fn stop(mut self) -> String {
        let pid = self.child.id().unwrap().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().await.unwrap().success());
        let status = tokio::time::timeout(PATIENCE, self.child.wait()).await.unwrap().unwrap();
        assert!(status.success(), "graceful shutdown exits 0: {status}");
        self.log()
    }
}

fn command(data_dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("WALLET_BACKUP_LOG_FORMAT")
        .env_remove("WALLET_BACKUP_TLS_CERT")
        .env_remove("WALLET_BACKUP_TLS_KEY")
        .env_remove("WALLET_BACKUP_METRICS_LISTEN")
        .env("RUST_LOG", "info")
        .kill_on_drop(true);
    command
}

/// `serve --listen <listen> <args>` on `root/data`, logging to `root/<log_name>`;
/// waits for its `listening on` line (and `metrics on` with `--metrics-listen`).
async fn serve(root: &Path, log_name: &str, listen: &str, args: &[&str]) -> Service {
    let log = root.join(log_name);
    let mut child = command(&root.join("data"), &["serve", "--listen", listen])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = async || tokio::time::timeout(PATIENCE, lines.next_line()).await.expect("printed in time").unwrap();
    let Some(first) = next().await else {
        panic!("serve exited: {}", std::fs::read_to_string(&log).unwrap());
    };
    let url = first.strip_prefix("listening on ").expect("the listening line").to_owned();
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let metrics = if args.contains(&"--metrics-listen") {
        let line = next().await.expect("the metrics line");
        Some(line.strip_prefix("metrics on ").expect("the metrics line").to_owned())
    } else {
        None
    };
    Service { child, url, addr, metrics, log }
}

/// `serve` that must refuse to start: its stderr.
async fn refused(root: &Path, listen: &str, args: &[&str]) -> String {
    let out = command(&root.join("data"), &["serve", "--listen", listen]).args(args).output();
    let out = tokio::time::timeout(PATIENCE, out).await.expect("exits").unwrap();
    assert!(!out.status.success(), "serve --listen {listen} {args:?} must be refused");
    assert!(out.stdout.is_empty(), "nothing listened: {:?}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8(out.stderr).unwrap()
}

/// `create-client --name <name> <args>`: its key.
async fn create_client(root: &Path, name: &str, args: &[&str]) -> String {
    let out = command(&root.join("data"), &["create-client", "--name", name]).args(args).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Polls `probe` until it says yes, within [`PATIENCE`].
async fn eventually<F: AsyncFnMut() -> bool>(what: &str, mut probe: F) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !probe().await {
        assert!(tokio::time::Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------- TLS

#[tokio::test]
async fn https_with_a_certificate_of_the_test_ca() {
    let root = tempfile::tempdir().unwrap();
    let ca = Ca::new("wallet-backup test CA");
    let leaf = ca.leaf("wallet-backup service", 1);
    let files = CertFiles::new(root.path());
    files.write(&leaf);
    let key = create_client(root.path(), "tls", &[]).await;
    let args = files.args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let service = serve(root.path(), "tls.log", "127.0.0.1:0", &args).await;
    assert!(service.url.starts_with("https://127.0.0.1:"), "{}", service.url);

    // The service's certificate, HTTP/1.1 chosen among the protocols offered, the API over it.
    let offering = connector(&ca.der, &[b"h2", b"http/1.1"]);
    let mut stream = handshake(service.addr, &offering).await.unwrap();
    assert_eq!(peer_cert(&stream), leaf.der);
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let health = exchange(&mut stream, "GET", "/healthz", &[], None).await;
    assert_eq!((health.status, &health.body), (200, &json!({ "status": "ok" })));
    let me = service.client(Some(&ca)).with_key(&key).get("/api/v3/clients/me").await;
    assert_eq!((me.status, me.body["name"].as_str()), (200, Some("tls")));

    // A client that wants HTTP/2 only, and one that trusts another CA, get no connection.
    assert!(handshake(service.addr, &connector(&ca.der, &[b"h2"])).await.is_err());
    let stranger = Ca::new("another CA");
    let error = handshake(service.addr, &connector(&stranger.der, &[])).await.unwrap_err();
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(service.addr).await.unwrap();
    plain.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let answer = read_all(&mut plain).await;
    assert!(!answer.starts_with(b"HTTP/"), "{:?}", String::from_utf8_lossy(&answer));

    let log = service.stop().await;
    assert!(log.contains("TLS certificate loaded"), "{log}");
    assert!(!log.contains("PRIVATE KEY") && !log.contains(&key), "{log}");
}

#[tokio::test]
async fn a_rotated_certificate_is_served_and_a_bad_one_is_not() {
    let root = tempfile::tempdir().unwrap();
    let ca = Ca::new("rotation CA");
    let first = ca.leaf("first", 1);
    let second = ca.leaf("second", 2);
    let third = ca.leaf("third", 3);
    let files = CertFiles::new(root.path());
    files.write(&first);
    let args = files.args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let service = serve(root.path(), "rotation.log", "127.0.0.1:0", &args).await;
    let tls = connector(&ca.der, &[]);
    let presented = async || peer_cert(&handshake(service.addr, &tls).await.unwrap());
    assert_eq!(presented().await, first.der);
    // A connection opened before the rotation keeps working after it.
    let mut before = handshake(service.addr, &tls).await.unwrap();

    files.write(&second);
    eventually("the rotated certificate is served", async || presented().await == second.der).await;
    let health = exchange(&mut before, "GET", "/healthz", &[], None).await;
    assert_eq!(health.status, 200);

    // A certificate file that is not one: the previous pair stays, one warning.
    std::fs::write(&files.cert, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n").unwrap();
    let warnings = |log: &str| log.matches("do not load").count();
    eventually("the bad file is noticed", async || {
        assert_eq!(presented().await, second.der);
        warnings(&service.log()) == 1
    })
    .await;
    // A certificate whose key is not in the key file (the moment between two writes).
    std::fs::write(&files.cert, &third.cert_pem).unwrap();
    eventually("the mismatched pair is noticed", async || {
        assert_eq!(presented().await, second.der);
        warnings(&service.log()) == 2
    })
    .await;
    for _ in 0..5 {
        assert_eq!(presented().await, second.der);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(presented().await, second.der);
    assert_eq!(warnings(&service.log()), 2, "one warning per change of the files, not per handshake");

    // Its key arrives: the third pair is served.
    std::fs::write(&files.key, &third.key_pem).unwrap();
    eventually("the completed pair is served", async || presented().await == third.der).await;
    let log = service.stop().await;
    assert_eq!(log.matches("TLS certificate reloaded").count(), 2, "{log}");
    assert!(log.contains("does not go with"), "{log}");
    assert!(!log.contains("PRIVATE KEY"), "{log}");
}

#[tokio::test]
async fn the_tls_handshake_is_under_the_timeouts_and_caps() {
    let root = tempfile::tempdir().unwrap();
    let ca = Ca::new("timeouts CA");
    let files = CertFiles::new(root.path());
    files.write(&ca.leaf("timeouts", 1));
    let mut args = files.args();
    args.extend(["--header-timeout-ms", "3000", "--max-connections-per-ip", "2"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let service = serve(root.path(), "timeouts.log", "127.0.0.1:0", &args).await;

    // Two strangers hold the address's places: one sends nothing, one half a ClientHello.
    let mut silent = TcpStream::connect(service.addr).await.unwrap();
    let mut partial = TcpStream::connect(service.addr).await.unwrap();
    partial.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]).await.unwrap();
    // Until the timeout cuts them, a third connection from the address is closed at once, without a word.
    let tls = connector(&ca.der, &[]);
    let error = handshake(service.addr, &tls).await.unwrap_err();
    assert!(!error.to_string().contains("Certificate"), "closed, not answered: {error}");

    // The timeout closes both (reads end: the test would fail on PATIENCE otherwise).
    assert_eq!(read_all(&mut silent).await, b"");
    assert!(!read_all(&mut partial).await.starts_with(b"HTTP/"));
    // Their places are given back.
    eventually("a handshake succeeds again", async || handshake(service.addr, &tls).await.is_ok()).await;
    service.stop().await;
}

// ---------------------------------------------------------------- exposure

#[tokio::test]
async fn plain_http_off_loopback_needs_the_proxy_flag() {
    let root = tempfile::tempdir().unwrap();
    for listen in ["0.0.0.0:0", "192.0.2.1:8787"] {
        let stderr = refused(root.path(), listen, &[]).await;
        assert!(stderr.contains("not a loopback address"), "{stderr}");
        assert!(stderr.contains("--tls-cert") && stderr.contains("--behind-tls-proxy"), "{stderr}");
    }

    // The operator says a proxy terminates TLS: plain HTTP on every address.
    let service = serve(root.path(), "proxy.log", "0.0.0.0:0", &["--behind-tls-proxy"]).await;
    assert!(service.url.starts_with("http://0.0.0.0:"), "{}", service.url);
    assert_eq!(service.client(None).get("/healthz").await.status, 200);
    service.stop().await;

    // With TLS the service may listen anywhere.
    let ca = Ca::new("exposure CA");
    let files = CertFiles::new(root.path());
    files.write(&ca.leaf("exposure", 1));
    let args = files.args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let service = serve(root.path(), "tls-any.log", "0.0.0.0:0", &args).await;
    assert!(service.url.starts_with("https://0.0.0.0:"), "{}", service.url);
    assert_eq!(service.client(Some(&ca)).get("/healthz").await.status, 200);
    service.stop().await;

    // What cannot start: TLS and the proxy flag at once, half a pair, files that do not load.
    let mut both = args.clone();
    both.push("--behind-tls-proxy");
    assert!(refused(root.path(), "127.0.0.1:0", &both).await.contains("cannot be used with"));
    let cert = files.cert.display().to_string();
    assert!(refused(root.path(), "127.0.0.1:0", &["--tls-cert", &cert]).await.contains("--tls-key"));
    let other = ca.leaf("other", 2);
    std::fs::write(&files.key, &other.key_pem).unwrap();
    let stderr = refused(root.path(), "127.0.0.1:0", &args).await;
    assert!(stderr.contains("does not go with"), "{stderr}");
    std::fs::write(&files.cert, "not PEM").unwrap();
    let stderr = refused(root.path(), "127.0.0.1:0", &args).await;
    assert!(stderr.contains("--tls-cert") && stderr.contains("tls-cert.pem"), "{stderr}");
    assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client_address() {
    let root = tempfile::tempdir().unwrap();
    let limits = ["--anonymous-rate-limit", "0.001", "--anonymous-rate-burst", "2", "--max-connections-per-ip", "1"];
    let mut trusting = vec!["--behind-tls-proxy", "--trusted-proxy", "127.0.0.0/8"];
    trusting.extend(limits);
    let service = serve(root.path(), "trusted.log", "127.0.0.1:0", &trusting).await;
    let client = service.client(None);
    let from = async |forwarded: &str| {
        client.send("GET", "/api/v3/clients/me", &[("X-Forwarded-For", forwarded)], None).await.status
    };
    // Requests without a key count against the address the proxy added last.
    assert_eq!(from("198.51.100.7").await, 401);
    assert_eq!(from("198.51.100.7").await, 401);
    assert_eq!(from("198.51.100.7").await, 429);
    assert_eq!(from("198.51.100.8").await, 401);
    // Entries before the last are the client's to write: they change nothing.
    assert_eq!(from("198.51.100.99, 198.51.100.7").await, 429);
    // Health probes through the proxy are never limited.
    for _ in 0..5 {
        let probe = client.send("GET", "/healthz", &[("X-Forwarded-For", "198.51.100.7")], None).await;
        assert_eq!(probe.status, 200);
    }
    // The proxy holds many connections at once: it is under the global cap only.
    let mut held = TcpStream::connect(service.addr).await.unwrap();
    held.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let mut first = [0u8; 12];
    held.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    assert_eq!(from("198.51.100.9").await, 401);
    drop(held);
    service.stop().await;

    // Without --trusted-proxy the header is the client's: ignored, one address, one cap.
    let mut untrusting = vec!["--behind-tls-proxy"];
    untrusting.extend(limits);
    let service = serve(root.path(), "untrusted.log", "127.0.0.1:0", &untrusting).await;
    let client = service.client(None);
    // One connection at a time from this address: the previous one's place comes back just after it
    // closed, so a connection refused at the cap (503) is tried again.
    let from = async |forwarded: &str| {
        for _ in 0..100 {
            let answer = client.send("GET", "/api/v3/clients/me", &[("X-Forwarded-For", forwarded)], None).await;
            if answer.code() != "OVERLOADED" {
                return answer.status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("refused at the connection cap, again and again");
    };
    assert_eq!(from("198.51.100.1").await, 401);
    assert_eq!(from("198.51.100.2").await, 401);
    assert_eq!(from("198.51.100.3").await, 429);
    let mut held = None;
    eventually("a connection of the address is held", async || {
        let mut stream = TcpStream::connect(service.addr).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
        let answered = stream.read_exact(&mut first).await.is_ok() && &first == b"HTTP/1.1 200";
        held = Some(stream);
        answered
    })
    .await;
    let mut over = TcpStream::connect(service.addr).await.unwrap();
    let refusal = String::from_utf8(read_all(&mut over).await).unwrap();
    assert!(refusal.starts_with("HTTP/1.1 503") && refusal.contains("OVERLOADED"), "{refusal}");
    drop(held.expect("held"));
    service.stop().await;
}

// ---------------------------------------------------------------- health

#[tokio::test]
async fn healthz_and_readyz_follow_the_database_and_the_kms() {
    let root = tempfile::tempdir().unwrap();
    let service = serve(
        root.path(),
        "health.log",
        "127.0.0.1:0",
        &["--anonymous-rate-limit", "1", "--anonymous-rate-burst", "1"],
    )
    .await;
    let client = service.client(None);
    // Probed every so often by a load balancer: never limited, though requests without a key are.
    for _ in 0..20 {
        let health = client.get("/healthz").await;
        assert_eq!((health.status, &health.body), (200, &json!({ "status": "ok" })));
        let ready = client.get("/readyz").await;
        assert_eq!((ready.status, &ready.body), (200, &json!({ "status": "ready" })));
    }
    client.get("/api/v3/clients/me").await;
    assert_eq!(client.get("/api/v3/clients/me").await.status, 429);

    // The KMS key file gone: not ready, KMS_UNAVAILABLE; alive all the same. Back: ready.
    let kms = root.path().join("data").join(wallet_backup_service::KMS_FILE);
    let away = root.path().join("kms-away.json");
    std::fs::rename(&kms, &away).unwrap();
    eventually("readyz says KMS_UNAVAILABLE", async || {
        let ready = client.get("/readyz").await;
        if ready.status == 200 {
            return false;
        }
        assert_eq!((ready.status, ready.code()), (503, "KMS_UNAVAILABLE"), "{ready:?}");
        assert!(ready.header("retry-after").is_some());
        true
    })
    .await;
    assert_eq!(client.get("/healthz").await.status, 200);
    std::fs::rename(&away, &kms).unwrap();
    eventually("ready again", async || client.get("/readyz").await.status == 200).await;

    // Another process holds the database's write lock: not ready, DATABASE_UNAVAILABLE.
    let database = root.path().join("data").join(wallet_backup_service::DATABASE_FILE);
    let mut other = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!("sqlite://{}", database.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut other).await.unwrap();
    eventually("readyz says DATABASE_UNAVAILABLE", async || {
        let ready = client.get("/readyz").await;
        if ready.status == 200 {
            return false;
        }
        assert_eq!((ready.status, ready.code()), (503, "DATABASE_UNAVAILABLE"), "{ready:?}");
        true
    })
    .await;
    assert_eq!(client.get("/healthz").await.status, 200);
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    eventually("ready again", async || client.get("/readyz").await.status == 200).await;
    let log = service.stop().await;
    assert!(log.contains("readiness"), "a failed check is logged: {log}");
}

/// The same on a database that refuses writes (SQLite `query_only`: every
/// write fails with `SQLITE_READONLY`), in-process, on the service's own
/// connection.
#[tokio::test]
async fn readyz_on_a_read_only_database() {
    let dir = tempfile::tempdir().unwrap();
    let backend = common::backend(dir.path());
    let running =
        wallet_backup_service::start(wallet_backup_service::ServeConfig::new("127.0.0.1:0".parse().unwrap(), backend))
            .await
            .unwrap();
    let client = Client { addr: running.addr(), tls: None, key: None };
    assert_eq!(client.get("/readyz").await.status, 200);
    sqlx::query("PRAGMA query_only = 1").execute(running.store().pool()).await.unwrap();
    eventually("readyz says DATABASE_UNAVAILABLE", async || {
        let ready = client.get("/readyz").await;
        ready.status == 503 && ready.code() == "DATABASE_UNAVAILABLE"
    })
    .await;
    sqlx::query("PRAGMA query_only = 0").execute(running.store().pool()).await.unwrap();
    eventually("ready again", async || client.get("/readyz").await.status == 200).await;
    running.shutdown().await.unwrap();
}

// ---------------------------------------------------------------- metrics

/// The value of the sample of `name` whose labels include every one of `labels`.
fn sample(scrape: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let (labelled, value) = rest.rsplit_once(' ')?;
        let matches = labels.iter().all(|(k, v)| labelled.contains(&format!("{k}=\"{v}\"")));
        (labelled.starts_with('{') && matches).then(|| value.parse().ok()).flatten()
    })
}

#[tokio::test]
async fn metrics_count_requests_backups_and_the_kms_without_naming_clients() {
    let root = tempfile::tempdir().unwrap();
    let ca = Ca::new("metrics CA");
    let files = CertFiles::new(root.path());
    files.write(&ca.leaf("metrics", 1));
    let key = create_client(root.path(), "metrics", &[]).await;
    // A client whose custodian shares the operator keeps: its calls to the operator are counted.
    let secret = b"metrics-webhook-secret-0123456789abcdef";
    let receiver = common::Receiver::start(secret).await;
    let secret_file = root.path().join("webhook-secret");
    std::fs::write(&secret_file, secret).unwrap();
    let webhook_flags =
        ["--custodian-webhook-url", &receiver.url, "--custodian-webhook-secret-file", secret_file.to_str().unwrap()];
    let webhook_key = create_client(root.path(), "metrics-webhook", &webhook_flags).await;
    let mut args = files.args();
    args.extend(["--metrics-listen", "127.0.0.1:0"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let service = serve(root.path(), "metrics.log", "127.0.0.1:0", &args).await;
    let metrics_url = service.metrics.clone().unwrap();
    assert!(metrics_url.starts_with("http://127.0.0.1:") && metrics_url.ends_with("/metrics"), "{metrics_url}");
    let client = service.client(Some(&ca)).with_key(&key);

    let client_id = client.get("/api/v3/clients/me").await.body["id"].as_str().unwrap().to_owned();
    let share = "metrics-custodian-share-8d1f0c";
    let (pair_id, backup_id) = client.backup("PASSWORD", share).await;
    client.backup("GDRIVE", share).await;
    let duplicate = json!({ "backupMethod": "PASSWORD", "backupId": backup_id, "custodianShare": share });
    let again = client.send("POST", "/api/v3/clients/me/backup-share-pairs", &[], Some(&duplicate)).await;
    assert_eq!(again.code(), "BACKUP_ID_EXISTS");
    let unknown = format!("/api/v3/clients/me/backup-share-pairs/{}/custodian-share", common::new_backup_id());
    assert_eq!(client.get(&unknown).await.code(), "PAIR_NOT_FOUND");
    let path = format!("/api/v3/clients/me/backup-share-pairs/{pair_id}/custodian-share");
    assert_eq!(client.get(&path).await.status, 200);
    assert_eq!(service.client(Some(&ca)).get("/api/v3/clients/me").await.status, 401);
    assert_eq!(client.get("/readyz").await.status, 200);
    // The metrics are not on the API's address.
    assert_eq!(client.get("/metrics").await.code(), "NOT_FOUND");
    // A plain-HTTP stranger fails its handshake.
    let mut plain = TcpStream::connect(service.addr).await.unwrap();
    plain.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    read_all(&mut plain).await;
    // The operator: one delivery and its check, one fetch at recovery, one delivery refused.
    let webhook = service.client(Some(&ca)).with_key(&webhook_key);
    let (webhook_pair, _) = webhook.backup("PASSWORD", share).await;
    let path = format!("/api/v3/clients/me/backup-share-pairs/{webhook_pair}/custodian-share");
    assert_eq!(webhook.get(&path).await.body["custodianShare"], share);
    receiver.script(&[common::Answer::Reject]);
    let body = json!({ "backupMethod": "PASSWORD", "backupId": common::new_backup_id(), "custodianShare": share });
    let refused = webhook.send("POST", "/api/v3/clients/me/backup-share-pairs", &[], Some(&body)).await;
    assert_eq!(refused.code(), "CUSTODIAN_WEBHOOK_FAILED");
    // The KMS fails while serving: the backup fails, and so does its wrap.
    let kms = root.path().join("data").join(wallet_backup_service::KMS_FILE);
    std::fs::rename(&kms, root.path().join("kms-away.json")).unwrap();
    let body = json!({ "backupMethod": "PASSWORD", "backupId": common::new_backup_id(), "custodianShare": share });
    let failed = client.send("POST", "/api/v3/clients/me/backup-share-pairs", &[], Some(&body)).await;
    assert_eq!(failed.code(), "KMS_UNAVAILABLE");

    let port: u16 = metrics_url.trim_end_matches("/metrics").rsplit(':').next().unwrap().parse().unwrap();
    let scraper = Client { addr: SocketAddr::from(([127, 0, 0, 1], port)), tls: None, key: None };
    let answer = scraper.get("/metrics").await;
    assert_eq!(answer.status, 200);
    assert!(answer.header("content-type").unwrap().starts_with("text/plain"), "{answer:?}");
    let scrape = answer.body.as_str().unwrap().to_owned();

    let requests = "wallet_backup_http_requests_total";
    let pairs = "/api/v3/clients/me/backup-share-pairs";
    let created = [("route", pairs), ("method", "POST"), ("status", "201"), ("code", "")];
    // Two pairs of the managed client, one of the webhook client.
    assert_eq!(sample(&scrape, requests, &created), Some(3.0), "{scrape}");
    let confirm = [("route", "/api/v3/clients/me/backup-share-pairs/{id}/confirm"), ("status", "200")];
    assert_eq!(sample(&scrape, requests, &confirm), Some(3.0));
    let not_found = [("route", "/api/v3/clients/me/backup-share-pairs/{id}/custodian-share"), ("status", "404")];
    assert_eq!(sample(&scrape, requests, &[not_found[0], not_found[1], ("code", "PAIR_NOT_FOUND")]), Some(1.0));
    assert_eq!(sample(&scrape, requests, &[("route", "/api/v3/clients/me"), ("code", "UNAUTHORIZED")]), Some(1.0));
    assert_eq!(sample(&scrape, requests, &[("route", "/readyz"), ("status", "200")]), Some(1.0));
    assert_eq!(sample(&scrape, requests, &[("route", pairs), ("code", "KMS_UNAVAILABLE")]), Some(1.0));
    let latency = "wallet_backup_http_request_duration_seconds_count";
    assert_eq!(sample(&scrape, latency, &[("route", pairs), ("method", "POST")]), Some(6.0));
    assert!(scrape.contains("wallet_backup_http_request_duration_seconds_bucket{"), "{scrape}");

    let backups = "wallet_backup_backups_total";
    assert_eq!(sample(&scrape, backups, &[("method", "PASSWORD"), ("outcome", "created")]), Some(2.0));
    assert_eq!(sample(&scrape, backups, &[("method", "GDRIVE"), ("outcome", "created")]), Some(1.0));
    assert_eq!(sample(&scrape, backups, &[("method", "PASSWORD"), ("outcome", "confirmed")]), Some(2.0));
    assert_eq!(sample(&scrape, backups, &[("method", "PASSWORD"), ("outcome", "failed")]), Some(3.0));

    let kms_calls = "wallet_backup_kms_call_duration_seconds_count";
    // Wraps: three pairs sealed (the one refused as a duplicate too), the readiness round trip, the
    // one that failed. Unwraps: one share opened, the readiness round trip, the webhook secret for
    // each of the three times the operator was called on (two deliveries, one recovery).
    assert_eq!(sample(&scrape, kms_calls, &[("operation", "wrap")]), Some(5.0), "{scrape}");
    assert_eq!(sample(&scrape, kms_calls, &[("operation", "unwrap")]), Some(5.0), "{scrape}");
    let kms_errors = [("operation", "wrap"), ("error", "unavailable")];
    assert_eq!(sample(&scrape, "wallet_backup_kms_errors_total", &kms_errors), Some(1.0));
    let calls = "wallet_backup_webhook_deliveries_total";
    assert_eq!(sample(&scrape, calls, &[("call", "backup"), ("outcome", "ok")]), Some(1.0), "{scrape}");
    assert_eq!(sample(&scrape, calls, &[("call", "backup"), ("outcome", "rejected")]), Some(1.0));
    assert_eq!(sample(&scrape, calls, &[("call", "fetch"), ("outcome", "ok")]), Some(2.0));
    let handshakes = "wallet_backup_tls_handshakes_total";
    assert!(sample(&scrape, handshakes, &[("outcome", "ok")]).unwrap() >= 8.0);
    assert_eq!(sample(&scrape, handshakes, &[("outcome", "failed")]), Some(1.0));

    // Nothing in it names a client, a pair or a backup, or holds a key or a share.
    for secret in [client_id.as_str(), pair_id.as_str(), backup_id.as_str(), key.as_str(), share, "wbk_live_"] {
        assert!(!scrape.contains(secret), "the scrape holds {secret}");
    }
    service.stop().await;
}

// ---------------------------------------------------------------- logs

#[tokio::test]
async fn json_logs_one_object_a_line_without_secrets() {
    let root = tempfile::tempdir().unwrap();
    let secret = "webhook-secret-4f0e9c2b7a1d6e3f8c5b0a9d2e7f1c4b";
    let receiver = common::Receiver::start(secret.as_bytes()).await;
    let secret_file = root.path().join("webhook-secret");
    std::fs::write(&secret_file, secret).unwrap();
    let secret_path = secret_file.display().to_string();
    let webhook_args = ["--custodian-webhook-url", &receiver.url, "--custodian-webhook-secret-file", &secret_path];
    let operator_key = create_client(root.path(), "operator", &webhook_args).await;
    let managed_key = create_client(root.path(), "managed", &[]).await;
    let service = serve(root.path(), "json.log", "127.0.0.1:0", &["--log-format", "json"]).await;
    let client = service.client(None);

    let share = "json-log-custodian-share-5b2c81";
    let (pair_id, _) = client.with_key(&managed_key).backup("PASSWORD", share).await;
    let path = format!("/api/v3/clients/me/backup-share-pairs/{pair_id}/custodian-share");
    assert_eq!(client.with_key(&managed_key).get(&path).await.body["custodianShare"], share);
    let body = json!({ "backupMethod": "PASSWORD", "backupId": common::new_backup_id(), "custodianShare": share });
    let delivered =
        client.with_key(&operator_key).send("POST", "/api/v3/clients/me/backup-share-pairs", &[], Some(&body)).await;
    assert_eq!(delivered.status, 201, "{delivered:?}");
    assert_eq!(receiver.state.deliveries.lock().unwrap().len(), 1);
    let last = if managed_key.ends_with('A') { 'B' } else { 'A' };
    let wrong_key = format!("{}{last}", &managed_key[..managed_key.len() - 1]);
    assert_eq!(client.with_key(&wrong_key).get("/api/v3/clients/me").await.status, 401);
    assert_eq!(client.get("/readyz").await.status, 200);
    let log = service.stop().await;

    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}")))
        .collect();
    for line in &lines {
        assert!(line.is_object() && line["timestamp"].is_string() && line["level"].is_string(), "{line}");
    }
    let requests: Vec<&Value> = lines.iter().filter(|l| l["message"] == "request").collect();
    let created = requests
        .iter()
        .find(|l| l["route"] == "/api/v3/clients/me/backup-share-pairs" && l["status"] == 201)
        .unwrap_or_else(|| panic!("a request line: {log}"));
    assert_eq!(created["method"], "POST");
    assert!(created["latency_ms"].is_number() && created["client"].is_string(), "{created}");
    assert!(requests.iter().any(|l| l["code"] == "UNAUTHORIZED"), "{log}");
    assert!(lines.iter().any(|l| l["message"].as_str().is_some_and(|m| m.starts_with("serving"))), "{log}");

    for secret in [managed_key.as_str(), operator_key.as_str(), wrong_key.as_str(), share, secret, "wbk_live_"] {
        assert!(!log.contains(secret), "the log holds {secret}");
    }

    // A refusal to start is a JSON line too.
    let stderr = refused(root.path(), "0.0.0.0:0", &["--log-format", "json"]).await;
    let last: Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "ERROR");
    assert!(last["error"].as_str().unwrap().contains("not a loopback address"), "{last}");
}
