// Versions as Elixir's `Version` module reads, prints and orders them (Elixir 1.14).
// Hex requirements are evaluated by Elixir, so beamix must agree with it exactly, including
// where Elixir departs from SemVer (a two-part operand after `~>`, pre-release ordering by
// Erlang term order). Numeric parts are bigints: Erlang integers never overflow, so neither may ours.
import { BeamixError } from "../errors.ts";

// A pre-release identifier: all-digit identifiers are numbers, anything else stays text.
export type PreId = string | bigint;

// What the parser yields. `patch` is null only for the operand of a two-part `~>` requirement.
export interface LooseVersion {
  readonly major: bigint;
  readonly minor: bigint;
  readonly patch: bigint | null;
  readonly pre: readonly PreId[];
  // Build metadata after `+`, kept for printing, never compared. null when absent.
  readonly build: string | null;
}

export interface Version extends LooseVersion {
  readonly patch: bigint;
}

export type ScanResult = { ok: true; version: LooseVersion } | { ok: false; reason: string };

const DIGITS = /^[0-9]+$/;
const IDENTIFIER = /^[0-9A-Za-z-]+$/;

// "0" alone is a number; "0" followed by anything is a leading zero.
const hasLeadingZero = (s: string): boolean => s.length >= 2 && s[0] === "0";

function numericPart(name: string, text: string | undefined): bigint | string {
  if (text === undefined) return `missing ${name} component`;
  if (hasLeadingZero(text)) return `${name} component ${JSON.stringify(text)} has a leading zero`;
  if (!DIGITS.test(text)) return `${name} component ${JSON.stringify(text)} is not a number`;
  return BigInt(text);
}

// Dot-separated identifiers of [0-9A-Za-z-], none empty (used for both pre-release and build).
function identifiers(what: string, text: string): string[] | string {
  const parts = text.split(".");
  for (const part of parts) {
    if (part === "") return `empty ${what} identifier`;
    if (!IDENTIFIER.test(part)) return `${what} identifier ${JSON.stringify(part)} has characters other than [0-9A-Za-z-]`;
  }
  return parts;
}

// Parses MAJOR.MINOR.PATCH[-PRE][+BUILD]; with `patchOptional`, also MAJOR.MINOR[-PRE][+BUILD]
// (the form Elixir accepts only after `~>`). The first `+` starts the build, the first `-` before
// it starts the pre-release, so `1.0.0-rc-1` has the single pre-release identifier `rc-1`.
export function scanVersion(text: string, patchOptional: boolean): ScanResult {
  const fail = (reason: string): ScanResult => ({ ok: false, reason });
  const plus = text.indexOf("+");
  const withPre = plus < 0 ? text : text.slice(0, plus);
  const buildText = plus < 0 ? null : text.slice(plus + 1);
  const dash = withPre.indexOf("-");
  const core = dash < 0 ? withPre : withPre.slice(0, dash);
  const preText = dash < 0 ? null : withPre.slice(dash + 1);

  const parts = core.split(".");
  if (parts.length > 3) return fail("more than three components");
  const major = numericPart("major", parts[0]);
  if (typeof major === "string") return fail(major);
  const minor = numericPart("minor", parts[1]);
  if (typeof minor === "string") return fail(minor);
  let patch: bigint | null = null;
  if (parts[2] !== undefined || !patchOptional) {
    const p = numericPart("patch", parts[2]);
    if (typeof p === "string") return fail(p);
    patch = p;
  }

  const pre: PreId[] = [];
  if (preText !== null) {
    const ids = identifiers("pre-release", preText);
    if (typeof ids === "string") return fail(ids);
    for (const id of ids) {
      if (!DIGITS.test(id)) pre.push(id);
      else if (hasLeadingZero(id)) return fail(`numeric pre-release identifier ${JSON.stringify(id)} has a leading zero`);
      else pre.push(BigInt(id));
    }
  }
  if (buildText !== null) {
    const ids = identifiers("build", buildText);
    if (typeof ids === "string") return fail(ids);
  }
  return { ok: true, version: { major, minor, patch, pre, build: buildText } };
}

export function tryParseVersion(text: string): Version | undefined {
  const r = scanVersion(text, false);
  return r.ok ? (r.version as Version) : undefined;
}

export function parseVersion(text: string): Version {
  const r = scanVersion(text, false);
  if (!r.ok) throw new BeamixError(`invalid version ${JSON.stringify(text)}: ${r.reason}`);
  return r.version as Version;
}

export function toVersion(v: Version | string): Version {
  return typeof v === "string" ? parseVersion(v) : v;
}

export function formatVersion(v: LooseVersion): string {
  let s = `${v.major}.${v.minor}`;
  if (v.patch !== null) s += `.${v.patch}`;
  if (v.pre.length > 0) s += `-${v.pre.join(".")}`;
  if (v.build !== null) s += `+${v.build}`;
  return s;
}

const sign = (a: bigint, b: bigint): -1 | 0 | 1 => (a < b ? -1 : a > b ? 1 : 0);

// Pre-release lists in Erlang term order: numbers sort before text, text compares byte-wise
// (identifiers are ASCII, so code units are bytes), and a proper prefix sorts first.
function comparePre(a: readonly PreId[], b: readonly PreId[]): -1 | 0 | 1 {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (typeof x === "bigint" && typeof y === "bigint") {
      const c = sign(x, y);
      if (c !== 0) return c;
    } else if (typeof x === "bigint") return -1;
    else if (typeof y === "bigint") return 1;
    else if (x !== y) return x < y ? -1 : 1;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

// Precedence; build metadata is ignored, and a release sorts after all its pre-releases.
export function compareParsed(a: Version, b: Version): -1 | 0 | 1 {
  return (
    sign(a.major, b.major) ||
    sign(a.minor, b.minor) ||
    sign(a.patch, b.patch) ||
    (a.pre.length === 0 && b.pre.length === 0
      ? 0
      : a.pre.length === 0
        ? 1
        : b.pre.length === 0
          ? -1
          : comparePre(a.pre, b.pre))
  );
}

export function compareVersions(a: Version | string, b: Version | string): -1 | 0 | 1 {
  return compareParsed(toVersion(a), toVersion(b));
}
