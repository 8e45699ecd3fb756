// Differential test against the installed Elixir: thousands of deterministic (version,
// requirement) pairs aimed at the edges, all judged by ONE `elixir` process, and beamix must
// agree on every one: validity of both strings, Version.match?/2 and /3 (allow_pre: false),
// Version.compare/2 against a second version, and Version.to_string/1.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compareVersions, formatVersion, tryParseVersion } from "../src/elixir/version.ts";
import { matches, tryParseRequirement } from "../src/elixir/requirement.ts";
import { rng } from "./support/rng.ts";

// Reads hex-encoded (version, requirement, other) triples, one per line; writes one result line
// each: version valid, requirement valid, match (default, allow_pre: false), compare, to_string.
const ELIXIR_SCRIPT = `
[path] = System.argv()
bool = fn true -> "1"; false -> "0" end
out =
  path
  |> File.read!()
  |> String.split("\\n", trim: true)
  |> Enum.map(fn line ->
    [v, r, o] = line |> String.split("\\t") |> Enum.map(&Base.decode16!(&1, case: :lower))
    pv = Version.parse(v)
    pr = Version.parse_requirement(r)
    po = Version.parse(o)
    m =
      case {pv, pr} do
        {{:ok, _}, {:ok, req}} -> bool.(Version.match?(v, req)) <> bool.(Version.match?(v, req, allow_pre: false))
        _ -> "-"
      end
    c =
      case {pv, po} do
        {{:ok, x}, {:ok, y}} -> Atom.to_string(Version.compare(x, y))
        _ -> "-"
      end
    s = case pv do {:ok, x} -> to_string(x); :error -> "-" end
    [bool.(pv != :error), "\\t", bool.(pr != :error), "\\t", m, "\\t", c, "\\t", s, "\\n"]
  end)
IO.binwrite(out)
`;

interface Case {
  version: string;
  requirement: string;
  other: string;
}


const rnd = rng(0xbea41);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
const chance = (p: number): boolean => rnd() < p;

// Small numbers so that requirements and versions collide often and boundaries are hit.
const NUMS = ["0", "1", "2", "3"];
const ODD_NUMS = ["00", "01", "", "a", "-1", " 1", "10", "18446744073709551616", "9007199254740993", "１", "1\t"];
const PRE_IDS = ["0", "0", "1", "2", "10", "alpha", "beta", "rc", "rc1", "0a", "A", "a-b", "-", "dev", "Z"];
const ODD_PRE = ["", "00", "01", "a_b", "é", "a b", "+", "010"];
const BUILDS = ["build", "1", "001", "b.1", "a-b", "0", "sha.5114f85"];
const ODD_BUILDS = ["", "a..b", "+x", "a b", "é", "-"];

const num = (): string => (chance(0.04) ? pick(ODD_NUMS) : pick(NUMS));
function preText(): string {
  const ids: string[] = [];
  const n = 1 + Math.floor(rnd() * 3);
  for (let i = 0; i < n; i++) ids.push(chance(0.05) ? pick(ODD_PRE) : pick(PRE_IDS));
  return ids.join(".");
}
function mutate(s: string): string {
  switch (Math.floor(rnd() * 7)) {
    case 0: return `${s}.0`;
    case 1: return s.slice(0, -1);
    case 2: return `v${s}`;
    case 3: return ` ${s}`;
    case 4: return `${s}\t`;
    case 5: return s.replace(".", "..");
    default: return `${s}-`;
  }
}
function versionText(parts: 2 | 3): string {
  let s = parts === 3 ? `${num()}.${num()}.${num()}` : `${num()}.${num()}`;
  if (chance(0.35)) s += `-${preText()}`;
  if (chance(0.12)) s += `+${chance(0.1) ? pick(ODD_BUILDS) : pick(BUILDS)}`;
  return chance(0.03) ? mutate(s) : s;
}

const OPS = ["", "==", "!=", ">", ">=", ">=", "<", "<=", "~>", "~>", "~>", "~>", "!"];
const JOINERS = [" and ", " or "];
const ODD_JOINERS = ["and", " and", "and ", "  and  ", " AND ", "&&", " || ", ", ", " or", "or ", "\tor ", " or  or "];
function clauseText(): string {
  let op = pick(OPS);
  if (op === "!" && chance(0.8)) op = "!="; // IO.warn on every `!` is slow; keep a few
  const parts = op === "~>" ? (chance(0.5) ? 2 : 3) : chance(0.05) ? 2 : 3;
  return op + pick(["", " ", " ", " ", "  "]) + versionText(parts);
}
function requirementText(): string {
  const n = chance(0.6) ? 1 : chance(0.75) ? 2 : 3;
  let s = clauseText();
  for (let i = 1; i < n; i++) s += (chance(0.04) ? pick(ODD_JOINERS) : pick(JOINERS)) + clauseText();
  if (chance(0.03)) s = pick([`${s} and`, `and ${s}`, `${s} or `, `>= ${s}`, `${s} ${versionText(3)}`, `${s}\n`]);
  if (chance(0.05)) s = pick([` ${s}`, `${s} `, `  ${s}  `]);
  return s;
}

// Hand-picked edges, every one against every boundary version.
const FIXED_VERSIONS = [
  "0.0.0", "0.0.0-0", "0.1.0", "0.1.5", "0.2.0", "0.2.0-0", "1.0.0-0", "1.0.0-rc.1", "1.0.0", "1.0.0+build",
  "1.1.0-dev", "1.1.9", "1.2.0-0", "1.2.0-rc.0", "1.2.0-rc.1", "1.2.0", "1.2.2", "1.2.3-dev", "1.2.3", "1.2.5-dev",
  "1.2.99", "1.3.0-0", "1.3.0-dev", "1.3.0", "1.9.9", "2.0.0-0", "2.0.0-rc.0", "2.0.0", "2.0.0+b", "1.0", "01.0.0",
];
const FIXED_REQUIREMENTS = [
  "~> 1.2", "~> 1.2.3", "~> 0.1", "~> 0.1.0", "~> 1.2-rc.0", "~> 1.2.3-rc.0", "~> 1.2-0", "~> 1.0+abc", "~> 1",
  "~>1.2", "~>  1.2", "== 1.0.0", "1.0.0", "== 1.0.0+other", "!= 1.0.0", "! 1.0.0", "> 1.0.0", "> 1.0.0-rc.1",
  ">= 1.0.0", ">= 1.0.0-0", ">=1.0.0", "< 2.0.0", "< 2.0.0-0", "<= 1.2.3", ">= 1.0.0 and < 2.0.0",
  ">= 1.0.0 and < 2.0.0-rc", ">= 1.0.0-rc and < 2.0.0", "== 3.0.0 or >= 1.0.0 and < 2.0.0",
  "< 1.0.0 and > 0.1.0 or > 1.2.0 and < 1.3.0", "1.0.0 or 2.0.0", "1.0.0 2.0.0", "1.0.0 and", "and 1.0.0",
  " or 1.0.0", "1.0.0 or or 2.0.0", "1.0.0 or2.0.0", ">= >= 1.0.0", "=> 1.0.0", ">= 1.0", "", " ", "1.0.0-a>b",
  "~> 1.0.0.0", "  ~> 1.2  ", "1.0.0  or  2.0.0", "~> 1.2 or ~> 2.0-0", "~> 1.2 and ~> 1.2.3",
];

function buildCases(): Case[] {
  const cases: Case[] = [];
  for (const version of FIXED_VERSIONS) {
    for (const requirement of FIXED_REQUIREMENTS) cases.push({ version, requirement, other: pick(FIXED_VERSIONS) });
  }
  for (let i = 0; i < 3000; i++) {
    cases.push({ version: versionText(chance(0.03) ? 2 : 3), requirement: requirementText(), other: versionText(3) });
  }
  return cases;
}

function beamixLine(c: Case): string {
  const v = tryParseVersion(c.version);
  const r = tryParseRequirement(c.requirement);
  const o = tryParseVersion(c.other);
  const b = (x: boolean): string => (x ? "1" : "0");
  const m = v && r ? b(matches(v, r)) + b(matches(v, r, { allowPre: false })) : "-";
  const cmp = v && o ? (["lt", "eq", "gt"] as const)[compareVersions(v, o) + 1] : "-";
  return [b(v !== undefined), b(r !== undefined), m, cmp, v ? formatVersion(v) : "-"].join("\t");
}

test("beamix agrees with Elixir's Version on every generated pair", (t) => {
  const cases = buildCases();
  const dir = mkdtempSync(join(tmpdir(), "beamix-version-"));
  try {
    const hex = (s: string): string => Buffer.from(s, "utf8").toString("hex");
    writeFileSync(join(dir, "cases.tsv"), cases.map((c) => `${hex(c.version)}\t${hex(c.requirement)}\t${hex(c.other)}\n`).join(""));
    writeFileSync(join(dir, "judge.exs"), ELIXIR_SCRIPT);
    const run = spawnSync("elixir", [join(dir, "judge.exs"), join(dir, "cases.tsv")], {
      encoding: "utf8",
      maxBuffer: 256 * 1024 * 1024,
      timeout: 60_000,
    });
    assert.equal(run.error, undefined, `could not run elixir: ${run.error}`);
    assert.equal(run.status, 0, `elixir failed:\n${run.stderr.slice(-2000)}`);
    const expected = run.stdout.split("\n");
    assert.equal(expected.pop(), "");
    assert.equal(expected.length, cases.length, "elixir printed one line per case");

    const mismatches: string[] = [];
    let validPairs = 0;
    let matched = 0;
    let invalid = 0;
    cases.forEach((c, i) => {
      const ours = beamixLine(c);
      const theirs = expected[i];
      if (theirs[4] !== "-") validPairs++;
      if (theirs[4] === "1") matched++;
      if (theirs.startsWith("0") || theirs[2] === "0") invalid++;
      if (ours !== theirs) {
        mismatches.push(
          `version=${JSON.stringify(c.version)} requirement=${JSON.stringify(c.requirement)} other=${JSON.stringify(c.other)}\n` +
            `    elixir: ${JSON.stringify(theirs)}\n    beamix: ${JSON.stringify(ours)}`,
        );
      }
    });
    const summary =
      `${cases.length} pairs compared with Elixir (${validPairs} both valid, ${matched} matching by default, ` +
      `${invalid} with an invalid version or requirement)`;
    t.diagnostic(summary);
    console.log(summary);
    assert.equal(mismatches.length, 0, `${mismatches.length} disagreements, first 20:\n${mismatches.slice(0, 20).join("\n")}`);
    // The generator must actually reach both outcomes of every question, or the test proves little.
    assert.ok(cases.length >= 2500);
    assert.ok(matched > cases.length / 10 && validPairs - matched > cases.length / 10, summary);
    assert.ok(invalid > cases.length / 20, summary);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
