//! `stats`. (Being written.)

use clap::Args;

/// Arguments of `stats`.
#[derive(Debug, Clone, Args)]
pub struct StatsArgs {}

pub async fn run(_args: StatsArgs) -> anyhow::Result<i32> {
    anyhow::bail!("stats is not built yet")
}
