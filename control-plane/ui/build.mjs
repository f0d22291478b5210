// Builds the web UI into the control plane's package (knflow_control_plane/ui_dist), where /ui serves it.
// Assets are named by content hash, so index.html is the only file a browser revalidates.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "src", "knflow_control_plane", "ui_dist");

const result = await build({
  entryPoints: [join(here, "src", "main.tsx")],
  bundle: true,
  minify: true,
  sourcemap: false,
  format: "esm",
  target: "es2022",
  jsx: "automatic",
  jsxImportSource: "preact",
  write: false,
  outdir: "out",
  logLevel: "warning",
});

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "assets"), { recursive: true });
const names = {};
for (const file of result.outputFiles) {
  const ext = file.path.endsWith(".css") ? "css" : "js";
  const hash = createHash("sha256").update(file.contents).digest("hex").slice(0, 12);
  names[ext] = `app-${hash}.${ext}`;
  writeFileSync(join(out, "assets", names[ext]), file.contents);
}
const page = readFileSync(join(here, "index.html"), "utf8")
  .replace("%CSS%", `/ui/assets/${names.css}`)
  .replace("%JS%", `/ui/assets/${names.js}`);
writeFileSync(join(out, "index.html"), page);
console.log(`knflow ui: built ${Object.values(names).join(", ")} into ${out}`);
