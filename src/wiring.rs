//! Builds the backends (sources, day stores, quarantine stores, AWS clients) from resolved
//! settings: the one place that knows which adapter serves which location.
//!
//! Invariants:
//! - the AWS SDK configuration (credential chain, region) is loaded only when a location or the
//!   source is on AWS, so local runs start nothing AWS-related;
//! - every client of one [`Wiring`] shares one request counter, so a run's report counts every
//!   call it made;
//! - a new backend is one adapter file plus one arm in [`Wiring::day_store`] /
//!   [`Wiring::quarantine_store`] / [`Wiring::source`] (and its [`Location`] parsing).

use crate::adapters::aws::{self, RequestCounter};
use crate::adapters::dir::{DirQuarantine, DirStore};
use crate::adapters::file::FileSource;
use crate::adapters::s3::{S3Quarantine, S3Settings, S3Store};
use crate::adapters::sqs::{SqsSettings, SqsSource};
use crate::adapters::{AnyDayStore, AnyQuarantine, AnySource, SourceError};
use crate::location::{Location, SourceSpec};
use crate::settings::StoreSettings;

/// Whether a command using `source` and `locations` needs the AWS SDK.
pub fn needs_aws(source: Option<&SourceSpec>, locations: &[&Location]) -> bool {
    matches!(source, Some(SourceSpec::Sqs(_)))
        || locations.iter().any(|l| matches!(l, Location::S3 { .. }))
}

/// AWS clients and adapter factories for the locations a command uses.
#[derive(Debug, Clone)]
pub struct Wiring {
    sdk: Option<aws_config::SdkConfig>,
    pub settings: StoreSettings,
    pub counter: RequestCounter,
}

impl Wiring {
    /// Loads the SDK configuration when `needs_aws` (see [`needs_aws`]).
    pub async fn load(settings: &StoreSettings, needs_aws: bool) -> Wiring {
        let sdk = if needs_aws {
            Some(aws::load_config(&settings.aws).await)
        } else {
            None
        };
        Wiring {
            sdk,
            settings: settings.clone(),
            counter: RequestCounter::default(),
        }
    }

    /// The SDK configuration, when loaded.
    pub fn sdk(&self) -> Option<&aws_config::SdkConfig> {
        self.sdk.as_ref()
    }

    fn config(&self) -> &aws_config::SdkConfig {
        self.sdk
            .as_ref()
            .expect("Wiring::load(needs_aws = true) for an AWS location")
    }

    /// An S3 client (the wiring must have been loaded for AWS).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        aws::s3_client(self.config(), &self.settings.aws, &self.counter)
    }

    /// An SQS client whose read timeout outlasts a `wait_secs` long poll.
    pub fn sqs(&self, wait_secs: u64) -> aws_sdk_sqs::Client {
        aws::sqs_client(self.config(), &self.settings.aws, wait_secs, &self.counter)
    }

    /// An S3 client when any of `locations` is on S3.
    pub fn s3_for(&self, locations: &[&Location]) -> Option<aws_sdk_s3::Client> {
        needs_aws(None, locations).then(|| self.s3())
    }

    /// The source of messages `spec` names.
    pub fn source(&self, spec: &SourceSpec, sqs: &SqsSettings) -> Result<AnySource, SourceError> {
        Ok(match spec {
            SourceSpec::File(p) => Box::new(FileSource::open(p)?),
            SourceSpec::Stdin => Box::new(FileSource::stdin()),
            SourceSpec::Sqs(url) => Box::new(SqsSource::start(
                self.sqs(sqs.wait_secs),
                SqsSettings {
                    queue_url: url.clone(),
                    ..sqs.clone()
                },
                self.counter.clone(),
            )),
        })
    }

    /// The day-file store for `dest`.
    pub fn day_store(&self, dest: &Location) -> AnyDayStore {
        match dest {
            Location::Dir(d) => {
                Box::new(DirStore::new(d).with_sort_options(self.settings.sort_options()))
            }
            Location::S3 { bucket, prefix } => Box::new(S3Store::new(
                self.s3(),
                S3Settings {
                    bucket: bucket.clone(),
                    prefix: prefix.clone(),
                    ..self.settings.s3.clone()
                },
                self.counter.clone(),
            )),
        }
    }

    /// The quarantine store for `location`.
    pub fn quarantine_store(&self, location: &Location) -> AnyQuarantine {
        match location {
            Location::Dir(d) => Box::new(DirQuarantine::new(d)),
            Location::S3 { bucket, prefix } => {
                Box::new(S3Quarantine::new(self.s3(), bucket.clone(), prefix.clone()))
            }
        }
    }
}
