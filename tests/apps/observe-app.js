// A hand-rolled session application for the "observe mode" of SPEC §4:
// sessions live in a Map and never expire, nothing goes to Redis. No
// dependencies (plain node:http), so the cookie is exactly what the test
// expects: `appsession=<32 hex chars>`, inside SPEC §4's id alphabet.
//
// Environment: PORT (0 = any free port) on 127.0.0.1. Prints
// `listening on PORT` on stdout once it accepts connections.
//
// Routes:
//   POST /login?user=NAME        sets `appsession` (one Set-Cookie); JSON {user}
//   POST /login-multi?user=NAME  several Set-Cookie headers, `appsession` among them
//   GET  /whoami                 JSON {user}, or 401 for an unknown session
//   POST /logout                 forgets the session, clears with Max-Age=0
//   POST /logout-expires         forgets the session, clears with a past Expires
//   GET  /login/renew            re-sends the request's `appsession` as it is
//                                (a rolling cookie), whether or not it is known
//   GET  /_seen                  JSON list of "METHOD /path" the app received
//                                (tests read it directly, not through the gateway)
"use strict";

const http = require("node:http");
const crypto = require("node:crypto");

const port = Number(process.env.PORT || 0);
const sessions = new Map();
const seen = [];

function cookie(req, name) {
  for (const part of (req.headers.cookie || "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function json(res, status, body, setCookies = []) {
  const headers = { "content-type": "application/json" };
  if (setCookies.length) headers["set-cookie"] = setCookies;
  res.writeHead(status, headers);
  res.end(JSON.stringify(body));
}

function newSession(user) {
  const id = crypto.randomBytes(16).toString("hex");
  sessions.set(id, user);
  return id;
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://app");
  const route = `${req.method} ${url.pathname}`;
  if (route !== "GET /_seen") seen.push(route);
  const user = url.searchParams.get("user");
  switch (route) {
    case "POST /login": {
      if (!user) return json(res, 400, { error: "user required" });
      const id = newSession(user);
      return json(res, 200, { user }, [`appsession=${id}; Path=/; HttpOnly`]);
    }
    case "POST /login-multi": {
      if (!user) return json(res, 400, { error: "user required" });
      const id = newSession(user);
      return json(res, 200, { user }, [
        "theme=dark; Path=/",
        `appsession=${id}; Path=/; HttpOnly; SameSite=Lax`,
        "lang=en; Path=/; Max-Age=31536000",
      ]);
    }
    case "GET /whoami": {
      const id = cookie(req, "appsession");
      if (id && sessions.has(id)) return json(res, 200, { user: sessions.get(id) });
      return json(res, 401, { error: "not logged in" });
    }
    case "POST /logout": {
      sessions.delete(cookie(req, "appsession"));
      return json(res, 200, { ok: true }, ["appsession=; Path=/; Max-Age=0"]);
    }
    case "POST /logout-expires": {
      sessions.delete(cookie(req, "appsession"));
      return json(res, 200, { ok: true }, [
        "appsession=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
      ]);
    }
    case "GET /login/renew": {
      const id = cookie(req, "appsession");
      if (!id) return json(res, 400, { error: "no session cookie" });
      return json(res, 200, { renewed: true }, [`appsession=${id}; Path=/; HttpOnly`]);
    }
    case "GET /_seen":
      return json(res, 200, seen);
    default:
      return json(res, 404, { error: "not found" });
  }
});

server.listen(port, "127.0.0.1", () => {
  console.log(`listening on ${server.address().port}`);
});
