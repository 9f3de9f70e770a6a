// The lock key that narinfo acceptance, the orphan sweep and the quarantine share per NAR file.

/** The lock shared by a narinfo's acceptance and the orphan sweep, per NAR file (the narinfo's URL). */
export function narLockKey(url: string): string {
  return `nar-file ${url}`;
}
