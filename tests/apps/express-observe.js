// An Express 5 application with express-session's default store: the
// in-process MemoryStore, and a cookie without maxAge, so a session lives
// for as long as the process does. The "observe mode" application of
// SPEC §4 in its most common form: no Redis, sessions that never expire.
// Its cookie, `app.sid`, is express-session's signed `s:<id>.<signature>`,
// percent-encoded: outside the session id alphabet, so the gateway takes
// the id out of it with `id_pattern`.
//
// Environment: PORT (0 = any free port) on 127.0.0.1. Prints
// `listening on PORT` on stdout once it accepts connections.
//
// Routes:
//   POST /login?user=NAME  new session (regenerated id) with `user`; JSON {user}
//   GET  /whoami           JSON {user}, or 401 JSON without a session
//   POST /logout           destroys the session, clears the cookie
"use strict";

const express = require("express");
const session = require("express-session");
const { listen, loginRoute, logoutRoute } = require("./express-common");

const port = Number(process.env.PORT || 0);

const app = express();
app.use(
  session({
    name: "app.sid",
    secret: "sessiongate-test-secret",
    resave: false,
    saveUninitialized: false,
    cookie: { path: "/", httpOnly: true },
  }),
);

loginRoute(app);

app.get("/whoami", (req, res) => {
  if (req.session && req.session.user) return res.json({ user: req.session.user });
  res.status(401).json({ error: "not logged in" });
});

logoutRoute(app, "app.sid");
listen(app, port);
