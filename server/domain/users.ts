// moved to server/orgs/users.ts; this shim goes once every importer is updated
export * from "../orgs/users.js";
