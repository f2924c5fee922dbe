//! Where messages come from and where the archive goes, as given on the command line.
//!
//! Pure parsing: `https://sqs.../ACCOUNT/QUEUE` is a queue, `-` is stdin, anything else a file;
//! `s3://BUCKET/PREFIX/` is S3 (the prefix always ends in `/` or is empty), anything else a
//! local directory. The default quarantine location is `quarantine/` beside the day files,
//! never inside them, so the usage site (which lists the day-file prefix) never reads it.

use std::fmt;
use std::path::{Path, PathBuf};

/// A message source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// An SQS queue URL.
    Sqs(String),
    /// A file with one message body per line.
    File(PathBuf),
    /// Standard input, one body per line.
    Stdin,
}

impl SourceSpec {
    pub fn parse(s: &str) -> SourceSpec {
        match s {
            "-" => SourceSpec::Stdin,
            _ if s.starts_with("https://") || s.starts_with("http://") => SourceSpec::Sqs(s.into()),
            _ => SourceSpec::File(PathBuf::from(s)),
        }
    }
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::Sqs(url) => f.write_str(url),
            SourceSpec::File(p) => write!(f, "{}", p.display()),
            SourceSpec::Stdin => f.write_str("stdin"),
        }
    }
}

/// An archive or quarantine location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `s3://bucket/prefix/`: objects are `prefix + name`.
    S3 { bucket: String, prefix: String },
    /// A local directory: files are `dir/name`.
    Dir(PathBuf),
}

/// A location string that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    #[error("`{0}` has no bucket name: write s3://BUCKET/PREFIX/")]
    NoBucket(String),
    #[error(
        "cannot derive a quarantine location beside `{0}`: give --quarantine explicitly (it must not be inside the day-file location)"
    )]
    NoQuarantineBeside(String),
    #[error("the quarantine location `{quarantine}` is inside the day-file location `{dest}`: the usage site would read it")]
    QuarantineInsideDest { quarantine: String, dest: String },
}

impl Location {
    pub fn parse(s: &str) -> Result<Location, LocationError> {
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(LocationError::NoBucket(s.to_owned()));
            }
            let mut prefix = prefix.to_owned();
            if !prefix.is_empty() && !prefix.ends_with('/') {
                prefix.push('/');
            }
            Ok(Location::S3 {
                bucket: bucket.to_owned(),
                prefix,
            })
        } else {
            Ok(Location::Dir(PathBuf::from(s)))
        }
    }

    /// `quarantine/` beside this location: `events/prod/` → `events/quarantine/`,
    /// `/srv/archive/prod` → `/srv/archive/quarantine`.
    pub fn quarantine_beside(&self) -> Result<Location, LocationError> {
        match self {
            Location::S3 { bucket, prefix } => {
                let trimmed = prefix.trim_end_matches('/');
                if trimmed.is_empty() {
                    return Err(LocationError::NoQuarantineBeside(self.to_string()));
                }
                let prefix = match trimmed.rsplit_once('/') {
                    Some((parent, _)) if !parent.is_empty() => format!("{parent}/quarantine/"),
                    _ => "quarantine/".to_owned(),
                };
                Ok(Location::S3 {
                    bucket: bucket.clone(),
                    prefix,
                })
            }
            Location::Dir(dir) => {
                let abs = absolute(dir);
                match abs.parent() {
                    Some(parent) if abs.file_name().is_some() => {
                        Ok(Location::Dir(parent.join("quarantine")))
                    }
                    _ => Err(LocationError::NoQuarantineBeside(self.to_string())),
                }
            }
        }
    }

    /// Checks that `quarantine` is not inside `self` (the day-file location).
    pub fn check_quarantine(&self, quarantine: &Location) -> Result<(), LocationError> {
        let inside = match (self, quarantine) {
            // `s3://BUCKET/PREFIX`: a bucket name holds no `/`, so this is the same bucket and
            // a prefix that starts with the day files'.
            (Location::S3 { .. }, Location::S3 { .. }) => {
                quarantine.to_string().starts_with(&self.to_string())
            }
            (Location::Dir(d1), Location::Dir(d2)) => absolute(d2).starts_with(absolute(d1)),
            _ => false,
        };
        if !inside {
            return Ok(());
        }
        Err(LocationError::QuarantineInsideDest {
            quarantine: quarantine.to_string(),
            dest: self.to_string(),
        })
    }
}

/// An absolute, lexically normalised path (no I/O: the directory may not exist yet).
pub(crate) fn absolute(p: &Path) -> PathBuf {
    // Joining an absolute path replaces the base.
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let joined = cwd.join(p);
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            Location::Dir(p) => write!(f, "{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_by_shape() {
        assert_eq!(SourceSpec::parse("-"), SourceSpec::Stdin);
        assert_eq!(
            SourceSpec::parse("https://sqs.us-west-2.amazonaws.com/1/q"),
            SourceSpec::Sqs("https://sqs.us-west-2.amazonaws.com/1/q".into())
        );
        assert_eq!(
            SourceSpec::parse("msgs.jsonl"),
            SourceSpec::File("msgs.jsonl".into())
        );
    }

    #[test]
    fn s3_prefix_always_ends_in_slash() {
        assert_eq!(
            Location::parse("s3://logpublish/events/prod").unwrap(),
            Location::S3 {
                bucket: "logpublish".into(),
                prefix: "events/prod/".into()
            }
        );
        assert_eq!(
            Location::parse("s3://b").unwrap(),
            Location::S3 {
                bucket: "b".into(),
                prefix: String::new()
            }
        );
        assert!(Location::parse("s3:///x").is_err());
    }

    #[test]
    fn quarantine_defaults_beside_the_day_files() {
        let q = Location::parse("s3://logpublish/events/prod/")
            .unwrap()
            .quarantine_beside()
            .unwrap();
        assert_eq!(q.to_string(), "s3://logpublish/events/quarantine/");
        let q = Location::parse("s3://b/prod/")
            .unwrap()
            .quarantine_beside()
            .unwrap();
        assert_eq!(q.to_string(), "s3://b/quarantine/");
        assert!(Location::parse("s3://b/")
            .unwrap()
            .quarantine_beside()
            .is_err());
        let q = Location::parse("/srv/archive/prod/")
            .unwrap()
            .quarantine_beside()
            .unwrap();
        assert_eq!(q, Location::Dir("/srv/archive/quarantine".into()));
        assert!(Location::parse("/").unwrap().quarantine_beside().is_err());
    }

    #[test]
    fn quarantine_inside_dest_is_refused() {
        let dest = Location::parse("s3://b/events/prod/").unwrap();
        assert!(dest
            .check_quarantine(&Location::parse("s3://b/events/prod/q/").unwrap())
            .is_err());
        assert!(dest
            .check_quarantine(&Location::parse("s3://b/events/quarantine/").unwrap())
            .is_ok());
        assert!(dest
            .check_quarantine(&Location::parse("s3://other/events/prod/").unwrap())
            .is_ok());
        let dir = Location::parse("/a/prod").unwrap();
        assert!(dir
            .check_quarantine(&Location::parse("/a/prod/../prod/q").unwrap())
            .is_err());
        assert!(dir
            .check_quarantine(&Location::parse("/a/quarantine").unwrap())
            .is_ok());
    }
}
