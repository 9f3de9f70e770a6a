// drizzle-kit reads this for `npm run db:generate`; the server itself applies migrations in server/db/open.ts.
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./server/db/schema.ts",
  out: "./migrations",
});
