//! `verify`. (Being written.)

use clap::Args;

/// Arguments of `verify`.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {}

pub async fn run(_args: VerifyArgs) -> anyhow::Result<i32> {
    anyhow::bail!("verify is not built yet")
}
