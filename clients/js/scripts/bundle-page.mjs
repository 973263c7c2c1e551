#!/usr/bin/env node
// Bundle the built package (dist/, from `npm run build`) into the server's /ws-test page
// (src/onetask/static/websocket_test.html) as one inline classic script that defines
// `window.OneTask`, between the page's onetask-client markers. The page stays a single
// self-contained file, so the Python package needs no npm at run time.
//
//   node scripts/bundle-page.mjs           # rewrite the page
//   node scripts/bundle-page.mjs --check   # fail (exit 1) when the page's bundle is not current
import { build } from "esbuild";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const pkg = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const page = resolve(pkg, "..", "..", "src", "onetask", "static", "websocket_test.html");
const entry = join(pkg, "dist", "index.js");
const check = process.argv.includes("--check");
const START = '<script id="onetask-client">';
const END = "</script><!-- /onetask-client -->";

if (!existsSync(entry)) {
  console.error(`${entry} is missing: run \`npm run build\` first`);
  process.exit(1);
}
const { version } = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8"));
const result = await build({
  entryPoints: [entry],
  bundle: true,
  format: "iife",
  globalName: "OneTask",
  platform: "browser",
  target: "es2020",
  minify: true,
  legalComments: "none",
  charset: "utf8",
  write: false,
});
const code = result.outputFiles[0].text.trim();
if (code.includes("</script")) throw new Error("the bundle contains </script");
const block =
  `${START}/* onetask-client ${version}: clients/js bundled by \`npm run bundle-page\`; ` +
  `do not edit (a test checks it is current) */\n${code}\n${END}`;

const html = readFileSync(page, "utf8");
const from = html.indexOf(START);
const to = html.indexOf(END);
if (from < 0 || to < from) throw new Error(`${page} has no onetask-client markers (${START} … ${END})`);
const updated = html.slice(0, from) + block + html.slice(to + END.length);
if (check) {
  if (updated !== html) {
    console.error(`${page}: the onetask-client bundle is not current: run \`npm run build && npm run bundle-page\` in clients/js and commit it.`);
    process.exit(1);
  }
  console.log("websocket_test.html's onetask-client bundle is current");
} else {
  writeFileSync(page, updated);
  console.log(`bundled onetask-client ${version} into ${page} (${code.length} bytes)`);
}
