//! `backfill`. (Being written.)

use clap::Args;

/// Arguments of `backfill`.
#[derive(Debug, Clone, Args)]
pub struct BackfillArgs {}

pub async fn run(_args: BackfillArgs) -> anyhow::Result<i32> {
    anyhow::bail!("backfill is not built yet")
}
