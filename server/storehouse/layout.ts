// Where each thing the Storehouse keeps lives in its object store (`--nar-store`). The same layout as the folders
// of DATA_DIR/store before there was a choice of store, so a file: store needs no migration.
import { randomBytes } from "node:crypto";

/** Names must be validated first (names.ts); these only join. */
export const narKey = (name: string) => `nar/${name}`;
export const narinfoKey = (hash: string) => `narinfo/${hash}.narinfo`;
export const listingKey = (hash: string) => `ls/${hash}.ls`;
/** The server's signature of the listing (lib/signature.ts listingFingerprint); absent for older paths. */
export const listingSigKey = (hash: string) => `ls/${hash}.ls.sig`;
/** NAR files that stopped hashing to their name, kept for a person to look at; never served. */
export const quarantineKey = (name: string) => `quarantine/${name}`;
export const TMP_PREFIX = "tmp/";
/** Where an upload lands until it is verified; unique across every server sharing the store. */
export const tmpKey = () => `${TMP_PREFIX}${Date.now()}-${randomBytes(8).toString("hex")}.part`;
