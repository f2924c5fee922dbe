//! `requeue`. (Being written.)

use clap::Args;

/// Arguments of `requeue`.
#[derive(Debug, Clone, Args)]
pub struct RequeueArgs {}

pub async fn run(_args: RequeueArgs) -> anyhow::Result<i32> {
    anyhow::bail!("requeue is not built yet")
}
