#!/bin/sh
# Builds the Debian package target/debian/statwatch_<version>_<arch>.deb (contents: the
# [package.metadata.deb] assets in Cargo.toml). cargo-deb runs no build steps of its own, so
# this script makes the generated assets first:
#   target/dist/man/*.1, target/dist/completions/*   `statwatch package-assets`, from the
#       clap definitions the binary parses (never stale: made from the binary being packed)
#   target/dist/statwatch.toml   config/statwatch.toml with its state_dir line set to
#       /var/lib/statwatch, so that `statwatch series` in a shell finds the service's store
# Needs cargo-deb 3.x (cargo install cargo-deb --locked).
set -eu
cd "$(dirname "$0")/.."

command -v cargo-deb >/dev/null 2>&1 || {
    echo "build-deb: cargo-deb not found (cargo install cargo-deb --locked)" >&2
    exit 1
}

cargo build --release --locked

dist=target/dist
rm -rf "$dist"
mkdir -p "$dist"
target/release/statwatch package-assets "$dist"

from='state_dir = "${STATE_DIRECTORY:-var/statwatch}"'
to='state_dir = "/var/lib/statwatch"'
[ "$(grep -cxF "$from" config/statwatch.toml)" = 1 ] || {
    echo "build-deb: config/statwatch.toml has no line: $from (update this script)" >&2
    exit 1
}
awk -v from="$from" -v to="$to" '$0 == from { print to; next } { print }' \
    config/statwatch.toml >"$dist/statwatch.toml"

cargo deb --no-build
