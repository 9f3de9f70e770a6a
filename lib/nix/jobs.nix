# What the push gate and the evaluator read from an org's repo: for each package, the
# derivation's name, system, .drv path and output paths, as plain JSON-able data. Only
# these are forced, so `meta` and anything else a package carries stay unevaluated.
{
  repo,
  busybox ? null,
  # A nixpkgs checkout to use as the base set instead of the bootstrap one.
  basePath ? null,
  system ? "x86_64-linux",
  # JSON list of package names; null means every package.
  namesJson ? null,
}:
let
  base = if basePath == null then null else import basePath { inherit system; };
  pkgs = import ./framework.nix {
    inherit
      repo
      busybox
      base
      system
      ;
  };
  names = if namesJson == null then builtins.attrNames pkgs else builtins.fromJSON namesJson;
  describe =
    name:
    let
      p = pkgs.${name};
    in
    if builtins.isAttrs p && p.type or null == "derivation" then
      {
        inherit (p) name system drvPath;
        outputs = builtins.listToAttrs (
          map (o: {
            name = o;
            value = p.${o}.outPath;
          }) (p.outputs or [ "out" ])
        );
      }
    else
      { notDerivation = builtins.typeOf p; };
in
builtins.listToAttrs (
  map (name: {
    inherit name;
    value = describe name;
  }) names
)
