//! AWS wiring shared by the SQS and S3 adapters.
//!
//! Credentials and region come from the standard chain (environment, profiles, SSO, web
//! identity, instance roles); the region defaults to `us-west-2`. `AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_SQS` and `AWS_ENDPOINT_URL_S3` are honoured by the chain itself. Retries use
//! the SDK's standard mode with a configurable number of attempts; every client has explicit
//! connect and read timeouts (SQS's read timeout is kept longer than its long-poll wait).
//! An interceptor counts every attempt of every call by operation, for the report and the
//! request-floor benchmarks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// The region used when the chain finds none.
pub const DEFAULT_REGION: &str = "us-west-2";

/// Client settings common to SQS and S3.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    /// Attempts per call, first included (SDK standard retry mode).
    pub max_attempts: u32,
    pub connect_timeout_secs: u64,
    /// Longest silence while reading a response.
    pub read_timeout_secs: u64,
    /// Path-style S3 addressing (`http://host/bucket/key`), for emulators.
    pub force_path_style: bool,
}

/// Loads the shared configuration from the standard chain.
pub async fn load_config(settings: &AwsSettings) -> SdkConfig {
    let region = RegionProviderChain::default_provider().or_else(Region::new(DEFAULT_REGION));
    aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts.max(1)))
        .timeout_config(timeouts(settings, settings.read_timeout_secs))
        .load()
        .await
}

/// The connect timeout of `settings` and a read timeout of `read_secs`.
pub(crate) fn timeouts(settings: &AwsSettings, read_secs: u64) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(settings.connect_timeout_secs))
        .read_timeout(Duration::from_secs(read_secs))
        .build()
}

/// Counts requests (every attempt) by `service:Operation`.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(Arc<Mutex<BTreeMap<String, u64>>>);

impl RequestCounter {
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().expect("counter lock").clone()
    }

    /// An interceptor counting the calls of one client, as `prefix:Operation`.
    pub(crate) fn interceptor(&self, prefix: &'static str) -> impl Intercept + 'static {
        let counter = self.clone();
        CountingInterceptor { prefix, counter }
    }
}

#[derive(Debug)]
struct CountingInterceptor {
    prefix: &'static str,
    counter: RequestCounter,
}

impl Intercept for CountingInterceptor {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg.load::<Metadata>().map_or("unknown", Metadata::name);
        let mut counts = self.counter.0.lock().expect("counter lock");
        *counts.entry(format!("{}:{op}", self.prefix)).or_default() += 1;
        Ok(())
    }
}

/// Hands out S3 clients, the first one (and the AWS configuration) built on demand, so a caller
/// that may not need S3 can take one without loading anything (`wiring::Wiring`).
pub trait S3Clients: Sync {
    fn s3(&self) -> impl std::future::Future<Output = aws_sdk_s3::Client> + Send;
}

/// A short, single-line description of an SDK error: the service's code and message when it
/// answered (`SlowDown: Please reduce your request rate.`), `timed out`, `could not reach the
/// endpoint: CAUSE: …` for a connection failure, else the error and its causes
/// ([`error_chain`]). The one way errors of the AWS SDK are shown to the user.
///
/// Not `aws_smithy_types::error::display::DisplayErrorContext`: that appends the `Debug` form
/// of the whole error (raw response included) and names a service error only `service error`,
/// where messages and tests want the service's code.
pub fn describe_sdk_error<E, R>(err: &SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            match (e.code(), e.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_owned(),
                // No code: an answer the SDK could not read; the cause says why.
                _ => error_chain(e),
            }
        }
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        SdkError::DispatchFailure(d) => {
            let cause = std::error::Error::source(err).map(error_chain);
            let cause = cause.map(|c| format!(": {c}")).unwrap_or_default();
            let timeout = if d.is_timeout() { " (timeout)" } else { "" };
            format!("could not reach the endpoint{cause}{timeout}")
        }
        other => error_chain(other),
    }
}

/// An error and its causes on one line, `error: cause: cause …`, each named once. For errors
/// that are not SDK call errors (a credentials provider's, say); SDK errors go through
/// [`describe_sdk_error`].
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let chain = std::iter::successors(Some(err), |e| e.source());
    chain
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// The keys under `prefix` in `bucket` (ListObjectsV2, page by page); with a `delimiter`, only
/// those not under a further one.
pub async fn list_keys(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
) -> Result<Vec<String>, SdkError<ListObjectsV2Error, HttpResponse>> {
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let list = client.list_objects_v2().bucket(bucket).prefix(prefix);
        let out = list
            .set_delimiter(delimiter.map(str::to_owned))
            .set_continuation_token(token.take())
            .send()
            .await?;
        let page = out.contents().iter().filter_map(|o| o.key());
        keys.extend(page.map(str::to_owned));
        match out.next_continuation_token() {
            Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_owned()),
            _ => return Ok(keys),
        }
    }
}

/// The HTTP status of a service error, if the service answered.
pub fn http_status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    match err {
        SdkError::ServiceError(se) => Some(se.raw().status().as_u16()),
        _ => None,
    }
}
