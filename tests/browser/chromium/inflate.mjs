// Inflates the Chromium binary that @sparticuz/chromium ships brotli-packed
// (node_modules/@sparticuz/chromium/bin/chromium.br) to bin/chromium, with
// Node's own zlib: none of the package's code runs (it targets AWS Lambda
// and Node.js 22, and caches its binary in a shared /tmp). Prints the path.
//
//   node inflate.mjs
import { brotliDecompressSync } from "node:zlib";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const packed = join(here, "node_modules/@sparticuz/chromium/bin/chromium.br");
const binary = join(here, "bin/chromium");

mkdirSync(dirname(binary), { recursive: true });
// Written aside and renamed, so an interrupted run never leaves half a binary.
writeFileSync(`${binary}.part`, brotliDecompressSync(readFileSync(packed)), { mode: 0o755 });
renameSync(`${binary}.part`, binary);
console.log(binary);
