// moved to server/orgs/orgs.ts; this shim goes once every importer is updated
export * from "../orgs/orgs.js";
