// Decoding the tagged-term JSON that priv/elixir/read_mix_project.exs and
// priv/erlang/consult_json.escript print, and small accessors for the terms it yields.
import { BeamixError } from "../errors.ts";
import type { Term } from "../erlang/term.ts";

// A regex from Elixir (`exclude_patterns`) arrives as {'$regex', Source, Opts}; pids, funs and
// other values with no data form as {'$opaque', Inspected}.
export interface RegexTerm {
  source: string;
  opts: string;
}
export function regexOf(t: Term): RegexTerm | null {
  if (t.type !== "tuple" || t.items.length !== 3 || atomOf(t.items[0]) !== "$regex") return null;
  return { source: textOf(t.items[1]) ?? "", opts: textOf(t.items[2]) ?? "" };
}

const tagged = (tag: string, ...texts: string[]): Term => ({
  type: "tuple",
  items: [{ type: "atom", value: tag }, ...texts.map((x): Term => ({ type: "binary", value: Buffer.from(x, "utf8") }))],
});

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export function termFromJson(j: Json, what: string): Term {
  const bad = (): never => {
    throw new BeamixError(`${what}: unexpected data from the reader script: ${JSON.stringify(j).slice(0, 80)}`);
  };
  if (j === null || typeof j !== "object" || Array.isArray(j)) return bad();
  if (typeof j.atom === "string") return { type: "atom", value: j.atom };
  if (typeof j.bin === "string") return { type: "binary", value: Buffer.from(j.bin, "utf8") };
  if (typeof j.bin64 === "string") return { type: "binary", value: Buffer.from(j.bin64, "base64") };
  if (typeof j.int === "string") return { type: "integer", value: BigInt(j.int) };
  if (typeof j.float === "number") return { type: "float", value: j.float };
  if (Array.isArray(j.tuple)) return { type: "tuple", items: j.tuple.map((x) => termFromJson(x, what)) };
  if (Array.isArray(j.list)) {
    const items = j.list.map((x) => termFromJson(x, what));
    return j.tail === undefined ? { type: "list", items } : { type: "list", items, tail: termFromJson(j.tail, what) };
  }
  if (Array.isArray(j.map)) {
    return {
      type: "map",
      entries: j.map.map((e): [Term, Term] => {
        if (!Array.isArray(e) || e.length !== 2) return bad();
        return [termFromJson(e[0], what), termFromJson(e[1], what)];
      }),
    };
  }
  if (typeof j.regex === "string" && typeof j.opts === "string") return tagged("$regex", j.regex, j.opts);
  if (typeof j.opaque === "string") return tagged("$opaque", j.opaque);
  return bad();
}

// Text of a binary or of a charlist (Erlang string); null for anything else.
export function textOf(t: Term | undefined): string | null {
  if (t === undefined) return null;
  if (t.type === "binary") {
    try {
      return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(t.value);
    } catch {
      return null;
    }
  }
  if (t.type === "string") return t.value;
  if (t.type === "list" && t.tail === undefined) {
    let s = "";
    for (const x of t.items) {
      if (x.type !== "integer" || x.value < 0n || x.value > 0x10ffffn) return null;
      const n = Number(x.value);
      if (n >= 0xd800 && n <= 0xdfff) return null;
      s += String.fromCodePoint(n);
    }
    return s;
  }
  return null;
}

export const atomOf = (t: Term | undefined): string | null => (t?.type === "atom" ? t.value : null);

export function itemsOf(t: Term | undefined): Term[] | null {
  if (t === undefined) return null;
  if (t.type === "string") return [...t.value].map((c) => ({ type: "integer", value: BigInt(c.codePointAt(0)!) }));
  if (t.type !== "list" || t.tail !== undefined) return null;
  return t.items;
}

// Keyword list / proplist entries {Key, Value} with atom keys, in order. Other elements (bare
// atoms in a proplist) are skipped. Returns null if t is not a list.
export function pairsOf(t: Term | undefined): [string, Term][] | null {
  const items = itemsOf(t);
  if (items === null) return null;
  const out: [string, Term][] = [];
  for (const it of items) {
    if (it.type === "tuple" && it.items.length === 2 && it.items[0].type === "atom") out.push([it.items[0].value, it.items[1]]);
  }
  return out;
}

// First value for key, as Keyword.get / proplists:get_value do.
export function getKey(pairs: [string, Term][], key: string): Term | undefined {
  return pairs.find(([k]) => k === key)?.[1];
}

// Elixir's truthiness: everything but nil and false.
export const truthy = (t: Term | undefined): t is Term =>
  t !== undefined && !(t.type === "atom" && (t.value === "nil" || t.value === "false"));

// What Hex does to metadata values before writing them (mix_hex_tarball:binarify/1): atoms
// become binaries except true, false and undefined; maps become lists of {Key, Value} in
// iteration order; lists and 2-tuples are converted element by element.
export function binarify(t: Term, what: string): Term {
  switch (t.type) {
    case "binary":
    case "integer":
    case "float":
      return t;
    case "atom":
      return ["true", "false", "undefined"].includes(t.value) ? t : { type: "binary", value: Buffer.from(t.value, "utf8") };
    case "string":
    case "list": {
      const items = itemsOf(t);
      if (items === null) throw new BeamixError(`${what}: an improper list cannot go into package metadata`);
      return { type: "list", items: items.map((x) => binarify(x, what)) };
    }
    case "tuple":
      if (t.items.length !== 2) throw new BeamixError(`${what}: only 2-tuples can go into package metadata`);
      return { type: "tuple", items: t.items.map((x) => binarify(x, what)) };
    case "map":
      return {
        type: "list",
        // Entries arrive from the reader scripts in the VM's iteration order already.
        items: t.entries.map(([k, v]): Term => ({ type: "tuple", items: [binarify(k, what), binarify(v, what)] })),
      };
  }
}
