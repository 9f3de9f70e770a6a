// The server's version, as package.json states it (reported by GET /api/v1/health).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot } from "../lib/project-root.js";

export const serverVersion: string = (
  JSON.parse(readFileSync(join(projectRoot, "package.json"), "utf8")) as { version: string }
).version;
