// The layer rules of docs/ARCHITECTURE.md, checked by `npm run lint`: each part may import only what the
// table there allows, so that the agents and the builder can run on machines that have no server code.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-cycles",
      severity: "error",
      comment: "An import cycle makes load order matter and hides which module owns what.",
      from: {},
      to: { circular: true },
    },
    {
      name: "lib-imports-nothing-of-ours",
      severity: "error",
      comment: "lib/ is what every part shares; it must not pull any part in.",
      from: { path: "^lib/", pathNot: "\\.test\\.tsx?$" },
      to: { path: "^(server|hooks|fs-agent|cli|bench|testing)/" },
    },
    {
      name: "agents-import-lib-only",
      severity: "error",
      comment: "The hooks, the endpoint agent and the builder speak HTTP to the server and share only lib/.",
      from: {
        path: "^(hooks|fs-agent|cli/builder)/",
        pathNot: "\\.test\\.tsx?$",
      },
      to: { path: "^(server|cli|fs-agent|hooks|bench|testing)/", pathNot: "^$1/" },
    },
    {
      name: "server-never-imports-clients",
      severity: "error",
      comment: "The server must run without the CLI or the endpoint agent.",
      from: { path: "^server/", pathNot: "\\.test\\.tsx?$" },
      to: { path: "^(cli|fs-agent)/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(dist|node_modules)/" },
    tsConfig: { fileName: "tsconfig.json" },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: [".ts", ".tsx", ".js"] },
  },
};
