//! Checks, before a drain reads or writes anything, that its source, day-file location and
//! quarantine can be used at all.
//!
//! Role: `drain` calls [`check_drain`] after its settings are resolved and before it opens the
//! source; a failure is one [`PreflightError`] (exit status 3) that names the flag, the value,
//! what is wrong and the fix, each once. `doctor` presents the same probes as checks (the
//! message file, [`dir_state`], [`check_apart`], [`probe_prefix`]) and shares the classification
//! of AWS failures ([`Problem`], [`classify`]).
//!
//! Invariants:
//! - nothing is read from the source and nothing is left behind: a message file is opened, not
//!   read; a directory is probed by creating and removing one temporary file `.s3ew-probe-*`
//!   (the day store's sweep removes it too, should a crash leave it), and a directory that does
//!   not exist yet is not created (the nearest existing ancestor is probed instead);
//! - a bucket is checked with one ListObjectsV2 of the prefix (at most one key), which the
//!   writer's policy allows (`s3:ListBucket` for its prefixes): it shows a missing bucket, a
//!   denied listing, refused credentials, a wrong region or an unreachable endpoint. It cannot
//!   show a denied `s3:PutObject`: only the first write can, so that is reported per day or
//!   quarantine object like any other failed write;
//! - the quarantine must not be inside the day-file location, compared after resolving
//!   symbolic links where the paths exist, so the usage site never reads quarantine records.

use std::fmt;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;
use aws_smithy_runtime_api::http::Response as HttpResponse;

use crate::adapters::aws::{describe_sdk_error, http_status, S3Clients};
use crate::location::{absolute, Location, SourceSpec};

/// A location that cannot be used; exit status 3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag} {value}: {problem}; fix: {fix}")]
pub struct PreflightError {
    /// `--source`, `--dest` or `--quarantine`.
    pub flag: &'static str,
    /// The value as given (or defaulted).
    pub value: String,
    /// What is wrong, once.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

/// Why an AWS call failed, in the terms an operator acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The queue, bucket or key does not exist.
    Missing,
    /// The caller lacks a permission.
    Denied,
    /// The credentials themselves were refused (unknown key, bad signature, expired token).
    BadCredentials(String),
    /// The bucket is in another region (S3's 301, with the region when S3 said it).
    WrongRegion(Option<String>),
    /// Anything else: throttling, a server error, an unreachable endpoint.
    Other(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing => f.write_str("does not exist"),
            Problem::Denied => f.write_str("access denied"),
            Problem::BadCredentials(code) => write!(f, "the credentials were refused ({code})"),
            Problem::WrongRegion(Some(r)) => write!(f, "is in region {r}"),
            Problem::WrongRegion(None) => f.write_str("is in another region"),
            Problem::Other(detail) => f.write_str(detail),
        }
    }
}

/// Classifies a failure from the HTTP status and the service's error code (pure).
pub fn classify(
    status: Option<u16>,
    code: Option<&str>,
    region: Option<&str>,
    detail: String,
) -> Problem {
    match (code.unwrap_or_default(), status) {
        (
            "AWS.SimpleQueueService.NonExistentQueue"
            | "QueueDoesNotExist"
            | "NonExistentQueue"
            | "NoSuchBucket"
            | "NoSuchKey"
            | "NotFound",
            _,
        ) => Problem::Missing,
        ("AccessDenied" | "AccessDeniedException" | "AllAccessDisabled", _) => Problem::Denied,
        (
            c @ ("InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "InvalidClientTokenId"
            | "ExpiredToken"
            | "ExpiredTokenException"
            | "UnrecognizedClientException"
            | "InvalidToken"),
            _,
        ) => Problem::BadCredentials(c.to_owned()),
        ("PermanentRedirect" | "AuthorizationHeaderMalformed", _) | (_, Some(301)) => {
            Problem::WrongRegion(region.map(str::to_owned))
        }
        (_, Some(404)) => Problem::Missing,
        (_, Some(403)) => Problem::Denied,
        _ => Problem::Other(detail),
    }
}

/// [`classify`] for an SDK error.
pub fn problem_of<E>(err: &SdkError<E, HttpResponse>) -> Problem
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let (code, region) = match err {
        SdkError::ServiceError(se) => (
            se.err().code(),
            se.raw().headers().get("x-amz-bucket-region"),
        ),
        _ => (None, None),
    };
    classify(http_status(err), code, region, describe_sdk_error(err))
}

/// A usable local directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirState {
    /// It exists and a file could be created in it.
    Writable,
    /// It does not exist yet; this ancestor exists and is writable, so it can be created.
    Creatable(PathBuf),
}

const FIX_PERMISSIONS: &str =
    "make it writable by the user that runs the writer (chown/chmod), or choose another location";

/// Whether `dir` can hold files: it exists and is writable, or it can be created; else what is
/// wrong and the fix. Nothing is created but one temporary probe file, removed at once.
pub fn dir_state(dir: &Path) -> Result<DirState, (String, String)> {
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Err((
            "exists but is not a directory".into(),
            "give a directory (it is created when missing), or an s3://BUCKET/PREFIX/ location"
                .into(),
        )),
        Ok(_) => probe_writable(dir)
            .map(|()| DirState::Writable)
            .map_err(|e| {
                let problem = format!("is not writable ({})", os_error(&e));
                (problem, FIX_PERMISSIONS.into())
            }),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            match nearest_existing(dir) {
                Some(a) if a.is_dir() => match probe_writable(&a) {
                    Ok(()) => Ok(DirState::Creatable(a)),
                    Err(e) => Err((
                        format!(
                            "does not exist and cannot be created: {} is not writable ({})",
                            a.display(),
                            os_error(&e)
                        ),
                        format!("create it yourself, or {FIX_PERMISSIONS}"),
                    )),
                },
                Some(a) => Err((
                    format!("cannot be created: {} is not a directory", a.display()),
                    format!(
                        "move {} out of the way, or choose another location",
                        a.display()
                    ),
                )),
                None => Err(("cannot be created".into(), "choose another location".into())),
            }
        }
        Err(e) => Err((os_error(&e), FIX_PERMISSIONS.into())),
    }
}

/// The nearest ancestor of `dir` that exists (the directory itself when it does).
pub fn nearest_existing(dir: &Path) -> Option<PathBuf> {
    absolute(dir)
        .ancestors()
        .find(|a| a.exists())
        .map(Path::to_path_buf)
}

/// Can a file be created (and removed) in `dir`? A run merging into the same directory may
/// sweep the probe away first (it removes `.s3ew-*` files under its lock): created is enough.
fn probe_writable(dir: &Path) -> std::io::Result<()> {
    let probe = tempfile::Builder::new()
        .prefix(".s3ew-probe-")
        .tempfile_in(dir)?;
    match probe.close() {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// An I/O error without the `(os error N)` suffix, lower case: "permission denied".
fn os_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_lowercase().chain(chars).collect::<String>()
    })
}

/// `p` with its existing part resolved (symbolic links followed), the rest appended.
fn resolved(p: &Path) -> PathBuf {
    let abs = absolute(p);
    let Some(base) = nearest_existing(&abs) else {
        return abs;
    };
    let rest = abs.strip_prefix(&base).unwrap_or(Path::new(""));
    std::fs::canonicalize(&base).map_or(abs.clone(), |b| b.join(rest))
}

/// The checks of `drain`, in order: the source file, the day-file location, the quarantine,
/// and that the quarantine is not inside the day files. An S3 client is asked of `s3` only for
/// a location on S3.
pub async fn check_drain(
    source: &SourceSpec,
    dest: &Location,
    quarantine: &Location,
    s3: &impl S3Clients,
) -> Result<(), PreflightError> {
    if let SourceSpec::File(path) = source {
        check_source_file(path)?;
    }
    check_location("--dest", dest, s3).await?;
    check_location("--quarantine", quarantine, s3).await?;
    check_apart(dest, quarantine)
}

/// A message file exists, is not a directory and can be opened: its size.
pub fn check_source_file(path: &Path) -> Result<u64, PreflightError> {
    let fail = |problem: String| PreflightError {
        flag: "--source",
        value: path.display().to_string(),
        problem,
        fix: "give a file with one message body per line, - for standard input, or a queue URL \
              (https://...)"
            .into(),
    };
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(fail("is a directory, not a message file".into())),
        Ok(m) => std::fs::File::open(path)
            .map(|_| m.len())
            .map_err(|e| fail(format!("cannot be opened ({})", os_error(&e)))),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(fail("does not exist".into())),
        Err(e) => Err(fail(os_error(&e))),
    }
}

async fn check_location(
    flag: &'static str,
    location: &Location,
    s3: &impl S3Clients,
) -> Result<(), PreflightError> {
    let checked = match location {
        Location::Dir(dir) => dir_state(dir).map(drop),
        Location::S3 { bucket, prefix } => check_bucket(&s3.s3().await, bucket, prefix).await,
    };
    checked.map_err(|(problem, fix)| PreflightError {
        flag,
        value: location.to_string(),
        problem,
        fix,
    })
}

/// The fix for [`Problem::BadCredentials`].
pub const FIX_CREDENTIALS: &str =
    "renew the credentials (`aws sso login`, a fresh session, or a valid access key) and check AWS_PROFILE";

/// The bucket probe of `drain`'s checks and `doctor`: one ListObjectsV2 of `prefix` (at most
/// one key), which shows that the bucket exists and the caller may list its prefix.
pub async fn probe_prefix(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<(), SdkError<ListObjectsV2Error, HttpResponse>> {
    let list = s3.list_objects_v2().bucket(bucket).prefix(prefix);
    list.max_keys(1).send().await.map(drop)
}

/// [`probe_prefix`]; on failure: what is wrong and the fix.
async fn check_bucket(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<(), (String, String)> {
    let Err(err) = probe_prefix(s3, bucket, prefix).await else {
        return Ok(());
    };
    Err(match problem_of(&err) {
        Problem::Missing => (
            format!("bucket {bucket} does not exist"),
            "check the bucket name (and AWS_REGION), or create the bucket (deploy/terraform with create_bucket = true, see docs/DEPLOY.md)".into(),
        ),
        Problem::Denied => (
            format!("access denied listing {prefix} in bucket {bucket} (ListObjectsV2)"),
            format!("allow s3:ListBucket on {} for s3:prefix {prefix}* to the writer's role (deploy/terraform, see docs/DEPLOY.md), or check the bucket name", bucket_arn(bucket)),
        ),
        p @ Problem::BadCredentials(_) => (p.to_string(), FIX_CREDENTIALS.into()),
        p @ Problem::WrongRegion(_) => (
            format!("bucket {bucket} {p}"),
            "set AWS_REGION to the bucket's region (the queue must be in the same region)".into(),
        ),
        Problem::Other(detail) => (
            format!("ListObjectsV2 failed: {detail}"),
            "check that S3 is reachable, and AWS_REGION, AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 and --path-style; `s3-event-writer doctor` checks the whole setup".into(),
        ),
    })
}

/// `arn:aws:s3:::BUCKET`.
pub fn bucket_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

/// The quarantine is not inside the day-file location (symbolic links resolved where they
/// exist).
pub fn check_apart(dest: &Location, quarantine: &Location) -> Result<(), PreflightError> {
    let inside = dest.check_quarantine(quarantine).is_err()
        || match (dest, quarantine) {
            (Location::Dir(d), Location::Dir(q)) => resolved(q).starts_with(resolved(d)),
            _ => false,
        };
    if !inside {
        return Ok(());
    }
    Err(PreflightError {
        flag: "--quarantine",
        value: quarantine.to_string(),
        problem: format!("is inside the day-file location {dest}, where the usage site would read its records"),
        fix: "give --quarantine (or S3EW_QUARANTINE) a location outside the day files, e.g. quarantine/ beside them (the default)".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_lose_their_number_and_capital() {
        let e = std::io::Error::from_raw_os_error(13);
        assert_eq!(os_error(&e), "permission denied");
    }

    #[test]
    fn a_regular_file_is_not_a_directory_and_a_path_under_it_cannot_be_created() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let p = dir_state(&file).unwrap_err();
        assert_eq!(p.0, "exists but is not a directory");
        let p = dir_state(&file.join("sub")).unwrap_err();
        assert!(p.0.contains("is not a directory"), "{p:?}");
        assert_eq!(
            dir_state(&tmp.path().join("new/deeper")).unwrap(),
            DirState::Creatable(tmp.path().to_path_buf())
        );
        assert!(!tmp.path().join("new").exists(), "nothing is created");
        assert_eq!(dir_state(tmp.path()).unwrap(), DirState::Writable);
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "the probe file is removed");
    }

    #[test]
    fn a_quarantine_reached_through_a_symlink_into_the_day_files_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let prod = tmp.path().join("prod");
        std::fs::create_dir_all(prod.join("q")).unwrap();
        std::os::unix::fs::symlink(prod.join("q"), tmp.path().join("link")).unwrap();
        let dest = Location::Dir(prod);
        let err = check_apart(&dest, &Location::Dir(tmp.path().join("link/x"))).unwrap_err();
        assert_eq!(err.flag, "--quarantine");
        assert!(
            err.problem.contains("inside the day-file location"),
            "{err}"
        );
        assert!(check_apart(&dest, &Location::Dir(tmp.path().join("quarantine"))).is_ok());
    }

    #[test]
    fn a_missing_message_file_is_named_once() {
        let err = check_source_file(Path::new("/nonexistent/msgs.jsonl")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--source /nonexistent/msgs.jsonl: does not exist; fix: give a file with one message body per line, - for standard input, or a queue URL (https://...)"
        );
    }
}
