//! `doctor`: checks that the queue and bucket are set up for the writer. (Being written.)

use clap::Args;

/// Arguments of `doctor`.
#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {}

pub async fn run(_args: DoctorArgs) -> anyhow::Result<i32> {
    anyhow::bail!("doctor is not built yet")
}
