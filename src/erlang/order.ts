// Erlang's standard term order:
//   number < atom < reference < fun < port < pid < tuple < map < nil < list < bit string
// Two flavours, as in the VM:
// - compareTerms(a, b): the order of `<`, `==` and lists:sort/1; 1 and 1.0 compare equal.
// - compareTerms(a, b, { exact: true }): the order of `=:=`, used for map keys: an integer
//   sorts before every float whatever their values (`#{2 => a, 0.5 => b}` iterates 2 first).
// This is the order small maps (<= 32 keys) are iterated, printed and encoded in.
import { listView, unwrap, type Term } from "./term.ts";

export interface CompareOptions {
  exact?: boolean;
}

// Ranks of the types a Term can hold (references, funs, ports and pids never occur).
function rank(t: Term): number {
  switch (t.type) {
    case "integer":
    case "float":
      return 0;
    case "atom":
      return 1;
    case "tuple":
      return 6;
    case "map":
      return 7;
    case "list":
    case "string":
      return listView(t)!.items.length === 0 ? 8 : 9;
    case "binary":
      return 10;
  }
}

const sign = (n: number): number => (n < 0 ? -1 : n > 0 ? 1 : 0);

// Compares by code point (atoms are compared by their characters; JS `<` would use UTF-16
// units, which misorders characters above U+FFFF against U+E000..U+FFFF).
export function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d !== 0) return sign(d);
  }
}

// Integer against float by exact mathematical value (no rounding of large integers).
function compareIntFloat(i: bigint, f: number): number {
  if (Number.isNaN(f)) throw new Error("NaN is not an Erlang float");
  if (f === Infinity) return -1;
  if (f === -Infinity) return 1;
  const whole = Math.trunc(f);
  const wi = BigInt(whole);
  if (i !== wi) return i < wi ? -1 : 1;
  const frac = f - whole;
  return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

function compareNumbers(a: Term, b: Term, exact: boolean): number {
  if (a.type === "integer" && b.type === "integer") return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
  if (a.type === "float" && b.type === "float") return sign(a.value - b.value);
  if (exact) return a.type === "integer" ? -1 : 1;
  if (a.type === "integer" && b.type === "float") return compareIntFloat(a.value, b.value);
  if (a.type === "float" && b.type === "integer") return -compareIntFloat(b.value, a.value);
  throw new Error("not numbers");
}

export function compareTerms(a0: Term, b0: Term, opts: CompareOptions = {}): number {
  const exact = opts.exact === true;
  const a = unwrap(a0);
  const b = unwrap(b0);
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  switch (a.type) {
    case "integer":
    case "float":
      return compareNumbers(a, b, exact);
    case "atom":
      return compareCodePoints(a.value, (b as Extract<Term, { type: "atom" }>).value);
    case "binary":
      return Buffer.compare(a.value, (b as Extract<Term, { type: "binary" }>).value);
    case "tuple": {
      const bi = (b as Extract<Term, { type: "tuple" }>).items;
      if (a.items.length !== bi.length) return a.items.length < bi.length ? -1 : 1;
      for (let i = 0; i < a.items.length; i++) {
        const c = compareTerms(a.items[i], bi[i], opts);
        if (c !== 0) return c;
      }
      return 0;
    }
    case "map": {
      const be = (b as Extract<Term, { type: "map" }>).entries;
      if (a.entries.length !== be.length) return a.entries.length < be.length ? -1 : 1;
      // Keys first (in map key order), then values in key order.
      const sa = sortMapEntries(a.entries);
      const sb = sortMapEntries(be);
      for (let i = 0; i < sa.length; i++) {
        const c = compareTerms(sa[i][0], sb[i][0], { exact: true });
        if (c !== 0) return c;
      }
      for (let i = 0; i < sa.length; i++) {
        const c = compareTerms(sa[i][1], sb[i][1], opts);
        if (c !== 0) return c;
      }
      return 0;
    }
    case "list":
    case "string":
      // Both nil, or both non-empty.
      return ra === 8 ? 0 : compareLists(a, b, opts);
  }
}

function compareLists(a: Term, b: Term, opts: CompareOptions): number {
  const va = listView(a)!;
  const vb = listView(b)!;
  const n = Math.min(va.items.length, vb.items.length);
  for (let i = 0; i < n; i++) {
    const c = compareTerms(va.items[i], vb.items[i], opts);
    if (c !== 0) return c;
  }
  // What follows the common prefix: the rest of the cons cells, or the tail.
  const rest = (v: { items: Term[]; tail: Term | null }): Term =>
    v.items.length > n
      ? { type: "list", items: v.items.slice(n), ...(v.tail ? { tail: v.tail } : {}) }
      : (v.tail ?? { type: "list", items: [] });
  return compareTerms(rest(va), rest(vb), opts);
}

export const termsEqual = (a: Term, b: Term): boolean => compareTerms(a, b, { exact: true }) === 0;

// Map entries in key order: how Erlang iterates a map of at most 32 keys.
export function sortMapEntries(entries: readonly [Term, Term][]): [Term, Term][] {
  return [...entries].sort((x, y) => compareTerms(x[0], y[0], { exact: true }));
}

// The order Erlang iterates (prints, encodes) a map in. Up to 32 keys that is key order.
// Larger maps are hash tries iterated in hash order, which we do not reproduce: their entries
// keep the order given, so a map read from Erlang's own output is written back unchanged.
export function mapIterationOrder(entries: readonly [Term, Term][]): [Term, Term][] {
  return entries.length <= 32 ? sortMapEntries(entries) : [...entries];
}
