// What both Express test apps share (express-external.js,
// express-observe.js): their login and logout routes and how they listen.
"use strict";

/**
 * POST /login?user=U: a fresh session id (no fixation, as express-session's
 * docs advise) holding `user`, saved before the answer `{ user }`.
 */
function loginRoute(app) {
  app.post("/login", (req, res, next) => {
    const user = String(req.query.user || "");
    if (!user) return res.status(400).json({ error: "user required" });
    req.session.regenerate((err) => {
      if (err) return next(err);
      req.session.user = user;
      req.session.save((err) => {
        if (err) return next(err);
        res.json({ user });
      });
    });
  });
}

/** POST /logout: destroys the session and clears its cookie `cookieName`. */
function logoutRoute(app, cookieName) {
  app.post("/logout", (req, res, next) => {
    req.session.destroy((err) => {
      if (err) return next(err);
      res.clearCookie(cookieName, { path: "/" });
      res.json({ ok: true });
    });
  });
}

/** Listens on 127.0.0.1:`port` and prints `listening on PORT` when ready. */
function listen(app, port) {
  const server = app.listen(port, "127.0.0.1", (err) => {
    if (err) throw err;
    console.log(`listening on ${server.address().port}`);
  });
  return server;
}

module.exports = { loginRoute, logoutRoute, listen };
