#!/usr/bin/env bash
# npm run setup: install what flox needs on a Debian machine with Node, and nothing that is already there.
# Idempotent and quiet when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

# command-or-file → Debian package that provides it
declare -A need=(
  [git]=git
  [nix-store]=nix-bin
  [fusermount3]=fuse3
  [/bin/busybox]=busybox-static
  [xz]=xz-utils
  [bzip2]=bzip2
  [unshare]=util-linux
  [nginx]=nginx-light
  [wrk]=wrk
  [hyperfine]=hyperfine
  # bench/push-to-built's peer: git http-backend behind nginx needs a CGI bridge
  [/usr/sbin/fcgiwrap]=fcgiwrap
  # tests drive flox init's questions on a real terminal
  [tmux]=tmux
  # the web pages' browser tests (playwright-core drives it)
  [/usr/bin/chromium]=chromium
  # fuse-native's prebuilt addon links against libfuse 2
  [/usr/lib/x86_64-linux-gnu/libfuse.so.2]=libfuse2
  # the production database: tests start a throwaway PostgreSQL server from it
  [/usr/lib/postgresql/15/bin/initdb]=postgresql
  # an S3-compatible object store for the many-servers tests: Ceph's RADOS Gateway on a one-node cluster
  [radosgw]=radosgw
  [ceph-mon]=ceph-mon
  [ceph-osd]=ceph-osd
  [uuidgen]=uuid-runtime
)
missing=()
for what in "${!need[@]}"; do
  if [[ "$what" == /* ]]; then [[ -e "$what" ]] && continue; else command -v "$what" >/dev/null 2>&1 && continue; fi
  missing+=("${need[$what]}")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm deps: install when node_modules is missing or older than the lockfile.
if [[ ! -d node_modules || ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: installing npm dependencies"
  npm install --no-audit --no-fund --loglevel=error
fi

# The compiled CLI and hooks run from dist/.
if [[ ! -f dist/cli/main.js ]] || [[ -n "$(find lib server hooks cli fs-agent bench -name '*.ts' -newer dist/.tsbuildinfo -print -quit 2>/dev/null)" ]]; then
  npx tsc -p tsconfig.json
fi

# npm run setup -- --modern-nix: also Nix 2.26 in .cache/nix-2.26 (tests with FLOX_TEST_NIX=2.26 and --nix-bin use it).
if [[ " $* " == *" --modern-nix "* ]]; then bash cli/setup-modern-nix.sh; fi
