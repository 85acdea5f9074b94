#!/bin/sh
# The Debian package as a user meets it: build it (deploy/build-deb.sh), `apt-get install` it,
# then check the installed files work: `statwatch check` on the installed config, as root and
# as an unprivileged user (the unit's DynamicUser= is one); the installed unit through
# deploy/check-unit.sh (systemd-analyze verify, security score); the unit enabled; the man
# page and completions in place; an edited conffile kept over a reinstall; then remove and
# purge. Works where systemd is not PID 1 (CI): the maintainer scripts then enable the unit
# but start nothing. Run as root on Debian (CI: .ci/run); purges the package when it exits.
set -eu
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || {
    echo "package-test: run as root (it installs a package)" >&2
    exit 1
}
command -v cargo-deb >/dev/null 2>&1 || cargo install cargo-deb --locked
sh deploy/build-deb.sh
deb=$(ls -t target/debian/statwatch_*.deb | head -n 1)

fail() {
    echo "package-test: $*" >&2
    exit 1
}
trap 'apt-get purge -y -qq statwatch >/dev/null 2>&1 || true' EXIT INT TERM
export DEBIAN_FRONTEND=noninteractive

echo "== the package names the glibc its binary needs"
# Packed relocations (build.rs) need glibc 2.36; the computed dependencies do not see it.
if readelf -V "target/release/statwatch" 2>/dev/null | grep -q GLIBC_ABI_DT_RELR; then
    dpkg-deb -f "$deb" Depends | grep -qF 'libc6 (>= 2.36)' ||
        fail "the binary packs its relocations but the package does not depend on libc6 (>= 2.36)"
fi

echo "== apt-get install ./$deb"
apt-get install -y "./$deb"

echo "== the installed statwatch check, as root and as nobody"
# From / with no STATWATCH_CONFIG: the binary finds /etc/statwatch/statwatch.toml by itself.
out=$(cd / && env -u STATWATCH_CONFIG /usr/bin/statwatch check) || fail "statwatch check failed: $out"
printf '%s\n' "$out"
printf '%s\n' "$out" | grep -qxF 'config /etc/statwatch/statwatch.toml is valid' ||
    fail "check did not read /etc/statwatch/statwatch.toml"
printf '%s\n' "$out" | grep -qxF 'state_dir  /var/lib/statwatch' ||
    fail "the packaged config's state_dir is not /var/lib/statwatch"
(cd / && setpriv --reuid=nobody --regid=nogroup --clear-groups \
    env STATWATCH_CONFIG=/etc/statwatch/statwatch.toml /usr/bin/statwatch check >/dev/null) ||
    fail "statwatch check failed as an unprivileged user"

echo "== the installed unit"
UNIT=/usr/lib/systemd/system/statwatch.service STATWATCH_BIN=/usr/bin/statwatch \
    sh deploy/check-unit.sh
[ -L /etc/systemd/system/multi-user.target.wants/statwatch.service ] ||
    fail "the unit was not enabled"

echo "== conffiles, man page, completions, docs"
dpkg-query -W -f='${Conffiles}\n' statwatch | grep -q '^ /etc/statwatch/statwatch.toml ' ||
    fail "/etc/statwatch/statwatch.toml is not a conffile"
zcat /usr/share/man/man1/statwatch.1.gz | grep -q 'statwatch\\-check(1)' ||
    fail "statwatch(1) does not list the subcommands"
bash -c '. /usr/share/bash-completion/completions/statwatch && complete -p statwatch' ||
    fail "the bash completion does not load"
for f in /usr/share/zsh/vendor-completions/_statwatch \
    /usr/share/fish/vendor_completions.d/statwatch.fish \
    /usr/share/doc/statwatch/README.md /usr/share/doc/statwatch/example.toml; do
    [ -s "$f" ] || fail "$f missing"
done

echo "== reinstall (the upgrade path of the maintainer scripts) keeps an edited conffile"
echo '# edited by package-test' >>/etc/statwatch/statwatch.toml
apt-get install -y --reinstall -o Dpkg::Options::=--force-confold "./$deb"
grep -qxF '# edited by package-test' /etc/statwatch/statwatch.toml ||
    fail "the reinstall overwrote the edited conffile"

echo "== dpkg -L statwatch"
dpkg -L statwatch

echo "== remove, purge"
apt-get remove -y statwatch
[ ! -e /usr/bin/statwatch ] || fail "remove left /usr/bin/statwatch"
[ -f /etc/statwatch/statwatch.toml ] || fail "remove deleted the conffile"
apt-get purge -y statwatch
[ ! -e /etc/statwatch/statwatch.toml ] || fail "purge left the conffile"
[ ! -e /etc/systemd/system/multi-user.target.wants/statwatch.service ] ||
    fail "purge left the unit enabled"
echo "package-test: ok"
