/**
 * A login / counter / logout app on server-side sessions in Deno KV.
 *
 * Run it:
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 --unstable-kv examples/cookie_login.ts
 * ```
 *
 * then open http://localhost:8000/. The cookie is `__Host-session` (Secure,
 * HttpOnly, SameSite=Lax); browsers accept Secure cookies from
 * http://localhost, and in production the app sits behind HTTPS anyway.
 *
 * The KV here is in memory so the example needs no file access; pass
 * `await Deno.openKv()` (a file) or a remote KV to keep sessions across
 * restarts and instances.
 *
 * Only logins are stored: a visitor who is not logged in (a failed login's
 * notice, the "Logged out." notice) costs no record, since that session
 * travels sealed in the cookie until `setUser()` (`anonymous: "cookie"`).
 * Pass a `transformer` with a key from a secret to read those cookies across
 * restarts and instances too.
 *
 * @module
 */

import { KvSessionStorage, type Session, sessions } from "../lib/cookie/mod.ts";

/** What the app keeps per session. */
interface LoginData {
  user: string;
  visits: number;
}

/** A running app. */
export interface RunningApp {
  /** Its base URL, e.g. `http://127.0.0.1:54321`. */
  readonly url: string;
  /** Stops the server and closes the KV the app opened. */
  stop(): Promise<void>;
}

/**
 * Starts the app on 127.0.0.1.
 *
 * @param options `port` (default 0: an ephemeral port) and an optional `kv`
 *   (default: an in-memory KV opened and closed by the app).
 * @returns The URL and a `stop()` function.
 */
export async function startCookieLogin(
  options: { port?: number; kv?: Deno.Kv } = {},
): Promise<RunningApp> {
  const kv = options.kv ?? await Deno.openKv(":memory:");
  // anonymous: "cookie" is the default, spelled out: no record before login, so anonymous
  // requests cannot fill the KV.
  const auth = sessions<LoginData>({ storage: new KvSessionStorage(kv), anonymous: "cookie" });

  const handler = auth(async (req: Request, _info: Deno.ServeHandlerInfo, session) => {
    const url = new URL(req.url);
    if (req.method === "POST") {
      // SameSite=Lax already keeps cross-site POSTs cookie-less; also refuse foreign origins.
      const origin = req.headers.get("origin");
      if (origin !== null && origin !== url.origin) {
        return new Response("forbidden", { status: 403 });
      }
      return await action(url.pathname, req, session);
    }
    if (url.pathname !== "/") return new Response("not found", { status: 404 });
    if (session.reason !== null) console.warn(`session refused: ${session.reason}`);
    return page(session);
  });

  async function action(
    path: string,
    req: Request,
    session: Session<LoginData>,
  ): Promise<Response> {
    switch (path) {
      case "/login": {
        const form = await req.formData();
        const user = String(form.get("user") ?? "").trim();
        // deno-lint-ignore no-control-regex
        if (user.length === 0 || user.length > 64 || /[\x00-\x1f\x7f]/.test(user)) {
          session.flash("notice", "Pick a name of 1 to 64 printable characters.");
          return redirect();
        }
        session.regenerate(); // a fresh id at login: an id planted earlier is worthless
        session.setUser(user);
        session.set("user", user);
        session.set("visits", 0);
        session.flash("notice", `Welcome, ${user}.`);
        return redirect();
      }
      case "/count":
        session.update("visits", (n = 0) => n + 1);
        return redirect();
      case "/logout":
        session.destroy();
        session.flash("notice", "Logged out.");
        return redirect();
      case "/logout-everywhere": {
        const user = session.userId;
        if (user !== null) await auth.revokeUser(user);
        session.destroy();
        session.flash("notice", "Logged out on every device.");
        return redirect();
      }
      default:
        return new Response("not found", { status: 404 });
    }
  }

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: options.port ?? 0, onListen() {} },
    handler,
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    async stop(): Promise<void> {
      await server.shutdown();
      if (options.kv === undefined) kv.close();
    },
  };
}

function redirect(): Response {
  return new Response(null, { status: 303, headers: { location: "/" } });
}

function page(session: Session<LoginData>): Response {
  const notice = session.takeFlash("notice");
  const user = session.get("user");
  const body = user === undefined
    ? `<form method="post" action="/login">
  <label>Name <input name="user" maxlength="64" required></label> <button>Log in</button>
</form>`
    : `<p>Hello, <b id="user">${escape(user)}</b>. Counter: <b id="visits">${
      session.get("visits") ?? 0
    }</b></p>
<form method="post" action="/count"><button>Count</button></form>
<form method="post" action="/logout"><button>Log out</button></form>
<form method="post" action="/logout-everywhere"><button>Log out everywhere</button></form>`;
  const html = `<!doctype html><meta charset="utf-8"><title>tessera cookie login</title>
${typeof notice === "string" ? `<p id="notice">${escape(notice)}</p>` : ""}
${body}
`;
  return new Response(html, {
    headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" },
  });
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

if (import.meta.main) {
  const app = await startCookieLogin({ port: 8000 });
  console.log(`Listening on ${app.url.replace("127.0.0.1", "localhost")}/ (Ctrl-C to stop)`);
}
