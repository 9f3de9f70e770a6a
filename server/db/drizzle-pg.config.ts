// drizzle-kit reads this for `npm run db:generate` (the PostgreSQL migrations); the server applies them in open.ts.
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./server/db/schema-pg.ts",
  out: "./migrations/postgres",
});
