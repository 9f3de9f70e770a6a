# A small, honest subset of nixpkgs' `lib`: the functions package files commonly use, with
# nixpkgs' names and semantics, so a package written against this base also works against
# nixpkgs (`flox server --base`). Anything not here is absent rather than approximated.
let
  inherit (builtins)
    attrNames
    concatLists
    concatStringsSep
    elem
    filter
    foldl'
    genList
    head
    length
    listToAttrs
    map
    replaceStrings
    stringLength
    substring
    tail
    ;

  optional = cond: elem: if cond then [ elem ] else [ ];
  optionals = cond: elems: if cond then elems else [ ];
  optionalString = cond: string: if cond then string else "";
  optionalAttrs = cond: as: if cond then as else { };

  concatMap = f: list: concatLists (map f list);
  concatMapStrings = f: list: concatStringsSep "" (map f list);
  concatMapStringsSep = sep: f: list: concatStringsSep sep (map f list);

  nameValuePair = name: value: { inherit name value; };
  mapAttrs = builtins.mapAttrs;
  mapAttrsToList = f: attrs: map (name: f name attrs.${name}) (attrNames attrs);
  filterAttrs =
    pred: set:
    listToAttrs (
      concatMap (
        name:
        let
          v = set.${name};
        in
        if pred name v then [ (nameValuePair name v) ] else [ ]
      ) (attrNames set)
    );
  genAttrs = names: f: listToAttrs (map (n: nameValuePair n (f n)) names);
  attrByPath =
    attrPath: default: set:
    if attrPath == [ ] then
      set
    else if set ? ${head attrPath} then
      attrByPath (tail attrPath) default set.${head attrPath}
    else
      default;

  hasPrefix = pref: str: substring 0 (stringLength pref) str == pref;
  hasSuffix =
    suffix: content:
    let
      lenContent = stringLength content;
      lenSuffix = stringLength suffix;
    in
    lenContent >= lenSuffix && substring (lenContent - lenSuffix) lenContent content == suffix;
  removePrefix =
    prefix: str:
    if hasPrefix prefix str then
      substring (stringLength prefix) (stringLength str - stringLength prefix) str
    else
      str;
  removeSuffix =
    suffix: str:
    if hasSuffix suffix str then substring 0 (stringLength str - stringLength suffix) str else str;

  escapeShellArg = arg: "'${replaceStrings [ "'" ] [ "'\\''" ] (toString arg)}'";
  escapeShellArgs = concatMapStringsSep " " escapeShellArg;

  isDerivation = value: value.type or null == "derivation";
  # nixpkgs picks the `bin` output when there is one; here every package has a single `out`.
  getOutput = output: pkg: pkg.${output} or pkg.out or pkg;
  getBin = getOutput "bin";
  getLib = getOutput "lib";
  getExe =
    pkg:
    let
      main = pkg.meta.mainProgram or (throw "lib.getExe: ${pkg.name} has no meta.mainProgram");
    in
    "${getBin pkg}/bin/${main}";

  makeSearchPath =
    subDir: paths: concatStringsSep ":" (map (p: "${p}/${subDir}") (filter (p: p != null) paths));
  makeBinPath = makeSearchPath "bin";
  makeLibraryPath = makeSearchPath "lib";

  range = first: last: if first > last then [ ] else genList (n: first + n) (last - first + 1);
  unique = foldl' (acc: e: if elem e acc then acc else acc ++ [ e ]) [ ];
  last = list: builtins.elemAt list (length list - 1);
  toList = x: if builtins.isList x then x else [ x ];

  license = spdxId: fullName: free: { inherit spdxId fullName free; shortName = spdxId; };
in
{
  inherit
    optional
    optionals
    optionalString
    optionalAttrs
    concatMap
    concatMapStrings
    concatMapStringsSep
    nameValuePair
    mapAttrs
    mapAttrsToList
    filterAttrs
    genAttrs
    attrByPath
    hasPrefix
    hasSuffix
    removePrefix
    removeSuffix
    escapeShellArg
    escapeShellArgs
    isDerivation
    getOutput
    getBin
    getLib
    getExe
    makeSearchPath
    makeBinPath
    makeLibraryPath
    range
    unique
    last
    toList
    ;
  inherit (builtins)
    attrNames
    attrValues
    concatStringsSep
    elem
    filter
    foldl'
    head
    length
    listToAttrs
    map
    replaceStrings
    tail
    ;
  foldr =
    op: nul: list:
    let
      len = length list;
      fold' = n: if n == len then nul else op (builtins.elemAt list n) (fold' (n + 1));
    in
    fold' 0;
  id = x: x;
  const = x: _: x;
  flip = f: a: b: f b a;
  versionOlder = v1: v2: builtins.compareVersions v2 v1 == 1;
  versionAtLeast = v1: v2: builtins.compareVersions v1 v2 != -1;
  fileContents = file: removeSuffix "\n" (builtins.readFile file);

  licenses = {
    mit = license "MIT" "MIT License" true;
    asl20 = license "Apache-2.0" "Apache License 2.0" true;
    bsd2 = license "BSD-2-Clause" "BSD 2-clause \"Simplified\" License" true;
    bsd3 = license "BSD-3-Clause" "BSD 3-clause \"New\" or \"Revised\" License" true;
    isc = license "ISC" "ISC License" true;
    mpl20 = license "MPL-2.0" "Mozilla Public License 2.0" true;
    gpl2Only = license "GPL-2.0-only" "GNU General Public License v2.0 only" true;
    gpl2Plus = license "GPL-2.0-or-later" "GNU General Public License v2.0 or later" true;
    gpl3Only = license "GPL-3.0-only" "GNU General Public License v3.0 only" true;
    gpl3Plus = license "GPL-3.0-or-later" "GNU General Public License v3.0 or later" true;
    lgpl21Plus = license "LGPL-2.1-or-later" "GNU Lesser General Public License v2.1 or later" true;
    unlicense = license "Unlicense" "The Unlicense" true;
    publicDomain = { shortName = "publicDomain"; fullName = "Public Domain"; free = true; };
    unfree = { shortName = "unfree"; fullName = "Unfree"; free = false; };
  };
  maintainers = { };
  platforms = {
    linux = [ "x86_64-linux" "aarch64-linux" "i686-linux" "armv7l-linux" "riscv64-linux" ];
    all = [ "x86_64-linux" "aarch64-linux" "i686-linux" "armv7l-linux" "riscv64-linux" "x86_64-darwin" "aarch64-darwin" ];
    unix = [ "x86_64-linux" "aarch64-linux" "i686-linux" "armv7l-linux" "riscv64-linux" "x86_64-darwin" "aarch64-darwin" ];
  };
}
