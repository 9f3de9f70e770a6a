# `fetchurl` of the bootstrap base set: nixpkgs' name and main arguments, over Nix's own
# `builtin:fetchurl` (the builder `<nix/fetchurl.nix>` uses), so it needs no curl in the set.
# A fixed-output derivation: the hash is of the file's bytes (`nix-prefetch-url URL` prints
# it), or, with `executable = true`, of its NAR, as with nixpkgs.
{ lib }:
{
  url ? null,
  urls ? [ ],
  sha256 ? "",
  hash ? "",
  name ? baseNameOf (toString (if url != null then url else builtins.head urls)),
  executable ? false,
  meta ? { },
  passthru ? { },
}:
let
  allUrls = (if url != null then [ url ] else [ ]) ++ urls;
  outputHash =
    if hash != "" then
      hash
    else if sha256 != "" then
      sha256
    else
      throw "fetchurl: give `sha256` (or `hash`) of ${toString allUrls}: `nix-prefetch-url URL` prints it";
  drv = derivation (
    {
      inherit name executable outputHash;
      builder = "builtin:fetchurl";
      system = "builtin";
      url = builtins.head allUrls;
      urls = allUrls;
      unpack = false;
      outputHashMode = if executable then "recursive" else "flat";
      preferLocalBuild = true;
      impureEnvVars = [
        "http_proxy"
        "https_proxy"
        "ftp_proxy"
        "all_proxy"
        "no_proxy"
      ];
    }
    # An SRI `hash` names its algorithm itself.
    // (if hash != "" then { } else { outputHashAlgo = "sha256"; })
  );
in
if allUrls == [ ] then
  throw "fetchurl: give `url` or `urls`"
else
  drv // passthru // { inherit meta passthru; }
