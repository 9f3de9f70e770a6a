// moved to server/orgs/tokens.ts; this shim goes once every importer is updated
export * from "../orgs/tokens.js";
