// The expiry warning (SPEC §12) in a real browser, in front of a real
// application nobody here wrote: Django's admin site, its sessions in a real
// Redis (cache sessions, external mode). With a short idle_timeout, a person
// signs in, sees the warning the gateway added to the admin's own pages,
// stays signed in with the keyboard (the application's own session in Redis
// is extended), sees the warning go when another tab extends the session,
// then ignores it and lands on the admin's login page with `next` set to
// where they were. The admin's own scripts and styles
// keep working, under the application's own Content-Security-Policy, which
// would block the script but for the nonce the gateway adds.
//
// Starts redis-server, tests/apps/django_admin.py (python3 with Django and
// redis from PyPI) and `sessiongate run` itself, ends each by PID, also when
// a step fails. Anything missing fails the test.
//
//   SESSIONGATE_BIN   the binary (default ../../target/debug/sessiongate)
//   CHROMIUM_BIN      the browser (default /usr/bin/chromium)
//
// One screenshot per step goes to target/browser-artifacts/warning/.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

import { BROWSER, CHROMIUM_ARGS } from "./chromium.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../..");
const BIN = resolve(HERE, process.env.SESSIONGATE_BIN ?? "../../target/debug/sessiongate");
const ARTIFACTS = join(ROOT, "target", "browser-artifacts", "warning");
// Long enough past warning_before that a session extended elsewhere is out
// of the warning window by the next poll (every 5 s within it).
const IDLE_SECONDS = 16;
const WARNING_SECONDS = 6;
const STARTUP_MS = 60_000;
const USER = "admin";
const PASSWORD = "sessiongate-admin";
// Lets the admin's own scripts (under /static/) run, and not ours.
const APP_CSP = "script-src 127.0.0.1:*/static/; object-src 'none'";
const KEY_PREFIX = ":1:django.contrib.sessions.cache";

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

/** Starts a process and resolves with the first match of `ready` in its output. */
function startProcess(name, cmd, args, env, ready) {
  const child = spawn(cmd, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
    cwd: ROOT,
  });
  let log = "";
  const matched = new Promise((done, fail) => {
    const timer = setTimeout(
      () => fail(new Error(`${name} not ready within ${STARTUP_MS} ms:\n${log}`)),
      STARTUP_MS,
    );
    const onData = (chunk) => {
      log += chunk;
      const match = log.replace(/\x1b\[[0-9;]*m/g, "").match(ready);
      if (match) {
        clearTimeout(timer);
        done(match);
      }
    };
    child.stdout.setEncoding("utf8").on("data", onData);
    child.stderr.setEncoding("utf8").on("data", onData);
    child.on("error", (error) => {
      clearTimeout(timer);
      fail(new Error(`cannot start ${name} (${cmd}): ${error.message}`));
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      fail(new Error(`${name} exited early (code ${code}, signal ${signal}):\n${log}`));
    });
  });
  return { name, child, ready: matched, log: () => log };
}

/** Ends a process this test started, by its PID: SIGTERM, then SIGKILL. */
async function stop(proc) {
  const child = proc?.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once("exit", done));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

function redis(port, ...args) {
  return execFileSync("redis-cli", ["-p", String(port), ...args], { encoding: "utf8" }).trim();
}

test("Django's admin warns before the gateway signs the user out", { timeout: 180_000 }, async () => {
  assert.ok(existsSync(BIN), `no sessiongate binary at ${BIN}: run cargo build --locked`);
  assert.ok(existsSync(BROWSER), `no browser at ${BROWSER}: apt-get install -y chromium`);
  rmSync(ARTIFACTS, { recursive: true, force: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  let step = 0;
  const shot = (page, name) =>
    page.screenshot({ path: join(ARTIFACTS, `${String(++step).padStart(2, "0")}-${name}.png`), fullPage: true });

  const scratch = mkdtempSync(join(tmpdir(), "sessiongate-warning-"));
  const procs = [];
  let context;
  try {
    // A real Redis, Django's admin on it, the gateway in front.
    const redisPort = await freePort();
    const redisServer = startProcess(
      "redis-server",
      "redis-server",
      ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      {},
      /Ready to accept connections/,
    );
    procs.push(redisServer);
    await redisServer.ready;
    const redisUrl = `redis://127.0.0.1:${redisPort}/0`;

    const django = startProcess(
      "django_admin.py",
      "python3",
      ["tests/apps/django_admin.py"],
      {
        PORT: "0",
        REDIS_URL: redisUrl,
        DATA_DIR: scratch,
        SESSION_COOKIE_AGE: String(IDLE_SECONDS),
        ADMIN_USER: USER,
        ADMIN_PASSWORD: PASSWORD,
        CSP: APP_CSP,
        PYTHONUNBUFFERED: "1",
      },
      /listening on (\d+)/,
    );
    procs.push(django);
    const djangoPort = (await django.ready)[1];

    const config = join(scratch, "sessiongate.toml");
    writeFileSync(
      config,
      `[server]
listen = "127.0.0.1:0"
[admin]
listen = "127.0.0.1:0"
[store]
url = "${redisUrl}"
[session]
mode = "external"
cookie_name = "sessionid"
key_template = "${KEY_PREFIX}{id}"
idle_timeout = "${IDLE_SECONDS}s"
inject_warning = true
warning_before = "${WARNING_SECONDS}s"
[login]
url = "/admin/login/"
[upstream]
url = "http://127.0.0.1:${djangoPort}"
[[route]]
name = "static"
path = "/static/"
public = true
[[route]]
name = "login"
path = "/admin/login/"
public = true
`,
    );
    const gateway = startProcess(
      "sessiongate",
      BIN,
      ["run", "--config", config],
      { SESSIONGATE_LOG: "info", NO_COLOR: "1" },
      /listening on (127\.0\.0\.1:\d+)(?! \(admin)/,
    );
    procs.push(gateway);
    const base = `http://${(await gateway.ready)[1]}`;

    context = await chromium.launchPersistentContext(join(scratch, "profile"), {
      executablePath: BROWSER,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1024, height: 720 },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const blocked = [];
    page.on("console", (msg) => {
      if (/Content Security Policy/i.test(msg.text())) blocked.push(msg.text());
    });
    const errors = [];
    page.on("pageerror", (error) => errors.push(String(error)));

    // 1. The admin without a session: the gateway sends the browser to the
    //    admin's own login page, with next.
    await page.goto(`${base}/admin/`);
    let url = new URL(page.url());
    assert.equal(url.pathname, "/admin/login/");
    assert.equal(url.searchParams.get("next"), "/admin/");
    await shot(page, "admin-login");

    // 2. Sign in on Django's form: the admin's index, with its styles.
    await page.locator("#id_username").fill(USER);
    await page.locator("#id_password").fill(PASSWORD);
    await page.locator("input[type=submit]").click();
    await page.waitForURL(`${base}/admin/`);
    await page.locator("#site-name").waitFor();
    const session = (await context.cookies(base)).find((c) => c.name === "sessionid");
    assert.ok(session, "Django set its session cookie");
    const key = `${KEY_PREFIX}${session.value}`;
    assert.ok(Number(redis(redisPort, "PTTL", key)) > 0, "the session lives in Redis");
    // The tag went in, with a nonce for the application's policy.
    const tag = page.locator('script[src="/.sessiongate/warning.js"]');
    assert.equal(await tag.count(), 1);
    assert.ok(await tag.evaluate((el) => el.nonce.length >= 22), "the tag carries a nonce");
    assert.equal(await page.evaluate(() => typeof window.sessiongate), "object");
    await shot(page, "admin-index");

    // 3. The admin's own styles and scripts still work: the header is
    //    styled by base.css, and theme.js switches the theme.
    const headerBg = await page.locator("#header").evaluate((el) => getComputedStyle(el).backgroundColor);
    assert.notEqual(headerBg, "rgba(0, 0, 0, 0)", "the admin's stylesheet applies");
    const themeBefore = await page.evaluate(() => document.documentElement.dataset.theme ?? "auto");
    await page.locator("button.theme-toggle").click();
    const themeAfter = await page.evaluate(() => document.documentElement.dataset.theme);
    assert.ok(themeAfter && themeAfter !== themeBefore, `theme.js switched ${themeBefore} -> ${themeAfter}`);
    await shot(page, "admin-theme-toggled");

    // 4. Shortly before expiry, the warning: an alert with the time left.
    const banner = page.locator("#sessiongate-warning");
    await banner.waitFor({ state: "visible", timeout: IDLE_SECONDS * 1000 });
    assert.equal(await banner.getAttribute("role"), "alert");
    assert.match(await banner.innerText(), /Your session ends in \d+:\d\d\./);
    const before = Number(redis(redisPort, "PTTL", key));
    assert.ok(before > 0 && before <= WARNING_SECONDS * 1000 + 500, `PTTL ${before} ms when the warning shows`);
    await shot(page, "warning");

    // 5. "Stay signed in", with the keyboard: the application's own session
    //    in Redis is extended to idle_timeout, and the warning goes.
    const button = banner.getByRole("button", { name: "Stay signed in" });
    await button.focus();
    await page.keyboard.press("Enter");
    await banner.waitFor({ state: "detached", timeout: 5_000 });
    const after = Number(redis(redisPort, "PTTL", key));
    assert.ok(after > before + 2_000, `PTTL ${before} -> ${after} ms`);
    assert.ok(after > (IDLE_SECONDS - 2) * 1000, `PTTL ${after} ms after staying`);
    await shot(page, "stayed-signed-in");

    // 6. The warning comes back, and goes when another tab extends the
    //    session (here: the gateway's refresh, from a second tab).
    await banner.waitFor({ state: "visible", timeout: IDLE_SECONDS * 1000 });
    const other = await context.newPage();
    await other.goto(`${base}/static/admin/css/base.css`);
    const refreshed = await other.evaluate(() =>
      fetch("/.sessiongate/refresh", { method: "POST", credentials: "same-origin" }).then((r) => r.status),
    );
    assert.equal(refreshed, 200);
    await other.close();
    await banner.waitFor({ state: "detached", timeout: 8_000 });
    await shot(page, "extended-elsewhere");

    // 7. The warning comes back once more; ignored, the session ends and the
    //    page goes to the admin's login page, with next = where the user was.
    await banner.waitFor({ state: "visible", timeout: IDLE_SECONDS * 1000 });
    await shot(page, "warning-again");
    await page.waitForURL((u) => u.pathname === "/admin/login/", { timeout: (WARNING_SECONDS + 5) * 1000 });
    url = new URL(page.url());
    assert.equal(url.searchParams.get("next"), "/admin/");
    assert.equal(redis(redisPort, "EXISTS", key), "0", "the session is gone from Redis");
    await page.locator("#id_username").waitFor();
    await shot(page, "signed-out-to-login");

    assert.deepEqual(
      blocked.filter((m) => /sessiongate/.test(m)),
      [],
      "the policy never blocked the warning script",
    );
    assert.deepEqual(errors, [], "no script error in the page");
  } catch (error) {
    for (const proc of procs) error.message += `\n--- ${proc.name} log ---\n${proc.log()}`;
    throw error;
  } finally {
    await context?.close().catch(() => {});
    for (const proc of procs.reverse()) await stop(proc);
    rmSync(scratch, { recursive: true, force: true });
  }
});
