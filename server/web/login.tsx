// GET /login (a form taking a token), POST /login (opens a session, sets the cookie), POST /logout.
import { Hono } from "hono";
import { deleteCookie, setCookie } from "hono/cookie";
import { UnauthenticatedError } from "../errors.js";
import { formBody } from "../http/body-limit.js";
import type { AppContext } from "../http/context.js";
import { requireCsrf, sameOrigin } from "./csrf.js";
import { safeNext } from "./errors.js";
import { Layout } from "./layout.js";
import { pageHeaders } from "./negotiate.js";
import { createSession, deleteSession, SESSION_DAYS } from "./sessions.js";
import { resolveViewer, SESSION_COOKIE, type Viewer, type WebEnv } from "./viewer.js";

function LoginPage(p: { next: string; error?: string; viewer: Viewer | null }) {
  return (
    <Layout title="Log in" viewer={p.viewer}>
      <div class="login">
        <section class="card">
          <div class="bd">
            <h1>Log in to flox</h1>
            <p class="muted">
              Paste a token: a user or org token from <code>flox token create</code>, or the admin token the
              server printed at its first start. It is checked once; the browser keeps only a session cookie.
            </p>
            {p.error ? <div class="flash bad">{p.error}</div> : null}
            <form method="post" action="/login">
              <input type="hidden" name="next" value={p.next} />
              <label for="token">Token</label>
              <input
                id="token"
                name="token"
                type="password"
                autocomplete="current-password"
                placeholder="flox_…"
                required
                autofocus
              />
              <p />
              <button class="btn primary" type="submit">
                Log in
              </button>
            </form>
          </div>
        </section>
      </div>
    </Layout>
  );
}

export function loginRoutes(ctx: AppContext): Hono<WebEnv> {
  const viewer = resolveViewer(ctx);
  return new Hono<WebEnv>()
    .get("/login", viewer, (c) => {
      pageHeaders(c);
      return c.html(
        <LoginPage
          next={safeNext(c.req.query("next"), new URL(c.req.url).origin)}
          viewer={c.get("viewer")}
        />,
      );
    })
    .post("/login", sameOrigin(), async (c) => {
      c.set("viewer", null);
      const form = await formBody(c);
      const next = safeNext(typeof form.next === "string" ? form.next : undefined, new URL(c.req.url).origin);
      const secret = typeof form.token === "string" ? form.token.trim() : "";
      try {
        if (!secret) throw new UnauthenticatedError("paste a token first");
        const { cookie, session } = await createSession(ctx.db, secret);
        setCookie(c, SESSION_COOKIE, cookie, {
          path: "/",
          httpOnly: true,
          sameSite: "Lax",
          secure: isHttps(c.req.url, c.req.header("x-forwarded-proto")),
          maxAge: SESSION_DAYS * 86_400,
        });
        ctx.logger.info({ token: session.token.id }, "web login");
        return c.redirect(next, 303);
      } catch (err) {
        if (!(err instanceof UnauthenticatedError)) throw err;
        pageHeaders(c);
        return c.html(<LoginPage next={next} error={err.message} viewer={null} />, 401);
      }
    })
    .post("/logout", viewer, ...requireCsrf(), async (c) => {
      const session = c.get("viewer")?.session;
      if (session) await deleteSession(ctx.db, session.id);
      deleteCookie(c, SESSION_COOKIE, { path: "/" });
      return c.redirect("/login", 303);
    });
}

const isHttps = (url: string, forwarded: string | undefined) =>
  new URL(url).protocol === "https:" || forwarded?.split(",")[0]?.trim() === "https";
