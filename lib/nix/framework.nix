# An org's nixexprs repo as a package set: one attribute per `pkgs/<name>/default.nix`,
# called like nixpkgs' callPackage with arguments from the org's own packages first and
# the base set second.
{
  repo,
  # An already imported package set (e.g. nixpkgs); null means the bootstrap base set.
  base ? null,
  # A directory with bin/busybox and bin/sh, for the bootstrap base set.
  busybox ? null,
  system ? "x86_64-linux",
  # One package name: return only that attribute (the rest stay reachable as arguments).
  only ? null,
}:
let
  baseSet =
    if base != null then
      base
    else if busybox != null then
      import ./base { inherit busybox system; }
    else
      throw "flox framework: give `base` (a package set) or `busybox` (a directory holding bin/busybox)";

  pkgsDir = repo + "/pkgs";
  entries = if builtins.pathExists pkgsDir then builtins.readDir pkgsDir else { };
  names = builtins.filter (
    n: entries.${n} == "directory" && builtins.pathExists (pkgsDir + "/${n}/default.nix")
  ) (builtins.attrNames entries);

  # `self` is the name the result will have in the org set, or null.
  callPackageIn =
    self: fn: overrides:
    let
      f = if builtins.isFunction fn then fn else import fn;
      wanted = builtins.intersectAttrs (builtins.functionArgs f) scope;
      # A package asking for its own name gets the base set's package of that name (the one
      # it extends, like `prev` in an overlay): the org's own would be itself, a loop.
      auto =
        if self != null && wanted ? ${self} then
          builtins.removeAttrs wanted [ self ]
          // (if baseSet ? ${self} then { ${self} = baseSet.${self}; } else { })
        else
          wanted;
      call = more: f (auto // overrides // more);
      result = call { };
    in
    if !builtins.isFunction f then
      f
    else if builtins.isAttrs result then
      result // { override = more: call more; }
    else
      result;

  callPackage = callPackageIn null;

  org = builtins.listToAttrs (
    map (name: {
      inherit name;
      value = callPackageIn name (pkgsDir + "/${name}/default.nix") { };
    }) names
  );

  scope = baseSet // org // { inherit callPackage; };
in
if only == null then org else { ${only} = org.${only}; }
