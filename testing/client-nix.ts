// The Nix a test's *client* side runs (fresh machines, test stores): FLOX_TEST_CLIENT_NIX_BIN, set by the runner
// from FLOX_TEST_CLIENT_NIX, so that a 2.26 client can meet a server and builders on 2.8, and the reverse.
export function clientNixDir(): string | undefined {
  return process.env.FLOX_TEST_CLIENT_NIX_BIN || undefined;
}
