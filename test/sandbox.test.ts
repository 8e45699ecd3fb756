import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { detectToolchain, type Toolchain } from "../src/toolchain/detect.ts";
import { bwrapArgs, runSandboxed, sandboxAvailable, sandboxRunner, sandboxUnavailableMessage, SANDBOX_BUILD_DIR } from "../src/sandbox/bwrap.ts";
import { runUnsandboxed, unsandboxedRunner } from "../src/sandbox/unsandboxed.ts";
import type { RunResult, RunSpec } from "../src/sandbox/process.ts";

const check = await sandboxAvailable();
const skip = check.available ? false : sandboxUnavailableMessage(check.reason);

let tmp: string;
let tc: Toolchain;
before(async () => {
  tmp = realpathSync(mkdtempSync(join(tmpdir(), "beamix-sandbox-")));
  tc = await detectToolchain({ cacheDir: join(tmp, "cache") });
});
after(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function freshBuildDir(): string {
  const d = join(tmp, `build-${++n}`);
  mkdirSync(d);
  return d;
}

interface Ran extends RunResult {
  log: string;
}

async function run(
  command: string,
  args: string[],
  opts: Partial<RunSpec> & { buildDir?: string; runner?: (s: RunSpec) => Promise<RunResult> } = {},
): Promise<Ran> {
  const chunks: Buffer[] = [];
  const buildDir = opts.buildDir ?? freshBuildDir();
  const spec: RunSpec = {
    command,
    args,
    buildDir,
    readOnlyBinds: tc.readOnlyBinds,
    env: { PATH: [...tc.binDirs, "/usr/bin", "/bin"].join(":"), HOME: `${SANDBOX_BUILD_DIR}/home`, LANG: "C.UTF-8" },
    timeoutMs: 60_000,
    network: false,
    logSink: { write: (c: Buffer) => chunks.push(c) },
    ...opts,
  };
  const r = await (opts.runner ?? runSandboxed)(spec);
  return { ...r, log: Buffer.concat(chunks).toString("utf8") };
}

const erl = (expr: string, opts: Parameters<typeof run>[2] = {}) => run("erl", ["-noshell", "-eval", expr], opts);

test("sandboxAvailable probes bwrap with the build's namespaces", { skip }, () => {
  assert.equal(check.available, true);
  assert.match(sandboxUnavailableMessage("No permissions to create new namespace"), /^bubblewrap cannot run here: No permissions to create new namespace; use --no-sandbox to build without it$/);
});

test("the build sees exactly the environment it is given (and PWD)", { skip }, async () => {
  process.env.BEAMIX_TEST_SECRET = "leak";
  try {
    const env = { PATH: "/usr/bin:/bin", HOME: "/build/home", ONLY_THIS: "a b\nc" };
    const r = await run("/usr/bin/env", ["-0"], { env, cwd: "sub/dir" , buildDir: (() => { const d = freshBuildDir(); mkdirSync(join(d, "sub", "dir"), { recursive: true }); return d; })() });
    assert.equal(r.exitCode, 0, r.log);
    assert.deepEqual(r.log.split("\0").filter(Boolean).sort(), ["HOME=/build/home", "ONLY_THIS=a b\nc", "PATH=/usr/bin:/bin", "PWD=/build/sub/dir"]);
    // and erl inside sees HOME as set, not the host's
    const e = await erl('io:format("~s|~p", [os:getenv("HOME"), os:getenv("BEAMIX_TEST_SECRET")]), halt().', { env: { ...env, PATH: `${tc.binDirs.join(":")}:/usr/bin:/bin` } });
    assert.equal(e.log, "/build/home|false");
    // unsandboxed: the same clean environment
    const ub = freshBuildDir();
    const u = await run("/usr/bin/env", ["-0"], { env: { ...env, PWD: "/elsewhere" }, buildDir: ub, runner: runUnsandboxed });
    assert.deepEqual(u.log.split("\0").filter(Boolean).sort(), ["HOME=/build/home", "ONLY_THIS=a b\nc", "PATH=/usr/bin:/bin", `PWD=${ub}`]);
  } finally {
    delete process.env.BEAMIX_TEST_SECRET;
  }
});

test("the build directory is at /build and writable; read-only binds are read-only", { skip }, async () => {
  const buildDir = freshBuildDir();
  mkdirSync(join(buildDir, "src"));
  const ro = join(tmp, "store-item");
  mkdirSync(ro);
  writeFileSync(join(ro, "data"), "original");
  const r = await erl(
    `{ok, Cwd} = file:get_cwd(),
     W1 = file:write_file("/build/out.txt", <<"from inside">>),
     W2 = file:write_file("${ro}/data", <<"changed">>),
     W3 = file:write_file("/usr/beamix-test", <<"x">>),
     W4 = file:write_file("/etc/beamix-test", <<"x">>),
     W5 = file:write_file("/beamix-test", <<"x">>),
     W6 = file:write_file("/tmp/scratch", <<"x">>),
     {ok, Data} = file:read_file("${ro}/data"),
     io:format("~s ~p ~p ~p ~p ~p ~p ~s", [Cwd, W1, W2, W3, W4, W5, W6, Data]), halt().`,
    { buildDir, cwd: "src", readOnlyBinds: [...tc.readOnlyBinds, ro] },
  );
  assert.equal(r.exitCode, 0, r.log);
  assert.equal(r.log, "/build/src ok {error,erofs} {error,erofs} {error,erofs} {error,erofs} ok original");
  assert.equal(readFileSync(join(buildDir, "out.txt"), "utf8"), "from inside");
  assert.equal(readFileSync(join(ro, "data"), "utf8"), "original");
  assert.ok(!existsSync("/usr/beamix-test"));
  // a bind at another path
  const moved = await run("cat", ["/store/abc/data"], { readOnlyBinds: [...tc.readOnlyBinds, { source: ro, target: "/store/abc" }] });
  assert.equal(moved.log, "original");
  // the host's files outside the binds are not there
  const hidden = await run("sh", ["-c", `ls ${tmp} /root /home 2>&1; cat /etc/hostname 2>&1; hostname`]);
  assert.match(hidden.log, new RegExp(`${tmp}.*No such file`));
  assert.match(hidden.log, /localhost\n$/);
  // binds over the sandbox's own directories are refused
  await assert.rejects(run("true", [], { readOnlyBinds: [{ source: ro, target: "/build/x" }] }), /\/build\/x is reserved/);
  await assert.rejects(run("true", [], { readOnlyBinds: [{ source: ro, target: "/tmp" }] }), /\/tmp is reserved/);
  await assert.rejects(run("true", [], { readOnlyBinds: ["relative/path"] }), /paths must be absolute/);
  await assert.rejects(run("true", [], { cwd: "../escape" }), /not inside the build directory/);
  for (const runner of [runSandboxed, runUnsandboxed]) {
    await assert.rejects(run("true", [], { runner, buildDir: join(tmp, "missing") }), /build directory .*missing does not exist/);
  }
});

test("no network: a TCP connection to a port listening on the host fails", { skip }, async () => {
  const server: Server = createServer((s) => s.end("hello\n"));
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
  const port = (server.address() as AddressInfo).port;
  const expr = `case gen_tcp:connect({127,0,0,1}, ${port}, [binary, {active, false}], 3000) of
      {ok, S} -> {ok, D} = gen_tcp:recv(S, 0, 3000), io:format("connected ~s", [D]), halt(0);
      {error, R} -> io:format("~p", [R]), halt(3) end.`;
  try {
    const r = await erl(expr);
    assert.equal(r.exitCode, 3, r.log);
    assert.equal(r.log, "econnrefused"); // its own loopback: nothing listens there
    // the same program without the sandbox does reach the server, so the check can fail
    const u = await erl(expr, { runner: runUnsandboxed });
    assert.equal(u.log, "connected hello\n");
    assert.equal(u.exitCode, 0);
    // and there is no interface but loopback
    const ifs = await erl('{ok, L} = inet:getifaddrs(), io:format("~p", [[N || {N, _} <- L]]), halt().');
    assert.equal(ifs.log, '["lo"]');
  } finally {
    server.close();
  }
});

function processesWith(marker: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, "latin1").split("\0").includes(marker)) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

async function waitUntilGone(marker: string): Promise<number[]> {
  for (let i = 0; i < 40 && processesWith(marker).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
  return processesWith(marker);
}

// The killed processes sleep for 987 s: a run that waited for any of them would hang, which the
// test's own time-out (a guard, not a measure) turns into a failure.
test("a timeout kills the whole process tree, even processes that left the session", { skip, timeout: 300_000 }, async () => {
  const marker = "987.61";
  // children, a grandchild orphaned by its subshell, and one in a new session
  const script = `sleep ${marker} & sleep ${marker} & (sleep ${marker} &) ; (setsid sleep ${marker} &) ; echo started; wait`;
  const r = await run("sh", ["-c", script], { timeoutMs: 700 });
  assert.equal(r.timedOut, true);
  assert.equal(r.failure, "build timed out after 0.7 s");
  assert.match(r.log, /^started\n[\s\S]*beamix: build timed out after 0.7 s, killing it\n$/);
  assert.deepEqual(await waitUntilGone(marker), []);
});

test("unsandboxed: a timeout kills the process group and the descendants", { skip: false }, async () => {
  const marker = "987.62";
  const script = `sleep ${marker} & (sleep ${marker} &) ; sh -c 'setsid sleep ${marker} & wait' & echo started; wait`;
  const r = await run("sh", ["-c", script], { timeoutMs: 700, runner: runUnsandboxed });
  assert.equal(r.timedOut, true);
  assert.equal(r.failure, "build timed out after 0.7 s");
  assert.deepEqual(await waitUntilGone(marker), []);
});

test("an abort signal cancels the build; leftovers of a finished build are killed", { skip, timeout: 300_000 }, async () => {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 300);
  const r = await run("sleep", ["987.63"], { signal: ac.signal });
  assert.equal(r.aborted, true);
  assert.equal(r.failure, "build cancelled");
  assert.deepEqual(await waitUntilGone("987.63"), []);
  // a build that exits leaving a background process behind
  for (const runner of [runSandboxed, runUnsandboxed]) {
    const done = await run("sh", ["-c", "sleep 987.64 & echo bye"], { runner });
    assert.equal(done.exitCode, 0);
    assert.equal(done.log, "bye\n");
    assert.deepEqual(await waitUntilGone("987.64"), [], runner.name);
  }
});

test("exit status, signals and stdout/stderr interleaving reach the caller", { skip }, async () => {
  const r = await run("sh", ["-c", "echo 1; echo 2 >&2; echo 3; echo 4 >&2; exit 7"]);
  assert.equal(r.log, "1\n2\n3\n4\n");
  assert.equal(r.exitCode, 7);
  assert.equal(r.failure, "build failed with exit status 7");
  const k = await run("sh", ["-c", "kill -SEGV $$"]);
  assert.equal(k.signal, null); // inside the pid namespace bwrap reports it as status 128+n
  assert.notEqual(k.exitCode, 0);
  const missing = await run("no-such-command-beamix", []);
  assert.notEqual(missing.exitCode, 0);
  assert.match(missing.log, /no-such-command-beamix/);
  const um = await run("no-such-command-beamix", [], { runner: runUnsandboxed });
  assert.equal(um.exitCode, 127);
});

test("erlc, erl, elixir, rebar3, make and gcc work inside; a NIF builds against the ERTS headers and loads", { skip }, async () => {
  const buildDir = freshBuildDir();
  writeFileSync(join(buildDir, "hello.erl"), "-module(hello).\n-export([hi/0]).\nhi() -> io:format(\"hi from ~s~n\", [proplists:get_value(source, module_info(compile))]).\n");
  const c = await run("erlc", ["hello.erl"], { buildDir });
  assert.equal(c.exitCode, 0, c.log);
  assert.ok(existsSync(join(buildDir, "hello.beam")));
  const h = await erl("hello:hi(), halt().", { buildDir });
  assert.equal(h.log, "hi from /build/hello.erl\n");

  const ex = await run("elixir", ["-e", 'IO.puts("elixir #{System.version()} sum=#{Enum.sum([1, 2, 3])} cwd=#{File.cwd!()}")']);
  assert.equal(ex.exitCode, 0, ex.log);
  assert.equal(ex.log, `elixir ${tc.elixirVersion} sum=6 cwd=/build\n`);

  const rb = freshBuildDir();
  mkdirSync(join(rb, "src"));
  writeFileSync(join(rb, "rebar.config"), "{erl_opts, [deterministic]}.\n");
  writeFileSync(join(rb, "src", "tiny.app.src"), '{application,tiny,[{description,"tiny"},{vsn,"0.1.0"},{applications,[kernel,stdlib]}]}.\n');
  writeFileSync(join(rb, "src", "tiny.erl"), "-module(tiny).\n-export([hi/0]).\nhi() -> ok.\n");
  const env = { PATH: [...tc.binDirs, "/usr/bin", "/bin"].join(":"), HOME: "/build/.home", REBAR_CACHE_DIR: "/build/.rebar-cache" };
  const r3 = await run("rebar3", ["compile"], { buildDir: rb, env });
  assert.equal(r3.exitCode, 0, r3.log);
  assert.ok(existsSync(join(rb, "_build", "default", "lib", "tiny", "ebin", "tiny.beam")), r3.log);

  const mk = freshBuildDir();
  mkdirSync(join(mk, "src"));
  writeFileSync(join(mk, "src", "m.erl"), "-module(m).\n");
  writeFileSync(join(mk, "Makefile"), "ebin/m.beam: src/m.erl\n\tmkdir -p ebin\n\terlc -o ebin $<\n");
  const made = await run("make", [], { buildDir: mk });
  assert.equal(made.exitCode, 0, made.log);
  assert.ok(existsSync(join(mk, "ebin", "m.beam")));

  const nb = freshBuildDir();
  writeFileSync(
    join(nb, "sum_nif.c"),
    `#include <erl_nif.h>
static ERL_NIF_TERM add(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  int a, b;
  if (!enif_get_int(env, argv[0], &a) || !enif_get_int(env, argv[1], &b)) return enif_make_badarg(env);
  return enif_make_int(env, a + b);
}
static ErlNifFunc funcs[] = {{"add", 2, add}};
ERL_NIF_INIT(sum_nif, funcs, NULL, NULL, NULL, NULL)
`,
  );
  writeFileSync(join(nb, "sum_nif.erl"), "-module(sum_nif).\n-export([add/2]).\n-on_load(init/0).\ninit() -> erlang:load_nif(\"/build/sum_nif\", 0).\nadd(_, _) -> erlang:nif_error(not_loaded).\n");
  const gcc = await run("cc", ["-shared", "-fPIC", "-O2", `-I${tc.paths.ertsInclude}`, "-o", "sum_nif.so", "sum_nif.c"], { buildDir: nb });
  assert.equal(gcc.exitCode, 0, gcc.log);
  const loaded = await run("sh", ["-c", 'erlc sum_nif.erl && erl -noshell -eval "io:format(\\"~p\\", [sum_nif:add(40, 2)]), halt()."'], { buildDir: nb });
  assert.equal(loaded.log, "42");
});

test("runners say where the build sees its directory; timing of sandbox start-up", { skip }, async (t) => {
  assert.equal(sandboxRunner.buildPath("/some/where"), "/build");
  assert.equal(unsandboxedRunner.buildPath("/some/where"), "/some/where");
  assert.equal(sandboxRunner.sandboxed, true);
  assert.equal(unsandboxedRunner.sandboxed, false);
  const { args, data } = await bwrapArgs({ command: "true", args: [], buildDir: "/b", readOnlyBinds: [], env: { A: "1" }, timeoutMs: 1, network: false, logSink: { write() {} } });
  for (const flag of ["--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]) assert.ok(args.includes(flag), flag);
  assert.ok(!args.includes("--share-net"));
  assert.deepEqual(args.slice(args.indexOf("--bind"), args.indexOf("--bind") + 3), ["--bind", "/b", "/build"]);
  assert.deepEqual(args.slice(-4), ["A", "1", "--", "true"]);
  assert.equal(data.length, args.filter((a) => a === "--ro-bind-data").length);

  const median = async (runner: (s: RunSpec) => Promise<RunResult>, cmd: string, a: string[]) => {
    const ms: number[] = [];
    for (let i = 0; i < 7; i++) {
      const r = await run(cmd, a, { runner });
      assert.equal(r.exitCode, 0, r.log);
      ms.push(r.durationMs);
    }
    return ms.sort((x, y) => x - y)[3];
  };
  const sbTrue = await median(runSandboxed, "true", []);
  const unTrue = await median(runUnsandboxed, "true", []);
  const sbErl = await median(runSandboxed, "erl", ["-noshell", "-eval", "halt()."]);
  const unErl = await median(runUnsandboxed, "erl", ["-noshell", "-eval", "halt()."]);
  t.diagnostic(`median run of true: sandboxed ${sbTrue.toFixed(1)} ms, unsandboxed ${unTrue.toFixed(1)} ms; erl halt: sandboxed ${sbErl.toFixed(1)} ms, unsandboxed ${unErl.toFixed(1)} ms`);
});
