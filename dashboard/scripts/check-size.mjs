// The size budget: the JavaScript the first page loads (index.html's entry script and the
// chunks it preloads) must stay at most 150 KB gzipped; the operator area and the charts
// are separate chunks. Prints every chunk's size.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const BUDGET = 150 * 1024;
const dist = new URL("../dist/", import.meta.url).pathname;
const html = await readFile(join(dist, "index.html"), "utf8");
const initial = new Set([...html.matchAll(/(?:src|href)="\/(assets\/[^"]+)"/g)].map((m) => m[1]));
let total = 0;
for (const f of (await readdir(join(dist, "assets"))).sort()) {
  const bytes = await readFile(join(dist, "assets", f));
  const gz = gzipSync(bytes, { level: 9 }).length;
  const first = initial.has(`assets/${f}`);
  if (first && f.endsWith(".js")) total += gz;
  console.log(`${first ? "initial" : "lazy   "}  ${f.padEnd(32)} ${(bytes.length / 1024).toFixed(1).padStart(7)} KB  ${(gz / 1024).toFixed(1).padStart(6)} KB gzip`);
}
console.log(`initial JavaScript: ${(total / 1024).toFixed(1)} KB gzip (budget ${BUDGET / 1024} KB)`);
if (total > BUDGET) {
  console.error("the initial JavaScript is over budget");
  process.exit(1);
}
