import { test } from "node:test";
import assert from "node:assert/strict";
import { BeamixError } from "../src/errors.ts";
import {
  compareVersions,
  formatVersion,
  parseVersion,
  tryParseVersion,
} from "../src/elixir/version.ts";
import {
  formatRequirement,
  highest,
  matches,
  parseRequirement,
  satisfying,
  tryParseRequirement,
} from "../src/elixir/requirement.ts";

test("parseVersion splits core, pre-release and build", () => {
  assert.deepEqual(parseVersion("1.22.333"), { major: 1n, minor: 22n, patch: 333n, pre: [], build: null });
  assert.deepEqual(parseVersion("1.0.0-rc.1"), { major: 1n, minor: 0n, patch: 0n, pre: ["rc", 1n], build: null });
  // The first `-` starts the pre-release; later dashes are part of an identifier.
  assert.deepEqual(parseVersion("1.0.0-rc-1.0a.0").pre, ["rc-1", "0a", 0n]);
  assert.deepEqual(parseVersion("1.0.0+build.01"), { major: 1n, minor: 0n, patch: 0n, pre: [], build: "build.01" });
  // The first `+` starts the build, even before a `-`.
  assert.deepEqual(parseVersion("1.0.0+b-1"), { major: 1n, minor: 0n, patch: 0n, pre: [], build: "b-1" });
  assert.deepEqual(parseVersion("0.0.0-0+0").pre, [0n]);
});

test("parseVersion keeps integers exact beyond 2^53", () => {
  const v = parseVersion("18446744073709551617.9007199254740993.0");
  assert.equal(v.major, 18446744073709551617n);
  assert.equal(v.minor, 9007199254740993n);
  assert.equal(formatVersion(v), "18446744073709551617.9007199254740993.0");
  assert.equal(compareVersions("9007199254740993.0.0", "9007199254740992.0.0"), 1);
});

test("parseVersion rejects what Elixir rejects, naming the string", () => {
  for (const bad of [
    "", "1", "1.0", "1.0.0.0", "01.0.0", "1.00.0", "1.0.00", "1.0.0-", "1.0.0+", "1.0.0-01", "1.0.0-rc.01",
    "1.0.0-a..b", "1.0.0+a..b", "1.0.0-a_b", "1.0.0+a+b", " 1.0.0", "1.0.0 ", "v1.0.0", "1.0.x", "-1.0.0",
    "1.0.0-é", "１.0.0", "1.0.0\n",
  ]) {
    assert.equal(tryParseVersion(bad), undefined, bad);
    assert.throws(() => parseVersion(bad), (e: unknown) => e instanceof BeamixError && e.message.includes(JSON.stringify(bad)), bad);
  }
  // One line even when the input holds a newline.
  assert.throws(() => parseVersion("1.0\n0"), (e: unknown) => e instanceof Error && !e.message.includes("\n"));
  // Zero alone is fine; so are alphanumeric identifiers that start with zero.
  assert.ok(tryParseVersion("0.0.0-0.0a.00a"));
});

test("formatVersion round-trips", () => {
  for (const s of ["0.0.0", "1.2.3-alpha.1.beta", "1.2.3+exp.sha.5114f85", "10.20.30-rc.1+001", "1.0.0-0"]) {
    assert.equal(formatVersion(parseVersion(s)), s);
  }
  assert.equal(formatVersion(parseRequirement("~> 1.2-rc.1").anyOf[0][0].version), "1.2-rc.1");
});

test("compareVersions follows SemVer precedence and ignores build metadata", () => {
  const ordered = [
    "0.9.99", "1.0.0-0", "1.0.0-1", "1.0.0-2", "1.0.0-10", "1.0.0-A", "1.0.0-alpha", "1.0.0-alpha.1",
    "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0",
    "1.10.0", "2.0.0",
  ];
  for (let i = 0; i < ordered.length; i++) {
    for (let j = 0; j < ordered.length; j++) {
      assert.equal(compareVersions(ordered[i], ordered[j]), Math.sign(i - j), `${ordered[i]} vs ${ordered[j]}`);
    }
  }
  assert.equal(compareVersions("1.0.0+a", "1.0.0+b"), 0);
  assert.equal(compareVersions("1.0.0-rc+a", "1.0.0-rc"), 0);
  assert.throws(() => compareVersions("1.0", "1.0.0"), BeamixError);
});

test("operators ==, !=, >, >=, <, <= and a bare version", () => {
  const cases: [string, string, boolean][] = [
    ["1.0.0", "== 1.0.0", true],
    ["1.0.0+build", "== 1.0.0", true],
    ["1.0.0", "== 1.0.0+other", true],
    ["1.0.1", "== 1.0.0", false],
    ["1.0.0", "1.0.0", true],
    ["1.0.1", "1.0.0", false],
    ["1.0.0-rc.1", "1.0.0-rc.1", true],
    ["1.0.0", "1.0.0-rc.1", false],
    ["1.0.0", "!= 1.0.0", false],
    ["1.0.1", "!= 1.0.0", true],
    ["1.0.1", "> 1.0.0", true],
    ["1.0.0", "> 1.0.0", false],
    ["1.0.0", "> 1.0.0-rc.1", true],
    ["1.0.0", ">= 1.0.0", true],
    ["0.9.9", ">= 1.0.0", false],
    ["0.9.9", "< 1.0.0", true],
    ["1.0.0", "< 1.0.0", false],
    ["1.0.0-rc.1", "< 1.0.0", true],
    ["1.0.0", "<= 1.0.0", true],
    ["1.0.1", "<= 1.0.0", false],
    ["1.0.0", ">=1.0.0", true],
    ["1.0.0", ">=   1.0.0", true],
    ["1.0.0", "  >= 1.0.0  ", true],
  ];
  for (const [v, r, want] of cases) assert.equal(matches(v, r), want, `${v} ${r}`);
});

test("~> with two parts bounds the major, with three parts the minor", () => {
  const cases: [string, string, boolean][] = [
    ["1.2.0", "~> 1.2", true],
    ["1.9.9", "~> 1.2", true],
    ["1.1.9", "~> 1.2", false],
    ["2.0.0", "~> 1.2", false],
    ["2.0.0-0", "~> 1.2", false],
    ["2.0.0-rc.0", "~> 1.2", false],
    ["2.0.0-rc.0", "~> 1.0", false],
    ["1.2.3", "~> 1.2.3", true],
    ["1.2.99", "~> 1.2.3", true],
    ["1.2.2", "~> 1.2.3", false],
    ["1.3.0", "~> 1.2.3", false],
    ["1.3.0-0", "~> 1.2.3", false],
    ["1.3.0-dev", "~> 1.2.3", false],
    ["0.1.5", "~> 0.1", true],
    ["0.2.0", "~> 0.1", true], // two parts bound the major even at 0.x
    ["0.1.5", "~> 0.1.0", true],
    ["0.2.0", "~> 0.1.0", false],
    // The lower bound keeps the operand's pre-release, patch 0 when omitted.
    ["1.2.0-rc.1", "~> 1.2-rc.0", true],
    ["1.2.0-beta", "~> 1.2-rc.0", false],
    ["1.2.3-rc.1", "~> 1.2.3-rc.0", true],
    // With pre-releases allowed (the default) those below the upper bound match.
    ["1.5.0-dev", "~> 1.2", true],
    ["1.2.5-dev", "~> 1.2.3", true],
    ["1.2.3-dev", "~> 1.2.3", false],
  ];
  for (const [v, r, want] of cases) assert.equal(matches(v, r), want, `${v} ${r}`);
});

test("allowPre: false keeps pre-releases out of ~>, > and >= unless the operand is a pre-release", () => {
  const no = { allowPre: false };
  assert.equal(matches("1.1.0-dev", ">= 1.0.0"), true);
  assert.equal(matches("1.1.0-dev", ">= 1.0.0", no), false);
  assert.equal(matches("1.1.0-dev", "> 1.0.0", no), false);
  assert.equal(matches("1.5.0-dev", "~> 1.2", no), false);
  assert.equal(matches("1.2.5-dev", "~> 1.2.3", no), false);
  assert.equal(matches("1.1.0-dev", ">= 1.0.0-rc.0", no), true);
  assert.equal(matches("1.5.0-dev", "~> 1.2-rc", no), true);
  // Only the clause that is evaluated counts.
  assert.equal(matches("1.1.0-dev", ">= 1.0.0 and < 2.0.0-rc", no), false);
  assert.equal(matches("1.1.0-dev", ">= 1.0.0-rc and < 2.0.0", no), true);
  // <, <=, ==, != ignore it.
  assert.equal(matches("1.0.0-rc.1", "< 1.0.0", no), true);
  assert.equal(matches("1.0.0-rc.1", "<= 1.0.0", no), true);
  assert.equal(matches("1.0.0-rc.1", "== 1.0.0-rc.1", no), true);
  assert.equal(matches("1.0.0-rc.1", "!= 1.0.0", no), true);
  assert.equal(matches("1.2.0", "~> 1.2", no), true);
});

test("and binds tighter than or", () => {
  assert.equal(matches("1.5.0", ">= 1.0.0 and < 2.0.0"), true);
  assert.equal(matches("2.5.0", ">= 1.0.0 and < 2.0.0"), false);
  assert.equal(matches("3.0.0", "== 3.0.0 or >= 1.0.0 and < 2.0.0"), true);
  assert.equal(matches("2.5.0", "== 3.0.0 or >= 1.0.0 and < 2.0.0"), false);
  assert.equal(matches("1.5.0", ">= 1.0.0 and < 2.0.0 or == 3.0.0"), true);
  assert.equal(matches("0.5.0", "< 1.0.0 and > 0.6.0 or > 0.4.0 and < 0.6.0"), true);
  assert.equal(matches("0.7.0", "< 1.0.0 and > 0.6.0 or > 0.4.0 and < 0.6.0"), true);
  assert.equal(matches("0.6.0", "< 1.0.0 and > 0.6.0 or > 0.4.0 and < 0.6.0"), false);
  assert.equal(matches("1.0.0", "1.0.0 or 2.0.0"), true);
  assert.equal(matches("2.0.0", "1.0.0 or 2.0.0"), true);
  assert.deepEqual(
    parseRequirement("~> 1.0 and != 1.2.0 or == 0.9.0").anyOf.map((all) => all.map((c) => c.op)),
    [["~>", "!="], ["=="]],
  );
});

test("deprecated ! is !=", () => {
  assert.equal(matches("1.0.0", "! 1.0.0"), false);
  assert.equal(matches("1.0.1", "!1.0.0"), true);
});

test("parseRequirement rejects what Elixir rejects, naming the string", () => {
  for (const bad of [
    "", " ", "~> 1", "~>", ">= 1.0", "1.0", "== 1.0", "< 1", "~> 1.0.0.0", ">= >= 1.0.0", "1.0.0 2.0.0",
    "1.0.0 and", "1.0.0 and ", "and 1.0.0", " or 1.0.0", "1.0.0 or or 2.0.0", "1.0.0 and or 2.0.0",
    "1.0.0 or2.0.0", "1.0.0\tor 2.0.0", "1.0.0  or\t2.0.0", "=> 1.0.0", "= 1.0.0", ">= 1.0.0 >= 2.0.0",
    "~> 01.0", "~> 1.0-", "~> 1.0+", ">= 1.0.0-01", "~> v1.0", "1.0.0,2.0.0", "~>1.0 || ~>2.0", "\n1.0.0",
  ]) {
    assert.equal(tryParseRequirement(bad), undefined, JSON.stringify(bad));
    assert.throws(
      () => parseRequirement(bad),
      (e: unknown) => e instanceof BeamixError && e.message.includes(JSON.stringify(bad)) && !e.message.includes("\n"),
      JSON.stringify(bad),
    );
    assert.throws(() => matches("1.0.0", bad), BeamixError);
  }
  assert.equal(formatRequirement(parseRequirement(" ~>  1.0 ")), " ~>  1.0 ");
  // Build metadata is allowed in an operand, and ignored.
  assert.equal(matches("1.0.0", "== 1.0.0+abc"), true);
  assert.equal(matches("1.1.0", "~> 1.0+abc"), true);
  // Operators split even inside a version, so this is `== 1.0.0-a` then `>` with a bad operand.
  assert.equal(tryParseRequirement("1.0.0-a>b"), undefined);
  assert.throws(() => matches("1.0", "~> 1.0"), BeamixError);
});

test("satisfying and highest", () => {
  const versions = ["1.0.0", "1.2.0-rc.0", "1.2.0", "1.10.1", "2.0.0-rc.1", "2.0.0", "1.9.0+build"];
  assert.deepEqual(satisfying(versions, "~> 1.1"), ["1.2.0-rc.0", "1.2.0", "1.10.1", "1.9.0+build"]);
  assert.deepEqual(satisfying(versions, "~> 1.1", { allowPre: false }), ["1.2.0", "1.10.1", "1.9.0+build"]);
  assert.equal(highest(versions, "~> 1.1"), "1.10.1");
  assert.equal(highest(versions, ">= 0.0.0"), "2.0.0");
  assert.equal(highest(versions, "< 2.0.0"), "2.0.0-rc.1");
  assert.equal(highest(versions, "< 2.0.0 and > 1.10.1"), "2.0.0-rc.1");
  assert.equal(highest(versions, "< 2.0.0 and > 1.10.1", { allowPre: false }), undefined);
  assert.equal(highest(versions, "> 2.0.0"), undefined);
  assert.equal(highest([], "> 2.0.0"), undefined);
  // Equal precedence: the first given wins.
  assert.equal(highest(["1.0.0+a", "1.0.0+b"], "1.0.0"), "1.0.0+a");
  // Parsed versions come back as the same objects.
  const parsed = versions.map(parseVersion);
  assert.equal(highest(parsed, "~> 1.0"), parsed[3]);
  assert.throws(() => satisfying(["1.0"], ">= 0.0.0"), BeamixError);
});
