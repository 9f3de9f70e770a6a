#!/usr/bin/env bash
# npm run setup -- --modern-nix: Debian 13's Nix 2.26 in a private prefix beside the host's 2.8, without touching apt.
# Debian 12 cannot install it (it needs libc6 >= 2.38), so the packages are fetched with a private apt state,
# unpacked with dpkg-deb -x and run under Debian 13's own loader; bin/ holds one wrapper per Nix command.
# Idempotent and quiet when the prefix already answers `nix --version`. (../shared/NIX-PROTOCOLS.md, "A modern Nix")
set -euo pipefail
cd "$(dirname "$0")/.."

version=2.26
prefix="${FLOX_MODERN_NIX_PREFIX:-$PWD/.cache/nix-$version}"
if "$prefix/bin/nix" --version 2>/dev/null | grep -q "(Nix) $version\."; then exit 0; fi

echo "setup: installing Nix $version from Debian 13 into $prefix"
mirror="${FLOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
work="$prefix.tmp"
rm -rf "$work" "$prefix"
apt="$work/apt"
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/etc/sources.list.d" "$apt/etc/preferences.d" "$work/root"
touch "$apt/status"
echo "deb $mirror trixie main" >"$apt/etc/sources.list"
# Every path apt would read or write is redirected, so the host's sources, lists and dpkg database stay untouched;
# an empty dpkg status makes apt fetch the whole dependency closure (libc included).
opts=(
  -o "Dir::State=$apt" -o "Dir::State::lists=$apt/lists" -o "Dir::State::status=$apt/status"
  -o "Dir::Cache=$apt/cache" -o "Dir::Etc::sourcelist=$apt/etc/sources.list"
  -o "Dir::Etc::sourceparts=$apt/etc/sources.list.d" -o "Dir::Etc::preferencesparts=$apt/etc/preferences.d"
  -o "APT::Architecture=amd64" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root"
)
apt-get "${opts[@]}" update -qq >/dev/null
apt-get "${opts[@]}" install -y -qq --download-only nix-bin bash-static >/dev/null
for deb in "$apt"/cache/archives/*.deb; do dpkg-deb -x "$deb" "$work/root"; done

root="$work/root"
mkdir -p "$prefix/bin" "$prefix/lib" "$prefix/libexec"
cp "$root/usr/bin/nix" "$prefix/libexec/nix"
cp "$root/usr/bin/bash-static" "$prefix/libexec/bash-static"
loader="$root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
cp -L "$loader" "$prefix/lib/ld-linux-x86-64.so.2"
# Only the libraries Debian 13's loader resolves for nix are kept (about 50 MB instead of the closure's 200 MB).
"$loader" --library-path "$root/usr/lib/x86_64-linux-gnu" --list "$root/usr/bin/nix" |
  awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | while read -r lib; do cp -L "$lib" "$prefix/lib/"; done

# Under an explicit loader /proc/self/exe is ld.so, so everything Nix would find through it is named here:
# NIX_BIN_DIR for nix-channel's nix-env/nix-build, the build hook, and a static /bin/sh for the sandbox.
# The caller's NIX_CONFIG comes after ours, so a build-hook or sandbox-paths of its own still wins.
wrapper() { # name argv0
  cat >"$prefix/$1" <<EOF
#!/bin/sh
# Nix $version from Debian 13 under its own loader (written by cli/setup-modern-nix.sh).
p='$prefix'
export NIX_BIN_DIR="\$p/bin"
NIX_CONFIG="build-hook = \$p/libexec/build-remote
sandbox-paths = /bin/sh=\$p/libexec/bash-static
\${NIX_CONFIG-}"
export NIX_CONFIG
exec "\$p/lib/ld-linux-x86-64.so.2" --library-path "\$p/lib" --argv0 $2 "\$p/libexec/nix" "\$@"
EOF
  chmod +x "$prefix/$1"
}
for cmd in nix nix-build nix-channel nix-collect-garbage nix-copy-closure nix-daemon nix-env nix-hash \
  nix-instantiate nix-prefetch-url nix-shell nix-store; do
  wrapper "bin/$cmd" "$cmd"
done
wrapper libexec/build-remote build-remote
rm -rf "$work"
"$prefix/bin/nix" --version | grep -q "(Nix) $version\." || { echo "setup: $prefix/bin/nix does not run" >&2; exit 1; }
