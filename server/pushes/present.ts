// Push records → the API's JSON shape (lib/api-schemas.ts).
import type { Push } from "../../lib/api-schemas.js";
import type { PushRecord } from "./data.js";

export const presentPush = (p: PushRecord): Push => ({ ...p, pushOptions: [...p.pushOptions] });
