// Evaluation of an org's nixexprs repo, shared by the push gate and the server's evaluator: what callers import.
export { evaluatePackages } from "./evaluate.js";
export { type NixError, type Position, parseNixError } from "./nix-errors.js";
export { parseNixFiles } from "./parse.js";
export {
  defaultEvalTimeoutMs,
  type EvalOptions,
  type EvalResult,
  formatProblem,
  type Job,
  type Problem,
} from "./results.js";
export { maxNixStdout, NixNotInstalledError, NixOutputError, NixOutputTooLargeError } from "./run.js";
