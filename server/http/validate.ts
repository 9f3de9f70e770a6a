// Turns request input into typed values or an InvalidInputError that names each bad field.
import { zValidator } from "@hono/zod-validator";
import type { Context } from "hono";
import { z } from "zod";
import { InvalidInputError } from "../errors.js";
import { JSON_BODY_LIMIT, limitBody } from "./body-limit.js";

function describe(error: z.ZodError, where: string): string {
  const parts = error.issues.map((issue) => {
    const field = issue.path.length > 0 ? issue.path.join(".") : where;
    return `${field}: ${issue.message}`;
  });
  return `invalid ${where}: ${parts.join("; ")}`;
}

/** The JSON body (at most JSON_BODY_LIMIT bytes), checked against `schema`. Check the caller's role first. */
export async function jsonBody<S extends z.ZodTypeAny>(c: Context, schema: S): Promise<z.output<S>> {
  await limitBody(
    c,
    JSON_BODY_LIMIT,
    "the JSON body",
    "no API request needs that much; send only the fields docs/API.md lists",
  );
  const text = await c.req.text();
  let value: unknown;
  try {
    value = text.trim() === "" ? undefined : JSON.parse(text);
  } catch (err) {
    throw new InvalidInputError(
      `the request body is not valid JSON (${(err as Error).message}); send a JSON object with Content-Type: application/json`,
      "invalid_json",
    );
  }
  if (value === undefined) {
    throw new InvalidInputError("the request has no body; send a JSON object", "invalid_json");
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new InvalidInputError(describe(parsed.error, "request body"));
  return parsed.data;
}

/** The path parameter `name`, checked against `schema`. */
export function param<S extends z.ZodTypeAny>(c: Context, name: string, schema: S): z.output<S> {
  const parsed = schema.safeParse(c.req.param(name));
  if (!parsed.success) {
    const msg = parsed.error.issues.map((i) => i.message).join("; ");
    throw new InvalidInputError(`invalid ${name} in the URL: ${msg}`);
  }
  return parsed.data;
}

/**
 * Middleware checking the path parameters against `shape` (read them with `c.req.valid("param")`), with `param`'s
 * message for the first bad one. Only for routes whose handler looked at its parameters first, before any access
 * check: as middleware it runs ahead of the handler. Bodies stay with `jsonBody`: zValidator's "json" target would
 * read the body before the handler's role check, and skips bodies sent without a JSON Content-Type.
 */
export function params<T extends z.ZodRawShape>(shape: T) {
  return zValidator("param", z.object(shape), (result) => {
    if (result.success) return;
    const name = String(result.error.issues[0]?.path[0] ?? "parameter");
    const msg = result.error.issues
      .filter((i) => String(i.path[0]) === name)
      .map((i) => i.message)
      .join("; ");
    throw new InvalidInputError(`invalid ${name} in the URL: ${msg}`);
  });
}
