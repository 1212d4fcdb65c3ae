// An Express 5 application with the textbook express-session +
// connect-redis setup: the "external mode" application of SPEC §4. It owns
// its sessions and keeps them in Redis under `sess:<id>`; sessiongate only
// reads that key's existence and slides its TTL.
//
// Environment:
//   PORT                 port on 127.0.0.1 (0 = any free port)
//   REDIS_URL            e.g. redis://127.0.0.1:6379
//   SESSION_TTL_SECONDS  the store TTL of a new session (default 86400)
//
// Prints `listening on PORT` on stdout once it accepts connections.
//
// Routes:
//   POST /login?user=NAME  new session (regenerated id) with `user`; JSON {user}
//   GET  /peek             JSON {user}; never modifies the session
//   GET  /whoami           JSON {user, views}; increments `views` (a write)
//   POST /logout           destroys the session, clears the cookie
// Protected routes answer 401 JSON without a session.
"use strict";

const express = require("express");
const session = require("express-session");
const { RedisStore } = require("connect-redis");
const { createClient } = require("redis");
const { listen, loginRoute, logoutRoute } = require("./express-common");

const port = Number(process.env.PORT || 0);
const ttl = Number(process.env.SESSION_TTL_SECONDS || 86400);

async function main() {
  const client = createClient({ url: process.env.REDIS_URL });
  client.on("error", (err) => console.error("redis client error:", err.message));
  await client.connect();

  const store = new RedisStore({
    client,
    prefix: "sess:",
    ttl,
    // connect-redis's `touch` runs EXPIRE on every request that reads an
    // unmodified session, which would reset the TTL to `ttl` itself. The
    // test wants the gateway, and only the gateway, to slide the TTL (and
    // the app never to expire a session before the gateway does), so the
    // app's own touching is off.
    disableTouch: true,
  });

  const app = express();
  app.use(
    session({
      store,
      secret: "sessiongate-test-secret",
      // cookie name: the default, `connect.sid`
      resave: false,
      saveUninitialized: false,
      rolling: false,
      // No maxAge: a browser-session cookie. connect-redis then uses `ttl`
      // for the key (with a maxAge it would derive the TTL from the cookie).
      cookie: { path: "/", httpOnly: true },
    }),
  );

  const requireUser = (req, res, next) => {
    if (req.session && req.session.user) return next();
    res.status(401).json({ error: "not logged in" });
  };

  loginRoute(app);

  app.get("/peek", requireUser, (req, res) => {
    res.json({ user: req.session.user });
  });

  app.get("/whoami", requireUser, (req, res) => {
    req.session.views = (req.session.views || 0) + 1;
    res.json({ user: req.session.user, views: req.session.views });
  });

  logoutRoute(app, "connect.sid");
  listen(app, port);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
