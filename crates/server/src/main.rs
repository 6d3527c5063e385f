//! The `pollux` binary: parse settings (flags > environment > config file > defaults), start
//! the server, run until stopped. `pollux check-config` validates and prints the effective
//! settings instead, secrets redacted.

use clap::{CommandFactory, Parser, Subcommand};
use pollux_server::config_file::{self, LoadError};
use pollux_server::Config;

/// An OpenAI-compatible server in front of Google's Gemini API.
#[derive(Debug, Parser)]
#[command(name = "pollux", version, about)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate the settings (flags, environment, `--config FILE`) and print the effective
    /// values with their sources; secrets are shown only as fingerprints.
    CheckConfig,
}

fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let loaded = match config_file::load::<Cli>(std::env::args_os().collect()) {
        Ok(loaded) => loaded,
        Err(LoadError::Cli(e)) => e.exit(),
        Err(LoadError::File(message)) => {
            eprintln!("pollux: {message}");
            return std::process::ExitCode::from(2);
        }
    };
    let valid = loaded.value.config.validate();
    if let Some(Command::CheckConfig) = loaded.value.command {
        print!("{}", loaded.describe(&Cli::command()));
        return match valid {
            Ok(()) => {
                println!("# configuration is valid");
                std::process::ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("pollux: invalid configuration: {message}");
                std::process::ExitCode::from(2)
            }
        };
    }
    if let Err(message) = valid {
        eprintln!("pollux: {message}");
        return std::process::ExitCode::from(2);
    }
    let config = loaded.value.config;
    let upstream = if config.is_vertex() {
        format!("Vertex AI at {}", config.vertex_base())
    } else {
        config.upstream_base().to_owned()
    };
    let pool = config.pool_keys().len();
    let oauth = config.is_vertex() && config.vertex_project.is_some();
    let key_mode = match (pool, config.client_keys.len()) {
        _ if oauth => "Google Cloud credentials".to_owned(),
        (0, _) => "client bearer tokens as Gemini keys".to_owned(),
        (n, 0) => format!("{n} upstream key(s), no client keys"),
        (n, c) => format!("{n} upstream key(s), {c} client key(s)"),
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
