//! Builds the backends (sources, day stores, quarantine stores, AWS clients) from resolved
//! settings: the one place that knows which adapter serves which location.
//!
//! Invariants:
//! - the AWS SDK configuration (credential chain, region) is loaded on the first request for an
//!   AWS client, once per [`Wiring`] and its clones, so local runs start nothing AWS-related and
//!   no command decides up front whether it needs AWS;
//! - every client of one [`Wiring`] shares one request counter, so a run's report counts every
//!   call it made;
//! - a new backend is one adapter file, one variant of its role's enum
//!   ([`crate::adapters::any`]) and one arm in [`Wiring::day_store`] /
//!   [`Wiring::quarantine_store`] / [`Wiring::source`] (and its [`Location`] parsing).

use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::adapters::aws::{self, RequestCounter, S3Clients};
use crate::adapters::dir::{DirQuarantine, DirStore};
use crate::adapters::file::FileSource;
use crate::adapters::s3::{S3Quarantine, S3Store};
use crate::adapters::sqs::{SqsSettings, SqsSource};
use crate::adapters::{AnyDayStore, AnyQuarantine, AnySource, SourceError};
use crate::archive::Archive;
use crate::location::{Location, SourceSpec};
use crate::settings::{ArchiveSettings, StoreSettings};

/// Whether any of `source` and `locations` is on AWS (a queue or a bucket).
pub fn on_aws(source: Option<&SourceSpec>, locations: &[&Location]) -> bool {
    matches!(source, Some(SourceSpec::Sqs(_)))
        || locations.iter().any(|l| matches!(l, Location::S3 { .. }))
}

/// The archive `settings` names, opened for reading and rewriting.
pub async fn open_archive(settings: &ArchiveSettings) -> Archive {
    Archive {
        location: settings.location.clone(),
        store: Wiring::new(&settings.store)
            .day_store(&settings.location)
            .await,
    }
}

/// AWS clients and adapter factories for the locations a command uses.
#[derive(Debug, Clone)]
pub struct Wiring {
    sdk: Arc<OnceCell<aws_config::SdkConfig>>,
    pub settings: StoreSettings,
    pub counter: RequestCounter,
}

impl Wiring {
    /// A wiring for `settings`; nothing is loaded until a client is asked for.
    pub fn new(settings: &StoreSettings) -> Wiring {
        Wiring {
            sdk: Arc::default(),
            settings: settings.clone(),
            counter: RequestCounter::default(),
        }
    }

    /// The SDK configuration, loaded from the standard chain on first use.
    pub async fn sdk(&self) -> &aws_config::SdkConfig {
        self.sdk
            .get_or_init(|| aws::load_config(&self.settings.aws))
            .await
    }

    /// An S3 client (path-style when asked).
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(self.sdk().await)
            .force_path_style(self.settings.aws.force_path_style)
            .interceptor(self.counter.interceptor("s3"))
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// An SQS client whose read timeout outlasts a `wait_secs` long poll.
    pub async fn sqs(&self, wait_secs: u64) -> aws_sdk_sqs::Client {
        let read_secs = self.settings.aws.read_timeout_secs.max(wait_secs + 10);
        let conf = aws_sdk_sqs::config::Builder::from(self.sdk().await)
            .timeout_config(aws::timeouts(&self.settings.aws, read_secs))
            .interceptor(self.counter.interceptor("sqs"))
            .build();
        aws_sdk_sqs::Client::from_conf(conf)
    }

    pub async fn source(
        &self,
        spec: &SourceSpec,
        sqs: &SqsSettings,
    ) -> Result<AnySource, SourceError> {
        Ok(match spec {
            SourceSpec::File(p) => AnySource::File(FileSource::open(p)?),
            SourceSpec::Stdin => AnySource::File(FileSource::stdin()),
            SourceSpec::Sqs(url) => AnySource::Sqs(SqsSource::start(
                self.sqs(sqs.wait_secs).await,
                SqsSettings {
                    queue_url: url.clone(),
                    ..sqs.clone()
                },
                self.counter.clone(),
            )),
        })
    }

    pub async fn day_store(&self, dest: &Location) -> AnyDayStore {
        match dest {
            Location::Dir(d) => AnyDayStore::Dir(
                DirStore::new(d).with_sort_options(self.settings.s3.day.sort.clone()),
            ),
            Location::S3 { bucket, prefix } => {
                let mut s3 = self.settings.s3.clone();
                (s3.bucket, s3.day.prefix) = (bucket.clone(), prefix.clone());
                AnyDayStore::S3(S3Store::new(self.s3().await, s3, self.counter.clone()))
            }
        }
    }

    pub async fn quarantine_store(&self, location: &Location) -> AnyQuarantine {
        match location {
            Location::Dir(d) => AnyQuarantine::Dir(DirQuarantine::new(d)),
            Location::S3 { bucket, prefix } => AnyQuarantine::S3(S3Quarantine::new(
                self.s3().await,
                bucket.clone(),
                prefix.clone(),
            )),
        }
    }
}

impl S3Clients for Wiring {
    async fn s3(&self) -> aws_sdk_s3::Client {
        Wiring::s3(self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wiring() -> Wiring {
        Wiring::new(&StoreSettings {
            aws: crate::adapters::aws::AwsSettings::default(),
            s3: crate::adapters::s3::S3Settings::default(),
        })
    }

    #[tokio::test]
    async fn local_locations_load_nothing_from_aws() {
        let w = wiring();
        let dir = Location::Dir("/nonexistent/days".into());
        let _days = w.day_store(&dir).await;
        let _quarantine = w.quarantine_store(&dir).await;
        assert!(!w.sdk.initialized());
    }

    /// No command decides up front whether it needs AWS: asking for an S3 store (or any
    /// client) loads the configuration, once, shared by the wiring's clones.
    #[tokio::test]
    async fn an_aws_location_loads_the_configuration_on_first_need() {
        let w = wiring();
        let copy = w.clone();
        let s3 = Location::S3 {
            bucket: "logpublish".into(),
            prefix: "events/prod/".into(),
        };
        let _days = w.day_store(&s3).await;
        assert!(w.sdk.initialized() && copy.sdk.initialized());
        let _quarantine = copy.quarantine_store(&s3).await;
        let _sqs = copy.sqs(0).await;
        assert!(std::ptr::eq(w.sdk().await, copy.sdk().await));
    }
}
