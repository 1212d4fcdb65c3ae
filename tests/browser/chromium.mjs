// What both browser tests launch: CHROMIUM_BIN (scripts/browser-test sets it),
// headless, with nothing running in the background to disturb a test.

/** The chromium binary. */
export const BROWSER = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";

/** Headless, no sandbox (CI containers), no background traffic or updates. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
