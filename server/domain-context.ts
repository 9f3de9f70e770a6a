// What the domain modules need from the running server: the database and the data directory layout.
import type { Db } from "./db/open.js";
import type { DataPaths } from "./paths.js";

export interface DomainContext {
  db: Db;
  paths: DataPaths;
}
