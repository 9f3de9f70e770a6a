# The generic builder of the bootstrap base set, run as `<busybox>/bin/sh -e setup.sh`.
# A counterpart of nixpkgs' stdenv/generic/setup.sh with busybox applets for tools: the
# same phase names, hooks and `dont*` switches, so a package file reads the same on both.
set -o pipefail

# Nix starts the build with PATH=/path-not-set: busybox is the only program there is.
export NIX_BUILD_TOP="${NIX_BUILD_TOP:-$PWD}"
export TMP="${TMP:-$NIX_BUILD_TOP}" TMPDIR="${TMPDIR:-$NIX_BUILD_TOP}"
# Hidden, so that sources unpacked into the build directory can never collide with it.
_applets="$NIX_BUILD_TOP/.busybox-bin"
"$busybox/bin/busybox" mkdir -p "$_applets"
"$busybox/bin/busybox" --install -s "$_applets"
PATH="$_applets"
# Inputs come first so that a package's own tools win over busybox applets of the same name.
for _input in $buildInputs $nativeBuildInputs $propagatedBuildInputs; do
  if [ -d "$_input/bin" ]; then PATH="$_input/bin:$PATH"; fi
done
export PATH
export SHELL="$busybox/bin/sh" CONFIG_SHELL="$busybox/bin/sh"

runHook() {
  eval "_hook=\"\${$1:-}\""
  if [ -n "$_hook" ]; then eval "$_hook"; fi
}

stripHash() {
  _base=$(basename "$1")
  echo "${_base#*-}"
}

_makefileHere() {
  [ -e Makefile ] || [ -e makefile ] || [ -e GNUmakefile ]
}

_noMake() {
  echo "error: $1 found a Makefile, but the bootstrap base set has no make:" \
    "write a $2 (or build against nixpkgs)" >&2
  exit 1
}

unpackPhaseDefault() {
  if [ -z "${src:-}" ]; then
    echo "error: no src: set src, or dontUnpack = true for a package without sources" >&2
    exit 1
  fi
  runHook preUnpack
  _dest="$NIX_BUILD_TOP/$(stripHash "$src")"
  if [ -d "$src" ]; then
    echo "unpacking source directory $src"
    cp -r "$src" "$_dest"
  else
    # This busybox's tar does not detect compression by itself: say which by the file name.
    case "$src" in
      *.tar) _tarFlags=xf ;;
      *.tar.gz | *.tgz) _tarFlags=xzf ;;
      *.tar.bz2 | *.tbz2 | *.tbz) _tarFlags=xjf ;;
      *.tar.xz | *.txz) _tarFlags=xJf ;;
      *)
        echo "error: do not know how to unpack $src: give a directory or a .tar[.gz|.bz2|.xz] archive" >&2
        exit 1
        ;;
    esac
    echo "unpacking source archive $src"
    _unpack="$NIX_BUILD_TOP/.unpack"
    mkdir "$_unpack"
    # -o: files belong to the build user, not to whoever owned them in the archive.
    (cd "$_unpack" && tar "$_tarFlags"o "$src")
    # Like nixpkgs: an archive with one top-level directory unpacks to that directory.
    _entries=$(ls -A "$_unpack")
    if [ "$(echo "$_entries" | wc -l)" = 1 ] && [ -d "$_unpack/$_entries" ]; then
      _dest="$NIX_BUILD_TOP/$_entries"
      mv "$_unpack/$_entries" "$_dest"
      rmdir "$_unpack"
    else
      _dest="$NIX_BUILD_TOP/source"
      mv "$_unpack" "$_dest"
    fi
  fi
  chmod -R u+w "$_dest"
  sourceRoot="${sourceRoot:-$_dest}"
  runHook postUnpack
}

patchPhaseDefault() {
  runHook prePatch
  for _patch in ${patches:-}; do
    echo "applying patch $_patch"
    case "$_patch" in
      *.gz) gunzip -c "$_patch" ;;
      *.bz2) bunzip2 -c "$_patch" ;;
      *.xz) unxz -c "$_patch" ;;
      *) cat "$_patch" ;;
    esac | patch ${patchFlags:--p1}
  done
  runHook postPatch
}

configurePhaseDefault() {
  runHook preConfigure
  if [ -x ./configure ]; then
    ./configure --prefix="$out" ${configureFlags:-}
  else
    echo "no configure script, doing nothing"
  fi
  runHook postConfigure
}

buildPhaseDefault() {
  runHook preBuild
  if _makefileHere; then _noMake buildPhase buildPhase; fi
  echo "no Makefile, doing nothing"
  runHook postBuild
}

checkPhaseDefault() {
  runHook preCheck
  if _makefileHere; then _noMake checkPhase checkPhase; fi
  runHook postCheck
}

installPhaseDefault() {
  runHook preInstall
  if _makefileHere; then _noMake installPhase installPhase; fi
  echo "error: no installPhase: write one that creates \$out" >&2
  exit 1
}

# Minimal: scripts installed with a `#!/bin/sh` line would otherwise depend on the machine
# they land on; they get this package set's shell, which is in their closure.
fixupPhaseDefault() {
  runHook preFixup
  if [ -d "$out/bin" ]; then
    for _f in "$out"/bin/*; do
      [ -f "$_f" ] && [ ! -L "$_f" ] || continue
      case "$(head -c 64 "$_f" | head -n 1)" in
        "#!/bin/sh" | "#!/bin/sh "* | "#!/usr/bin/env sh" | "#!/usr/bin/env sh "*)
          sed -i "1s|^#! *[^ ]*\( sh\)\{0,1\}|#!$busybox/bin/sh|" "$_f"
          ;;
      esac
    done
  fi
  runHook postFixup
}

_runPhase() {
  _phase=$1
  eval "_custom=\"\${$_phase:-}\""
  echo "running $_phase"
  if [ -n "$_custom" ]; then
    eval "$_custom"
  else
    "${_phase}Default"
  fi
}

genericBuild() {
  if [ -n "${buildCommand:-}" ]; then
    eval "$buildCommand"
    return
  fi
  for _p in ${phases:-unpackPhase patchPhase configurePhase buildPhase checkPhase installPhase fixupPhase}; do
    case "$_p" in
      unpackPhase) [ -z "${dontUnpack:-}" ] || continue ;;
      patchPhase) [ -z "${dontPatch:-}" ] || continue ;;
      configurePhase) [ -z "${dontConfigure:-}" ] || continue ;;
      buildPhase) [ -z "${dontBuild:-}" ] || continue ;;
      checkPhase) [ -n "${doCheck:-}" ] || continue ;;
      installPhase) [ -z "${dontInstall:-}" ] || continue ;;
      fixupPhase) [ -z "${dontFixup:-}" ] || continue ;;
    esac
    _runPhase "$_p"
    if [ "$_p" = unpackPhase ] && [ -n "${sourceRoot:-}" ]; then cd "$sourceRoot"; fi
  done
}

genericBuild
if [ ! -e "$out" ]; then
  echo "error: the build finished without creating \$out ($out)" >&2
  exit 1
fi
