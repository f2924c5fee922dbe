//! The AWS emulators the integration tests talk HTTP to, on loopback: LocalStack (the default)
//! and moto.
//!
//! Which one a test gets: the one it names ([`Emulator::of`]), or else the suite's
//! ([`Emulator::start`], [`Kind::for_suite`]): `S3EW_EMULATOR=localstack|moto`, LocalStack when
//! unset.
//!
//! Both are found in the cache that `scripts/test.sh` installs them into (`S3EW_CACHE`, default
//! `~/.cache/s3-event-writer`): `localstack-venv/` and `moto-venv/`. When they are not there, a
//! test that needs them returns at once through [`needs_emulators!`](crate::support) after one
//! line on standard error saying how to install them, so a plain `cargo test` on a fresh clone
//! passes the rest; `scripts/test.sh` sets `S3EW_REQUIRE_EMULATORS=1`, which makes a missing
//! emulator a failure instead.
//!
//! Servers are pooled within the test process: a test checks one out for its own use (no other
//! test touches it meanwhile), finds it empty (moto is reset; every LocalStack bucket, object,
//! upload and queue the previous test left is deleted), and gives it back when the [`Emulator`]
//! drops. A pool holds at most as many servers as tests ran at once. Each server runs under a
//! tiny supervisor (`supervise.py`) that kills it when the test process's end closes the
//! supervisor's standard input, so nothing outlives the test binary, and then deletes the
//! server's directory.
//!
//! - **LocalStack** (about 8 s and 500 MB to start in host mode, `localstack_server.py`): its
//!   PutObject conditions are atomic (a per-key lock) and its receive cost is flat, so no request
//!   is serialised. Its CompleteMultipartUpload checks `If-Match` / `If-None-Match` without that
//!   lock: no test races two multipart completions of one key on it.
//! - **moto** (about 2 s to start): its SQS loses receipt handles and its conditional writes are
//!   not atomic under concurrent requests, so [`Emulator::proxy`] puts a proxy that forwards one
//!   request at a time in front of it ([`Kind::serializes_requests`]).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::{block_on_fresh, s3_client, sqs_client, FaultProxy};

/// An emulator implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    LocalStack,
    Moto,
}

impl Kind {
    /// The suite's emulator: `S3EW_EMULATOR` (`localstack` or `moto`), LocalStack when unset.
    ///
    /// # Panics
    /// On any other value.
    pub fn for_suite() -> Kind {
        match std::env::var("S3EW_EMULATOR").as_deref() {
            Err(_) | Ok("" | "localstack") => Kind::LocalStack,
            Ok("moto") => Kind::Moto,
            Ok(other) => panic!("S3EW_EMULATOR={other:?}: expected localstack or moto"),
        }
    }

    /// Whether a proxy in front of it must forward one request at a time for the program's
    /// guarantees to hold (moto: lost receipt handles, phantom in-flight messages and
    /// non-atomic conditional writes under concurrent requests).
    pub fn serializes_requests(self) -> bool {
        self == Kind::Moto
    }

    /// Whether it accepts multipart parts under S3's 5 MiB minimum when asked (moto's
    /// `S3_UPLOAD_PART_MIN_SIZE`); LocalStack, like S3, never does.
    pub fn lowers_part_minimum(self) -> bool {
        self == Kind::Moto
    }
}

/// The cache `scripts/test.sh` installs the emulators into.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("S3EW_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".cache/s3-event-writer")
}

/// `scripts/test.sh` writes `s3ew-key` (the pin it installed) into a venv last.
fn installed(venv: &str) -> bool {
    cache_dir().join(venv).join("s3ew-key").is_file()
}

/// True when an emulator test must return at once: an emulator is not installed and
/// `S3EW_REQUIRE_EMULATORS` is not set. Says so once per test process, in one line, on the
/// real standard error (not the test's captured output). Use it through `needs_emulators!()`.
///
/// # Panics
/// When an emulator is missing and `S3EW_REQUIRE_EMULATORS` is set.
pub fn emulators_missing() -> bool {
    static MISSING: OnceLock<Option<String>> = OnceLock::new();
    let missing = MISSING.get_or_init(|| {
        let absent: Vec<&str> = [("moto", "moto-venv"), ("LocalStack", "localstack-venv")]
            .into_iter()
            .filter(|(_, venv)| !installed(venv))
            .map(|(name, _)| name)
            .collect();
        if absent.is_empty() {
            return None;
        }
        let line = format!(
            "emulator tests skipped: {} not installed; run scripts/test.sh once to install them \
             into {} and run every test",
            absent.join(" and "),
            cache_dir().display()
        );
        if std::env::var_os("S3EW_REQUIRE_EMULATORS").is_none() {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
        Some(line)
    });
    match missing {
        None => false,
        Some(line) if std::env::var_os("S3EW_REQUIRE_EMULATORS").is_some() => {
            panic!("{line} (S3EW_REQUIRE_EMULATORS is set)")
        }
        Some(_) => true,
    }
}

/// An emulator for one test's own use; see the module docs.
#[derive(Debug)]
pub struct Emulator {
    pub kind: Kind,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    pub port: u16,
    /// Taken on drop, back to the pool when `pooled`.
    server: Option<Process>,
    pooled: bool,
}

/// A server process and its log; killed on drop.
#[derive(Debug)]
struct Process {
    port: u16,
    child: Child,
    /// The supervisor stops the server when this closes.
    stdin: Option<ChildStdin>,
    /// In the server's own directory, which the supervisor deletes when the server stops.
    log: PathBuf,
}

impl Process {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // The supervisor stops its server when its input closes; give it a moment before
        // killing it (a killed supervisor would leave its server running).
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Servers not checked out by a test, per kind (LocalStack's, moto's).
static POOLS: [Mutex<Vec<Process>>; 2] = [Mutex::new(Vec::new()), Mutex::new(Vec::new())];

const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);

impl Kind {
    fn pool(self) -> &'static Mutex<Vec<Process>> {
        &POOLS[self as usize]
    }
}

impl Emulator {
    /// The suite's emulator ([`Kind::for_suite`]).
    pub fn start() -> Emulator {
        Emulator::of(Kind::for_suite())
    }

    /// An empty emulator of this kind, from the pool or new.
    ///
    /// # Panics
    /// When it is not installed or does not come up.
    pub fn of(kind: Kind) -> Emulator {
        let server = loop {
            let idle = kind
                .pool()
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop();
            let Some(mut server) = idle else {
                break start(kind, &[]);
            };
            if !server.alive() {
                continue;
            }
            // A server that cannot be emptied is dropped (which stops it) for a fresh one.
            match empty(kind, server.port) {
                Ok(()) => break server,
                Err(e) => {
                    eprintln!("a pooled {kind:?} could not be emptied, starting another: {e}");
                }
            }
        };
        Emulator::new(kind, server, true)
    }

    /// A new moto server, not pooled, with extra environment, e.g. `S3_UPLOAD_PART_MIN_SIZE`
    /// (5 MiB by default, as on S3) to test multipart uploads with small parts.
    pub fn moto_with_env(env: &[(&str, &str)]) -> Emulator {
        Emulator::new(Kind::Moto, start(Kind::Moto, env), false)
    }

    fn new(kind: Kind, server: Process, pooled: bool) -> Emulator {
        Emulator {
            kind,
            endpoint: format!("http://127.0.0.1:{}", server.port),
            port: server.port,
            server: Some(server),
            pooled,
        }
    }

    /// A fault proxy in front of this emulator, forwarding one request at a time where the
    /// emulator needs it ([`Kind::serializes_requests`]).
    pub fn proxy(&self) -> FaultProxy {
        let proxy = FaultProxy::start(&self.endpoint);
        proxy.serialize_all(self.kind.serializes_requests());
        proxy
    }

    /// Forgets every bucket, object and queue.
    pub fn reset(&self) {
        empty(self.kind, self.port).expect("emptying the emulator");
    }

    /// See [`env_for`](super::env_for): the program under test talking to `endpoint`.
    #[allow(clippy::unused_self)] // a method so tests read `emulator.env_for(&proxy.endpoint)`
    pub fn env_for(&self, endpoint: &str) -> Vec<(String, String)> {
        super::env_for(endpoint)
    }

    /// An S3 client talking straight to this server.
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        s3_client(&self.endpoint).await
    }

    /// An SQS client talking straight to this server.
    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        sqs_client(&self.endpoint).await
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            if self.pooled && server.alive() {
                self.kind
                    .pool()
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(server);
            }
        }
    }
}

/// Deletes everything in the server on `port`: moto's reset, or every LocalStack bucket and
/// queue.
fn empty(kind: Kind, port: u16) -> Result<(), String> {
    match kind {
        Kind::Moto => match raw_http(port, "POST", "/moto-api/reset") {
            Ok(200) => Ok(()),
            other => Err(format!("moto reset answered {other:?}")),
        },
        Kind::LocalStack => wipe(&format!("http://127.0.0.1:{port}")),
    }
}

/// Starts a server of `kind` under the supervisor (`supervise.py`) on a free port, in a
/// directory of its own; `env` goes to the server.
fn start(kind: Kind, env: &[(&str, &str)]) -> Process {
    let support = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/support");
    let (python, name) = match kind {
        Kind::LocalStack => (cache_dir().join("localstack-venv/bin/python"), "LocalStack"),
        Kind::Moto => (cache_dir().join("moto-venv/bin/python"), "moto"),
    };
    // Another process can grab the port between our probe and the bind; that shows up as the
    // server exiting early, and we simply try another port.
    let mut last_failure = String::new();
    for _attempt in 0..3 {
        let port = free_port();
        let dir = tempfile::Builder::new()
            .prefix(&format!("s3ew-{}-", name.to_lowercase()))
            .tempdir()
            .expect("creating the emulator's directory")
            .keep();
        let mut command = Command::new(&python);
        command
            .arg(format!("{support}/supervise.py"))
            .arg(&dir)
            .arg(&python)
            .envs(env.iter().copied());
        let listen = format!("127.0.0.1:{port}");
        match kind {
            Kind::Moto => {
                command
                    .args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
                    .arg(port.to_string());
            }
            Kind::LocalStack => {
                command
                    .arg(format!("{support}/localstack_server.py"))
                    .env("S3EW_LOCALSTACK_S3_DIR", dir.join("s3"))
                    // STS and IAM for scripts/acceptance.sh (tests/it/acceptance.rs).
                    .env("SERVICES", "sqs,s3,sts,iam")
                    .env("GATEWAY_LISTEN", &listen)
                    .env("LOCALSTACK_HOST", &listen)
                    .env("SQS_ENDPOINT_STRATEGY", "path")
                    .env("DNS_ADDRESS", "0")
                    .env("DISABLE_EVENTS", "1")
                    .env("LOCALSTACK_TELEMETRY_DISABLED", "1")
                    .env("EAGER_SERVICE_LOADING", "1")
                    .env("OVERRIDE_IN_DOCKER", "0")
                    .env("FILESYSTEM_ROOT", &dir);
            }
        }
        let ready = |p: &Process| match kind {
            Kind::Moto => matches!(raw_http(p.port, "GET", "/moto-api/"), Ok(s) if s < 500),
            Kind::LocalStack => {
                std::fs::read_to_string(&p.log).is_ok_and(|log| log.lines().any(|l| l == "Ready."))
            }
        };
        match spawn_and_wait(command, port, &dir, name, ready) {
            Ok(process) => return process,
            Err(failure) => {
                eprintln!("{name} did not start, trying again: {failure}");
                last_failure = failure;
            }
        }
    }
    panic!(
        "{name} did not start ({}):\n{last_failure}",
        python.display()
    );
}

/// Spawns `command` with its output to `dir/server.log` and waits until `ready`.
fn spawn_and_wait(
    mut command: Command,
    port: u16,
    dir: &std::path::Path,
    name: &str,
    ready: impl Fn(&Process) -> bool,
) -> Result<Process, String> {
    let log = dir.join("server.log");
    // One open file for both streams, so that they append rather than overwrite each other.
    let out = std::fs::File::create(&log).expect("creating the emulator's log file");
    let err = out.try_clone().expect("opening the emulator's log file");
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {name} ({command:?}): {e}"));
    let stdin = child.stdin.take();
    let mut process = Process {
        port,
        child,
        stdin,
        log,
    };
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if !process.alive() {
            return Err(format!(
                "{name} exited on port {port}; log tail:\n{}",
                process.log_tail()
            ));
        }
        if ready(&process) {
            return Ok(process);
        }
        if Instant::now() > deadline {
            // Dropping `process` kills it.
            return Err(format!(
                "{name} did not come up on port {port} within {STARTUP_TIMEOUT:?}; log tail:\n{}",
                process.log_tail()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Deletes every bucket (with its objects, versions and uploads) and every queue.
fn wipe(endpoint: &str) -> Result<(), String> {
    block_on_fresh(async {
        let s3 = s3_client(endpoint).await;
        let sqs = sqs_client(endpoint).await;
        let buckets = s3
            .list_buckets()
            .send()
            .await
            .map_err(|e| format!("listing buckets: {e:?}"))?;
        for bucket in buckets.buckets() {
            let name = bucket.name().unwrap_or_default();
            empty_bucket(&s3, name).await?;
            s3.delete_bucket().bucket(name).send().await.map_err(|e| {
                format!(
                    "deleting bucket {name} (in {:?}): {e:?}",
                    bucket.bucket_region()
                )
            })?;
        }
        let queues = sqs
            .list_queues()
            .send()
            .await
            .map_err(|e| format!("listing queues: {e:?}"))?;
        for url in queues.queue_urls() {
            sqs.delete_queue()
                .queue_url(url)
                .send()
                .await
                .map_err(|e| format!("deleting queue {url}: {e:?}"))?;
        }
        Ok(())
    })
}

async fn empty_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<(), String> {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    let uploads = s3
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| format!("listing uploads in {bucket}: {e:?}"))?;
    for upload in uploads.uploads() {
        let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) else {
            continue;
        };
        s3.abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .send()
            .await
            .map_err(|e| format!("aborting an upload of {bucket}/{key}: {e:?}"))?;
    }
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| format!("listing versions in {bucket}: {e:?}"))?;
        let ids: Vec<ObjectIdentifier> = page
            .versions()
            .iter()
            .map(|v| (v.key(), v.version_id()))
            .chain(
                page.delete_markers()
                    .iter()
                    .map(|m| (m.key(), m.version_id())),
            )
            .filter_map(|(key, version)| {
                ObjectIdentifier::builder()
                    .key(key?)
                    .set_version_id(version.map(str::to_owned))
                    .build()
                    .ok()
            })
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        for chunk in ids.chunks(1000) {
            let delete = Delete::builder()
                .set_objects(Some(chunk.to_vec()))
                .quiet(true)
                .build()
                .map_err(|e| e.to_string())?;
            s3.delete_objects()
                .bucket(bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| format!("emptying {bucket}: {e:?}"))?;
        }
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding a loopback port")
        .port()
}

/// One tiny HTTP/1.1 request over a fresh connection; returns the status code.
fn raw_http(port: u16, method: &str, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let head = String::from_utf8_lossy(&response[..response.len().min(64)]).into_owned();
    head.strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {head:?}")))
}
