// moved to server/http/validate.ts; this shim goes once every importer is updated
export * from "../http/validate.js";
