# nixpkgs' trivial builders (pkgs/build-support/trivial-builders), same names and arguments.
{
  lib,
  stdenv,
  busybox,
}:
let
  runCommand =
    name: env: buildCommand:
    stdenv.mkDerivation (
      {
        inherit name buildCommand;
        # Trivial outputs are cheaper to rebuild than to download.
        preferLocalBuild = true;
        allowSubstitutes = false;
      }
      // env
    );

  writeTextFile =
    {
      name,
      text,
      executable ? false,
      destination ? "",
      checkPhase ? "",
      meta ? { },
    }:
    runCommand name
      {
        inherit text executable checkPhase meta;
        # Through a file, not the environment: texts can exceed the kernel's argument limits.
        passAsFile = [ "text" ];
      }
      ''
        target="$out${destination}"
        mkdir -p "$(dirname "$target")"
        mv "$textPath" "$target"
        if [ -n "$executable" ]; then chmod +x "$target"; fi
        eval "$checkPhase"
      '';

  writeText = name: text: writeTextFile { inherit name text; };
  writeScript =
    name: text:
    writeTextFile {
      inherit name text;
      executable = true;
    };
  writeScriptBin =
    name: text:
    writeTextFile {
      inherit name text;
      executable = true;
      destination = "/bin/${name}";
      meta.mainProgram = name;
    };
  writeShellScript =
    name: text:
    writeTextFile {
      inherit name;
      executable = true;
      text = ''
        #!${stdenv.shell}
        ${text}
      '';
      checkPhase = ''${stdenv.shell} -n "$target"'';
    };
  writeShellScriptBin =
    name: text:
    writeTextFile {
      inherit name;
      executable = true;
      destination = "/bin/${name}";
      text = ''
        #!${stdenv.shell}
        ${text}
      '';
      checkPhase = ''${stdenv.shell} -n "$target"'';
      meta.mainProgram = name;
    };

  # Like nixpkgs (lndir): directories are merged, files are symlinks, the first path wins.
  symlinkJoin =
    {
      name,
      paths,
      postBuild ? "",
      ...
    }@args:
    runCommand name
      (
        builtins.removeAttrs args [
          "name"
          "postBuild"
        ]
        // {
          inherit postBuild;
          passAsFile = [ "paths" ];
        }
      )
      ''
        mkdir -p "$out"
        for root in $(cat "$pathsPath"); do
          (cd "$root" && find . -mindepth 1) | while IFS= read -r rel; do
            rel="''${rel#./}"
            if [ -d "$root/$rel" ] && [ ! -L "$root/$rel" ]; then
              mkdir -p "$out/$rel"
            elif [ ! -e "$out/$rel" ] && [ ! -L "$out/$rel" ]; then
              ln -s "$root/$rel" "$out/$rel"
            fi
          done
        done
        eval "$postBuild"
      '';
in
{
  inherit
    runCommand
    writeTextFile
    writeText
    writeScript
    writeScriptBin
    writeShellScript
    writeShellScriptBin
    symlinkJoin
    ;
  runCommandLocal = runCommand;
  runtimeShell = stdenv.shell;
}
