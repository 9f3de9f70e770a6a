// moved to server/http/auth.ts; this shim goes once every importer is updated
export * from "../http/auth.js";
