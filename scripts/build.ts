// `node scripts/build.ts` (npm's prepack runs it): the published form of beamix in dist/.
//
// Development runs the TypeScript sources directly; Node refuses to strip types under
// node_modules, so an installed package needs JavaScript. esbuild bundles src/cli/entry.ts and
// every npm dependency into dist/cli/ as ES modules split at the program's dynamic imports:
//   - an installed beamix needs no dependency at all (nothing to fetch at install time);
//   - each command still loads only its own code, as from source (program.ts loads command
//     groups on demand). A single file would load every Node built-in any command imports
//     (node:sqlite, node:https, …) and parse the whole AWS SDK on every run: measured slower for
//     `build --help` than the split form (bench/startup.ts prints both forms side by side).
//
// Run-time files are found relative to import.meta.url ("../../priv/", "../../package.json"):
// the chunks sit in dist/cli/, two levels below the package root as src/cli/ is, and the build
// checks that every such URL in src resolves to a file the package ships.
// dist/derivation/*.d.ts: the types a definition module written by `beamix import hex` names.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, readFile, rename, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const dist = join(root, "dist");
const outdir = join(dist, "cli"); // as deep as src/cli: "../../x" means the same file from both
// Written beside dist/ and renamed into place: a pack running meanwhile never reads a half-built
// dist/, and a failed build leaves the previous one.
const staging = join(root, `.dist-${process.pid}`);

// esbuild is a devDependency: loaded through require so that type-checking needs no types of it.
const esbuild = createRequire(import.meta.url)("esbuild") as typeof import("esbuild");

// Sources load a few CommonJS files through `const require = createRequire(import.meta.url)`
// (to load them lazily: pako, node:http). esbuild leaves such a call alone, and the file it names
// would not be installed. Dropping the local binding makes these calls ordinary require() calls
// that esbuild bundles; the banner gives each output file the real require for Node built-ins.
const LOCAL_REQUIRE = /^const require = createRequire\(import\.meta\.url\);$/m;
const BANNER = 'import { createRequire as __beamixRequire } from "node:module"; const require = __beamixRequire(import.meta.url);';

const bundledRequire: import("esbuild").Plugin = {
  name: "bundled-require",
  setup(build) {
    build.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, async (args) => ({
      contents: (await readFile(args.path, "utf8")).replace(LOCAL_REQUIRE, ""),
      loader: "ts",
    }));
  },
};

async function bundle(dir: string): Promise<number> {
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: { main: "src/cli/entry.ts" },
    outdir: dir,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    // ES module builds first: the AWS SDK's CommonJS build, imported dynamically, would leave
    // its named exports (S3Client…) off the namespace object.
    mainFields: ["module", "main"],
    target: "node24", // package.json engines
    // Whitespace and syntax only: identifiers keep their names (error messages, class names).
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: "none",
    banner: { js: BANNER },
    plugins: [bundledRequire],
    metafile: true,
    logLevel: "warning",
  });
  return Object.keys(result.metafile.outputs).length;
}

// The types of definition modules, for editors; Node erases `import type` before running one.
function definitionTypes(outDir: string): void {
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  execFileSync(process.execPath, [tsc, "--ignoreConfig", "--declaration", "--emitDeclarationOnly", "--allowImportingTsExtensions", "--module", "nodenext", "--target", "es2024", "--strict", "--skipLibCheck", "--types", "node", "--rootDir", "src", "--outDir", outDir, "src/derivation/definition.ts"], { cwd: root, stdio: "inherit" });
}

// Every `new URL("…", import.meta.url)` in src, resolved from dist/cli/, must name a file that
// `npm pack` ships (package.json's files, plus package.json itself).
async function checkRuntimeFiles(): Promise<void> {
  const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { files: string[] };
  const shipped = (path: string) => {
    const rel = relative(root, path).split(sep).join("/");
    return rel === "package.json" || pkg.files.some((f) => rel === f.replace(/\/$/, "") || rel.startsWith(f.replace(/\/?$/, "/")));
  };
  const problems: string[] = [];
  for (const file of await sourceFiles(join(root, "src"))) {
    const text = await readFile(file, "utf8");
    for (const m of text.matchAll(/new URL\("([^"]+)", import\.meta\.url\)/g)) {
      const target = fileURLToPath(new URL(m[1], `file://${outdir}/main.js`));
      // A .ts path is only ever named in `import type` lines: the declaration stands for it.
      const exists = existsSync(target) || (target.endsWith(".ts") && existsSync(target.replace(/\.ts$/, ".d.ts")));
      if (!exists || !shipped(target)) problems.push(`${relative(root, file)}: ${m[1]} → ${relative(root, target)} ${exists ? "is not in package.json's files" : "does not exist"}`);
    }
  }
  if (problems.length) throw new Error(`run-time files the bundle would not find:\n  ${problems.join("\n  ")}`);
}

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith(".ts")).map((e) => join(e.parentPath, e.name));
}

let files: number;
try {
  files = await bundle(join(staging, "cli"));
  definitionTypes(staging);
  await rm(dist, { recursive: true, force: true });
  await rename(staging, dist);
} finally {
  await rm(staging, { recursive: true, force: true });
}
await checkRuntimeFiles();
process.stderr.write(`build: ${files} files in ${relative(process.cwd(), outdir) || "."}${sep}, types in ${relative(process.cwd(), join(dist, "derivation")) || "."}\n`);
