//! `doctor`'s queue checks, decided from the queue's attributes (pure): depth, how long messages
//! are kept against the job's schedule, the redrive policy, and the dead-letter queue's own
//! retention.
//!
//! Invariants:
//! - every attribute comes from outside (SQS, an emulator, a hand-made policy), so none is
//!   trusted: a missing or malformed value gives a `[warn]` that names it, never a panic;
//! - every threshold is a constant below, and the check texts state the rule they apply;
//! - the I/O (`GetQueueAttributes` on the queue and on its dead-letter queue) stays in the
//!   parent module, which hands the answers to the functions here.

use std::collections::HashMap;

use aws_sdk_sqs::types::QueueAttributeName;

use super::Check;
use crate::report::{plural, shorten};

const DAY_SECS: u64 = 86_400;

/// The job's schedule: the hourly workflow runs once an hour.
pub const SCHEDULE_INTERVAL_SECS: u64 = 3_600;
/// Retention shorter than this many schedule intervals fails: a message can expire between two
/// runs (one late or failed run is enough).
pub const RETENTION_MIN_INTERVALS: u64 = 2;
/// Retention shorter than this warns: a job that stops on a Friday evening loses messages
/// before anyone fixes it.
pub const RETENTION_WARN_SECS: u64 = 4 * DAY_SECS;
/// SQS's longest retention (14 days): what the fixes set.
pub const MAX_RETENTION_SECS: u64 = 14 * DAY_SECS;
/// A `maxReceiveCount` below this warns: every dry run and every failed run spends one receive
/// of each message it reads. Also the count the fixes set (the Terraform module's default).
pub const MIN_MAX_RECEIVE_COUNT: u64 = 5;
/// SQS's range of `maxReceiveCount`.
const MAX_RECEIVE_COUNT_RANGE: std::ops::RangeInclusive<u64> = 1..=1_000;
/// Longest excerpt of a malformed attribute shown in a check.
const SHOWN_CHARS: usize = 120;

/// An SQS queue's ARN, `arn:PARTITION:sqs:REGION:ACCOUNT:NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueArn {
    pub partition: String,
    pub region: String,
    pub account: String,
    pub name: String,
}

impl QueueArn {
    /// `None` unless `arn` has the six parts of an SQS queue ARN, none of the last three empty.
    pub fn parse(arn: &str) -> Option<QueueArn> {
        let parts: Vec<&str> = arn.split(':').collect();
        let [prefix, partition, service, region, account, name] = parts[..] else {
            return None;
        };
        let filled = [partition, region, account, name]
            .iter()
            .all(|p| !p.is_empty());
        (prefix == "arn" && service == "sqs" && filled).then(|| QueueArn {
            partition: partition.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            name: name.to_owned(),
        })
    }

    /// The ARN of the queue at `url` (`.../ACCOUNT/NAME`), in the URL's region, else in
    /// `fallback_region`.
    pub fn of_url(url: &str, fallback_region: &str) -> Option<QueueArn> {
        let (_, account, name) = url_parts(url)?;
        let china = url.contains(".amazonaws.com.cn");
        let partition = if china { "aws-cn" } else { "aws" };
        account
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| QueueArn {
                partition: partition.to_owned(),
                region: queue_url_region(url).unwrap_or(fallback_region).to_owned(),
                account: account.to_owned(),
                name: name.to_owned(),
            })
    }

    /// The queue's URL, on the same endpoint as `sibling_url`, a queue of the same account and
    /// region (a dead-letter queue must be both). `None` when `sibling_url` has no
    /// `/ACCOUNT/NAME` path or names another region in its host.
    pub fn url_beside(&self, sibling_url: &str) -> Option<String> {
        let (base, _, _) = url_parts(sibling_url)?;
        if base.ends_with([':', '/'])
            || queue_url_region(sibling_url).is_some_and(|r| r != self.region)
        {
            return None;
        }
        Some(format!("{base}/{}/{}", self.account, self.name))
    }
}

/// `BASE`, `ACCOUNT` and `NAME` of a queue URL `BASE/ACCOUNT/NAME`, the last two not empty.
fn url_parts(url: &str) -> Option<(&str, &str, &str)> {
    let (base, name) = url.trim_end_matches('/').rsplit_once('/')?;
    let (base, account) = base.rsplit_once('/')?;
    (!name.is_empty() && !account.is_empty()).then_some((base, account, name))
}

/// The region in an AWS queue URL's host (`sqs.REGION.amazonaws.com` or the legacy
/// `REGION.queue.amazonaws.com`); `None` for other hosts (emulators, VPC endpoints).
pub fn queue_url_region(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split('/').next()?;
    let host = host.split(':').next()?;
    if let Some(r) = host.strip_prefix("sqs.") {
        let region = r.split('.').next()?;
        (!region.is_empty() && r[region.len()..].starts_with(".amazonaws.com")).then_some(region)
    } else {
        let (region, tail) = host.split_once('.')?;
        tail.starts_with("queue.amazonaws.com").then_some(region)
    }
}

impl std::fmt::Display for QueueArn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "arn:{}:sqs:{}:{}:{}",
            self.partition, self.region, self.account, self.name
        )
    }
}

/// A queue's `RedrivePolicy`: where a message goes after `max_receive_count` receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedrivePolicy {
    pub dead_letter_target: QueueArn,
    pub max_receive_count: u64,
}

/// Why a `RedrivePolicy` cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedrivePolicyError {
    #[error("it is not JSON ({0})")]
    NotJson(String),
    #[error("it is not a JSON object")]
    NotObject,
    #[error("it has no deadLetterTargetArn string")]
    NoTarget,
    #[error(
        "deadLetterTargetArn {0:?} is not an SQS queue ARN (arn:PARTITION:sqs:REGION:ACCOUNT:NAME)"
    )]
    BadTarget(String),
    #[error("it has no maxReceiveCount")]
    NoMaxReceiveCount,
    #[error("maxReceiveCount {0} is not a whole number from 1 to 1000")]
    BadMaxReceiveCount(String),
}

/// Reads a `RedrivePolicy` (`{"deadLetterTargetArn": "arn:…", "maxReceiveCount": 5}`; SQS
/// answers the count as a number, emulators sometimes as a string: both are accepted).
pub fn parse_redrive_policy(text: &str) -> Result<RedrivePolicy, RedrivePolicyError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| RedrivePolicyError::NotJson(e.to_string()))?;
    let policy = value.as_object().ok_or(RedrivePolicyError::NotObject)?;
    let target = policy
        .get("deadLetterTargetArn")
        .and_then(serde_json::Value::as_str)
        .ok_or(RedrivePolicyError::NoTarget)?;
    let dead_letter_target =
        QueueArn::parse(target).ok_or_else(|| RedrivePolicyError::BadTarget(target.to_owned()))?;
    let count = policy
        .get("maxReceiveCount")
        .ok_or(RedrivePolicyError::NoMaxReceiveCount)?;
    let text = || count.as_str().and_then(|s| s.trim().parse::<u64>().ok());
    let max_receive_count = (count.as_u64().or_else(text))
        .filter(|n| MAX_RECEIVE_COUNT_RANGE.contains(n))
        .ok_or_else(|| RedrivePolicyError::BadMaxReceiveCount(count.to_string()))?;
    Ok(RedrivePolicy {
        dead_letter_target,
        max_receive_count,
    })
}

/// A queue's attributes, as GetQueueAttributes answers them.
pub type Attributes = HashMap<QueueAttributeName, String>;

/// The queue's `RedrivePolicy` as SQS gave it, and read; `None` when it has none (or a blank
/// one).
pub fn redrive(attrs: &Attributes) -> Option<(&str, Result<RedrivePolicy, RedrivePolicyError>)> {
    let text = attrs.get(&QueueAttributeName::RedrivePolicy)?;
    (!text.trim().is_empty()).then(|| (text.as_str(), parse_redrive_policy(text)))
}

/// `MessageRetentionPeriod` in seconds, when SQS gave a number.
pub fn retention_secs(attrs: &Attributes) -> Option<u64> {
    parse_secs(attrs.get(&QueueAttributeName::MessageRetentionPeriod)?)
}

fn parse_secs(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// The queue's checks (pure): depth and visibility timeout, retention, redrive policy.
/// `arn` is the queue's own (for the fixes), when it can be told from its URL.
pub fn queue_checks(url: &str, arn: Option<&str>, attrs: &Attributes) -> Vec<Check> {
    use QueueAttributeName as A;
    let get = |n: A| attrs.get(&n).map(String::as_str);
    let shown = |n: A| get(n).unwrap_or("?");
    vec![
        Check::ok(format!(
            "queue {url}: readable; {} visible, {} in flight, visibility timeout {} s",
            shown(A::ApproximateNumberOfMessages),
            shown(A::ApproximateNumberOfMessagesNotVisible),
            shown(A::VisibilityTimeout),
        )),
        retention_check(url, get(A::MessageRetentionPeriod)),
        redrive_check(url, arn, redrive(attrs)),
    ]
}

/// The command that keeps a queue's messages 14 days.
fn set_retention_fix(url: &str) -> String {
    format!(
        "keep messages {}, the SQS maximum: aws sqs set-queue-attributes --queue-url {url} --attributes MessageRetentionPeriod={MAX_RETENTION_SECS}",
        duration(MAX_RETENTION_SECS)
    )
}

/// `MessageRetentionPeriod` against the schedule: fail below [`RETENTION_MIN_INTERVALS`]
/// schedule intervals, warn below [`RETENTION_WARN_SECS`], ok otherwise.
pub fn retention_check(url: &str, retention: Option<&str>) -> Check {
    let fix = format!(
        "{} (queue_message_retention_seconds in deploy/terraform, for a queue it creates)",
        set_retention_fix(url)
    );
    let Some(secs) = retention.and_then(parse_secs) else {
        let what = match retention {
            None => format!("queue {url}: no MessageRetentionPeriod in the answer, so how long messages are kept is unknown"),
            Some(raw) => format!("queue {url}: MessageRetentionPeriod {:?} is not a number of seconds", shorten(raw, SHOWN_CHARS)),
        };
        return Check::warn(what, fix);
    };
    let kept = format!(
        "queue {url}: messages are kept {} (MessageRetentionPeriod {secs} s)",
        duration(secs)
    );
    if secs < RETENTION_MIN_INTERVALS * SCHEDULE_INTERVAL_SECS {
        Check::fail(
            format!(
                "{kept}, less than {RETENTION_MIN_INTERVALS} × the job's interval of {}: a message can expire before a run reads it",
                duration(SCHEDULE_INTERVAL_SECS)
            ),
            fix,
        )
    } else if secs < RETENTION_WARN_SECS {
        Check::warn(
            format!(
                "{kept}, less than {}: a job that stops on a Friday evening loses messages before it is fixed",
                duration(RETENTION_WARN_SECS)
            ),
            fix,
        )
    } else {
        Check::ok(format!(
            "{kept}: at least {} and {RETENTION_MIN_INTERVALS} × the job's interval of {}",
            duration(RETENTION_WARN_SECS),
            duration(SCHEDULE_INTERVAL_SECS)
        ))
    }
}

/// The command that points `url` at `dlq_arn` after [`MIN_MAX_RECEIVE_COUNT`] receives.
fn set_redrive_command(url: &str, dlq_arn: &str) -> String {
    format!(
        r#"aws sqs set-queue-attributes --queue-url {url} --attributes '{{"RedrivePolicy":"{{\"deadLetterTargetArn\":\"{dlq_arn}\",\"maxReceiveCount\":\"{MIN_MAX_RECEIVE_COUNT}\"}}"}}'"#
    )
}

/// The redrive policy: none warns, a malformed one warns, a low `maxReceiveCount` warns.
fn redrive_check(
    url: &str,
    arn: Option<&str>,
    redrive: Option<(&str, Result<RedrivePolicy, RedrivePolicyError>)>,
) -> Check {
    match redrive {
        None => {
            let name = url.trim_end_matches('/').rsplit('/').next().unwrap_or("QUEUE");
            let dlq_arn = arn.map_or_else(|| "DLQ_ARN".to_owned(), |a| format!("{a}-dlq"));
            Check::warn(
                format!("queue {url}: no redrive policy, so a message that keeps failing is received again and again until its retention expires, and is never set aside"),
                format!(
                    "give it a dead-letter queue: aws sqs create-queue --queue-name {name}-dlq --attributes MessageRetentionPeriod={MAX_RETENTION_SECS}, then {}; or let deploy/terraform create both (create_queue = true, queue_max_receive_count; see docs/DEPLOY.md)",
                    set_redrive_command(url, &dlq_arn)
                ),
            )
        }
        Some((text, Err(e))) => Check::warn(
            format!(
                "queue {url}: its RedrivePolicy cannot be read: {e} (it is {:?}), so whether failing messages reach a dead-letter queue is unknown",
                shorten(text, SHOWN_CHARS)
            ),
            format!(
                "set it again: {} (console: Edit → Dead-letter queue)",
                set_redrive_command(url, "DLQ_ARN")
            ),
        ),
        Some((_, Ok(p))) if p.max_receive_count < MIN_MAX_RECEIVE_COUNT => Check::warn(
            format!(
                "queue {url}: dead-letter queue {} after only {} receives (maxReceiveCount below {MIN_MAX_RECEIVE_COUNT}): every dry run and every failed run spends one receive of each message it reads, so a sound message can end up in the dead-letter queue",
                p.dead_letter_target, p.max_receive_count
            ),
            format!(
                "raise maxReceiveCount: {} (queue_max_receive_count in deploy/terraform)",
                set_redrive_command(url, &p.dead_letter_target.to_string())
            ),
        ),
        Some((_, Ok(p))) => Check::ok(format!(
            "queue {url}: dead-letter queue {} after {} receives (maxReceiveCount)",
            p.dead_letter_target, p.max_receive_count
        )),
    }
}

/// The dead-letter queue's retention against its source queue's: shorter warns, as AWS
/// recommends a longer one (a message keeps its first enqueue time when it is moved, so it can
/// expire there soon after it arrives).
pub fn dlq_retention_check(dlq: &QueueArn, dlq_url: &str, dlq_secs: u64, queue_secs: u64) -> Check {
    let kept = format!(
        "dead-letter queue {dlq}: messages are kept {} (MessageRetentionPeriod {dlq_secs} s)",
        duration(dlq_secs)
    );
    if dlq_secs < queue_secs {
        Check::warn(
            format!(
                "{kept}, less than the queue's {}: a moved message keeps its first enqueue time, so it can expire there soon after it arrives",
                duration(queue_secs)
            ),
            set_retention_fix(dlq_url),
        )
    } else {
        Check::ok(format!(
            "{kept}, no less than the queue's {}",
            duration(queue_secs)
        ))
    }
}

/// `3 days`, `1.5 days`, `2 h`, `90 min`, `45 s`.
pub fn duration(secs: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let frac = |unit: u64| secs as f64 / unit as f64;
    match secs {
        s if s >= DAY_SECS && s % DAY_SECS == 0 => plural(s / DAY_SECS, "day", "days"),
        s if s >= DAY_SECS => format!("{:.1} days", frac(DAY_SECS)),
        s if s >= 3_600 && s % 3_600 == 0 => format!("{} h", s / 3_600),
        s if s >= 3_600 => format!("{:.1} h", frac(3_600)),
        s if s >= 60 && s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Status;
    use super::*;

    const DLQ: &str = "arn:aws:sqs:us-west-2:123456789012:events-dlq";

    fn facts(pairs: &[(QueueAttributeName, &str)]) -> Attributes {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), (*v).to_owned()))
            .collect()
    }

    fn policy(count: &str) -> String {
        format!(r#"{{"deadLetterTargetArn":"{DLQ}","maxReceiveCount":{count}}}"#)
    }

    #[test]
    fn retention_fails_below_two_intervals_warns_below_four_days() {
        let fail_below = RETENTION_MIN_INTERVALS * SCHEDULE_INTERVAL_SECS;
        assert_eq!(fail_below, 7_200, "2 × the hourly job");
        assert_eq!(RETENTION_WARN_SECS, 345_600, "4 days");
        for (secs, want) in [
            (60, Status::Fail),
            (fail_below - 1, Status::Fail),
            (fail_below, Status::Warn),
            (RETENTION_WARN_SECS - 1, Status::Warn),
            (RETENTION_WARN_SECS, Status::Ok),
            (MAX_RETENTION_SECS, Status::Ok),
        ] {
            let c = retention_check("https://q", Some(&secs.to_string()));
            assert_eq!(c.status, want, "{secs} s: {c:?}");
            assert!(
                c.what.contains(&format!("MessageRetentionPeriod {secs} s")),
                "{c:?}"
            );
        }
        let fail = retention_check("https://q", Some("3600"));
        assert!(
            fail.what.contains(
                "kept 1 h (MessageRetentionPeriod 3600 s), less than 2 × the job's interval of 1 h"
            ),
            "{fail:?}"
        );
        assert_eq!(
            fail.fix.as_deref().unwrap().split(" (").next().unwrap(),
            "keep messages 14 days, the SQS maximum: aws sqs set-queue-attributes --queue-url https://q --attributes MessageRetentionPeriod=1209600"
        );
        let warn = retention_check("https://q", Some("86400"));
        assert!(
            warn.what
                .contains("less than 4 days: a job that stops on a Friday evening"),
            "{warn:?}"
        );
        assert!(retention_check("https://q", Some("1209600"))
            .what
            .contains("kept 14 days"));
    }

    #[test]
    fn a_missing_or_malformed_retention_warns_naming_it() {
        let c = retention_check("https://q", None);
        assert_eq!(c.status, Status::Warn);
        assert!(c.what.contains("no MessageRetentionPeriod"), "{c:?}");
        for bad in ["", "-5", "4 days", "1e9", &"9".repeat(40)] {
            let c = retention_check("https://q", Some(bad));
            assert_eq!(c.status, Status::Warn, "{bad:?}");
            assert!(c.what.contains("is not a number of seconds"), "{c:?}");
        }
    }

    #[test]
    fn redrive_policies_parse_with_the_count_as_number_or_string() {
        for count in ["5", "\"5\"", "\" 5 \""] {
            let p = parse_redrive_policy(&policy(count)).unwrap();
            assert_eq!(p.max_receive_count, 5, "{count}");
            assert_eq!(p.dead_letter_target.to_string(), DLQ);
            assert_eq!(p.dead_letter_target.name, "events-dlq");
        }
    }

    #[test]
    fn malformed_redrive_policies_are_errors_not_panics() {
        use RedrivePolicyError as E;
        let not_json = E::NotJson(String::new());
        let bad_target = |arn: &str| E::BadTarget(arn.to_owned());
        let no_count = format!(r#"{{"deadLetterTargetArn":"{DLQ}"}}"#);
        for (text, want) in [
            ("", &not_json),
            ("{", &not_json),
            ("not json", &not_json),
            ("[1, 2]", &E::NotObject),
            ("\"x\"", &E::NotObject),
            ("null", &E::NotObject),
            (r#"{"maxReceiveCount": 5}"#, &E::NoTarget),
            (
                r#"{"deadLetterTargetArn": 5, "maxReceiveCount": 5}"#,
                &E::NoTarget,
            ),
            (
                r#"{"deadLetterTargetArn": "arn:aws:s3:::b", "maxReceiveCount": 5}"#,
                &bad_target("arn:aws:s3:::b"),
            ),
            (
                r#"{"deadLetterTargetArn": "arn:aws:sqs:us-west-2::q", "maxReceiveCount": 5}"#,
                &bad_target("arn:aws:sqs:us-west-2::q"),
            ),
            (
                r#"{"deadLetterTargetArn": "events-dlq", "maxReceiveCount": 5}"#,
                &bad_target("events-dlq"),
            ),
            (&no_count, &E::NoMaxReceiveCount),
        ] {
            let e = parse_redrive_policy(text).unwrap_err();
            match (&e, want) {
                (E::NotJson(detail), E::NotJson(_)) => assert!(!detail.is_empty(), "{text:?}"),
                _ => assert_eq!(&e, want, "{text:?}"),
            }
        }
        for count in ["0", "-1", "1001", "2.5", "\"five\"", "null", "true", "[5]"] {
            let e = parse_redrive_policy(&policy(count)).unwrap_err();
            assert_eq!(e, E::BadMaxReceiveCount(count.to_owned()), "{count}");
            assert!(e.to_string().contains("from 1 to 1000"), "{e}");
        }
        assert_eq!(
            parse_redrive_policy(&policy("1000"))
                .unwrap()
                .max_receive_count,
            1000
        );
    }

    #[test]
    fn a_malformed_redrive_policy_warns_with_what_is_wrong() {
        let long = format!("{{{}", "x".repeat(500));
        let f = facts(&[(QueueAttributeName::RedrivePolicy, &long)]);
        let c = &queue_checks("https://q", None, &f)[2];
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.what
                .contains("its RedrivePolicy cannot be read: it is not JSON"),
            "{c:?}"
        );
        assert!(c.what.len() < 400, "the policy is shortened: {}", c.what);
        let f = facts(&[(QueueAttributeName::RedrivePolicy, &policy("\"many\""))]);
        let c = &queue_checks("https://q", None, &f)[2];
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.what
                .contains(r#"maxReceiveCount "many" is not a whole number"#),
            "{c:?}"
        );
    }

    #[test]
    fn no_redrive_policy_warns_with_the_commands_that_add_one() {
        let url = "https://sqs.us-west-2.amazonaws.com/123456789012/events";
        let arn = "arn:aws:sqs:us-west-2:123456789012:events";
        for blank in [None, Some(""), Some("  ")] {
            let pairs: Vec<_> = blank
                .map(|b| (QueueAttributeName::RedrivePolicy, b))
                .into_iter()
                .collect();
            let c = &queue_checks(url, Some(arn), &facts(&pairs))[2];
            assert_eq!(c.status, Status::Warn, "{blank:?}");
            assert!(c.what.contains("no redrive policy"), "{c:?}");
            let fix = c.fix.as_deref().unwrap();
            assert!(
                fix.contains("aws sqs create-queue --queue-name events-dlq --attributes MessageRetentionPeriod=1209600"),
                "{fix}"
            );
            assert!(
                fix.contains(&format!(r#"--queue-url {url} --attributes '{{"RedrivePolicy":"{{\"deadLetterTargetArn\":\"{DLQ}\",\"maxReceiveCount\":\"5\"}}"}}'"#)),
                "{fix}"
            );
            assert!(fix.contains("create_queue = true"), "{fix}");
        }
    }

    #[test]
    fn max_receive_count_warns_below_five() {
        assert_eq!(MIN_MAX_RECEIVE_COUNT, 5);
        for (count, want) in [
            (1, Status::Warn),
            (4, Status::Warn),
            (5, Status::Ok),
            (10, Status::Ok),
        ] {
            let f = facts(&[(
                QueueAttributeName::RedrivePolicy,
                &policy(&count.to_string()),
            )]);
            let c = &queue_checks("https://q", None, &f)[2];
            assert_eq!(c.status, want, "{count}: {c:?}");
            assert!(c.what.contains(DLQ), "{c:?}");
            assert!(
                c.what.contains(&format!(
                    "after {}{count} receives",
                    if count < 5 { "only " } else { "" }
                )),
                "{c:?}"
            );
        }
        let f = facts(&[(QueueAttributeName::RedrivePolicy, &policy("2"))]);
        let c = &queue_checks("https://q", None, &f)[2];
        assert!(c.what.contains("every dry run"), "{c:?}");
        assert!(
            c.fix
                .as_deref()
                .unwrap()
                .contains(r#"\"maxReceiveCount\":\"5\""#),
            "{c:?}"
        );
    }

    #[test]
    fn dlq_retention_warns_when_shorter_than_the_queues() {
        let dlq = QueueArn::parse(DLQ).unwrap();
        let day = DAY_SECS;
        let c = dlq_retention_check(&dlq, "https://dlq", 4 * day - 1, 4 * day);
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(c.what.contains("less than the queue's 4 days"), "{c:?}");
        assert!(c
            .fix
            .as_deref()
            .unwrap()
            .contains("--queue-url https://dlq --attributes MessageRetentionPeriod=1209600"));
        assert_eq!(
            dlq_retention_check(&dlq, "u", 4 * day, 4 * day).status,
            Status::Ok
        );
        assert_eq!(
            dlq_retention_check(&dlq, "u", 14 * day, 4 * day).status,
            Status::Ok
        );
    }

    #[test]
    fn dlq_urls_are_derived_beside_the_queue() {
        let dlq = QueueArn::parse(DLQ).unwrap();
        assert_eq!(
            dlq.url_beside("https://sqs.us-west-2.amazonaws.com/123456789012/events")
                .as_deref(),
            Some("https://sqs.us-west-2.amazonaws.com/123456789012/events-dlq")
        );
        assert_eq!(
            dlq.url_beside("http://127.0.0.1:4566/000000000000/events/")
                .as_deref(),
            Some("http://127.0.0.1:4566/123456789012/events-dlq")
        );
        assert_eq!(
            dlq.url_beside("https://sqs.eu-west-1.amazonaws.com/123456789012/events"),
            None
        );
        assert_eq!(
            dlq.url_beside("https://sqs.us-west-2.amazonaws.com/events"),
            None
        );
        assert_eq!(dlq.url_beside("events"), None);
    }

    #[test]
    fn the_depth_line_shows_what_sqs_gave() {
        let f = facts(&[
            (QueueAttributeName::ApproximateNumberOfMessages, "3"),
            (QueueAttributeName::VisibilityTimeout, "300"),
        ]);
        let checks = queue_checks("https://q", None, &f);
        assert_eq!(checks.len(), 3);
        assert_eq!(checks[0].status, Status::Ok);
        assert!(checks[0]
            .what
            .contains("3 visible, ? in flight, visibility timeout 300 s"));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(1_209_600), "14 days");
        assert_eq!(duration(86_400), "1 day");
        assert_eq!(duration(129_600), "1.5 days");
        assert_eq!(duration(7_200), "2 h");
        assert_eq!(duration(5_400), "1.5 h");
        assert_eq!(duration(600), "10 min");
        assert_eq!(duration(61), "61 s");
        assert_eq!(duration(0), "0 s");
    }
}
