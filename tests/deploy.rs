//! The shipped systemd unit passes `systemd-analyze verify` and rates at most 2.0 on
//! `systemd-analyze security --offline=true` (deploy/check-unit.sh does both).

use std::process::Command;

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let o = Command::new("sh")
        .arg("deploy/check-unit.sh")
        .env("STATWATCH_BIN", env!("CARGO_BIN_EXE_statwatch"))
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
