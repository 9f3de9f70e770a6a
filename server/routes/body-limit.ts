// moved to server/http/body-limit.ts; this shim goes once every importer is updated
export * from "../http/body-limit.js";
