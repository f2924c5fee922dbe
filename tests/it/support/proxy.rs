//! A loopback, fault-injecting HTTP/1.1 proxy to put between a client (the SDK, or the binary
//! under test) and moto.
//!
//! It forwards every request unchanged (method, path and query, headers — the original `Host`
//! included, since SigV4 signs it — and body) and returns moto's answer, while counting
//! requests per operation (`s3:PutObject`, `sqs:ReceiveMessage`, ...) and applying the faults a
//! test injected: error statuses with a well-formed AWS error body, delays, lost responses, and
//! hooks run just before a request is forwarded.
//!
//! The proxy owns its tokio runtime, so it works the same from a `#[tokio::test]` and from a
//! plain test that runs the binary as a subprocess. Dropping it stops it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What happens to the next requests of an operation (see [`FaultProxy::inject`]).
#[derive(Clone)]
pub enum Fault {
    /// Answer this status without forwarding, with a well-formed AWS error body for the
    /// protocol (S3 XML, SQS JSON); see [`error_code`] for the codes used.
    Status(u16),
    /// Hold the request this long, then forward it (to trigger client timeouts). A client that
    /// gives up meanwhile closes the connection, and then the held request is dropped without
    /// ever reaching upstream (observed with hyper 1.x).
    Delay(Duration),
    /// Forward the request (so it takes effect upstream), then close the connection without
    /// answering: the client sees a connection error, not a response.
    LoseResponse,
    /// Run this (on a blocking thread; it may block, e.g. to edit the same object with another
    /// client) and then forward the request.
    Hook(Arc<dyn Fn() + Send + Sync>),
    /// Forward the request, then answer upstream's status and headers with its body passed
    /// through this (to give an answer the emulator does not, as the real service would).
    Rewrite(Arc<dyn Fn(Bytes) -> Bytes + Send + Sync>),
}

impl Fault {
    /// A [`Fault::Hook`] from a closure.
    pub fn hook(f: impl Fn() + Send + Sync + 'static) -> Fault {
        Fault::Hook(Arc::new(f))
    }
}

impl fmt::Debug for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Status(s) => f.debug_tuple("Status").field(s).finish(),
            Fault::Delay(d) => f.debug_tuple("Delay").field(d).finish(),
            Fault::LoseResponse => f.write_str("LoseResponse"),
            Fault::Hook(_) => f.write_str("Hook(..)"),
            Fault::Rewrite(_) => f.write_str("Rewrite(..)"),
        }
    }
}

#[derive(Debug)]
struct Pending {
    fault: Fault,
    remaining: u32,
    /// Only requests whose path contains this (e.g. a day key) get the fault.
    path_contains: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    counts: BTreeMap<String, u64>,
    /// Seconds the upstream took to answer, per operation (the emulator's service time).
    upstream_secs: BTreeMap<String, f64>,
    /// Requests forwarded and not yet answered, since when at least one has been, and the
    /// seconds during which at least one was (the emulator's busy time).
    outstanding: usize,
    /// The most requests forwarded and not yet answered at once.
    max_outstanding: usize,
    /// Requests inside the proxy's delay (`set_delay`, `Fault::Delay`) now, and the most at once.
    delaying: usize,
    max_delaying: usize,
    busy_since: Option<std::time::Instant>,
    busy_secs: f64,
    pending: HashMap<String, VecDeque<Pending>>,
    injected: BTreeMap<String, u32>,
    delay: Duration,
    serialize_s3: bool,
    serialize_all: bool,
}

impl State {
    fn upstream_started(&mut self) -> std::time::Instant {
        let now = std::time::Instant::now();
        if self.outstanding == 0 {
            self.busy_since = Some(now);
        }
        self.outstanding += 1;
        self.max_outstanding = self.max_outstanding.max(self.outstanding);
        now
    }

    fn upstream_ended(&mut self, op: String, asked: std::time::Instant) {
        *self.upstream_secs.entry(op).or_default() += asked.elapsed().as_secs_f64();
        self.outstanding = self.outstanding.saturating_sub(1);
        if self.outstanding == 0 {
            if let Some(since) = self.busy_since.take() {
                self.busy_secs += since.elapsed().as_secs_f64();
            }
        }
    }
}

struct Shared {
    upstream: String,
    state: Mutex<State>,
    s3_turn: tokio::sync::Mutex<()>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking hook must not wedge every later request.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The proxy; see the module docs.
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`: point clients here instead of at moto.
    pub endpoint: String,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultProxy")
            .field("endpoint", &self.endpoint)
            .field("upstream", &self.shared.upstream)
            .field("state", &*self.shared.state())
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (e.g. `moto.endpoint`) on a free loopback port.
    pub fn start(upstream: &str) -> FaultProxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fault-proxy")
            .enable_all()
            .build()
            .expect("building the proxy's runtime");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding the proxy");
        listener
            .set_nonblocking(true)
            .expect("making the proxy's listener non-blocking");
        let port = listener.local_addr().expect("the proxy's address").port();
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            state: Mutex::new(State::default()),
            s3_turn: tokio::sync::Mutex::new(()),
            client: Client::builder(TokioExecutor::new()).build_http(),
        });
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener).expect("registering the proxy's listener")
        };
        runtime.spawn(accept_loop(listener, Arc::clone(&shared)));
        FaultProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            shared,
            runtime: Some(runtime),
        }
    }

    /// Requests seen so far, per operation (faulted ones included).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.shared.state().counts.clone()
    }

    /// Requests seen so far of one operation.
    pub fn count(&self, op: &str) -> u64 {
        self.shared.state().counts.get(op).copied().unwrap_or(0)
    }

    /// Forgets the counts and upstream times (not the pending faults).
    pub fn reset_counts(&self) {
        let mut state = self.shared.state();
        state.counts.clear();
        state.upstream_secs.clear();
        state.busy_secs = 0.0;
        if state.outstanding > 0 {
            state.busy_since = Some(std::time::Instant::now());
        }
    }

    /// Seconds during which the upstream had at least one request in hand since the counts
    /// were reset (the emulator's busy wall time; moto serves under one interpreter lock).
    pub fn upstream_busy_secs(&self) -> f64 {
        let state = self.shared.state();
        state.busy_secs + state.busy_since.map_or(0.0, |t| t.elapsed().as_secs_f64())
    }

    /// Seconds the upstream (the emulator) took to answer so far, per operation: its service
    /// time, without the proxy's added delay.
    pub fn upstream_secs(&self) -> BTreeMap<String, f64> {
        self.shared.state().upstream_secs.clone()
    }

    /// The most requests the proxy held in a delay at the same time.
    pub fn max_concurrent_delays(&self) -> usize {
        self.shared.state().max_delaying
    }

    /// The most requests forwarded to the emulator and not yet answered at the same time.
    pub fn max_concurrent_upstream(&self) -> usize {
        self.shared.state().max_outstanding
    }

    /// A fixed delay before forwarding every request (default none).
    pub fn set_delay(&self, delay: Duration) {
        self.shared.state().delay = delay;
    }

    /// The next `times` requests of `op` (e.g. `"s3:PutObject"`, `"sqs:DeleteMessageBatch"`)
    /// get `fault`. Several injections for one operation apply one after the other.
    pub fn inject(&self, op: &str, fault: Fault, times: u32) {
        if times == 0 {
            return;
        }
        self.shared
            .state()
            .pending
            .entry(op.to_owned())
            .or_default()
            .push_back(Pending {
                fault,
                remaining: times,
                path_contains: None,
            });
    }

    /// Like [`FaultProxy::inject`], for requests of `op` whose path contains `path_contains`
    /// (for example one day's key); other requests of `op` pass untouched.
    pub fn inject_on_path(&self, op: &str, path_contains: &str, fault: Fault, times: u32) {
        if times == 0 {
            return;
        }
        self.shared
            .state()
            .pending
            .entry(op.to_owned())
            .or_default()
            .push_back(Pending {
                fault,
                remaining: times,
                path_contains: Some(path_contains.to_owned()),
            });
    }

    /// How many injected faults of `op` have fired.
    pub fn injected(&self, op: &str) -> u32 {
        self.shared.state().injected.get(op).copied().unwrap_or(0)
    }

    /// Drops the faults that have not fired yet.
    pub fn clear_faults(&self) {
        self.shared.state().pending.clear();
    }

    /// When on, S3 requests are forwarded one at a time (moto's conditional writes are not
    /// atomic under concurrent requests). SQS requests are never serialised.
    pub fn serialize_s3(&self, on: bool) {
        self.shared.state().serialize_s3 = on;
    }

    /// When on, every request (S3 and SQS) is forwarded one at a time. moto's SQS is not atomic
    /// under concurrent requests either: two DeleteMessageBatch calls at once can undo each
    /// other's deletes (each rewrites the queue's message list), and two ReceiveMessage calls can
    /// hand out the same message.
    pub fn serialize_all(&self, on: bool) {
        self.shared.state().serialize_all = on;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Does not block, so a proxy can be dropped inside an async test too.
            runtime.shutdown_background();
        }
    }
}

/// Runs `fut` to completion on a fresh current-thread runtime in a scoped thread: for hooks
/// (and other sync code) that need to call the async SDK, wherever they run.
pub fn block_on_fresh<F>(fut: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("building a runtime")
                    .block_on(fut)
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(Arc::clone(&shared), req));
            // Errors here are lost responses and clients hanging up: nothing to report.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[derive(Debug)]
struct LostResponse;

impl fmt::Display for LostResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("response dropped by the fault proxy")
    }
}

impl std::error::Error for LostResponse {}

/// Holds a request for `delay`, counted in [`FaultProxy::max_concurrent_delays`].
async fn hold(shared: &Shared, delay: Duration) {
    {
        let mut state = shared.state();
        state.delaying += 1;
        state.max_delaying = state.max_delaying.max(state.delaying);
    }
    tokio::time::sleep(delay).await;
    shared.state().delaying -= 1;
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, BoxError> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let op = classify(&parts.method, &parts.uri, &parts.headers, &body);

    let (delay, fault) = {
        let mut state = shared.state();
        *state.counts.entry(op.clone()).or_default() += 1;
        let fault = next_fault(&mut state, &op, parts.uri.path());
        (state.delay, fault)
    };
    if !delay.is_zero() {
        hold(&shared, delay).await;
    }
    let mut lose_response = false;
    let mut rewrite = None;
    match fault {
        None => {}
        Some(Fault::Status(status)) => {
            return Ok(error_response(&op, status, parts.method == Method::HEAD));
        }
        Some(Fault::Delay(d)) => hold(&shared, d).await,
        Some(Fault::LoseResponse) => lose_response = true,
        Some(Fault::Rewrite(f)) => rewrite = Some(f),
        Some(Fault::Hook(hook)) => {
            if let Err(e) = tokio::task::spawn_blocking(move || hook()).await {
                eprintln!("fault proxy: the hook for {op} failed: {e}");
                return Err(Box::new(LostResponse));
            }
        }
    }

    let serialize = {
        let state = shared.state();
        state.serialize_all || (op.starts_with("s3:") && state.serialize_s3)
    };
    let _turn = if serialize {
        Some(shared.s3_turn.lock().await)
    } else {
        None
    };

    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let uri: Uri = format!("{}{path_and_query}", shared.upstream).parse()?;
    let mut upstream_req = Request::builder()
        .method(parts.method.clone())
        .uri(uri)
        .body(Full::new(body))?;
    *upstream_req.headers_mut() = without_hop_by_hop(&parts.headers);

    let asked = shared.state().upstream_started();
    let response = match shared.client.request(upstream_req).await {
        Ok(r) => r,
        Err(e) => {
            shared.state().upstream_ended(op, asked);
            return Ok(plain_response(
                StatusCode::BAD_GATEWAY,
                format!("fault proxy: upstream request failed: {e}"),
            ));
        }
    };
    let (head, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            shared.state().upstream_ended(op, asked);
            return Ok(plain_response(
                StatusCode::BAD_GATEWAY,
                format!("fault proxy: reading the upstream response failed: {e}"),
            ));
        }
    };
    shared.state().upstream_ended(op, asked);
    if lose_response {
        // Hyper closes the connection without writing anything when the service fails.
        return Err(Box::new(LostResponse));
    }
    let mut headers = without_hop_by_hop(&head.headers);
    let body = match rewrite {
        Some(f) => {
            headers.remove(http::header::CONTENT_LENGTH);
            f(body)
        }
        None => body,
    };
    let mut out = Response::new(Full::new(body));
    *out.status_mut() = head.status;
    *out.headers_mut() = headers;
    Ok(out)
}

fn next_fault(state: &mut State, op: &str, path: &str) -> Option<Fault> {
    let queue = state.pending.get_mut(op)?;
    let index = queue.iter().position(|p| {
        p.path_contains
            .as_deref()
            .is_none_or(|needle| path.contains(needle))
    })?;
    let pending = &mut queue[index];
    let fault = pending.fault.clone();
    pending.remaining -= 1;
    if pending.remaining == 0 {
        queue.remove(index);
    }
    *state.injected.entry(op.to_owned()).or_default() += 1;
    Some(fault)
}

fn without_hop_by_hop(headers: &HeaderMap) -> HeaderMap {
    const HOP_BY_HOP: [&str; 8] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
    ];
    let mut out = headers.clone();
    for name in HOP_BY_HOP.iter().chain(&["upgrade"]) {
        out.remove(*name);
    }
    out
}

fn plain_response(status: StatusCode, text: String) -> Response<Full<Bytes>> {
    let mut out = Response::new(Full::new(Bytes::from(text)));
    *out.status_mut() = status;
    out
}

/// The AWS error code an injected [`Fault::Status`] reports.
///
/// S3: 500 `InternalError`, 503 `SlowDown`, 400 `RequestTimeout`, 403 `AccessDenied`,
/// 404 `NoSuchKey`, 409 `ConditionalRequestConflict`, 412 `PreconditionFailed`.
/// SQS: 500 `InternalError`, 400/403/429/503 `RequestThrottled`.
/// Anything else: `InjectedFault`.
pub fn error_code(op: &str, status: u16) -> &'static str {
    if op.starts_with("sqs:") {
        match status {
            500 => "InternalError",
            400 | 403 | 429 | 503 => "RequestThrottled",
            _ => "InjectedFault",
        }
    } else {
        match status {
            500 => "InternalError",
            503 => "SlowDown",
            400 => "RequestTimeout",
            403 => "AccessDenied",
            404 => "NoSuchKey",
            409 => "ConditionalRequestConflict",
            412 => "PreconditionFailed",
            _ => "InjectedFault",
        }
    }
}

fn error_response(op: &str, status: u16, is_head: bool) -> Response<Full<Bytes>> {
    let code = error_code(op, status);
    let status = StatusCode::from_u16(status).expect("an HTTP status code");
    let (content_type, body) = if op.starts_with("sqs:") {
        (
            "application/x-amz-json-1.0",
            format!(
                r#"{{"__type":"com.amazonaws.sqs#{code}","message":"injected by the test proxy"}}"#
            ),
        )
    } else {
        (
            "application/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
                 <Message>injected by the test proxy</Message><RequestId>injected</RequestId>\
                 <HostId>injected</HostId></Error>"
            ),
        )
    };
    let body = if is_head { String::new() } else { body };
    let mut out = plain_response(status, body);
    let headers = out.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if op.starts_with("sqs:") {
        // SQS is "query compatible": the SDK takes the error code from this header if present.
        let fault = if status.is_server_error() && code != "RequestThrottled" {
            "Receiver"
        } else {
            "Sender"
        };
        headers.insert(
            HeaderName::from_static("x-amzn-query-error"),
            HeaderValue::from_str(&format!("{code};{fault}")).expect("a header value"),
        );
        headers.insert(
            HeaderName::from_static("x-amzn-requestid"),
            HeaderValue::from_static("injected"),
        );
    } else {
        headers.insert(
            HeaderName::from_static("x-amz-request-id"),
            HeaderValue::from_static("injected"),
        );
    }
    out
}

/// The operation name the proxy counts a request under (see the module docs).
pub fn classify(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        if let Some(op) = target.strip_prefix("AmazonSQS.") {
            return format!("sqs:{op}");
        }
    }
    // The SQS query protocol, in case a client uses it: `Action=Op&...` in a form body.
    let is_form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        let form = String::from_utf8_lossy(body);
        if let Some(action) = form.split('&').find_map(|p| p.strip_prefix("Action=")) {
            return format!("sqs:{action}");
        }
    }
    format!("s3:{}", classify_s3(method, uri, headers))
}

fn classify_s3(method: &Method, uri: &Uri, headers: &HeaderMap) -> &'static str {
    // Sub-resources that turn an object request into some other operation.
    const OTHER: [&str; 8] = [
        "tagging",
        "acl",
        "retention",
        "legal-hold",
        "attributes",
        "restore",
        "select",
        "torrent",
    ];
    let path = uri.path().trim_start_matches('/');
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    let params: Vec<(&str, &str)> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .filter(|(k, _)| *k != "x-id")
        .collect();
    let has = |name: &str| params.iter().any(|(k, _)| *k == name);
    let value = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);

    if bucket.is_empty() {
        return if *method == Method::GET {
            "ListBuckets"
        } else {
            "Other"
        };
    }
    if key.is_empty() {
        return match *method {
            Method::PUT if params.is_empty() => "CreateBucket",
            Method::HEAD => "HeadBucket",
            Method::GET if value("list-type") == Some("2") => "ListObjectsV2",
            Method::GET if has("versioning") => "GetBucketVersioning",
            Method::POST if has("delete") => "DeleteObjects",
            _ => "Other",
        };
    }
    if OTHER.iter().any(|s| has(s)) {
        return "Other";
    }
    match *method {
        Method::POST if has("uploads") => "CreateMultipartUpload",
        Method::POST if has("uploadId") => "CompleteMultipartUpload",
        Method::PUT if has("uploadId") && has("partNumber") => "UploadPart",
        Method::DELETE if has("uploadId") => "AbortMultipartUpload",
        Method::GET if has("uploadId") => "Other",
        Method::PUT if headers.contains_key("x-amz-copy-source") => "CopyObject",
        Method::PUT => "PutObject",
        Method::GET => "GetObject",
        Method::HEAD => "HeadObject",
        Method::DELETE => "DeleteObject",
        _ => "Other",
    }
}
