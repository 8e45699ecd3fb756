// Compile-time configuration: the application environment a package is compiled with
// (what `Application.compile_env` reads and records in the `.app`). Values are Erlang terms,
// because that is what ends up in the output; definition files spell them in a small JSON form.
//
// JSON form of a term (for definition files):
//   "text"                    <<"text">> (UTF-8 binary, as Elixir strings are)
//   42, -7                    integers;  1.5  a float
//   true, false, null         the atoms true, false, nil
//   [a, b]                    a list
//   {"atom": "name"}          an atom
//   {"tuple": [a, b]}         a tuple
//   {"map": [[k, v], ...]}    a map
//   {"keyword": [["k", v], ...]}  a keyword list [{k, V}, ...] (keys are atoms, order kept)
//   {"charlist": "abc"}       a charlist "abc"
//   {"integer": "123..."}     an integer of any size
//   {"float": 1}              a float whose value is integral (1.0)
//   {"base64": "..."}         a binary that is not UTF-8 text
// An object with a `type` field is taken as a Term already built by code (src/erlang/term.ts).
import type { Term } from "../erlang/term.ts";
import { listView, unwrap } from "../erlang/term.ts";
import { canonicalJson, compareCodePoints, type CanonicalValue } from "./canonical.ts";

// app name -> key -> value. The keys of one app are a set, as in the application env.
export type CompileConfig = Record<string, Record<string, Term>>;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export class ConfigValueError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.path = path;
  }
}

const TERM_TYPES = new Set(["integer", "float", "atom", "binary", "string", "list", "tuple", "map"]);

const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x) && !Buffer.isBuffer(x);

// True for values already in the Term shape (so validation is idempotent on its own output).
function looksLikeTerm(x: unknown): x is Term {
  return isPlainObject(x) && typeof x.type === "string" && TERM_TYPES.has(x.type);
}

// Inside a Term every child must be a Term too (no JSON shorthand mixed in).
function checkNested(x: unknown, path: string): void {
  if (!looksLikeTerm(x)) throw new ConfigValueError(path, "expected an Erlang term object ({type: ...})");
  checkTerm(x, path);
}

function checkTerm(t: Term, path: string): Term {
  switch (t.type) {
    case "integer":
      if (typeof t.value !== "bigint") throw new ConfigValueError(path, "integer value must be a bigint");
      return t;
    case "float":
      if (typeof t.value !== "number" || !Number.isFinite(t.value)) throw new ConfigValueError(path, "float must be finite");
      return t;
    case "atom":
    case "string":
      if (typeof t.value !== "string") throw new ConfigValueError(path, `${t.type} value must be a string`);
      return t;
    case "binary":
      if (!Buffer.isBuffer(t.value)) throw new ConfigValueError(path, "binary value must be a Buffer");
      return t;
    case "list":
      if (!Array.isArray(t.items)) throw new ConfigValueError(path, "list items must be an array");
      t.items.forEach((it, i) => checkNested(it, `${path}[${i}]`));
      if (t.tail !== undefined) checkNested(t.tail, `${path}.tail`);
      return t;
    case "tuple":
      if (!Array.isArray(t.items)) throw new ConfigValueError(path, "tuple items must be an array");
      t.items.forEach((it, i) => checkNested(it, `${path}[${i}]`));
      return t;
    case "map":
      if (!Array.isArray(t.entries)) throw new ConfigValueError(path, "map entries must be an array");
      t.entries.forEach((e, i) => {
        if (!Array.isArray(e) || e.length !== 2) throw new ConfigValueError(`${path}[${i}]`, "map entry must be [key, value]");
        checkNested(e[0], `${path}[${i}][0]`);
        checkNested(e[1], `${path}[${i}][1]`);
      });
      canonicalTerm(t, path); // rejects duplicate keys
      return t;
  }
}

// Reads a value in the JSON form above (or an already-built Term) into a Term.
export function termFromJson(x: unknown, path = "$"): Term {
  if (looksLikeTerm(x)) return checkTerm(x, path);
  if (x === null) return { type: "atom", value: "nil" };
  if (x === true || x === false) return { type: "atom", value: String(x) };
  if (typeof x === "string") return { type: "binary", value: Buffer.from(x, "utf8") };
  if (typeof x === "number") {
    if (!Number.isFinite(x)) throw new ConfigValueError(path, "numbers must be finite");
    if (Number.isInteger(x)) {
      if (!Number.isSafeInteger(x)) throw new ConfigValueError(path, `${x} is too large for a JSON number; write {"integer": "..."}`);
      return { type: "integer", value: BigInt(x) };
    }
    return { type: "float", value: x };
  }
  if (Array.isArray(x)) return { type: "list", items: x.map((v, i) => termFromJson(v, `${path}[${i}]`)) };
  if (!isPlainObject(x)) throw new ConfigValueError(path, `cannot read a ${typeof x} as an Erlang term`);
  const keys = Object.keys(x);
  if (keys.length !== 1) {
    throw new ConfigValueError(path, `an object must have exactly one tag (atom, tuple, map, keyword, charlist, integer, float, base64); got ${JSON.stringify(keys)}`);
  }
  const tag = keys[0];
  const v = x[tag];
  const at = `${path}.${tag}`;
  switch (tag) {
    case "atom":
      if (typeof v !== "string") throw new ConfigValueError(at, "must be a string");
      return { type: "atom", value: v };
    case "charlist":
      if (typeof v !== "string") throw new ConfigValueError(at, "must be a string");
      return { type: "string", value: v };
    case "tuple":
      if (!Array.isArray(v)) throw new ConfigValueError(at, "must be an array");
      return { type: "tuple", items: v.map((it, i) => termFromJson(it, `${at}[${i}]`)) };
    case "map":
    case "keyword": {
      if (!Array.isArray(v)) throw new ConfigValueError(at, "must be an array of [key, value] pairs");
      const pairs = v.map((e, i): [Term, Term] => {
        if (!Array.isArray(e) || e.length !== 2) throw new ConfigValueError(`${at}[${i}]`, "must be a [key, value] pair");
        if (tag === "keyword") {
          if (typeof e[0] !== "string") throw new ConfigValueError(`${at}[${i}][0]`, "keyword keys are atom names (strings)");
          return [{ type: "atom", value: e[0] }, termFromJson(e[1], `${at}[${i}][1]`)];
        }
        return [termFromJson(e[0], `${at}[${i}][0]`), termFromJson(e[1], `${at}[${i}][1]`)];
      });
      if (tag === "keyword") return { type: "list", items: pairs.map((p) => ({ type: "tuple", items: p })) };
      const map: Term = { type: "map", entries: pairs };
      canonicalTerm(map, at); // rejects duplicate keys
      return map;
    }
    case "integer":
      if (typeof v !== "string" || !/^-?(0|[1-9][0-9]*)$/.test(v)) throw new ConfigValueError(at, "must be a decimal string");
      return { type: "integer", value: BigInt(v) };
    case "float":
      if (typeof v !== "number" || !Number.isFinite(v)) throw new ConfigValueError(at, "must be a finite number");
      return { type: "float", value: v };
    case "base64":
      if (typeof v !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) throw new ConfigValueError(at, "must be base64");
      return { type: "binary", value: Buffer.from(v, "base64") };
    default:
      throw new ConfigValueError(path, `unknown tag ${JSON.stringify(tag)}`);
  }
}

function isUtf8Text(b: Buffer): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}

const keywordPairs = (items: Term[]): [string, Term][] | null => {
  const out: [string, Term][] = [];
  for (const it of items) {
    const t = unwrap(it);
    if (t.type !== "tuple" || t.items.length !== 2) return null;
    const k = unwrap(t.items[0]);
    if (k.type !== "atom") return null;
    out.push([k.value, t.items[1]]);
  }
  return out;
};

// The inverse of termFromJson: the JSON form a definition file would hold.
export function termToJson(term: Term): JsonValue {
  const t = unwrap(term);
  switch (t.type) {
    case "atom":
      if (t.value === "nil") return null;
      if (t.value === "true" || t.value === "false") return t.value === "true";
      return { atom: t.value };
    case "integer":
      return t.value >= BigInt(Number.MIN_SAFE_INTEGER) && t.value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(t.value) : { integer: t.value.toString() };
    case "float":
      return Number.isInteger(t.value) ? { float: t.value } : t.value;
    case "binary":
      return isUtf8Text(t.value) ? t.value.toString("utf8") : { base64: t.value.toString("base64") };
    case "string":
      return { charlist: t.value };
    case "tuple":
      return { tuple: t.items.map(termToJson) };
    case "map":
      return { map: t.entries.map(([k, v]) => [termToJson(k), termToJson(v)]) };
    case "list": {
      const view = listView(t)!;
      if (view.tail !== null) throw new ConfigValueError("$", "improper lists have no JSON form");
      const kw = view.items.length > 0 ? keywordPairs(view.items) : null;
      if (kw) return { keyword: kw.map(([k, v]) => [k, termToJson(v)]) };
      return view.items.map(termToJson);
    }
  }
}

export function configFromJson(x: unknown, path = "$"): CompileConfig {
  if (!isPlainObject(x)) throw new ConfigValueError(path, "must be an object of app -> {key: value}");
  const out: CompileConfig = {};
  for (const [app, entries] of Object.entries(x)) {
    if (!isPlainObject(entries)) throw new ConfigValueError(`${path}.${app}`, "must be an object of key -> value");
    out[app] = {};
    for (const [key, value] of Object.entries(entries)) out[app][key] = termFromJson(value, `${path}.${app}.${key}`);
  }
  return out;
}

export function configToJson(c: CompileConfig): Record<string, Record<string, JsonValue>> {
  const out: Record<string, Record<string, JsonValue>> = {};
  for (const [app, entries] of Object.entries(c)) {
    out[app] = {};
    for (const [key, value] of Object.entries(entries)) out[app][key] = termToJson(value);
  }
  return out;
}

// The canonical, hashable form of a term. Equal Erlang terms give equal output: a `string`
// and the list of its character codes are one term, as are `[a | [b]]` and `[a, b]`; map
// entries are sorted (maps are unordered) and duplicate keys are refused. Binaries are hex,
// big integers decimal, floats their shortest round-trip text.
export function canonicalTerm(term: Term, path = "$"): CanonicalValue {
  const t = unwrap(term);
  switch (t.type) {
    case "integer":
      return ["integer", t.value.toString()];
    case "float":
      if (!Number.isFinite(t.value)) throw new ConfigValueError(path, "float must be finite");
      return ["float", Object.is(t.value, -0) ? "-0.0" : String(t.value)];
    case "atom":
      return ["atom", t.value];
    case "binary":
      return ["binary", t.value.toString("hex")];
    case "tuple":
      return ["tuple", t.items.map((it, i) => canonicalTerm(it, `${path}[${i}]`))];
    case "string":
    case "list": {
      const view = listView(t)!;
      const items = view.items.map((it, i) => canonicalTerm(it, `${path}[${i}]`));
      return view.tail === null ? ["list", items] : ["list", items, canonicalTerm(view.tail, `${path}.tail`)];
    }
    case "map": {
      const entries = t.entries.map(([k, v], i) => {
        const key = canonicalTerm(k, `${path}[${i}][0]`);
        return { text: canonicalJson(key), pair: [key, canonicalTerm(v, `${path}[${i}][1]`)] as CanonicalValue };
      });
      entries.sort((a, b) => compareCodePoints(a.text, b.text));
      for (let i = 1; i < entries.length; i++) {
        if (entries[i].text === entries[i - 1].text) throw new ConfigValueError(path, `duplicate map key ${entries[i].text}`);
      }
      return ["map", entries.map((e) => e.pair)];
    }
  }
}

export function canonicalConfig(c: CompileConfig): CanonicalValue {
  const out: Record<string, CanonicalValue> = {};
  for (const [app, entries] of Object.entries(c)) {
    const e: Record<string, CanonicalValue> = {};
    for (const [key, value] of Object.entries(entries)) e[key] = canonicalTerm(value, `${app}.${key}`);
    out[app] = e;
  }
  return out;
}

// Elixir's config merge (what `import_config` and the per-app config do): when both sides
// are keyword lists (the empty list is one) the merge recurses, the left side's keys that the right side also has
// are dropped and the right side's pairs follow in their order (Keyword.merge); otherwise
// the right side wins.
export function mergeConfigValue(left: Term, right: Term): Term {
  const l = listView(unwrap(left));
  const r = listView(unwrap(right));
  if (!l || !r || l.tail !== null || r.tail !== null) return right;
  const lk = keywordPairs(l.items);
  const rk = keywordPairs(r.items);
  if (!lk || !rk) return right;
  const rightKeys = new Set(rk.map(([k]) => k));
  const leftByKey = new Map<string, Term>();
  for (const [k, v] of lk) if (!leftByKey.has(k)) leftByKey.set(k, v);
  const items: Term[] = [];
  for (const [k, v] of lk) if (!rightKeys.has(k)) items.push(pair(k, v));
  for (const [k, v] of rk) {
    const old = leftByKey.get(k);
    items.push(pair(k, old === undefined ? v : mergeConfigValue(old, v)));
  }
  return { type: "list", items };
}

const pair = (k: string, v: Term): Term => ({ type: "tuple", items: [{ type: "atom", value: k }, v] });

export function mergeConfig(base: CompileConfig, over: CompileConfig): CompileConfig {
  const out: CompileConfig = {};
  for (const [app, entries] of Object.entries(base)) out[app] = { ...entries };
  for (const [app, entries] of Object.entries(over)) {
    const target = (out[app] ??= {});
    for (const [key, value] of Object.entries(entries)) {
      target[key] = key in target ? mergeConfigValue(target[key], value) : value;
    }
  }
  return out;
}
