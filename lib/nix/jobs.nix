# What the push gate and the evaluator read from an org's repo: for each package, the
# derivation's name, system, .drv path and output paths, as plain JSON-able data, and the
# scheduling hints Hydra also reads from `meta` (timeout, maxSilent, schedulingPriority).
# Nothing else a package carries is forced.
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
  # A broken `meta` must not sink the package: its hints are simply absent then.
  metaOf =
    p:
    let
      m = builtins.tryEval (p.meta or { });
    in
    if m.success && builtins.isAttrs m.value then m.value else { };
  hint =
    meta: key: min:
    let
      v = builtins.tryEval (meta.${key} or null);
    in
    if v.success && builtins.isInt v.value && v.value >= min then v.value else null;
  describe =
    name:
    let
      p = pkgs.${name};
      meta = metaOf p;
    in
    if builtins.isAttrs p && p.type or null == "derivation" then
      {
        inherit (p) name system drvPath;
        timeoutSeconds = hint meta "timeout" 1;
        maxSilentSeconds = hint meta "maxSilent" 1;
        priority = hint meta "schedulingPriority" (-1000000);
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
