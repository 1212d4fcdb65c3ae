// The demo, in a real browser, as a person would use it: ask for a page,
// get sent to login, sign in, land where they were going, watch the session
// count down (and a live clock tick over a WebSocket), see the warning, see
// it expire (and the gateway close the clock's WebSocket: "session
// expired"), reload, sign in again and land
// on the page first asked for. A second walk signs in from two browsers,
// signs one out from the other on "Your sessions", and watches the
// operator page list and revoke sessions and chart the redirects to login.
//
// Drives Chromium (Debian's, or on Ubuntu the npm build scripts/browser-test
// installs) through playwright-core (playwright's browser download unused).
// Starts `sessiongate demo --port 0 --idle-timeout 6s` itself and ends it by
// PID, also when a step fails. A missing binary or browser fails the test.
//
//   SESSIONGATE_BIN   the binary (default ../../target/debug/sessiongate)
//   CHROMIUM_BIN      the browser (default /usr/bin/chromium)
//
// One screenshot per step goes to tests/browser/artifacts/.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

import { BROWSER, CHROMIUM_ARGS } from "./chromium.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const BIN = resolve(HERE, process.env.SESSIONGATE_BIN ?? "../../target/debug/sessiongate");
const ARTIFACTS = join(HERE, "artifacts");
const IDLE_SECONDS = 6;
const STARTUP_MS = 15_000;

/** Starts the demo and resolves with its proxy's base URL, read from stderr. */
function startDemo(idleSeconds = IDLE_SECONDS) {
  const child = spawn(BIN, ["demo", "--port", "0", "--idle-timeout", `${idleSeconds}s`], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, SESSIONGATE_LOG: "info", NO_COLOR: "1" },
  });
  let log = "";
  const ready = new Promise((resolveUrl, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`demo did not announce its listener within ${STARTUP_MS} ms:\n${log}`)),
      STARTUP_MS,
    );
    const onData = (chunk) => {
      log += chunk;
      // Log lines may carry ANSI colours. The first `listening on` line is
      // the proxy; the admin listener's line comes second and says "admin".
      const plain = log.replace(/\x1b\[[0-9;]*m/g, "");
      const match = plain.match(/listening on (127\.0\.0\.1:\d+)(?! \(admin)/);
      if (match) {
        clearTimeout(timer);
        resolveUrl(`http://${match[1]}`);
      }
    };
    child.stderr.setEncoding("utf8").on("data", onData);
    child.stdout.setEncoding("utf8").on("data", (chunk) => (log += chunk));
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${BIN}: ${error.message}`));
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`demo exited early (code ${code}, signal ${signal}):\n${log}`));
    });
  });
  return { child, ready, log: () => log };
}

/** Ends the demo by its PID: SIGTERM, then SIGKILL if it lingers. */
async function stopDemo(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once("exit", done));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Waits until the gateway itself no longer knows the session. The page's
 * countdown is computed locally and may reach zero a moment before the
 * store's TTL does; this check never extends the session. */
async function waitUntilServerForgets(page, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await page.evaluate(() =>
      fetch("/.sessiongate/session", {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
      }).then((res) => res.json()),
    );
    if (!state.authenticated) return;
    assert.ok(Date.now() < deadline, `session still valid on the server: ${JSON.stringify(state)}`);
    await page.waitForTimeout(100);
  }
}

async function signIn(page) {
  await page.locator("#username").fill("demo");
  await page.locator("#password").fill("sessiongate");
  await page.locator("#submit").click();
}

function assertOnLogin(page, base, next) {
  const url = new URL(page.url());
  assert.equal(url.origin, base);
  assert.equal(url.pathname, "/login");
  assert.equal(url.searchParams.get("next"), next);
}

test("a person asks for a page, signs in, watches the session expire, signs in again", { timeout: 90_000 }, async () => {
  assert.ok(existsSync(BIN), `no sessiongate binary at ${BIN}: run cargo build --locked`);
  assert.ok(existsSync(BROWSER), `no browser at ${BROWSER}: apt-get install -y chromium`);
  mkdirSync(ARTIFACTS, { recursive: true });
  let step = 0;
  const shot = (page, name) =>
    page.screenshot({ path: join(ARTIFACTS, `${String(++step).padStart(2, "0")}-${name}.png`), fullPage: true });

  const demo = startDemo();
  const profile = mkdtempSync(join(tmpdir(), "sessiongate-chromium-"));
  let context;
  try {
    const base = await demo.ready;
    context = await chromium.launchPersistentContext(profile, {
      executablePath: BROWSER,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1024, height: 720 },
    });
    const page = context.pages()[0] ?? (await context.newPage());

    // 1. No session: the gateway sends the browser to login, remembering where it was going.
    await page.goto(`${base}/reports/2026`);
    assertOnLogin(page, base, "/reports/2026");
    await page.locator("#login-form").waitFor();
    await shot(page, "login");

    // 2. Sign in: back on the page first asked for, as demo.
    await signIn(page);
    await page.waitForURL(`${base}/reports/2026`);
    assert.equal(await page.locator("#page-path").textContent(), "/reports/2026");
    assert.equal(await page.locator("#user").textContent(), "demo");
    await shot(page, "signed-in");

    // 3. The countdown runs down. It shows "…" until the first poll answers.
    const countdown = page.locator("#countdown");
    await page.waitForFunction(() => /^\d+$/.test(document.getElementById("countdown").textContent));
    const first = Number(await countdown.textContent());
    assert.ok(first > 0 && first <= IDLE_SECONDS, `countdown starts at ${first}`);
    await page.waitForFunction(
      (start) => Number(document.getElementById("countdown").textContent) < start,
      first,
      { timeout: 5_000 },
    );
    await shot(page, "counting-down");

    // 3b. The live clock ticks over its WebSocket through the gateway.
    await page.waitForFunction(() =>
      /^\d\d:\d\d:\d\d UTC$/.test(document.getElementById("live-clock").textContent),
    );
    assert.ok(await page.locator("#live-clock-ended").isHidden());

    // 4. Shortly before expiry, the warning shows.
    await page.locator("#warning").waitFor({ state: "visible", timeout: (IDLE_SECONDS + 2) * 1000 });
    await shot(page, "warning");

    // 5. Past expiry the page says so.
    await page.locator("#expired").waitFor({ state: "visible", timeout: (IDLE_SECONDS + 2) * 1000 });
    assert.equal(await countdown.textContent(), "0");
    assert.ok(await page.locator("#warning").isHidden());
    await waitUntilServerForgets(page, 3_000);
    // The gateway closed the clock's WebSocket when the session expired
    // (within 1 s of it), and the page says why.
    const clockEnded = page.locator("#live-clock-ended");
    await clockEnded.waitFor({ state: "visible", timeout: 2_000 });
    assert.equal(await clockEnded.textContent(), "Live clock stopped: session expired.");
    const stoppedAt = await page.locator("#live-clock").textContent();
    await page.waitForTimeout(1_500);
    assert.equal(await page.locator("#live-clock").textContent(), stoppedAt, "the clock stopped");
    await shot(page, "expired");

    // 6. Reload: the session is gone, so login again, with `next` kept.
    await page.reload();
    assertOnLogin(page, base, "/reports/2026");
    await shot(page, "login-again");

    // 7. Signing in again lands on the page first asked for.
    await signIn(page);
    await page.waitForURL(`${base}/reports/2026`);
    assert.equal(await page.locator("#page-path").textContent(), "/reports/2026");
    assert.equal(await page.locator("#user").textContent(), "demo");
    await shot(page, "back");
  } catch (error) {
    error.message += `\n--- demo log ---\n${demo.log()}`;
    throw error;
  } finally {
    await context?.close().catch(() => {});
    await stopDemo(demo.child);
    rmSync(profile, { recursive: true, force: true });
  }
});

/** A browser of its own (its own profile, so its own cookies). */
async function openBrowser(profiles) {
  const profile = mkdtempSync(join(tmpdir(), "sessiongate-chromium-"));
  profiles.push(profile);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: BROWSER,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1024, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return { context, page };
}

test("two browsers: one signs the other out, and the operator page lists, revokes and charts", { timeout: 90_000 }, async () => {
  assert.ok(existsSync(BIN), `no sessiongate binary at ${BIN}: run cargo build --locked`);
  assert.ok(existsSync(BROWSER), `no browser at ${BROWSER}: apt-get install -y chromium`);
  mkdirSync(ARTIFACTS, { recursive: true });
  const shot = (page, name) => page.screenshot({ path: join(ARTIFACTS, `sessions-${name}.png`), fullPage: true });

  const demo = startDemo(120);
  const profiles = [];
  const contexts = [];
  try {
    const base = await demo.ready;
    const a = await openBrowser(profiles);
    contexts.push(a.context);
    const b = await openBrowser(profiles);
    contexts.push(b.context);

    // 1. Both browsers sign in; A opens "Your sessions".
    for (const { page } of [b, a]) {
      await page.goto(`${base}/account/sessions`);
      assertOnLogin(page, base, "/account/sessions");
      await signIn(page);
      await page.waitForURL(`${base}/account/sessions`);
    }
    const rows = a.page.locator("#sessions-body tr");
    await rows.nth(1).waitFor();
    assert.equal(await rows.count(), 2);
    const current = a.page.locator("#sessions-body tr.current");
    assert.equal(await current.count(), 1);
    assert.match(await current.textContent(), /This browser/);
    assert.match(await a.page.locator("#sessions-status").textContent(), /1 other place/);
    await shot(a.page, "two-browsers");

    // 2. A signs B out; B's next page is the login page.
    await a.page.locator("#sessions-body tr:not(.current) button.revoke").click();
    await a.page.locator("#sessions-status", { hasText: "Signed out session" }).waitFor();
    await a.page.waitForFunction(() => document.querySelectorAll("#sessions-body tr").length === 1);
    await shot(a.page, "signed-other-out");
    await b.page.goto(`${base}/reports/2026`);
    assertOnLogin(b.page, base, "/reports/2026");

    // 3. The operator page: demo's one live session (A's), through the
    //    admin API; the chart counts B's trip to the login page.
    await a.page.goto(`${base}/operator`);
    await a.page.locator("#operator-body tr[data-handle]").first().waitFor();
    assert.equal(await a.page.locator("#operator-body tr[data-handle]").count(), 1);
    await a.page.locator("#redirects-body tr", { hasText: "default" }).first().waitFor();
    assert.match(await a.page.locator("#redirects-desc").textContent(), /redirects to login|No redirects/);
    assert.ok(await a.page.locator("#redirects-svg").isVisible());

    // 4. B signs in again; the operator sees it and revokes it.
    await signIn(b.page);
    await b.page.waitForURL(`${base}/reports/2026`);
    await a.page.locator("#operator-load").click();
    await a.page.waitForFunction(() => document.querySelectorAll("#operator-body tr[data-handle]").length === 2);
    // A redirect after the page loaded shows as a bar.
    await b.page.context().clearCookies();
    await b.page.goto(`${base}/account`);
    assertOnLogin(b.page, base, "/account");
    await a.page.locator("#redirects-plot rect").first().waitFor({ timeout: 12_000 });
    await shot(a.page, "operator");
    // B's cookie was cleared, not its session: that one is still live.
    await signIn(b.page);
    await b.page.waitForURL(`${base}/account`);
    await a.page.locator("#operator-load").click();
    await a.page.waitForFunction(() => document.querySelectorAll("#operator-body tr[data-handle]").length === 3);
    const newest = a.page.locator("#operator-body tr[data-handle]").first();
    await newest.locator("button.revoke").click();
    await a.page.locator("#operator-status", { hasText: "Revoked session" }).waitFor();
    await b.page.reload();
    assertOnLogin(b.page, base, "/account");

    // 5. "Revoke all" ends A's own session too, and the page says so.
    await a.page.locator("#revoke-all").click();
    await a.page.locator("#operator-status", { hasText: "no longer signed in" }).waitFor({ timeout: 12_000 });
    await shot(a.page, "revoked-all");
    await a.page.goto(`${base}/`);
    assertOnLogin(a.page, base, "/");
  } catch (error) {
    error.message += `\n--- demo log ---\n${demo.log()}`;
    throw error;
  } finally {
    for (const context of contexts) await context.close().catch(() => {});
    await stopDemo(demo.child);
    for (const profile of profiles) rmSync(profile, { recursive: true, force: true });
  }
});
