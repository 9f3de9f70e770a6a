// moved to server/http/context.ts; this shim goes once every importer is updated
export * from "../http/context.js";
