use clap::Parser as _;
use server::cli::{Cli, Command};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    pin_mmap_threshold();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = async {
        let config = server::config::Config::from_env()?;
        server::cli::run(config, cli.command.unwrap_or(Command::Serve)).await
    }
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole cause chain on one line.
            tracing::error!("{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Each password check (Argon2id) works in 19 MiB of memory. glibc raises its mmap threshold
/// after the first such block is freed, so later ones come from per-thread arenas and stay
/// resident: a burst of sign-ins would leave one 19 MiB block behind per blocking thread.
/// A fixed threshold keeps large blocks mapped and returns them to the system when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn pin_mmap_threshold() {
    // SAFETY: mallopt only changes allocator parameters; it is called once at start-up, before
    // the server allocates large blocks.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn pin_mmap_threshold() {}
