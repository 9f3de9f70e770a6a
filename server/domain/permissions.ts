// moved to server/orgs/permissions.ts; this shim goes once every importer is updated
export * from "../orgs/permissions.js";
