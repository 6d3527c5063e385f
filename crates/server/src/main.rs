//! The `pollux` binary: parse settings, start the server, run until stopped.

use clap::Parser;
use pollux_server::Config;

fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let config = Config::parse();
    if let Err(message) = config.validate() {
        eprintln!("pollux: {message}");
        return std::process::ExitCode::from(2);
    }
    let upstream = config.upstream_base().to_owned();
    let key_mode = if config.api_key.is_some() {
        "GEMINI_API_KEY"
    } else {
        "client bearer tokens"
    };
    let result = actix_web::rt::System::new().block_on(async move {
        let (server, addr) = pollux_server::bind(config)?;
        log::info!("pollux listening on http://{addr} (upstream {upstream}, keys from {key_mode})");
        server.await
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pollux: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
