//! The accept loop: HTTP/1.1 connections on hyper, with the limits that keep
//! the service up for honest clients whatever strangers send.
//!
//! What closes what, and when ([`ConnectionLimits`] has the numbers):
//!
//! - **Too many connections.** Over the global cap, or over the cap of the
//!   connection's source (an IPv4 address, or an IPv6 /64, see [`Source`]), a
//!   new connection is accepted, sent a fixed `503` `OVERLOADED` answer with
//!   `Connection: close` if the socket takes it at once (not over TLS: that
//!   connection is only closed), and closed: never queued. The global cap is kept below the open-file limit
//!   ([`fit_open_file_limit`]), so `accept` does not run out of descriptors.
//! - **Request head.** hyper's `header_read_timeout`. In hyper 1.12 its timer
//!   starts when the connection first asks for a head (right after accept)
//!   and again each time the connection falls idle after an answer
//!   (`proto/h1/conn.rs`: `poll_read_head` arms it whenever it is not running;
//!   `State::idle` sets `notify_read` so the next head read starts at once),
//!   and stops when a head is parsed. So a head must be complete within the
//!   header timeout of the connection opening or of the previous answer, however
//!   slowly its bytes trickle in. hyper then closes without an answer.
//! - **Idle.** This module's watchdog: a connection with no request in flight
//!   that receives nothing for the idle timeout is closed. A request in flight
//!   (a slow webhook, say) keeps its connection however long it takes.
//!   Answers on a connection kept open say `Keep-Alive: timeout=<seconds>`,
//!   so that clients that read it close first rather than race the close.
//! - **Request body.** tower-http's [`DeadlineBody`]: the whole body must
//!   arrive within the body timeout of its head. When it does not, the handler
//!   fails to read it and [`answer_body_timeouts`] turns its answer into
//!   `408` `REQUEST_TIMEOUT`.
//! - **A client that stops reading** an answer for the body timeout: the
//!   watchdog closes the connection (a write that made no progress that long).
//! - **Memory.** A request is admitted only while fewer than
//!   [`ConnectionLimits::max_requests_in_flight`] are, and while the bodies
//!   admitted (each counted at its `Content-Length`, or at the API's body
//!   limit when chunked) fit in [`ConnectionLimits::max_body_memory`].
//!   Otherwise it gets `503` `OVERLOADED` with `Retry-After` at once.
//! - **Connection: close.** Any answer after which the connection closes says
//!   so: answers to requests whose body was not read to its end (the API
//!   refused it first, or it timed out) get the header here; answers while
//!   shutting down get it from hyper (keep-alive off).
//!
//! - **TLS handshake** (with [`Transport::tls`]): it must be done within the
//!   header timeout of the connection opening, else the connection is closed
//!   (a stranger who opens a connection and sends no `ClientHello` holds it
//!   that long, and counts under the caps meanwhile); the head's own timer
//!   starts after it.
//!
//! Only HTTP/1.1 (and 1.0) is served, also over TLS (ALPN `http/1.1`):
//! HTTP/2 would need bounds of its own (streams per connection, flow-control
//! windows, header lists).
//!
//! **Behind a proxy** ([`TrustedProxies`]): a connection from a trusted
//! proxy is under the global cap only (a proxy holds the connections of many
//! clients), and its requests count, for the per-address limit on requests
//! without a key, against the last address of their `X-Forwarded-For`: the
//! one the proxy itself added.
//!
//! Shutdown: stop accepting, let requests in flight finish (their answers say
//! `Connection: close`), close idle connections at once, and cut whatever is
//! left after [`ConnectionLimits::shutdown_grace`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tower_http::timeout::{DeadlineBody, TimeoutError};

use crate::error::{codes, ApiError};

/// Default of [`ConnectionLimits::header_timeout`].
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of [`ConnectionLimits::body_timeout`]: a maximal body (2.1 MiB)
/// at 36 KB/s, a slow mobile uplink.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// Default of [`ConnectionLimits::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default of [`ConnectionLimits::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Default of [`ConnectionLimits::max_connections_per_ip`].
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 64;
/// Default of [`ConnectionLimits::max_requests_in_flight`].
pub const DEFAULT_MAX_REQUESTS_IN_FLIGHT: usize = 256;
/// Default of [`ConnectionLimits::max_body_memory`]: 256 MiB, about 120 maximal bodies.
pub const DEFAULT_MAX_BODY_MEMORY: usize = 256 * 1024 * 1024;
/// Default of [`ConnectionLimits::max_header_bytes`]: room for an 8 KiB
/// Firebase ID token and the usual headers.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 32 * 1024;
/// Default of [`ConnectionLimits::shutdown_grace`].
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Open files kept free beside connections and requests in flight: the
/// database pool (at most 16), the listener, the runtime, the KMS file, logs.
pub const RESERVED_FILES: u64 = 128;
/// `Retry-After` of the `503` answers, in seconds.
pub const RETRY_AFTER_SECS: u64 = 1;

/// The limits on connections and requests. Every one is a `serve` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A request head must be complete within this time of the connection
    /// opening, or of the previous answer on it (`--header-timeout-ms`).
    pub header_timeout: Duration,
    /// A request body must be complete within this time of its head, else
    /// `408`; an answer the client takes no byte of for this long is dropped
    /// with its connection (`--body-timeout-ms`).
    pub body_timeout: Duration,
    /// A connection with no request in flight that receives nothing for this
    /// long is closed (`--idle-timeout-ms`).
    pub idle_timeout: Duration,
    /// Open connections in all (`--max-connections`); lowered to fit the
    /// open-file limit by [`fit_open_file_limit`].
    pub max_connections: usize,
    /// Open connections per source address (`--max-connections-per-ip`).
    pub max_connections_per_ip: usize,
    /// Requests handled at once; more get `503` (`--max-requests-in-flight`).
    pub max_requests_in_flight: usize,
    /// Bytes of request bodies admitted at once, each counted at its
    /// `Content-Length` (chunked: the API's body limit); more get `503`
    /// (`--max-body-memory-mib`).
    pub max_body_memory: usize,
    /// Largest request head (request line and headers), in bytes; a larger one
    /// gets hyper's `431` (`--max-header-bytes`).
    pub max_header_bytes: usize,
    /// On shutdown, requests in flight get this long to finish (`--shutdown-grace-ms`).
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            max_requests_in_flight: DEFAULT_MAX_REQUESTS_IN_FLIGHT,
            max_body_memory: DEFAULT_MAX_BODY_MEMORY,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

impl ConnectionLimits {
    /// Refuses zero limits and timeouts, and a head limit hyper cannot take.
    pub fn check(&self) -> Result<(), String> {
        let timeouts = [
            ("header timeout", self.header_timeout),
            ("body timeout", self.body_timeout),
            ("idle timeout", self.idle_timeout),
        ];
        for (name, timeout) in timeouts {
            if timeout.is_zero() {
                return Err(format!("the {name} must be above 0"));
            }
        }
        let counts = [
            ("--max-connections", self.max_connections),
            ("--max-connections-per-ip", self.max_connections_per_ip),
            ("--max-requests-in-flight", self.max_requests_in_flight),
            ("--max-body-memory-mib", self.max_body_memory),
        ];
        for (name, count) in counts {
            if count == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        if !(1024..=1024 * 1024).contains(&self.max_header_bytes) {
            return Err("--max-header-bytes must be 1024 to 1048576".into());
        }
        if self.max_body_memory < crate::api::BODY_LIMIT {
            return Err(format!(
                "--max-body-memory-mib must leave room for one maximal body ({} bytes)",
                crate::api::BODY_LIMIT
            ));
        }
        Ok(())
    }
}

/// What [`fit_open_file_limit`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFileBudget {
    /// The process's soft `RLIMIT_NOFILE`, if it could be read.
    pub open_file_limit: Option<u64>,
    /// Files kept free beside connections: requests in flight (each may open a
    /// webhook connection or a static file) plus [`RESERVED_FILES`].
    pub reserved: u64,
    /// Whether `max_connections` was lowered to fit.
    pub lowered_from: Option<usize>,
}

/// Lowers `limits.max_connections` (and the per-address cap with it) so that
/// connections, requests in flight and [`RESERVED_FILES`] fit under the
/// soft open-file limit: `accept` then never fails for want of a descriptor.
/// Refuses a limit too low to serve at all.
pub fn fit_open_file_limit(limits: &mut ConnectionLimits) -> Result<OpenFileBudget, String> {
    let reserved = limits.max_requests_in_flight as u64 + RESERVED_FILES;
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let mut budget = OpenFileBudget { open_file_limit: soft, reserved, lowered_from: None };
    let Some(soft) = soft else { return Ok(budget) };
    let room = soft.saturating_sub(reserved);
    if room < 16 {
        return Err(format!(
            "the open-file limit (RLIMIT_NOFILE {soft}) leaves no room for connections beside {reserved} reserved \
             files (requests in flight + {RESERVED_FILES}); raise it (ulimit -n, systemd LimitNOFILE=) or lower \
             --max-requests-in-flight"
        ));
    }
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    if limits.max_connections > room {
        budget.lowered_from = Some(limits.max_connections);
        limits.max_connections = room;
    }
    limits.max_connections_per_ip = limits.max_connections_per_ip.min(limits.max_connections);
    Ok(budget)
}

// ---------------------------------------------------------------- sources

/// What the per-address limits count against: an IPv4 address, or the /64
/// of an IPv6 address (one subscriber usually holds a whole /64). IPv4
/// addresses mapped into IPv6 count as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    /// The source of a peer address.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => Self(IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX)))),
            },
        }
    }

    /// The address (for IPv6, with the host half zeroed).
    pub fn ip(&self) -> IpAddr {
        self.0
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// The peers whose `X-Forwarded-For` is believed: the TLS-terminating
/// proxies in front of the service (`serve --trusted-proxy`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// Proxies at these addresses or networks.
    pub fn new(networks: Vec<ipnet::IpNet>) -> Self {
        Self(networks)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is one of them (an IPv4 address mapped into IPv6 as itself).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address of a request from a trusted proxy: the last
    /// entry of its `X-Forwarded-For` (several headers read as one list), the
    /// one the proxy added. Entries before it are whatever the client sent.
    pub fn client_of(headers: &HeaderMap) -> Option<IpAddr> {
        let last = headers.get_all("x-forwarded-for").iter().next_back()?;
        let hop = last.to_str().ok()?.rsplit(',').next()?.trim();
        hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<SocketAddr>().ok().map(|a| a.ip()))
    }
}

/// How the listener takes connections: over TLS or not, and which peers are
/// trusted proxies.
#[derive(Debug, Clone, Default)]
pub struct Transport {
    /// TLS ([`crate::tls::server_config`]); `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
}

// ---------------------------------------------------------------- serving

struct Shared {
    limits: ConnectionLimits,
    tls: Option<TlsAcceptor>,
    trusted_proxies: TrustedProxies,
    app: Router,
    http: hyper::server::conn::http1::Builder,
    open: Mutex<Open>,
    requests: Arc<Semaphore>,
    body_bytes: Arc<Semaphore>,
    refusal: Bytes,
    /// `Keep-Alive: timeout=<idle timeout in whole seconds>`.
    keep_alive: HeaderValue,
}

#[derive(Default)]
struct Open {
    total: usize,
    per_source: HashMap<Source, usize>,
}

/// An admitted connection's place under the caps, given back on drop.
struct Slot {
    shared: Arc<Shared>,
    source: Source,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.shared.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_source.get_mut(&self.source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.per_source.remove(&self.source);
            }
        }
    }
}

impl Shared {
    /// A place under the caps for a connection from `source` (`proxy`: a
    /// trusted proxy, under the global cap only).
    fn admit(self: &Arc<Self>, source: Source, proxy: bool) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let of_source = open.per_source.get(&source).copied().unwrap_or(0);
        let over_source = !proxy && of_source >= self.limits.max_connections_per_ip;
        if open.total >= self.limits.max_connections || over_source {
            return None;
        }
        open.total += 1;
        open.per_source.insert(source, of_source + 1);
        Some(Slot { shared: self.clone(), source })
    }
}

/// The fixed answer to a connection over a cap.
fn refusal() -> Bytes {
    let body = format!(
        "{{\"error\":{{\"code\":\"{}\",\"message\":\"too many open connections; retry later\"}}}}",
        codes::OVERLOADED
    );
    Bytes::from(format!(
        "HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\nretry-after: {RETRY_AFTER_SECS}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    ))
}

/// Serves `app` on `listener` under `limits` (already fitted to the
/// open-file limit), over `transport`, until `shutdown` resolves, then shuts
/// down gracefully.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    transport: Transport,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    limits.check().map_err(io::Error::other)?;
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(limits.max_header_bytes)
        // hyper's read buffer: a whole head must fit; body bytes pass through it.
        .max_buf_size(limits.max_header_bytes.max(64 * 1024))
        .keep_alive(true);
    let shared = Arc::new(Shared {
        limits,
        tls: transport.tls.map(TlsAcceptor::from),
        trusted_proxies: transport.trusted_proxies,
        app,
        http,
        open: Mutex::new(Open::default()),
        requests: Arc::new(Semaphore::new(limits.max_requests_in_flight)),
        body_bytes: Arc::new(Semaphore::new(limits.max_body_memory.min(Semaphore::MAX_PERMITS))),
        refusal: refusal(),
        keep_alive: HeaderValue::from_str(&format!("timeout={}", limits.idle_timeout.as_secs().max(1)))
            .unwrap_or(HeaderValue::from_static("timeout=1")),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    let mut refused = Throttled::default();
    let mut failed = Throttled::default();
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let source = Source::of(peer.ip());
                    match shared.admit(source, shared.trusted_proxies.contains(peer.ip())) {
                        Some(slot) => {
                            let connection = serve_connection(shared.clone(), stream, peer, slot, stop_rx.clone());
                            tasks.spawn(connection);
                        }
                        None => {
                            // Never waits: a fresh socket's send buffer takes it, or nothing is sent.
                            // Over TLS the connection is only closed: a client there reads no plain text.
                            if shared.tls.is_none() {
                                let _ = stream.try_write(&shared.refusal);
                            }
                            refused.count(|n| tracing::warn!(refused = n, "connections refused over the caps"));
                        }
                    }
                }
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    // Out of descriptors or memory: let connections close before trying again.
                    failed.count(|n| tracing::error!(error = %e, failures = n, "accept failed"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let grace = tokio::time::sleep(limits.shutdown_grace);
    let mut grace = pin!(grace);
    loop {
        tokio::select! {
            next = tasks.join_next() => if next.is_none() { break },
            () = &mut grace => {
                tracing::warn!(connections = tasks.len(), "shutdown grace over; closing the connections left");
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                break;
            }
        }
    }
    Ok(())
}

/// Errors of one connection that `accept` reports; the next accept is fine.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Counts events and logs at most one line per 10 s about them.
#[derive(Default)]
struct Throttled {
    count: u64,
    last: Option<Instant>,
}

impl Throttled {
    fn count(&mut self, log: impl FnOnce(u64)) {
        self.count += 1;
        if self.last.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
            log(self.count);
            self.count = 0;
            self.last = Some(Instant::now());
        }
    }
}

/// One admitted connection, from accept to close; `slot` is its place under
/// the caps, held until it closes.
async fn serve_connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let watched = Watched { inner: stream, activity: activity.clone() };
    let Some(acceptor) = shared.tls.clone() else {
        return serve_http(shared, TokioIo::new(watched), activity, peer, &slot, stop).await;
    };
    // The handshake is bounded like a head: within the header timeout of the connection opening.
    let handshake = tokio::time::timeout(shared.limits.header_timeout, acceptor.accept(watched));
    let tls = tokio::select! {
        done = handshake => done,
        _ = stop.changed() => return,
    };
    match tls {
        Ok(Ok(tls)) => {
            crate::metrics::tls_handshake("ok");
            serve_http(shared, TokioIo::new(tls), activity, peer, &slot, stop).await;
        }
        Ok(Err(e)) => {
            crate::metrics::tls_handshake("failed");
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
        }
        Err(_) => {
            crate::metrics::tls_handshake("timeout");
            tracing::debug!(%peer, "TLS handshake not done within the header timeout; closing");
        }
    }
}

/// HTTP/1.1 on an accepted (and, with TLS, handshaken) connection, under the
/// watchdog, until it closes.
async fn serve_http<I>(
    shared: Arc<Shared>,
    io: TokioIo<I>,
    activity: Arc<Activity>,
    peer: SocketAddr,
    slot: &Slot,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let proxy = shared.trusted_proxies.contains(peer.ip());
    let service =
        RequestService { shared: shared.clone(), activity: activity.clone(), peer, source: slot.source, proxy };
    let connection = shared.http.serve_connection(io, service);
    let mut connection = pin!(connection);
    let limits = shared.limits;
    let mut stopping = false;
    loop {
        let deadline = match activity.verdict(&limits) {
            Verdict::Close(why) => {
                tracing::debug!(%peer, why, "closing connection");
                return;
            }
            Verdict::CheckAt(at) => at,
            Verdict::Wait => Instant::now() + Duration::from_secs(3600),
        };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep_until(deadline.into()) => {}
            () = activity.changed.notified() => {}
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_err() || activity.in_flight.load(Ordering::Acquire) == 0 {
                    return;
                }
                // Keep-alive off: the answer in flight says `Connection: close`, then hyper closes.
                connection.as_mut().graceful_shutdown();
            }
        }
        if stopping && activity.in_flight.load(Ordering::Acquire) == 0 {
            return;
        }
    }
}

// ---------------------------------------------------------------- the watchdog

/// What the watchdog knows of one connection. Times are milliseconds since
/// `start`.
struct Activity {
    start: Instant,
    /// The last byte read or written, or the end of the last request.
    last: AtomicU64,
    /// 1 + when a write last found the socket full with no byte taken since; 0: none.
    write_blocked: AtomicU64,
    /// Requests received and not yet answered in full.
    in_flight: AtomicUsize,
    /// Woken when the last request in flight ends or a write blocks.
    changed: Notify,
}

enum Verdict {
    Close(&'static str),
    CheckAt(Instant),
    Wait,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last: AtomicU64::new(0),
            write_blocked: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            changed: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }

    fn touch(&self) {
        self.last.store(self.now(), Ordering::Release);
    }

    fn verdict(&self, limits: &ConnectionLimits) -> Verdict {
        let now = self.now();
        let mut check = None::<u64>;
        let blocked = self.write_blocked.load(Ordering::Acquire);
        if blocked != 0 {
            let until = (blocked - 1).saturating_add(millis(limits.body_timeout));
            if now >= until {
                return Verdict::Close("the client took no byte of the answer within the body timeout");
            }
            check = Some(until);
        }
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let until = self.last.load(Ordering::Acquire).saturating_add(millis(limits.idle_timeout));
            if now >= until {
                return Verdict::Close("idle");
            }
            check = Some(check.map_or(until, |c| c.min(until)));
        }
        match check {
            Some(ms) => Verdict::CheckAt(self.at(ms)),
            None => Verdict::Wait,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The socket, telling [`Activity`] about bytes read and written and about
/// writes the client does not take.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl Watched {
    fn wrote(&self, n: usize) {
        if n > 0 {
            self.activity.write_blocked.store(0, Ordering::Release);
            self.activity.touch();
        }
    }

    fn write_pending(&self) {
        let blocked = self.activity.now().saturating_add(1);
        let was = self.activity.write_blocked.compare_exchange(0, blocked, Ordering::AcqRel, Ordering::Acquire);
        if was.is_ok() {
            self.activity.changed.notify_one();
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        match &polled {
            Poll::Ready(Ok(n)) => self.wrote(*n),
            Poll::Pending => self.write_pending(),
            Poll::Ready(Err(_)) => {}
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        match &polled {
            Poll::Ready(Ok(n)) => self.wrote(*n),
            Poll::Pending => self.write_pending(),
            Poll::Ready(Err(_)) => {}
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

// ---------------------------------------------------------------- requests

/// One request in flight on a connection, until its answer is written in
/// full (or dropped): the connection is not idle meanwhile.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.changed.notify_one();
        }
    }
}

/// What an admitted request holds until its answer is written.
struct Admitted {
    _in_flight: InFlight,
    _request: Option<OwnedSemaphorePermit>,
    _body_bytes: Option<OwnedSemaphorePermit>,
}

/// Set when a request body's deadline passed before it arrived in full;
/// [`answer_body_timeouts`] reads it.
#[derive(Debug, Clone, Default)]
pub struct BodyTimedOut(Arc<AtomicBool>);

impl BodyTimedOut {
    /// Whether the deadline passed.
    pub fn fired(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

struct RequestService {
    shared: Arc<Shared>,
    activity: Arc<Activity>,
    peer: SocketAddr,
    source: Source,
    /// The peer is a trusted proxy: each request's source is its `X-Forwarded-For`.
    proxy: bool,
}

/// Bytes a request's body may take in memory: its `Content-Length` (at most
/// the API's limit, which refuses more unread), or the limit when chunked.
fn body_reservation(headers: &HeaderMap) -> usize {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return crate::api::BODY_LIMIT;
    }
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX).min(crate::api::BODY_LIMIT))
}

impl RequestService {
    /// The request's places under the in-flight limits, if there are some left.
    fn admit(&self, headers: &HeaderMap) -> Option<(OwnedSemaphorePermit, Option<OwnedSemaphorePermit>)> {
        let request = self.shared.requests.clone().try_acquire_owned().ok()?;
        let body_bytes = match u32::try_from(body_reservation(headers)).ok()? {
            0 => None,
            n => Some(self.shared.body_bytes.clone().try_acquire_many_owned(n).ok()?),
        };
        Some((request, body_bytes))
    }
}

impl hyper::service::Service<hyper::Request<Incoming>> for RequestService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        // Counted at once, in hyper's poll: the watchdog never sees a parsed request as idle.
        let in_flight = InFlight::new(self.activity.clone());
        let Some((request_permit, body_permit)) = self.admit(request.headers()) else {
            return Box::pin(std::future::ready(Ok(overloaded(&request, in_flight))));
        };
        let admitted = Admitted { _in_flight: in_flight, _request: Some(request_permit), _body_bytes: body_permit };
        let (mut parts, body) = request.into_parts();
        let done = Arc::new(AtomicBool::new(body.is_end_stream()));
        let timed_out = BodyTimedOut::default();
        let body = WatchedBody {
            inner: Box::pin(DeadlineBody::new(self.shared.limits.body_timeout, body)),
            done: done.clone(),
            timed_out: timed_out.clone(),
        };
        parts.extensions.insert(ConnectInfo(self.peer));
        let source = match self.proxy.then(|| TrustedProxies::client_of(&parts.headers)).flatten() {
            Some(client) => Source::of(client),
            None => self.source,
        };
        parts.extensions.insert(source);
        parts.extensions.insert(timed_out);
        let request = Request::from_parts(parts, Body::new(body));
        let app = self.shared.app.clone();
        let keep_alive = self.shared.keep_alive.clone();
        Box::pin(async move {
            let Ok(mut response) = app.oneshot(request).await;
            let headers = response.headers_mut();
            if !done.load(Ordering::Acquire) {
                // The body was not read to its end: hyper will not read the
                // rest, so the connection closes after this answer.
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            } else if !headers.contains_key(header::CONNECTION) {
                // Clients that read it (Node's fetch, …) close idle connections
                // before the service does, instead of racing its idle timeout.
                headers.insert(HeaderName::from_static("keep-alive"), keep_alive);
            }
            Ok(response.map(|body| Body::new(AnswerBody { inner: body, _admitted: admitted })))
        })
    }
}

/// `503` `OVERLOADED` for a request over the in-flight limits, sent without
/// reading its body.
fn overloaded(request: &hyper::Request<Incoming>, in_flight: InFlight) -> Response {
    crate::metrics::request(request.method(), "<not routed: overloaded>", 503, Some(codes::OVERLOADED), Duration::ZERO);
    tracing::warn!(
        target: "wallet_backup_service::request",
        method = %request.method(),
        route = "<not routed: overloaded>",
        status = 503,
        code = codes::OVERLOADED,
        "request"
    );
    let mut response = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        codes::OVERLOADED,
        "the service is handling as many requests as it takes; retry later",
    )
    .into_response();
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    if !request.body().is_end_stream() {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let admitted = Admitted { _in_flight: in_flight, _request: None, _body_bytes: None };
    response.map(|body| Body::new(AnswerBody { inner: body, _admitted: admitted }))
}

/// The request body: hyper's, under its deadline, noting when it has been
/// read to its end or timed out.
struct WatchedBody {
    inner: Pin<Box<DeadlineBody<Incoming>>>,
    done: Arc<AtomicBool>,
    timed_out: BodyTimedOut,
}

impl http_body::Body for WatchedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        let polled = self.inner.as_mut().poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.done.store(true, Ordering::Release),
            Poll::Ready(Some(Err(e))) if e.is::<TimeoutError>() => self.timed_out.0.store(true, Ordering::Release),
            Poll::Ready(Some(Ok(_))) if self.inner.is_end_stream() => self.done.store(true, Ordering::Release),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The answer's body, holding the request's place in the limits until
/// hyper has written it (or dropped it with the connection).
struct AnswerBody {
    inner: Body,
    _admitted: Admitted,
}

impl http_body::Body for AnswerBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Router middleware: a request whose body did not arrive within the body
/// timeout is answered `408` `REQUEST_TIMEOUT`, whatever the handler made of
/// the failed read. (The listener adds `Connection: close`: the body was not
/// read to its end.)
pub async fn answer_body_timeouts(request: Request, next: Next) -> Response {
    let timed_out = request.extensions().get::<BodyTimedOut>().cloned();
    let response = next.run(request).await;
    if timed_out.is_some_and(|t| t.fired()) {
        return ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            codes::REQUEST_TIMEOUT,
            "the request body did not arrive in time; send it again on a new connection",
        )
        .into_response();
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        let v4: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(Source::of(v4).ip(), v4);
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(Source::of(mapped), Source::of(v4));
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Source::of(a), Source::of(b));
        assert_ne!(Source::of(a), Source::of(c));
        assert_eq!(Source::of(a).to_string(), "2001:db8:1:2::/64");
    }

    #[test]
    fn forwarded_for_and_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(TrustedProxies::client_of(&headers), None);
        headers.append("x-forwarded-for", HeaderValue::from_static("203.0.113.9, 198.51.100.7"));
        assert_eq!(TrustedProxies::client_of(&headers), Some(ip("198.51.100.7")));
        // Several headers read as one list: the proxy's is the last.
        headers.append("x-forwarded-for", HeaderValue::from_static(" 2001:db8::1 "));
        assert_eq!(TrustedProxies::client_of(&headers), Some(ip("2001:db8::1")));
        for (value, expected) in [
            ("198.51.100.7:5555", Some(ip("198.51.100.7"))),
            ("[2001:db8::2]:443", Some(ip("2001:db8::2"))),
            ("198.51.100.7, unknown", None),
            ("", None),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert("x-forwarded-for", HeaderValue::from_static(value));
            assert_eq!(TrustedProxies::client_of(&headers), expected, "{value}");
        }

        let proxies = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap(), "2001:db8::5/128".parse().unwrap()]);
        assert!(proxies.contains(ip("10.1.2.3")));
        assert!(proxies.contains(ip("::ffff:10.1.2.3")), "IPv4 mapped into IPv6 counts as IPv4");
        assert!(proxies.contains(ip("2001:db8::5")));
        assert!(!proxies.contains(ip("11.0.0.1")) && !proxies.contains(ip("2001:db8::6")));
        assert!(!TrustedProxies::default().contains(ip("127.0.0.1")));
    }

    #[test]
    fn body_reservations() {
        let mut headers = HeaderMap::new();
        assert_eq!(body_reservation(&headers), 0);
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("1000"));
        assert_eq!(body_reservation(&headers), 1000);
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("99999999999"));
        assert_eq!(body_reservation(&headers), crate::api::BODY_LIMIT);
        headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        assert_eq!(body_reservation(&headers), crate::api::BODY_LIMIT);
    }

    #[test]
    fn limits_are_checked() {
        assert_eq!(ConnectionLimits::default().check(), Ok(()));
        for bad in [
            ConnectionLimits { idle_timeout: Duration::ZERO, ..ConnectionLimits::default() },
            ConnectionLimits { max_connections_per_ip: 0, ..ConnectionLimits::default() },
            ConnectionLimits { max_header_bytes: 100, ..ConnectionLimits::default() },
            ConnectionLimits { max_body_memory: 1024, ..ConnectionLimits::default() },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn connection_caps_fit_the_open_file_limit() {
        let mut limits = ConnectionLimits { max_connections: usize::MAX / 2, ..ConnectionLimits::default() };
        let budget = fit_open_file_limit(&mut limits).unwrap();
        let Some(soft) = budget.open_file_limit else {
            // No limit (RLIM_INFINITY): nothing to fit under.
            assert_eq!(budget.lowered_from, None);
            return;
        };
        assert_eq!(budget.lowered_from, Some(usize::MAX / 2));
        assert_eq!(limits.max_connections as u64 + budget.reserved, soft);
        assert!(limits.max_connections_per_ip <= limits.max_connections);
    }
}
