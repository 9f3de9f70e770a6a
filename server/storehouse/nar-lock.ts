// The one lock key a narinfo's acceptance, the orphan sweep and the quarantine share, so they never race per NAR file.

/** The lock shared by a narinfo's acceptance and the orphan sweep, per NAR file (the narinfo's URL). */
export function narLockKey(url: string): string {
  return `nar-file ${url}`;
}
