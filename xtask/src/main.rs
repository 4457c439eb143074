//! `xtask`: developer tasks. `xtask dev` is `make dev` (after `scripts/dev.sh` bootstraps and
//! builds): the local stack with a demo client, until Ctrl-C.
use std::process::ExitCode;

const USAGE: &str = "usage: xtask dev

  dev   the local stack on 127.0.0.1 (moto, portcullis --local init, a demo client, the
        functions under cargo lambda watch, rebuilt on changes) until Ctrl-C, which stops
        everything it started. Ports: PORTCULLIS_PORT (default 9000), PORTCULLIS_AWS_PORT
        (default 5000). Waits: PORTCULLIS_MOTO_TIMEOUT (30 s), PORTCULLIS_WATCH_TIMEOUT (120 s).
        Run it through `make dev`, which bootstraps and builds first.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["dev"] => match xtask::dev::run() {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                eprintln!("dev: error: {e}");
                ExitCode::FAILURE
            }
        },
        [] | ["-h"] | ["--help"] | ["help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("xtask: error: unknown arguments {args:?}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
