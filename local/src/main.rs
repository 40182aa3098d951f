//! `tollgate`: the whole platform in one process. Configuration comes from the environment
//! (see the README's configuration reference).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tollgate_http::telemetry::init();
    match tollgate_local::run_from_env().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "tollgate stopped with an error");
            eprintln!("tollgate: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
