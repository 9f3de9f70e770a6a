// Push records → the API's JSON shape (lib/api/).
import type { Push } from "../../lib/api/pushes.js";
import type { PushRecord } from "./data.js";

export const presentPush = (p: PushRecord): Push => ({ ...p, pushOptions: [...p.pushOptions] });
