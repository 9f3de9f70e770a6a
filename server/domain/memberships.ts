// moved to server/orgs/memberships.ts; this shim goes once every importer is updated
export * from "../orgs/memberships.js";
