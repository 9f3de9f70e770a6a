// moved to server/orgs/present.ts; this shim goes once every importer is updated
export * from "../orgs/present.js";
