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

app.post("/login", (req, res, next) => {
  const user = String(req.query.user || "");
  if (!user) return res.status(400).json({ error: "user required" });
  req.session.regenerate((err) => {
    if (err) return next(err);
    req.session.user = user;
    res.json({ user });
  });
});

app.get("/whoami", (req, res) => {
  if (req.session && req.session.user) return res.json({ user: req.session.user });
  res.status(401).json({ error: "not logged in" });
});

app.post("/logout", (req, res, next) => {
  req.session.destroy((err) => {
    if (err) return next(err);
    res.clearCookie("app.sid", { path: "/" });
    res.json({ ok: true });
  });
});

const server = app.listen(port, "127.0.0.1", (err) => {
  if (err) throw err;
  console.log(`listening on ${server.address().port}`);
});
