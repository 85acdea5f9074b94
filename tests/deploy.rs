//! The shipped systemd unit passes `systemd-analyze verify` and rates at most 2.0 on
//! `systemd-analyze security --offline=true` (deploy/check-unit.sh does both); the hidden
//! `package-assets` command writes the man pages and completions the Debian package ships.
//! (The package itself is built, installed and removed by deploy/package-test.sh, in CI.)

mod common;

use std::process::Command;

use clap::CommandFactory;
use common::{Statwatch, BIN};
use statwatch::cli::Cli;

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let o = Command::new("sh")
        .arg("deploy/check-unit.sh")
        .env("STATWATCH_BIN", BIN)
        .output()
        .expect("run deploy/check-unit.sh");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.status.success(),
        "deploy/check-unit.sh failed (needs systemd-analyze: apt-get install -y systemd):\n{out}"
    );
}

/// Every subcommand has a man page and is completed by every shell; the hidden generator
/// itself is in none of them; it needs no config.
#[test]
fn package_assets_cover_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let o = Statwatch::without_config()
        .args([
            std::ffi::OsStr::new("package-assets"),
            dir.path().as_os_str(),
        ])
        .env("STATWATCH_CONFIG", dir.path().join("no-such-config.toml"))
        .command()
        .current_dir(dir.path())
        .output()
        .expect("run statwatch package-assets");
    assert!(
        o.status.success(),
        "package-assets failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let read = |p: &str| {
        std::fs::read_to_string(dir.path().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
    };
    let man = read("man/statwatch.1");
    let completions = [
        read("completions/statwatch.bash"),
        read("completions/_statwatch"),
        read("completions/statwatch.fish"),
    ];
    let cli = Cli::command();
    let names: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
    assert!(names.contains(&"check"), "{names:?}");
    for name in &names {
        assert!(
            man.contains(&format!("statwatch\\-{}(1)", name.replace('-', "\\-"))),
            "statwatch.1 does not name {name}"
        );
        read(&format!("man/statwatch-{name}.1"));
        for c in &completions {
            assert!(c.contains(name), "a completion lacks {name}");
        }
    }
    assert!(
        !man.contains("package\\-assets"),
        "statwatch.1 names the hidden command"
    );
    assert!(!dir.path().join("man/statwatch-package-assets.1").exists());
    for c in &completions {
        assert!(
            !c.contains("package-assets"),
            "a completion names the hidden command"
        );
    }
}
