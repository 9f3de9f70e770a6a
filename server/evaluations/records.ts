// moved to server/evaluations/data.ts (queries) and present.ts (presenters); this shim goes once every importer is updated
export * from "./data.js";
export { presentEvaluation } from "./present.js";
