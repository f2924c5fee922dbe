//! Reading quarantine records, the one reader `requeue` and `quarantine list|show` share.
//!
//! A record is one JSON line `{"reason", "message_id", "received_at", "body"}` (SPEC
//! "Quarantine"; written by `crate::core::quarantine`). Both layouts are read: one record per
//! object or file, named by its identity (this version), and one object per run or block holding
//! many records (earlier versions, still found in real buckets). Under a prefix or in a
//! directory, every `*.jsonl` name is an input, in name order; names starting with `.` (doctor's
//! probe, temporary files) are skipped. Inputs are streamed line by line, never held whole;
//! a directory is listed on tokio's blocking pool, not on the runtime's threads.
//!
//! A line that is not a record is reported with where it is (input and line number), never a
//! crash; blank lines are skipped.

use std::path::PathBuf;

use anyhow::Context as _;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead};

use crate::adapters::aws::{describe_sdk_error, list_keys, S3Clients};
use crate::core::quarantine::RECORD_EXTENSION;
use crate::core::QuarantineRecord;
use crate::location::Location;
use crate::settings::UsageError;

/// One object or file of records (ordered by name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Input {
    S3 { bucket: String, key: String },
    File(PathBuf),
}

impl Input {
    pub(crate) fn s3(bucket: &str, key: impl Into<String>) -> Input {
        let (bucket, key) = (bucket.to_owned(), key.into());
        Input::S3 { bucket, key }
    }
}

impl std::fmt::Display for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Input::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            Input::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Whether a listed name is a quarantine record file: `*.jsonl`, not hidden.
fn is_record_name(name: &str) -> bool {
    name.ends_with(RECORD_EXTENSION) && !name.starts_with('.')
}

/// What a `--from` names: one input, or every record under a prefix or in a directory.
pub(crate) async fn inputs(from: &str, ctx: &impl S3Clients) -> anyhow::Result<Vec<Input>> {
    if let Some(rest) = from.strip_prefix("s3://") {
        let (bucket, key) = rest
            .split_once('/')
            .filter(|(b, k)| !b.is_empty() && !k.is_empty())
            .ok_or_else(|| {
                UsageError(anyhow::anyhow!(
                    "--from {from}: write s3://BUCKET/KEY naming one quarantine object, or s3://BUCKET/PREFIX/ for every record under a prefix"
                ))
            })?;
        if !key.ends_with('/') {
            return Ok(vec![Input::s3(bucket, key)]);
        }
    } else if !tokio::fs::metadata(from).await.is_ok_and(|m| m.is_dir()) {
        return Ok(vec![Input::File(PathBuf::from(from))]);
    }
    let location = Location::parse(from).map_err(|e| UsageError(e.into()))?;
    inputs_under(&location, ctx).await
}

/// Every record under a quarantine location (prefix or directory), in name order.
pub(crate) async fn inputs_under(
    location: &Location,
    ctx: &impl S3Clients,
) -> anyhow::Result<Vec<Input>> {
    let (bucket, prefix) = match location {
        Location::S3 { bucket, prefix } => (bucket, prefix),
        Location::Dir(dir) => {
            let dir = dir.clone();
            let listed = tokio::task::spawn_blocking(move || list_record_files(&dir)).await;
            return listed.context("listing a quarantine directory")?;
        }
    };
    // ListObjectsV2, page by page.
    let all = list_keys(&ctx.s3().await, bucket, prefix, None)
        .await
        .map_err(|e| {
            let hint = if crate::adapters::aws::http_status(&e) == Some(403) {
                " (the caller needs s3:ListBucket on the bucket for this prefix)"
            } else {
                ""
            };
            anyhow::anyhow!(
                "cannot list s3://{bucket}/{prefix}: {}{hint}",
                describe_sdk_error(&e)
            )
        })?;
    let mut keys: Vec<Input> = all
        .into_iter()
        .filter(|key| is_record_name(key.rsplit('/').next().unwrap_or(key)))
        .map(|key| Input::s3(bucket, key))
        .collect();
    keys.sort();
    Ok(keys)
}

/// Every record file in `dir`, in name order.
fn list_record_files(dir: &std::path::Path) -> anyhow::Result<Vec<Input>> {
    let what = || format!("cannot list the quarantine directory {}", dir.display());
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(what)? {
        let entry = entry.with_context(what)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_record_name(&name) && entry.file_type().is_ok_and(|t| t.is_file()) {
            files.push(Input::File(entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

/// The records of one input, streamed line by line.
pub(crate) struct RecordLines {
    input: String,
    reader: Box<dyn AsyncBufRead + Unpin + Send>,
    buf: Vec<u8>,
    line_no: u64,
}

impl RecordLines {
    /// Opens `input` (GetObject or a file open); an error names it.
    pub async fn open(input: &Input, ctx: &impl S3Clients) -> anyhow::Result<RecordLines> {
        let raw: Box<dyn AsyncRead + Unpin + Send> = match input {
            Input::S3 { bucket, key } => {
                let get = ctx.s3().await.get_object().bucket(bucket).key(key);
                let out = get.send().await.map_err(|e| {
                    anyhow::anyhow!("cannot read {input}: {}", describe_sdk_error(&e))
                })?;
                Box::new(out.body.into_async_read())
            }
            Input::File(path) => Box::new(
                tokio::fs::File::open(path)
                    .await
                    .with_context(|| format!("cannot open the quarantine file {input}"))?,
            ),
        };
        Ok(RecordLines {
            input: input.to_string(),
            reader: Box::new(tokio::io::BufReader::with_capacity(1 << 20, raw)),
            buf: Vec::new(),
            line_no: 0,
        })
    }

    /// The next non-blank line with where it is (`INPUT line N`): its record (only `body` is
    /// required: older writers' lines may lack the rest), or what made it unreadable; `None` at
    /// the end. An error is a read failure of the input itself.
    pub async fn next(
        &mut self,
    ) -> anyhow::Result<Option<(String, Result<QuarantineRecord, String>)>> {
        loop {
            self.buf.clear();
            let read = self.reader.read_until(b'\n', &mut self.buf).await;
            if read.with_context(|| format!("reading {} failed", self.input))? == 0 {
                return Ok(None);
            }
            self.line_no += 1;
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let at = format!("{} line {}", self.input, self.line_no);
            let record = QuarantineRecord::parse(&self.buf).map_err(|e| e.to_string());
            return Ok(Some((at, record)));
        }
    }
}

/// The start of `body` on one line of at most `width` characters: control characters become
/// spaces, and `…` ends what was cut.
pub(crate) fn preview(body: &str, width: usize) -> String {
    let one_line: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    crate::report::shorten(&one_line, width)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use super::*;

    /// No S3 here: the test lists a directory.
    struct NoS3;

    impl S3Clients for NoS3 {
        async fn s3(&self) -> aws_sdk_s3::Client {
            unreachable!("a directory listing asked for an S3 client")
        }
    }

    /// On a current-thread runtime, a task spawned before a directory is listed runs while it
    /// is listed; the listing is every record file, in name order.
    #[test]
    fn listing_a_directory_leaves_the_runtime_to_other_tasks() {
        let dir = tempfile::tempdir().unwrap();
        for i in (0..2000).rev() {
            std::fs::write(dir.path().join(format!("r{i:05}.jsonl")), "").unwrap();
        }
        std::fs::write(dir.path().join(".doctor-probe.jsonl"), "").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "").unwrap();
        let ctx = NoS3;
        let location = Location::Dir(dir.path().to_owned());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let ran = Arc::new(AtomicBool::new(false));
            let flag = ran.clone();
            let other = tokio::spawn(async move { flag.store(true, Ordering::SeqCst) });
            let inputs = inputs_under(&location, &ctx).await.unwrap();
            assert!(
                ran.load(Ordering::SeqCst),
                "the other task did not run while the directory was listed"
            );
            other.await.unwrap();
            let names: Vec<String> = inputs.iter().map(ToString::to_string).collect();
            assert_eq!(names.len(), 2000);
            assert!(names[0].ends_with("r00000.jsonl") && names[1999].ends_with("r01999.jsonl"));
        });
    }
}
