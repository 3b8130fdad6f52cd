/**
 * Builds the console: bundles src/main.tsx into dist/app.js and src/app.css (with the styles it
 * imports) into dist/app.css, and copies index.html beside them. Run from anywhere (`node
 * console/build.mjs`); exits non-zero when a bundle fails.
 */
import { copyFile, mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = dirname(fileURLToPath(import.meta.url));
const src = join(root, "src");
const dist = join(root, "dist");

async function main() {
  await rm(dist, { recursive: true, force: true });
  await mkdir(dist, { recursive: true });
  const result = await build({
    entryPoints: [join(src, "main.tsx")],
    outfile: join(dist, "app.js"),
    bundle: true,
    minify: true,
    sourcemap: "linked",
    target: "es2020",
    format: "esm",
    platform: "browser",
    jsx: "automatic",
    jsxImportSource: "preact",
    logLevel: "warning",
    metafile: true,
  });
  // The bundle runs in a browser: a node: import means server code leaked in through lib/.
  const nodeImports = Object.keys(result.metafile.inputs).filter((path) => path.startsWith("node:"));
  if (nodeImports.length) throw new Error(`the console bundle imports ${nodeImports.join(", ")}`);
  // app.css @imports the files of src/styles/: one stylesheet out.
  await build({
    entryPoints: [join(src, "app.css")],
    outfile: join(dist, "app.css"),
    bundle: true,
    minify: true,
    target: "chrome100",
    logLevel: "warning",
  });
  await copyFile(join(src, "index.html"), join(dist, "index.html"));
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
