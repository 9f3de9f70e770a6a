// Every `flox init` template, in menu order.
import { binaryTemplate } from "./binary.js";
import { cMakeTemplate } from "./c-make.js";
import { dataTemplate } from "./data.js";
import { nodeTemplate } from "./node.js";
import { pythonTemplate } from "./python.js";
import { shellTemplate } from "./shell.js";
import type { Template } from "./template.js";

export const templates: readonly Template[] = [
  shellTemplate,
  dataTemplate,
  cMakeTemplate,
  pythonTemplate,
  nodeTemplate,
  binaryTemplate,
];

export function findTemplate(id: string): Template | undefined {
  return templates.find((t) => t.id === id);
}
