# `stdenv` of the bootstrap base set: nixpkgs' mkDerivation interface over a busybox builder.
{
  lib,
  busybox,
  system,
}:
let
  shell = "${busybox}/bin/sh";
  platform = {
    inherit system;
    isLinux = lib.hasSuffix "-linux" system;
    isDarwin = lib.hasSuffix "-darwin" system;
    isx86_64 = lib.hasPrefix "x86_64-" system;
    isAarch64 = lib.hasPrefix "aarch64-" system;
  };

  # Like nixpkgs, also takes `finalAttrs: { … }`: the attributes as finally passed.
  mkDerivation =
    argsOrFun:
    if builtins.isFunction argsOrFun then
      let
        finalAttrs = argsOrFun finalAttrs;
      in
      mkDerivationFromAttrs finalAttrs
    else
      mkDerivationFromAttrs argsOrFun;

  mkDerivationFromAttrs =
    args:
    let
      meta = args.meta or { };
      passthru = args.passthru or { };
      name =
        if args ? name then
          args.name
        else if args ? pname && args ? version then
          "${args.pname}-${args.version}"
        else if args ? pname then
          args.pname
        else
          throw "stdenv.mkDerivation: give `name`, or `pname` and `version`";
      # Everything else reaches the builder as environment variables, as with nixpkgs
      # (including its newer `env = { ... }` spelling).
      drvEnv =
        builtins.removeAttrs args [
          "meta"
          "passthru"
          "name"
          "env"
        ]
        // (args.env or { })
        // {
          inherit name system busybox;
          builder = shell;
          args = [
            "-e"
            ./setup.sh
          ];
        };
      drv = derivation drvEnv;
      withExtras =
        d:
        d
        // passthru
        // {
          inherit meta passthru;
          overrideAttrs = f: mkDerivation (args // (if builtins.isFunction f then f args else f));
        };
    in
    withExtras drv;
in
{
  inherit
    mkDerivation
    shell
    system
    ;
  hostPlatform = platform;
  buildPlatform = platform;
  targetPlatform = platform;
  inherit (platform) isLinux isDarwin;
}
