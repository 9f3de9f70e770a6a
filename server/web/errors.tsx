// How the web routes answer errors: an HTML page (or the API's JSON body when JSON was asked for).
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { Logger } from "pino";
import { reportDiskFull } from "../disk-full.js";
import { errorBody, internalError, toHttpError } from "../http/errors.js";
import { Layout } from "./layout.js";
import { pageHeaders, wantsJson } from "./negotiate.js";
import { LoginRequired, type Viewer } from "./viewer.js";

const titles: Record<number, string> = {
  400: "Bad request",
  401: "Log in",
  403: "Not allowed",
  404: "Not found",
  409: "Conflict",
  413: "Too large",
  507: "Disk full",
  500: "Server error",
};

export function ErrorPage(props: { status: number; message: string; viewer: Viewer | null }) {
  return (
    <Layout title={titles[props.status] ?? "Error"} viewer={props.viewer}>
      <div class="errorpage">
        <div class="code">{props.status}</div>
        <h1>{titles[props.status] ?? "Error"}</h1>
        <p class="muted">{props.message}</p>
        <p>
          <a href="/">Back to your orgs</a>
        </p>
      </div>
    </Layout>
  );
}

const viewerOf = (c: Context): Viewer | null => {
  try {
    return (c.get("viewer") as Viewer | null | undefined) ?? null;
  } catch {
    return null;
  }
};

/**
 * A safe place to go back to after logging in: a path on this site only. Resolved as a browser would (the URL
 * parser drops tabs and newlines and reads a backslash as `/`), it must stay on `origin`; the answer is rebuilt from the
 * resolved URL, with one leading slash (`/.//evil` resolves to the path `//evil`, which a Location sends off-site).
 */
export function safeNext(next: string | undefined, origin: string): string {
  if (!next) return "/";
  let url: URL;
  try {
    url = new URL(next, origin);
  } catch {
    return "/";
  }
  if (url.origin !== origin) return "/";
  return `/${url.pathname.replace(/^\/+/, "")}${url.search}${url.hash}`;
}

export function webErrorHandler(logger: Logger, dataDir?: string) {
  return (err: Error, c: Context) => {
    pageHeaders(c);
    if (err instanceof LoginRequired && !wantsJson(c) && c.req.method === "GET") {
      const url = new URL(c.req.url);
      return c.redirect(`/login?next=${encodeURIComponent(url.pathname + url.search)}`, 303);
    }
    if (err instanceof HTTPException && err.status === 403) {
      const message =
        "this form was not sent from a page of this site (its Origin is another one); go back, reload and try again";
      if (wantsJson(c)) return c.json(errorBody("forbidden", message), 403);
      return c.html(<ErrorPage status={403} message={message} viewer={viewerOf(c)} />, 403);
    }
    const known = toHttpError(err, dataDir);
    if (known?.status === 507 && dataDir) reportDiskFull(logger, dataDir, err);
    if (known) {
      if (wantsJson(c)) return c.json(known.body, known.status);
      return c.html(
        <ErrorPage status={known.status} message={known.body.error.message} viewer={viewerOf(c)} />,
        known.status,
      );
    }
    logger.error({ err, method: c.req.method, path: c.req.path }, "web request failed");
    const fault = internalError();
    if (wantsJson(c)) return c.json(fault.body, fault.status);
    return c.html(<ErrorPage status={500} message={fault.body.error.message} viewer={viewerOf(c)} />, 500);
  };
}

/** The 404 page for paths no route has, for browsers (the app's notFound calls it when HTML is wanted). */
export function webNotFound(c: Context) {
  pageHeaders(c);
  return c.html(<ErrorPage status={404} message={`there is no page at ${c.req.path}`} viewer={null} />, 404);
}
