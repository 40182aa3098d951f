//! `tollgate`: the whole platform in one process, or one command on its data directory (see
//! `tollgate_local::cli`). Configuration comes from the environment (see the README's
//! configuration reference).

use std::process::ExitCode;
use tollgate_local::cli::{self, Command};

/// See `tollgate_local::allocator`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Before the runtime starts its threads (see `tune`).
    tollgate_local::allocator::tune();
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("tollgate: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match cli::parse(&args) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("tollgate: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    // The server logs to stdout; a command's stdout is its answer, so its logs go to stderr.
    match command {
        Command::Serve => tollgate_http::telemetry::init(),
        _ => tollgate_http::telemetry::init_to_stderr(),
    }
    let outcome = match command {
        Command::Help => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Command::Serve => tollgate_local::run_from_env().await.map(|()| true),
        Command::Job { job, at } => match tollgate_local::Config::from_env() {
            Ok(config) => cli::run_job_command(&config, job, at).await,
            Err(e) => Err(tollgate_local::ServerError::Config(e)),
        },
        Command::Restore { file } => tollgate_local::restore_from_env(&file).map(|()| true),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            tracing::error!(error = %e, "tollgate stopped with an error");
            eprintln!("tollgate: {e}");
            ExitCode::FAILURE
        }
    }
}
