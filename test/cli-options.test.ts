// Numeric command-line options are checked as the command line is read (issue 12): a value that
// is not a number of the right kind is a usage error (exit 2, one line, no stack trace) before
// anything runs, whether or not the command would have used the option. `--require-sigs ''` used
// to be read as 0, accepting unsigned substitutes; `--require-sigs two` passed unnoticed when no
// cache was configured.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { integerOption, MAX_SECONDS, secondsOption } from "../src/cli/options.ts";
import { UsageError } from "../src/errors.ts";
import { beamix } from "./support/cli.ts";

let work: string;
let env: NodeJS.ProcessEnv;

before(async () => {
  work = await mkdtemp(join(tmpdir(), "beamix-cli-options-"));
  // Nothing configured, nothing reachable: a command that got past its options fails fast.
  env = {
    BEAMIX_CONFIG_DIR: join(work, "config"),
    BEAMIX_DATA_DIR: join(work, "data"),
    BEAMIX_CACHE_DIR: join(work, "cache"),
    BEAMIX_STORE: join(work, "store"),
    HEX_MIRROR: "http://127.0.0.1:9",
  };
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function usageError(args: string[], message: RegExp): Promise<void> {
  const r = await beamix(args, { env, cwd: work });
  assert.equal(r.code, 2, `beamix ${args.join(" ")}: exit ${r.code}, stderr ${JSON.stringify(r.stderr)}`);
  assert.equal(r.stdout, "");
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  assert.equal(lines.length, 1, `one line on stderr, got ${JSON.stringify(r.stderr)}`);
  assert.match(lines[0], message);
}

test("--require-sigs: an empty or non-numeric value is refused, with or without a cache", async () => {
  await usageError(["build", "./pkg", "--require-sigs", ""], /^beamix: --require-sigs must be a non-negative integer, not ""$/);
  await usageError(["build", "./pkg", "--require-sigs", "", "--substituters", `file://${work}/cache-a`], /^beamix: --require-sigs must be a non-negative integer, not ""$/);
  await usageError(["build", "./pkg", "--require-sigs", "two"], /^beamix: --require-sigs must be a non-negative integer, not "two"$/);
  await usageError(["build", "./pkg", "--no-substitutes", "--require-sigs=-1"], /--require-sigs must be a non-negative integer, not "-1"$/);
  await usageError(["challenge", "./pkg", "--require-sigs", "1.5"], /^beamix: --require-sigs must be a non-negative integer, not "1\.5"$/);
});

test("every numeric option of every command is checked when the command line is read", async () => {
  const cases: [string[], RegExp][] = [
    [["build", "./pkg", "--jobs", "0"], /--jobs must be a positive integer, not "0"/],
    [["build", "./pkg", "-j", "many"], /--jobs must be a positive integer, not "many"/],
    [["build", "./pkg", "--timeout", "soon"], /--timeout must be a positive number of seconds up to \d+, not "soon"/],
    [["build", "./pkg", "--timeout", "1e99"], /--timeout must be a positive number of seconds/],
    [["build", "./pkg", "--substitute-timeout", ""], /--substitute-timeout must be a positive number of seconds/],
    [["install", "./pkg", "--jobs", "-2"], /--jobs must be a positive integer, not "-2"/],
    [["shell", "./pkg", "--require-sigs", "x", "--", "true"], /--require-sigs must be/],
    [["publish", "./pkg", "--to", `file://${work}/c`, "--sign-with", "k", "--priority", "high"], /--priority must be an integer from 0 to 999999, not "high"/],
    [["deps", "--priority", "1000000"], /--priority must be an integer from 0 to 999999, not "1000000"/],
    [["deps", "--jobs", "2.5"], /--jobs must be a positive integer, not "2\.5"/],
    [["challenge", "./pkg", "--substitute-timeout", "0"], /--substitute-timeout must be a positive number of seconds/],
    [["serve", "--port", "65536"], /--port must be an integer from 0 to 65535, not "65536"/],
    [["serve", "--cache", work, "--max-connections-per-address", "0"], /--max-connections-per-address must be a positive integer, not "0"/],
    [["serve", "--priority", " 5"], /--priority must be an integer from 0 to 999999, not " 5"/],
    [["hex", "serve", work, "--port", "http"], /--port must be an integer from 0 to 65535, not "http"/],
  ];
  for (const [args, message] of cases) await usageError(args, message);
});

test("valid values get past the command line", async () => {
  // The build then fails on its own terms (no such package directory): exit 1, not a usage error.
  const r = await beamix(["build", "./nonexistent", "--jobs", "2", "--timeout", "0.5", "--require-sigs", "0", "--substitute-timeout", "1.5"], { env, cwd: work });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /nonexistent: no such file or directory/);
});

test("the shared parsers: decimal digits only, in range", () => {
  const sigs = integerOption("--require-sigs", 0);
  assert.equal(sigs("0"), 0);
  assert.equal(sigs("12"), 12);
  for (const bad of ["", " ", "1 ", "+1", "-0", "1.0", "1e2", "0x10", "Infinity", "NaN", "١", "99999999999999999"]) {
    assert.throws(() => sigs(bad), (e: unknown) => e instanceof UsageError && e.message === `--require-sigs must be a non-negative integer, not ${JSON.stringify(bad)}`, bad);
  }
  const port = integerOption("--port", 0, 65535);
  assert.equal(port("65535"), 65535);
  assert.throws(() => port("65536"), /--port must be an integer from 0 to 65535/);
  const seconds = secondsOption("--timeout");
  assert.equal(seconds("0.5"), 0.5);
  assert.equal(seconds(String(MAX_SECONDS)), MAX_SECONDS);
  for (const bad of ["0", "0.0", "", "-1", "1e3", ".5", "5.", String(MAX_SECONDS + 1), "Infinity"]) {
    assert.throws(() => seconds(bad), (e: unknown) => e instanceof UsageError && /^--timeout must be a positive number of seconds/.test(e.message), bad);
  }
});
