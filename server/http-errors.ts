// moved to server/http/errors.ts; this shim goes once every importer is updated
export * from "./http/errors.js";
