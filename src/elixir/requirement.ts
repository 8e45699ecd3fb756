// Version requirements as Elixir 1.14's `Version.parse_requirement/1` and `Version.match?/3`
// read and evaluate them: the requirements in Hex metadata are written for that code.
import { BeamixError } from "../errors.ts";
import { compareParsed, scanVersion, toVersion, type LooseVersion, type PreId, type Version } from "./version.ts";

export type Operator = "==" | "!=" | ">" | ">=" | "<" | "<=" | "~>";

export interface Clause {
  readonly op: Operator;
  // patch is null only for `~> MAJOR.MINOR`.
  readonly version: LooseVersion;
}

export interface Requirement {
  readonly source: string;
  // Disjunction of conjunctions: `and` binds tighter than `or`.
  readonly anyOf: readonly (readonly Clause[])[];
}

export interface MatchOptions {
  // Elixir's `:allow_pre` (default true). When false, `~>`, `>` and `>=` reject a pre-release
  // version unless the clause's own operand is a pre-release.
  allowPre?: boolean;
}

type Token = { kind: "op"; op: Operator } | { kind: "and" } | { kind: "or" } | { kind: "text"; text: string };

// Checked in this order, so `>=` wins over `>` and `!=` over `!`. The lone `!` is Elixir's
// deprecated spelling of `!=`. `and`/`or` only count with one space on each side.
const SYMBOLS: readonly [string, Token][] = [
  [">=", { kind: "op", op: ">=" }],
  ["<=", { kind: "op", op: "<=" }],
  ["~>", { kind: "op", op: "~>" }],
  [">", { kind: "op", op: ">" }],
  ["<", { kind: "op", op: "<" }],
  ["==", { kind: "op", op: "==" }],
  [" or ", { kind: "or" }],
  [" and ", { kind: "and" }],
  ["!=", { kind: "op", op: "!=" }],
  ["!", { kind: "op", op: "!=" }],
];

// Operators and connectives may appear anywhere, even inside what looks like a version; a space
// only separates. A version not directly after an operator gets an implicit `==`, so `1.0.0 2.0.0`
// lexes as `== 1.0.0 == 2.0.0` and is then rejected for lacking a connective.
function lex(source: string): Token[] {
  const tokens: Token[] = [];
  let buffer = "";
  const flush = (): void => {
    if (buffer === "") return;
    if (tokens.at(-1)?.kind !== "op") tokens.push({ kind: "op", op: "==" });
    tokens.push({ kind: "text", text: buffer });
    buffer = "";
  };
  let i = 0;
  outer: while (i < source.length) {
    for (const [symbol, token] of SYMBOLS) {
      if (source.startsWith(symbol, i)) {
        flush();
        tokens.push(token);
        i += symbol.length;
        continue outer;
      }
    }
    if (source[i] === " ") flush();
    else buffer += source[i];
    i += 1;
  }
  flush();
  return tokens;
}

type ParseResult = { ok: true; requirement: Requirement } | { ok: false; reason: string };

function parse(source: string): ParseResult {
  const fail = (reason: string): ParseResult => ({ ok: false, reason });
  const tokens = lex(source);
  if (tokens.length === 0) return fail("empty requirement");
  const anyOf: Clause[][] = [[]];
  // The lexer guarantees every text follows an operator, so the shape to check is
  // OP TEXT ((and|or) OP TEXT)*.
  for (let i = 0; ; i += 3) {
    const op = tokens[i];
    const operand = tokens[i + 1];
    if (op?.kind !== "op") return fail("expected an operator");
    if (operand?.kind !== "text") return fail(`expected a version after ${op.op}`);
    const scanned = scanVersion(operand.text, op.op === "~>");
    if (!scanned.ok) return fail(`${JSON.stringify(operand.text)}: ${scanned.reason}`);
    anyOf[anyOf.length - 1].push({ op: op.op, version: scanned.version });
    const next = tokens[i + 2];
    if (next === undefined) break;
    if (next.kind === "or") anyOf.push([]);
    else if (next.kind !== "and") return fail(`expected "and" or "or" after ${JSON.stringify(operand.text)}`);
  }
  return { ok: true, requirement: { source, anyOf } };
}

export function tryParseRequirement(source: string): Requirement | undefined {
  const r = parse(source);
  return r.ok ? r.requirement : undefined;
}

export function parseRequirement(source: string): Requirement {
  const r = parse(source);
  if (!r.ok) throw new BeamixError(`invalid requirement ${JSON.stringify(source)}: ${r.reason}`);
  return r.requirement;
}

export function toRequirement(req: Requirement | string): Requirement {
  return typeof req === "string" ? parseRequirement(req) : req;
}

// Elixir formats a requirement back as the text it was parsed from.
export function formatRequirement(req: Requirement): string {
  return req.source;
}

const at = (major: bigint, minor: bigint, patch: bigint, pre: readonly PreId[]): Version => ({
  major,
  minor,
  patch,
  pre,
  build: null,
});

function clauseMatches(clause: Clause, v: Version, allowPre: boolean): boolean {
  const r = clause.version;
  // Applies to the lower-bound operators only: `<`, `<=`, `==` and `!=` never look at it.
  const preOk = allowPre || r.pre.length > 0 || v.pre.length === 0;
  switch (clause.op) {
    case "==":
      return compareParsed(v, r as Version) === 0;
    case "!=":
      return compareParsed(v, r as Version) !== 0;
    case "<":
      return compareParsed(v, r as Version) < 0;
    case "<=":
      return compareParsed(v, r as Version) <= 0;
    case ">":
      return compareParsed(v, r as Version) > 0 && preOk;
    case ">=":
      return compareParsed(v, r as Version) >= 0 && preOk;
    case "~>": {
      // The upper bound is the `-0` pre-release, the lowest version of the next major (for
      // `~> X.Y`) or minor (for `~> X.Y.Z`), so no pre-release of it ever matches.
      const lower = r.patch === null ? at(r.major, r.minor, 0n, r.pre) : (r as Version);
      const upper = r.patch === null ? at(r.major + 1n, 0n, 0n, [0n]) : at(r.major, r.minor + 1n, 0n, [0n]);
      return compareParsed(v, lower) >= 0 && compareParsed(v, upper) < 0 && preOk;
    }
  }
}

export function matches(version: Version | string, requirement: Requirement | string, opts: MatchOptions = {}): boolean {
  const v = toVersion(version);
  const req = toRequirement(requirement);
  const allowPre = opts.allowPre ?? true;
  return req.anyOf.some((all) => all.every((clause) => clauseMatches(clause, v, allowPre)));
}

// The versions (in their given order) that satisfy the requirement.
export function satisfying<V extends Version | string>(
  versions: readonly V[],
  requirement: Requirement | string,
  opts: MatchOptions = {},
): V[] {
  const req = toRequirement(requirement);
  return versions.filter((v) => matches(v, req, opts));
}

// The greatest satisfying version by precedence; among equal ones (differing only in build
// metadata) the first given. undefined when none satisfies.
export function highest<V extends Version | string>(
  versions: readonly V[],
  requirement: Requirement | string,
  opts: MatchOptions = {},
): V | undefined {
  const req = toRequirement(requirement);
  let best: { value: V; parsed: Version } | undefined;
  for (const value of versions) {
    const parsed = toVersion(value);
    if (!matches(parsed, req, opts)) continue;
    if (best === undefined || compareParsed(parsed, best.parsed) > 0) best = { value, parsed };
  }
  return best?.value;
}
