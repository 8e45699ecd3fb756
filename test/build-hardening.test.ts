// What a build cannot do to the machine that runs it (issue 12), through `beamix build` of small
// erlang.mk-style package directories whose definitions add a phase:
// - it sees its input closure, not the store (the database, other items);
// - it runs under limits on processes, memory and disk, and fails with one line naming the limit;
// - its log is kept on disk and cut to its beginning and end, however much it prints;
// - --no-sandbox says so on the terminal; the scratch directory of a killed build is removed by
//   the next run.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sandboxAvailable, sandboxUnavailableMessage } from "../src/sandbox/bwrap.ts";
import { beamix } from "./support/cli.ts";

const check = await sandboxAvailable();
const skip = check.available ? false : sandboxUnavailableMessage(check.reason);

let tmp: string;
let store: string;
let scratch: string; // TMPDIR of every run: where build directories are made

before(() => {
  tmp = realpathSync(mkdtempSync(join(tmpdir(), "beamix-hardening-")));
  store = join(tmp, "store");
  scratch = join(tmp, "scratch");
  mkdirSync(scratch);
});
after(() => rmSync(tmp, { recursive: true, force: true }));

// A package in the style of erlang.mk: a Makefile, src/, a committed ebin/APP.app. `deps` are
// Hex packages of the same kind, given as directories on the same command line.
function makePackage(app: string, deps: string[] = []): string {
  const dir = join(tmp, "packages", app);
  mkdirSync(join(dir, "src"), { recursive: true });
  mkdirSync(join(dir, "ebin"), { recursive: true });
  const appSrc = `{application, ${app}, [{description, "${app}"}, {vsn, "0.1.0"}, {modules, [${app}]}, {registered, []}, {applications, [kernel, stdlib${deps.map((d) => `, ${d}`).join("")}]}]}.\n`;
  writeFileSync(join(dir, "src", `${app}.app.src`), appSrc);
  writeFileSync(join(dir, "ebin", `${app}.app`), appSrc);
  writeFileSync(join(dir, "src", `${app}.erl`), `-module(${app}).\n-export([hello/0]).\nhello() -> ${app}.\n`);
  writeFileSync(
    join(dir, "Makefile"),
    [`PROJECT = ${app}`, "PROJECT_VERSION = 0.1.0", `DEPS = ${deps.join(" ")}`, ...deps.map((d) => `dep_${d} = hex 0.1.0`), "", "all:", "\tmkdir -p ebin", `\terlc -o ebin src/${app}.erl`, `\tcp src/${app}.app.src ebin/${app}.app`, ""].join("\n"),
  );
  return dir;
}

// A -L directory whose definition of `pkg` adds one shell phase.
function defsAdding(pkg: string, phase: { name: string; shell: string; before?: string; after?: string }): string {
  const dir = mkdtempSync(join(tmp, `defs-${phase.name}-`));
  writeFileSync(join(dir, `${pkg}.ts`), `export default (auto) => ({ ...auto, arguments: { ...auto.arguments, phases: [...auto.arguments.phases, ${JSON.stringify({ op: "add", ...phase })}] } });\n`);
  return dir;
}

const env = () => ({ BEAMIX_CACHE_DIR: join(tmp, "cache"), TMPDIR: scratch, HEX_MIRROR: "", HEX_MIRROR_URL: "" });

async function build(args: string[], storeDir = store) {
  return beamix(["build", ...args, "--store", storeDir], { env: env(), timeoutMs: 300_000 });
}

async function buildPaths(args: string[]): Promise<string[]> {
  const r = await build([...args, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { roots: { path: string }[] }).roots.map((x) => x.path);
}

let tiny: string;
let lonely: string;
let tinyItem: string;
let lonelyItem: string;

test("builds see their input closure, not the store's database or other items", { skip }, async () => {
  tiny = makePackage("tiny");
  lonely = makePackage("lonely");
  [tinyItem, lonelyItem] = await buildPaths([tiny, lonely]);
  const other = makePackage("other", ["tiny"]);
  const probes = [join(store, ".beamix", "db.sqlite"), join(store, ".beamix", "logs"), lonelyItem, join(tinyItem, "lib/erlang/lib/tiny-0.1.0/ebin/tiny.app")];
  const defs = defsAdding("other", {
    name: "probe",
    after: "build",
    // Only words reach the output: a host path in it would fail validation.
    shell: `mkdir -p priv\nfor p in ${probes.map((p) => `'${p}'`).join(" ")}; do if [ -e "$p" ]; then echo seen; else echo hidden; fi; done > priv/probe.txt`,
  });
  const [otherItem] = await buildPaths([other, tiny, "-L", defs]);
  assert.equal(readFileSync(join(otherItem, "lib/erlang/lib/other-0.1.0/priv/probe.txt"), "utf8"), "hidden\nhidden\nhidden\nseen\n", "db.sqlite, logs, an item outside the closure, an input");
});

test("a real build stays within small limits", { skip }, async () => {
  const [item] = await buildPaths([makePackage("bounded"), "--max-build-memory", "256M", "--max-build-processes", "256", "--max-build-disk", "64M"]);
  assert.ok(existsSync(join(item, "lib/erlang/lib/bounded-0.1.0/ebin/bounded.beam")));
  const log = await beamix(["log", join(tmp, "packages", "bounded"), "--store", store], { env: env() });
  assert.match(log.stdout, /^beamix: limits: 256 MiB of memory per process, 256 processes and threads, 64 MiB per file and for \/tmp$/m);
});

test("a limit that is not a size or a count is a usage error", async () => {
  for (const [flag, value] of [["--max-build-memory", "lots"], ["--max-build-disk", "12Q"], ["--max-build-log", "0"], ["--max-build-processes", "-1"]]) {
    const r = await beamix(["build", "whatever", flag, value], { env: env() });
    assert.equal(r.code, 2, `${flag} ${value}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^beamix: ${flag} must be .*, not "${value}"\n$`));
  }
});

async function failingBuild(name: string, shell: string, flags: string[]): Promise<string> {
  const defs = defsAdding("tiny", { name, before: "configure", shell });
  const r = await build([tiny, "-L", defs, ...flags]);
  assert.equal(r.code, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  return r.stderr;
}

test("a build that forks too many processes fails, naming the limit", { skip }, async () => {
  const stderr = await failingBuild("forkbomb", "for i in $(seq 200); do sleep 60 & done; wait", ["--max-build-processes", "32"]);
  assert.match(stderr, /failed: forkbomb phase of tiny 0\.1\.0 failed: build exceeded its limit of 32 processes and threads \(--max-build-processes\)/);
});

test("a build that allocates too much memory fails, naming the limit", { skip }, async () => {
  const stderr = await failingBuild("hog", `erl -noshell -eval 'B = binary:copy(<<1>>, 400000000), io:format("~p~n", [byte_size(B)]), halt().'`, ["--max-build-memory", "128M"]);
  assert.match(stderr, /failed: hog phase of tiny 0\.1\.0 failed: build exceeded its memory limit of 128 MiB per process \(--max-build-memory\)/);
});

test("a build that writes too large a file fails, naming the limit; so does one that fills /tmp", { skip }, async () => {
  const file = await failingBuild("filler", "head -c 64000000 /dev/zero > big.bin", ["--max-build-disk", "16M"]);
  assert.match(file, /failed: filler phase of tiny 0\.1\.0 failed: build exceeded its disk limit of 16 MiB per file and for \/tmp \(--max-build-disk\)/);
  // Many small files: the per-file limit never fires, /tmp's size does.
  const tmpfs = await failingBuild("tmpfiller", "for i in $(seq 40); do head -c 1000000 /dev/zero > /tmp/f$i; done", ["--max-build-disk", "16M"]);
  assert.match(tmpfs, /failed: tmpfiller phase of tiny 0\.1\.0 failed: build exceeded its disk limit of 16 MiB per file and for \/tmp \(--max-build-disk\)/);
});

test("a build printing far more than the log keeps succeeds, and its stored log says it was cut", { skip }, async () => {
  const defs = defsAdding("tiny", { name: "chatter", after: "build", shell: "yes 'a line of build output' | head -c 200M" });
  const r = await build([tiny, "-L", defs, "--max-build-log", "1M"]);
  assert.equal(r.code, 0, r.stderr);
  const log = await beamix(["log", tiny, "-L", defs, "--store", store], { env: env() });
  assert.equal(log.code, 0, log.stderr);
  assert.ok(log.stdout.length < 1.1 * 1024 * 1024, `the kept log has ${log.stdout.length} bytes`);
  assert.match(log.stdout, /^beamix: building tiny 0\.1\.0/);
  assert.match(log.stdout, /\n\[beamix: log cut: \d+ bytes left out here; of \d+ bytes of output, the first \d+ and the last \d+ are kept \(--max-build-log 1048576\)\]\na line of build output\n/);
  assert.match(log.stdout, /beamix: phase times: .*\n$/, "the end of the log is kept");
});

test("--no-sandbox says so on the terminal", { skip }, async () => {
  const r = await build([lonely, "--no-sandbox"], join(tmp, "store-unsandboxed"));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^beamix: warning: --no-sandbox: building WITHOUT a sandbox: .*can reach the network, and can read and write anything this user can$/m);
});

const main = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));

test("the build directory of a killed build is removed by the next run", { skip }, async () => {
  const defs = defsAdding("tiny", { name: "linger", before: "configure", shell: "touch /build/started\nsleep 300" });
  const child = spawn(process.execPath, ["--no-warnings=ExperimentalWarning", main, "build", tiny, "-L", defs, "--store", store], { env: { ...process.env, ...env() }, stdio: "ignore" });
  const exited = new Promise((res) => child.on("exit", res));
  const buildDirs = () => readdirSync(scratch).filter((n) => n.startsWith("beamix-build-"));
  let left: string[] = [];
  for (let i = 0; i < 1200 && left.length === 0; i++) {
    await new Promise((res) => setTimeout(res, 100));
    left = buildDirs().filter((d) => existsSync(join(scratch, d, "work", "build", "started")));
  }
  assert.equal(left.length, 1, "the build started");
  child.kill("SIGKILL");
  await exited;
  assert.ok(existsSync(join(scratch, left[0])), "a killed build leaves its directory behind");
  // Any later run that makes a scratch directory there (here, to read a package directory).
  const r = await build([lonely]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(existsSync(join(scratch, left[0])), false, `${left[0]} is still there`);
  assert.deepEqual(buildDirs(), []);
});
