// Shim: builds/records.ts became builds.ts (queries) and present.ts (API shapes); kept until the evaluation page
// and the evaluations routes import the new paths (issue 12 merge).
export * from "./builds.js";
export * from "./present.js";
