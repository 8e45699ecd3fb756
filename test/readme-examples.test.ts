// README.md's shell examples, run as written: every ```sh block, in order, in one bash session
// started at the root of this clone, as a new user who followed the set-up would type them, with
// a fresh home directory (so ~/beamix-demo, ~/.local/share/beamix and ~/.config/beamix are new)
// and no beamix, Hex or Mix variables of this machine.
//
// Conventions the README follows, and what this test does with them:
//   - a block preceded by `<!-- readme-test: skip (why) -->` is not run (the set-up itself, and
//     packing the npm package, which test/npm-package.test.ts does); a reason is required;
//   - a block preceded by `<!-- readme-test: s3 (...) -->` needs S3: it runs against s3rver on
//     loopback, with the bucket it names and the AWS_* variables set for the session;
//   - `CMD   # exit N: why` expects CMD to fail with exit code N;
//   - `CMD … --port P &` starts a server in the background: the next line waits until P answers;
//   - the fixed ports 8000 and 8080 are replaced by free ones, so the test can run anywhere.
// Output shown as comments is not compared: hashes and times differ from run to run.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCommand } from "./support/cli.ts";
import { startS3Server, type S3TestServer } from "./support/s3-server.ts";

const repoRoot = fileURLToPath(new URL("../", import.meta.url));
const readmePath = join(repoRoot, "README.md");

export interface Block {
  line: number; // README line of the first line inside the fence
  lines: string[];
  mark: "run" | "skip" | "s3";
  why?: string;
}

// The ```sh blocks of a Markdown text, with the marker comment just before each.
export function shellBlocks(text: string): Block[] {
  const lines = text.split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\S*)\s*$/.exec(lines[i]);
    if (!fence) continue;
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end])) end++;
    if (fence[1] === "sh" || fence[1] === "bash" || fence[1] === "shell") {
      const marker = /^<!-- readme-test: (skip|s3)(?: \((.+)\))? -->$/.exec(lines[i - 1] ?? "");
      blocks.push({ line: i + 2, lines: lines.slice(i + 1, end), mark: (marker?.[1] as Block["mark"]) ?? "run", why: marker?.[2] });
    }
    i = end;
  }
  return blocks;
}

const EXPECT_EXIT = /^(.*?\S)\s+# exit (\d+)\b.*$/;
const BACKGROUND = /^(.*\s&)\s*(#.*)?$/;

// One bash script of the runnable blocks; map[i] is the README line of script line i + 1.
export function scriptOf(blocks: Block[], ports: Map<string, string>): { script: string; map: number[] } {
  const out: string[] = [];
  const map: number[] = [];
  const emit = (text: string, readmeLine: number) => {
    out.push(text);
    map.push(readmeLine);
  };
  emit("set -eo pipefail", 0);
  emit(`trap 'echo "README-FAILED $LINENO (exit $?): $BASH_COMMAND" >&2' ERR`, 0);
  // On exit, whatever the status: the background servers are stopped and the status kept.
  emit(`trap '__rc=$?; set +e; trap - ERR; kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; exit $__rc' EXIT`, 0);
  emit(`__wait_port() { for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "nothing answers on port $1" >&2; return 1; }`, 0);
  for (const b of blocks) {
    if (b.mark === "skip") continue;
    let heredoc: string | undefined;
    b.lines.forEach((raw, k) => {
      const at = b.line + k;
      let line = raw.replace(/\b(8000|8080)\b/g, (p) => ports.get(p) ?? p);
      if (heredoc !== undefined) {
        if (line === heredoc) heredoc = undefined;
        return emit(line, at);
      }
      const here = /<<-?\s*'?"?([A-Za-z_]+)'?"?/.exec(line);
      if (here) heredoc = here[1];
      const fails = EXPECT_EXIT.exec(line);
      const bg = BACKGROUND.exec(line);
      if (fails && !here) {
        const n = fails[2];
        line = `if ${fails[1]}; then __rc=0; else __rc=$?; fi; [ "$__rc" = ${n} ] || { echo "README line ${at}: expected exit ${n}, got $__rc" >&2; exit 1; }`;
      } else if (bg) {
        const port = /--port (\d+)/.exec(line)?.[1];
        if (port === undefined) throw new Error(`README line ${at}: a background command needs --port`);
        line = `${bg[1]} __wait_port ${port}`;
      }
      emit(line, at);
    });
  }
  emit("echo README-DONE", 0);
  return { script: out.join("\n") + "\n", map };
}

async function freePort(): Promise<string> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", () => ok()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((ok) => server.close(() => ok()));
  return String(port);
}

let work: string;
let s3: S3TestServer | undefined;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-readme-"));
});

after(async () => {
  await s3?.close();
  await rm(work, { recursive: true, force: true });
});

test("the README's blocks follow the conventions: no prompts, marked blocks say why", async () => {
  const blocks = shellBlocks(await readFile(readmePath, "utf8"));
  assert.ok(blocks.filter((b) => b.mark === "run").length >= 8, "the README's examples are found");
  for (const b of blocks) {
    assert.ok(b.mark === "run" || (b.why ?? "").length > 0, `README line ${b.line}: a ${b.mark} block says why`);
    b.lines.forEach((l, k) => assert.doesNotMatch(l, /^\$ /, `README line ${b.line + k}: no prompts; a line is a command, output is a comment`));
  }
  assert.ok(blocks.filter((b) => b.mark === "skip").length <= 3, "only a few blocks are not run");
});

test("every shell example of the README runs as written", async () => {
  const blocks = shellBlocks(await readFile(readmePath, "utf8"));
  const ports = new Map([
    ["8000", await freePort()],
    ["8080", await freePort()],
  ]);
  const { script, map } = scriptOf(blocks, ports);
  const file = join(work, "readme.sh");
  await writeFile(file, script);

  const home = join(work, "home");
  await mkdir(home);
  // A machine's settings that change what beamix, Hex, Mix or Erlang do are left out.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(BEAMIX_|HEX_|MIX_|ERL_|XDG_|AWS_|NODE_|npm_)/.test(k)) continue;
    env[k] = v;
  }
  env.HOME = home;
  if (blocks.some((b) => b.mark === "s3")) {
    s3 = await startS3Server(join(work, "s3"), "my-bucket");
    Object.assign(env, s3.env);
  }

  const r = await runCommand("bash", [file], { cwd: repoRoot, env, timeoutMs: 1_200_000 });
  const failed = /README-FAILED (\d+) \(exit (\d+)\): (.*)/.exec(r.stderr);
  const expected = /README line \d+: expected exit .*/.exec(r.stderr)?.[0];
  const where = failed ? `README line ${map[Number(failed[1]) - 1]} (exit ${failed[2]}): ${failed[3]}` : (expected ?? `exit ${r.code}`);
  assert.ok(r.code === 0 && r.stdout.trimEnd().endsWith("README-DONE"), `${where}\n--- stdout (end)\n${r.stdout.slice(-3000)}\n--- stderr (end)\n${r.stderr.slice(-5000)}`);
  // What the README says a command prints where it shows it (BEAMIX_REPLAY=trace).
  assert.match(r.stderr, /^beamix: restored a fresh checkout from its record$/m, "the README's second checkout of webapp is filled from the record");
});
