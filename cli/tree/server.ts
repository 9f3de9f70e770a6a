// `flox server`: runs the server (git hosting, API, Storehouse); the flags are its settings. Actions import their module on demand.
import type { Command } from "commander";
import { examples } from "./help.js";

export function registerServer(program: Command): void {
  const server = program
    .command("server")
    .description("run the flox server (git hosting, API, Storehouse)")
    // Checked in the action, not by commander: commander would demand it of `flox server migrate-db` too.
    .option(
      "--data-dir <dir>",
      "where everything is kept (db.sqlite, repos/, store/, keys/, logs/) (required)",
    )
    .option("--listen <host:port>", "address to listen on; port 0 picks a free port", "127.0.0.1:8080")
    .option(
      "--database <url>",
      "sqlite:PATH or postgres://USER@HOST:PORT/DB (default: $FLOX_DATABASE_URL, else sqlite:DATA_DIR/db.sqlite)",
    )
    .option("--admin-token <token>", "first admin token (default: $FLOX_ADMIN_TOKEN, else one is generated)")
    .option("--base <path>", "use this nixpkgs tree as the base package set instead of the bootstrap set")
    .option("--max-file-size <bytes>", "largest file a push may contain", "10485760")
    .option(
      "--max-repo-files <n>",
      "most files a pushed tree may hold (default: $FLOX_MAX_REPO_FILES, else 20000)",
    )
    .option(
      "--max-repo-size <bytes>",
      "most bytes of files a pushed tree may hold, e.g. 100M (default: $FLOX_MAX_REPO_SIZE, else 100M)",
    )
    .option(
      "--eval-memory <bytes>",
      "address space each Nix evaluation may use, e.g. 2G (default: $FLOX_EVAL_MEMORY, else 2G)",
    )
    .option(
      "--nix-bin <dir>",
      "the directory of the Nix to run, e.g. /nix/var/nix/profiles/default/bin (default: $FLOX_NIX_BIN, else PATH)",
    )
    .option(
      "--no-nix-daemon",
      "do not run the shared Nix daemon nor serve GET /nix-daemon (default: run it; $FLOX_NIX_DAEMON=off too)",
    )
    .option("--private-cache", "reading the binary cache (/cache) needs a token too (default: public reads)")
    .option(
      "--nar-store <url>",
      "where NARs, listings and channel tarballs are kept: file:DIR (default DATA_DIR/store) or s3://BUCKET/PREFIX?endpoint=http://HOST:PORT&region=R, with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (default: $FLOX_NAR_STORE)",
    )
    .option(
      "--repos-dir <dir>",
      "where the orgs' git repos live (default: $FLOX_REPOS_DIR, else DATA_DIR/repos); servers sharing one database share this directory (a network filesystem), and pushes to one repo take turns across them",
    )
    .option(
      "--nar-redirect",
      "answer NAR reads with a redirect to a presigned URL of the s3:// store instead of streaming them (clients must reach the store)",
    )
    .option(
      "--signing-key <file>",
      "the binary-cache secret key to sign with (nix-store --generate-binary-cache-key); give every server of a fleet the same file (default: $FLOX_SIGNING_KEY, else DATA_DIR/keys/secret-key, made on first start)",
    )
    .option(
      "--nar-sweep-every <s>",
      "seconds between sweeps of NAR files no accepted narinfo names (default 600)",
    )
    .option(
      "--nar-sweep-grace <s>",
      "an orphaned NAR or temp file younger than this is left alone: an upload in flight (default 3600)",
    )
    .option("--nar-verify-every <s>", "seconds between runs of the NAR files' re-hash check (default 3600)")
    .option(
      "--nar-verify-budget <bytes>",
      "bytes of NAR files one run of the check reads, never-checked and longest-unchecked first (default 1 GiB)",
    )
    .option(
      "--gc-schedule <cron>",
      'when the Storehouse is garbage-collected: a cron expression, or "off" (default "17 3 * * *", nightly)',
    )
    .option(
      "--storehouse-target <size>",
      "collections stop once the Storehouse is under this, e.g. 200G: least recently used unreachable paths go first (default: every unreachable path goes)",
    )
    .action(async (opts) => {
      if (opts.dataDir === undefined) server.error("error: required option '--data-dir <dir>' not specified");
      const { runServerCommand } = await import("../../server/serve.js");
      await runServerCommand(opts);
    });
  examples(server, [
    "flox server --data-dir /var/lib/flox --listen 0.0.0.0:8080",
    "FLOX_ADMIN_TOKEN=secret flox server --data-dir ./data --listen 127.0.0.1:0",
    "flox server --data-dir ./data --signing-key /etc/flox/cache-key --nar-store 's3://flox-nars/cache?endpoint=http://10.0.0.5:7480'",
  ]);
  const migrate = server
    .command("migrate-db")
    .description(
      "copy a stopped server's SQLite database into an empty PostgreSQL database, then check every table's row count",
    )
    .requiredOption("--from <url>", "the SQLite database, sqlite:PATH (a server's is DATA_DIR/db.sqlite)")
    .requiredOption("--to <url>", "the PostgreSQL database, postgres://USER@HOST:PORT/DB (createdb it first)")
    .option(
      "--force",
      "delete everything in the target first, instead of refusing a database that holds rows",
    )
    .action(async (opts) => {
      const { runMigrateDbCommand } = await import("../../server/db/migrate-db.js");
      await runMigrateDbCommand(opts);
    });
  examples(migrate, [
    "flox server migrate-db --from sqlite:/var/lib/flox/db.sqlite --to postgres://flox@db.lan:5432/flox",
  ]);
}
