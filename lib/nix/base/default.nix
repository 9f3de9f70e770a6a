# The bootstrap base package set: what an org's packages may take as arguments when the
# server runs without nixpkgs. Its only binary is a static busybox.
{
  busybox,
  system ? "x86_64-linux",
}:
let
  # A fixed name, so the store path depends only on the binary's contents and not on
  # where the server keeps its busybox directory.
  busyboxStorePath = builtins.path {
    path = busybox;
    name = "busybox-static";
  };
  lib = import ./lib.nix;
  stdenv = import ./stdenv.nix {
    inherit lib system;
    busybox = busyboxStorePath;
  };
  trivial = import ./trivial-builders.nix {
    inherit lib stdenv;
    busybox = busyboxStorePath;
  };
  fetchurl = import ./fetchurl.nix { inherit lib; };
in
trivial
// {
  inherit lib stdenv system fetchurl;
  busybox = busyboxStorePath;
}
