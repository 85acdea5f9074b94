//! `statwatch package-assets DIR` (hidden): the man pages and the bash, zsh and fish
//! completions, generated from the clap definitions in `cli`, so they cannot drift from the
//! command line the binary parses. The package build (deploy/build-deb.sh) runs it and packs
//! what it writes; the files are build products, not kept in git.

use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser, Subcommand};
use clap_complete::Shell;

use super::{Cli, CliError};

/// The hidden command line, parsed apart from (and before) [`Cli`]: as a hidden subcommand
/// of `Cli` it would still be offered by the completions, which clap_complete writes for
/// hidden subcommands too.
#[derive(Debug, Parser)]
#[command(name = "statwatch")]
struct Hidden {
    #[command(subcommand)]
    command: HiddenCommand,
}

#[derive(Debug, Subcommand)]
enum HiddenCommand {
    /// Write the man pages and shell completions into DIR (for the package build).
    PackageAssets { dir: PathBuf },
}

/// DIR, when the command line is `statwatch package-assets DIR`.
pub fn package_assets_dir() -> Option<PathBuf> {
    match Hidden::try_parse().ok()?.command {
        HiddenCommand::PackageAssets { dir } => Some(dir),
    }
}

/// Writes `DIR/man/statwatch.1` (and one `statwatch-COMMAND.1` per subcommand) and
/// `DIR/completions/{statwatch.bash,_statwatch,statwatch.fish}`.
pub fn package_assets(dir: &Path) -> Result<(), CliError> {
    let io = |what: &Path, e: std::io::Error| {
        CliError::Runtime(format!("cannot write {}: {e}", what.display()))
    };
    let man = dir.join("man");
    std::fs::create_dir_all(&man).map_err(|e| io(&man, e))?;
    clap_mangen::generate_to(Cli::command(), &man).map_err(|e| io(&man, e))?;
    let completions = dir.join("completions");
    std::fs::create_dir_all(&completions).map_err(|e| io(&completions, e))?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut Cli::command(), "statwatch", &completions)
            .map_err(|e| io(&completions, e))?;
    }
    Ok(())
}
