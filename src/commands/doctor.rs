//! `doctor`: checks that the source, the archive and the quarantine are set up for the writer,
//! and says how to fix what is not.
//!
//! Role: a thin, read-mostly layer over the same AWS wiring as `drain` ([`Wiring`]). Each
//! probe is a small async function that makes at most one or two calls and turns the answer into
//! a [`Check`]; the checklist is rendered by the pure [`render`] and the exit status by the pure
//! [`exit_status`]. The queue's checks are decided from its attributes by the pure `queue`.
//!
//! Invariants:
//! - the queue and its dead-letter queue are only described (`GetQueueAttributes`), the bucket's
//!   versioning only read (`GetBucketVersioning`): doctor never receives, changes or deletes a
//!   message, so it is safe to run at any time, next to a drain;
//! - nothing is written unless `--write-probe` is given, and then exactly one new, empty object
//!   (`QUARANTINE_PREFIX.doctor-probe-RUNID`, created with `If-None-Match: *`) — it is left in
//!   place because the writer's policy has no `s3:DeleteObject`. For a local quarantine the
//!   probe is a temporary file, removed at once. Local directories are never created;
//! - a missing day file (404) is fine: the first run of the day creates it. A 403 never is;
//! - the exit status is 1 when any check is `[FAIL]` and 0 otherwise (`[warn]` does not fail);
//!   a command line that cannot be parsed (e.g. `s3:///x`) is a usage error (exit 2), while
//!   missing settings (no `--source` and no `QUEUE_URL`) are reported as failed checks.

use std::fmt::Write as _;
use std::path::Path;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::BucketVersioningStatus;
use aws_sdk_sqs::types::QueueAttributeName;
use clap::Args;

use crate::adapters::aws::describe_sdk_error;
use crate::location::{Location, SourceSpec};
use crate::preflight::{
    bucket_arn, check_apart, check_source_file, dir_state, probe_prefix, problem_of, DirState,
    Problem, FIX_CREDENTIALS,
};
use crate::settings::{AwsArgs, LocationArgs, Locations};
use crate::wiring::{self, Wiring};

mod queue;
use queue::{
    dlq_retention_check, queue_checks, queue_url_region, redrive, retention_secs, QueueArn,
    MAX_RETENTION_SECS,
};

const AFTER_HELP: &str = "\
Examples:
  # the production setup (QUEUE_URL in the environment)
  s3-event-writer doctor --dest s3://logpublish/events/prod/

  # also check that the quarantine prefix can be written (leaves one empty probe object)
  s3-event-writer doctor --source \"$QUEUE_URL\" --dest s3://logpublish/events/prod/ --write-probe

  # local mode: a message file into a directory
  s3-event-writer doctor --source examples/messages.jsonl --dest /tmp/archive/prod

Doctor never receives or deletes messages and writes nothing without --write-probe.

Exit status:
  0  no check failed (warnings allowed)
  1  at least one check failed; each [FAIL] line is followed by a fix: line
  2  usage error (a location that cannot be parsed)";

#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct DoctorArgs {
    /// SQS queue URL, a FILE with one message body per line, or - for stdin. [default: $QUEUE_URL]
    #[arg(long, value_name = "QUEUE_URL|FILE|-", env = "QUEUE_URL")]
    pub source: Option<String>,
    #[command(flatten)]
    pub at: LocationArgs,
    /// Also write one empty probe object `.doctor-probe-RUNID` under the quarantine prefix
    /// (with If-None-Match: *; it is left in place).
    #[arg(long)]
    pub write_probe: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
    Skip,
}

impl Status {
    /// The tag printed at the start of the line.
    pub fn tag(self) -> &'static str {
        match self {
            Status::Ok => "[ok]",
            Status::Warn => "[warn]",
            Status::Fail => "[FAIL]",
            Status::Skip => "[skip]",
        }
    }
}

/// One line of the checklist: what was checked, how it went, and for a failure or warning what
/// to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub status: Status,
    pub what: String,
    pub fix: Option<String>,
}

impl Check {
    fn new(status: Status, what: impl Into<String>, fix: Option<String>) -> Check {
        let what = what.into();
        Check { status, what, fix }
    }
    pub fn ok(what: impl Into<String>) -> Check {
        Check::new(Status::Ok, what, None)
    }
    pub fn warn(what: impl Into<String>, fix: impl Into<String>) -> Check {
        Check::new(Status::Warn, what, Some(fix.into()))
    }
    pub fn fail(what: impl Into<String>, fix: impl Into<String>) -> Check {
        Check::new(Status::Fail, what, Some(fix.into()))
    }
    pub fn skip(what: impl Into<String>) -> Check {
        Check::new(Status::Skip, what, None)
    }
}

/// Width of the status column (the longest tag and a space).
const TAG_WIDTH: usize = 7;

/// The checklist as printed: one line per check, an indented `fix:` line under each failure or
/// warning that has one, and a closing tally.
pub fn render(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let _ = writeln!(out, "{:<TAG_WIDTH$}{}", c.status.tag(), c.what);
        if let Some(fix) = &c.fix {
            let _ = writeln!(out, "{:<TAG_WIDTH$}fix: {fix}", "");
        }
    }
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    let (fails, warns) = (count(Status::Fail), count(Status::Warn));
    let _ = writeln!(
        out,
        "{} ok, {}, {}{}",
        count(Status::Ok),
        super::plural(warns as u64, "warning", "warnings"),
        super::plural(fails as u64, "failure", "failures"),
        if fails == 0 {
            ": the writer can run"
        } else {
            ": fix the [FAIL] lines and run doctor again"
        }
    );
    out
}

/// 1 when any check failed, else 0.
pub fn exit_status(checks: &[Check]) -> i32 {
    i32::from(checks.iter().any(|c| c.status == Status::Fail))
}

/// Runs `doctor`: prints the checklist on stdout; returns the exit status.
pub async fn run(args: DoctorArgs) -> anyhow::Result<i32> {
    let at = args.at.resolve()?;
    let ctx = Wiring::new(&args.aws.resolve()?);
    let checks = run_checks(&args, &at, &ctx).await;
    print!("{}", render(&checks));
    Ok(exit_status(&checks))
}

async fn run_checks(args: &DoctorArgs, at: &Locations, ctx: &Wiring) -> Vec<Check> {
    let source = args.source.as_deref().map(SourceSpec::parse);
    let quarantine = check_apart(&at.dest, &at.quarantine).map(|()| &at.quarantine);
    let today = jiff::Timestamp::now().strftime("%Y%m%d").to_string();

    // 1. Credentials (only when something the run would use is on AWS).
    let on_aws = wiring::on_aws(source.as_ref(), &[&at.dest, &at.quarantine]);
    let sdk = if on_aws { Some(ctx.sdk().await) } else { None };
    let region = sdk.and_then(aws_config::SdkConfig::region).map_or_else(
        || crate::adapters::aws::DEFAULT_REGION.to_owned(),
        ToString::to_string,
    );
    let credentials = match sdk {
        Some(sdk) => check_credentials(sdk).await,
        None => Check::skip("AWS credentials: not needed (no queue or bucket among the locations)"),
    };
    let aws_ok = credentials.status != Status::Fail;
    let mut checks = vec![credentials];
    let no_creds = |what: &str| Check::skip(format!("{what} (no AWS credentials)"));

    // 2. The source.
    match &source {
        None => checks.push(Check::fail(
            "source: no --source given and QUEUE_URL is not set",
            "set QUEUE_URL to the queue URL (terraform output -raw QUEUE_URL in deploy/terraform/examples/complete), or give --source QUEUE_URL|FILE|-",
        )),
        Some(SourceSpec::Sqs(url)) if aws_ok => {
            checks.extend(check_queue(&ctx.sqs(0).await, url, &region).await);
        }
        Some(SourceSpec::Sqs(url)) => checks.push(no_creds(&format!("queue {url}"))),
        Some(SourceSpec::File(path)) => checks.push(match check_source_file(path) {
            Ok(len) => Check::ok(format!("message file {}: readable ({len} bytes)", path.display())),
            Err(e) => Check::fail(format!("message file {}: {}", e.value, e.problem), e.fix),
        }),
        Some(SourceSpec::Stdin) => checks.push(Check::skip(
            "source is stdin: nothing to check before the run",
        )),
    }

    // 3. and 4. The archive: the bucket or directory, and today's day file.
    checks.extend(match &at.dest {
        Location::S3 { bucket, prefix } if aws_ok => {
            let s3 = ctx.s3().await;
            let bucket_check = check_bucket(&s3, bucket, prefix, &region).await;
            let key = format!("{prefix}{today}");
            if bucket_check.status == Status::Fail {
                let skip = format!("read s3://{bucket}/{key} (the bucket check failed)");
                vec![bucket_check, Check::skip(skip)]
            } else {
                let versioning = check_versioning(&s3, bucket).await;
                let day = check_day_read(&s3, bucket, prefix, &key).await;
                vec![bucket_check, versioning, day]
            }
        }
        Location::S3 { bucket, .. } => vec![no_creds(&format!("bucket {bucket}"))],
        Location::Dir(dir) => vec![
            check_dir("day-file directory", dir),
            check_dir_day_read(&dir.join(&today)),
        ],
    });

    // 5. The quarantine write probe.
    checks.push(match (quarantine, args.write_probe) {
        (Err(e), _) => Check::fail(format!("quarantine {}: {}", e.value, e.problem), e.fix),
        (Ok(q), false) => Check::skip(format!("quarantine write to {q} (use --write-probe)")),
        (Ok(Location::S3 { bucket, prefix }), true) if aws_ok => {
            let key = format!("{prefix}.doctor-probe-{}", crate::pipeline::new_run_id());
            write_probe_s3(&ctx.s3().await, bucket, &key).await
        }
        (Ok(q @ Location::S3 { .. }), true) => no_creds(&format!("quarantine write to {q}")),
        (Ok(Location::Dir(dir)), true) => check_dir("quarantine directory", dir),
    });
    checks
}

/// Shows `AKIA…WXYZ`: enough to tell keys apart, not the whole key.
fn mask_key(id: &str) -> String {
    if !id.is_ascii() {
        return "…".to_owned();
    }
    if id.len() <= 8 {
        return format!("{}…", &id[..id.len() / 2]);
    }
    format!("{}…{}", &id[..4], &id[id.len() - 4..])
}

async fn check_credentials(sdk: &aws_config::SdkConfig) -> Check {
    use aws_sdk_s3::config::ProvideCredentials as _;
    let region = sdk
        .region()
        .map_or_else(|| "(none)".to_owned(), ToString::to_string);
    let endpoint = sdk
        .endpoint_url()
        .map(|e| format!(", endpoint {e}"))
        .unwrap_or_default();
    let fix = "give the standard chain credentials: AWS_PROFILE (after `aws sso login`), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a web identity (the hourly workflow assumes WRITER_ROLE_ARN), or an instance role";
    let Some(provider) = sdk.credentials_provider() else {
        return Check::fail(
            format!("AWS credentials: no credentials provider (region {region}{endpoint})"),
            fix,
        );
    };
    match provider.provide_credentials().await {
        Ok(c) => {
            let until = |t| jiff::Timestamp::try_from(t).map_or("?".to_owned(), |t| t.to_string());
            let kind = c
                .expiry()
                .map_or_else(String::new, |t| format!(", temporary until {}", until(t)));
            Check::ok(format!(
                "AWS credentials: access key {}{kind}; region {region}{endpoint}",
                mask_key(c.access_key_id())
            ))
        }
        Err(e) => {
            let detail = crate::adapters::aws::error_chain(&e);
            Check::fail(
                format!("AWS credentials: none found ({detail}); region {region}{endpoint}"),
                fix,
            )
        }
    }
}

/// The queue's checks: one GetQueueAttributes, decided by `queue_checks`, then the
/// dead-letter queue's retention when its policy names one.
async fn check_queue(sqs: &aws_sdk_sqs::Client, url: &str, region: &str) -> Vec<Check> {
    use QueueAttributeName as A;
    let res = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(A::VisibilityTimeout)
        .attribute_names(A::MessageRetentionPeriod)
        .attribute_names(A::RedrivePolicy)
        .send()
        .await;
    let arn = QueueArn::of_url(url, region).map(|a| a.to_string());
    let err = match res {
        Ok(out) => {
            let attrs = out.attributes.unwrap_or_default();
            let mut checks = queue_checks(url, arn.as_deref(), &attrs);
            if let (Some((_, Ok(policy))), Some(secs)) = (redrive(&attrs), retention_secs(&attrs)) {
                checks.push(check_dlq_retention(sqs, url, &policy.dead_letter_target, secs).await);
            }
            return checks;
        }
        Err(e) => e,
    };
    let arn = arn.unwrap_or_else(|| "the queue's ARN".to_owned());
    let region_hint = match queue_url_region(url) {
        Some(r) if r != region => {
            format!(" The URL is in region {r} but the client uses {region}: set AWS_REGION={r}.")
        }
        _ => String::new(),
    };
    vec![match problem_of(&err) {
        Problem::Missing => Check::fail(
            format!("queue {url}: does not exist (GetQueueAttributes: {})", describe_sdk_error(&err)),
            format!("create the queue (deploy/terraform with create_queue = true, see docs/DEPLOY.md), or check QUEUE_URL / --source and the region (client region {region}).{region_hint}"),
        ),
        Problem::Denied => Check::fail(
            format!("queue {url}: access denied to sqs:GetQueueAttributes"),
            format!("allow sqs:GetQueueAttributes on {arn} (the writer also needs sqs:ReceiveMessage, sqs:DeleteMessage and sqs:ChangeMessageVisibility there; the writer policy of deploy/terraform has all four).{region_hint}"),
        ),
        p @ Problem::BadCredentials(_) => Check::fail(format!("queue {url}: {p}"), FIX_CREDENTIALS),
        Problem::WrongRegion(_) | Problem::Other(_) => Check::fail(
            format!("queue {url}: GetQueueAttributes failed: {}", describe_sdk_error(&err)),
            format!("check that the SQS endpoint is reachable and that QUEUE_URL, AWS_REGION (now {region}) and AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_SQS are right.{region_hint}"),
        ),
    }]
}

/// The dead-letter queue's retention against the queue's (`queue_secs`): one
/// GetQueueAttributes on its URL, derived from its ARN beside the queue's URL. A dead-letter
/// queue that cannot be described (the writer's policy covers its own queue only) is a skip.
async fn check_dlq_retention(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    dlq: &QueueArn,
    queue_secs: u64,
) -> Check {
    let Some(dlq_url) = dlq.url_beside(url) else {
        return Check::skip(format!(
            "dead-letter queue {dlq}: retention not checked (not in the queue's region, or the queue URL has no /ACCOUNT/NAME path)"
        ));
    };
    let res = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::MessageRetentionPeriod)
        .send()
        .await;
    match res.map(|out| retention_secs(&out.attributes.unwrap_or_default())) {
        Ok(Some(secs)) => dlq_retention_check(dlq, &dlq_url, secs, queue_secs),
        Ok(None) => Check::skip(format!(
            "dead-letter queue {dlq}: retention not checked (GetQueueAttributes on {dlq_url} gave no MessageRetentionPeriod in seconds)"
        )),
        Err(err) => match problem_of(&err) {
            Problem::Missing => Check::warn(
                format!("dead-letter queue {dlq}: does not exist ({dlq_url}), so messages that keep failing have nowhere to go"),
                format!("create it (aws sqs create-queue --queue-name {} --attributes MessageRetentionPeriod={MAX_RETENTION_SECS}), or point the queue's RedrivePolicy at one that exists", dlq.name),
            ),
            Problem::Denied => Check::skip(format!(
                "dead-letter queue {dlq}: retention not checked (sqs:GetQueueAttributes on it is denied: the writer's policy covers its own queue only; run doctor with your own credentials to check it)"
            )),
            other => Check::skip(format!(
                "dead-letter queue {dlq}: retention not checked (GetQueueAttributes on {dlq_url}: {other})"
            )),
        },
    }
}

/// Bucket versioning from GetBucketVersioning's status (pure): `Enabled` is ok, anything else
/// (`Suspended`, or never enabled: no status) warns.
pub fn versioning_check(bucket: &str, status: Option<&BucketVersioningStatus>) -> Check {
    let state = match status {
        Some(BucketVersioningStatus::Enabled) => {
            return Check::ok(format!(
                "bucket {bucket}: versioning Enabled: an overwritten or deleted day file can be recovered"
            ));
        }
        Some(s) => format!("versioning {}", s.as_str()),
        None => "versioning was never enabled".to_owned(),
    };
    Check::warn(
        format!("bucket {bucket}: {state}, so an overwritten or deleted day file cannot be recovered (docs/MIGRATION.md requires versioning)"),
        format!("aws s3api put-bucket-versioning --bucket {bucket} --versioning-configuration Status=Enabled (deploy/terraform enables it on a bucket it creates)"),
    )
}

async fn check_versioning(s3: &aws_sdk_s3::Client, bucket: &str) -> Check {
    match s3.get_bucket_versioning().bucket(bucket).send().await {
        Ok(out) => versioning_check(bucket, out.status()),
        Err(err) => match problem_of(&err) {
            Problem::Denied => Check::warn(
                format!("bucket {bucket}: versioning not checked: access denied to s3:GetBucketVersioning"),
                format!("allow s3:GetBucketVersioning on {} (the writer policy of deploy/terraform grants it), or run doctor with your own credentials", bucket_arn(bucket)),
            ),
            other => Check::warn(
                format!("bucket {bucket}: versioning not checked: GetBucketVersioning failed: {other}"),
                format!("check it by hand: aws s3api get-bucket-versioning --bucket {bucket}"),
            ),
        },
    }
}

async fn check_bucket(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str, region: &str) -> Check {
    let Err(err) = s3.head_bucket().bucket(bucket).send().await else {
        return Check::ok(format!("bucket {bucket}: exists (HeadBucket)"));
    };
    let missing = |how: &str| {
        Check::fail(
        format!("bucket {bucket}: does not exist ({how})"),
        "check the bucket name in --dest / S3EW_DEST, or create it (deploy/terraform with create_bucket = true, see docs/DEPLOY.md)",
    )
    };
    match &problem_of(&err) {
        Problem::Missing => missing("HeadBucket answered 404"),
        // The writer's policy may allow s3:ListBucket only for its prefixes, which HeadBucket
        // (no prefix) does not match: listing the prefix is the check that matters then.
        Problem::Denied => match probe_prefix(s3, bucket, prefix).await {
            Ok(()) => Check::ok(format!(
                "bucket {bucket}: exists (HeadBucket denied, but listing the prefix {prefix} is allowed: s3:ListBucket is limited to the writer's prefixes)"
            )),
            Err(e) if problem_of(&e) == Problem::Missing => missing("NoSuchBucket"),
            Err(e) => Check::fail(
                format!("bucket {bucket}: access denied (HeadBucket 403; ListObjectsV2 of {prefix}: {})", describe_sdk_error(&e)),
                format!("allow s3:ListBucket on {} (at least for s3:prefix {prefix}*); without it S3 also answers 403 instead of 404 for a day file that does not exist yet", bucket_arn(bucket)),
            ),
        },
        p @ Problem::BadCredentials(_) => Check::fail(format!("bucket {bucket}: {p}"), FIX_CREDENTIALS),
        p @ Problem::WrongRegion(found) => {
            let fix = match found {
                Some(r) => format!("bucket {bucket} is in {r}, the client uses {region}: set AWS_REGION={r} (the queue must be in the same region)"),
                None => format!("bucket {bucket} is not in {region}: set AWS_REGION to the bucket's region"),
            };
            Check::fail(format!("bucket {bucket}: {p}"), fix)
        }
        Problem::Other(detail) => Check::fail(
            format!("bucket {bucket}: HeadBucket failed: {detail}"),
            format!("check that the S3 endpoint is reachable and that AWS_REGION (now {region}), AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 and --path-style are right"),
        ),
    }
}

async fn check_day_read(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str, key: &str) -> Check {
    let location = format!("s3://{bucket}/{key}");
    let arn = bucket_arn(bucket);
    match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => {
            let size = out
                .content_length()
                .map_or_else(String::new, |n| format!(", {n} bytes"));
            Check::ok(format!("day file {location}: readable (GetObject 200{size})"))
        }
        Err(err) => match problem_of(&err) {
            Problem::Missing => Check::ok(format!(
                "day file {location}: missing (404): fine, the first run of the day creates it"
            )),
            Problem::Denied => Check::fail(
                format!("day file {location}: access denied (GetObject 403)"),
                format!("allow s3:GetObject on {arn}/{prefix}*; if it is allowed, s3:ListBucket on {arn} is missing (for s3:prefix {prefix}*): without it S3 answers 403 for a day file that does not exist yet"),
            ),
            other => Check::fail(
                format!("day file {location}: GetObject failed: {other}"),
                "check the endpoint, the region and the bucket's key policy (SSE-KMS needs kms:Decrypt, see bucket_kms_key_arn in docs/DEPLOY.md)",
            ),
        },
    }
}

async fn write_probe_s3(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Check {
    let location = format!("s3://{bucket}/{key}");
    let res = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .if_none_match("*")
        .body(ByteStream::from_static(b""))
        .send()
        .await;
    let Err(err) = res else {
        return Check::ok(format!(
            "quarantine write: created {location} (empty, If-None-Match: *); left in place: the writer's policy has no s3:DeleteObject, delete it by hand if you like"
        ));
    };
    let prefix = match key.rsplit_once('/') {
        Some((p, _)) if !p.is_empty() => format!("{p}/"),
        _ => String::new(),
    };
    match problem_of(&err) {
        Problem::Denied => Check::fail(
            format!("quarantine write: access denied (PutObject {location})"),
            format!("allow s3:PutObject on {}/{prefix}* (and kms:GenerateDataKey on the bucket's key if it uses SSE-KMS)", bucket_arn(bucket)),
        ),
        Problem::Missing => Check::fail(
            format!("quarantine write: bucket {bucket} does not exist (PutObject {location})"),
            "check the bucket in --quarantine / S3EW_QUARANTINE, or create it",
        ),
        other => Check::fail(
            format!("quarantine write: PutObject {location} failed: {other}"),
            "check the endpoint and the region; a 412 means the probe name was taken: run doctor again",
        ),
    }
}

/// A local directory: exists and is writable, or can be created (it is not created here).
fn check_dir(role: &str, dir: &Path) -> Check {
    let shown = dir.display();
    match dir_state(dir) {
        Ok(DirState::Writable) => Check::ok(format!(
            "{role} {shown}: exists and is writable (a temporary file was created and removed)"
        )),
        Ok(DirState::Creatable(a)) => Check::ok(format!(
            "{role} {shown}: does not exist yet; it can be created ({} is writable)",
            a.display()
        )),
        Err((problem, fix)) => Check::fail(format!("{role} {shown}: {problem}"), fix),
    }
}

fn check_dir_day_read(file: &Path) -> Check {
    let shown = file.display();
    match std::fs::File::open(file) {
        Ok(f) => {
            let size = f
                .metadata()
                .map_or_else(|_| String::new(), |m| format!(", {} bytes", m.len()));
            Check::ok(format!("day file {shown}: readable{size}"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Check::ok(format!(
            "day file {shown}: missing: fine, the first run of the day creates it"
        )),
        Err(e) => Check::fail(
            format!("day file {shown}: cannot be read: {e}"),
            "make the day files readable and writable by the user that runs the writer",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::classify;

    #[test]
    fn render_puts_fix_lines_under_their_check_and_tallies() {
        let checks = vec![
            Check::ok("AWS credentials: access key AKIA…WXYZ; region us-west-2"),
            Check::fail("queue https://q: does not exist", "create the queue"),
            Check::warn("queue https://q: no redrive policy", "add a DLQ"),
            Check::skip("quarantine write (use --write-probe)"),
        ];
        assert_eq!(
            render(&checks),
            "[ok]   AWS credentials: access key AKIA…WXYZ; region us-west-2\n\
             [FAIL] queue https://q: does not exist\n\
             \x20      fix: create the queue\n\
             [warn] queue https://q: no redrive policy\n\
             \x20      fix: add a DLQ\n\
             [skip] quarantine write (use --write-probe)\n\
             1 ok, 1 warning, 1 failure: fix the [FAIL] lines and run doctor again\n"
        );
    }

    #[test]
    fn render_of_a_clean_run_says_so() {
        let out = render(&[Check::ok("a"), Check::ok("b")]);
        assert!(
            out.ends_with("2 ok, 0 warnings, 0 failures: the writer can run\n"),
            "{out}"
        );
        assert!(!out.contains("fix:"));
    }

    #[test]
    fn only_failures_fail_the_exit_status() {
        assert_eq!(
            exit_status(&[Check::ok("a"), Check::warn("b", "c"), Check::skip("d")]),
            0
        );
        assert_eq!(exit_status(&[Check::ok("a"), Check::fail("b", "c")]), 1);
        assert_eq!(exit_status(&[]), 0);
    }

    #[test]
    fn classify_by_code_then_status() {
        let c = |s, code| classify(s, code, None, "x".into());
        assert_eq!(
            c(Some(400), Some("AWS.SimpleQueueService.NonExistentQueue")),
            Problem::Missing
        );
        assert_eq!(c(Some(404), None), Problem::Missing);
        assert_eq!(c(Some(403), None), Problem::Denied);
        assert_eq!(c(Some(400), Some("AccessDenied")), Problem::Denied);
        assert_eq!(
            c(Some(403), Some("InvalidAccessKeyId")),
            Problem::BadCredentials("InvalidAccessKeyId".into())
        );
        assert_eq!(
            classify(Some(301), None, Some("eu-west-1"), String::new()),
            Problem::WrongRegion(Some("eu-west-1".into()))
        );
        assert_eq!(
            c(Some(500), Some("InternalError")),
            Problem::Other("x".into())
        );
        assert_eq!(c(None, None), Problem::Other("x".into()));
    }

    #[test]
    fn queue_arns_and_regions_from_urls() {
        let url = "https://sqs.eu-west-1.amazonaws.com/123456789012/s3-event-writer";
        assert_eq!(queue_url_region(url), Some("eu-west-1"));
        assert_eq!(
            QueueArn::of_url(url, "us-west-2")
                .map(|a| a.to_string())
                .as_deref(),
            Some("arn:aws:sqs:eu-west-1:123456789012:s3-event-writer")
        );
        assert_eq!(
            queue_url_region("https://us-east-2.queue.amazonaws.com/1/q"),
            Some("us-east-2")
        );
        let local = "http://127.0.0.1:5000/123456789012/q";
        assert_eq!(queue_url_region(local), None);
        assert_eq!(
            QueueArn::of_url(local, "us-west-2")
                .map(|a| a.to_string())
                .as_deref(),
            Some("arn:aws:sqs:us-west-2:123456789012:q")
        );
        assert_eq!(
            QueueArn::of_url("https://sqs.x/not-an-account/q", "r"),
            None
        );
    }

    #[test]
    fn only_enabled_versioning_passes() {
        let ok = versioning_check("logpublish", Some(&BucketVersioningStatus::Enabled));
        assert_eq!(ok.status, Status::Ok);
        assert!(ok.what.contains("versioning Enabled"), "{ok:?}");
        let fix = "aws s3api put-bucket-versioning --bucket logpublish --versioning-configuration Status=Enabled";
        for (status, state) in [
            (
                Some(BucketVersioningStatus::Suspended),
                "versioning Suspended",
            ),
            (None, "versioning was never enabled"),
            (
                Some(BucketVersioningStatus::from("Sometimes")),
                "versioning Sometimes",
            ),
        ] {
            let c = versioning_check("logpublish", status.as_ref());
            assert_eq!(c.status, Status::Warn, "{c:?}");
            assert!(
                c.what.starts_with(&format!("bucket logpublish: {state}, so an overwritten or deleted day file cannot be recovered")),
                "{c:?}"
            );
            assert!(c.fix.as_deref().unwrap().starts_with(fix), "{c:?}");
        }
    }

    #[test]
    fn access_keys_are_masked() {
        assert_eq!(mask_key("AKIAABCDEFGHWXYZ"), "AKIA…WXYZ");
        assert_eq!(mask_key("testing"), "tes…");
    }

    #[test]
    fn a_missing_directory_under_a_writable_one_passes_without_being_created() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        let c = check_dir("day-file directory", &dir);
        assert_eq!(c.status, Status::Ok, "{c:?}");
        assert!(!dir.exists());
        let file = tmp.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert_eq!(check_dir("day-file directory", &file).status, Status::Fail);
    }
}
