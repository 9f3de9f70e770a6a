// drizzle-kit reads this for `npm run db:generate` (the SQLite migrations); the server applies them in open.ts.
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./server/db/schema.ts",
  out: "./migrations/sqlite",
});
