// Exact equality of terms (Erlang's `=:=`, as termsEqual in order.ts decides it) in linear time:
// each term gets a key string, equal for equal terms and different otherwise, so that a reader
// can find a repeated map key with a hash lookup instead of comparing every pair of keys.
//
// An atomic term's key is its canonical text. A compound term is hash-consed: its canonical text
// names its children by their keys (compound children by a short `#n`), and the key is the
// number that text was given, so keys nested inside keys are not spelled out again at each level.
import { listView, unwrap, type Term } from "./term.ts";

export class TermKeys {
  private readonly ids = new Map<string, string>();
  private readonly memo = new WeakMap<Term, string>();

  key(t0: Term): string {
    const t = unwrap(t0);
    switch (t.type) {
      case "integer":
        return `i${t.value.toString(16)}`;
      case "float":
        // String(-0) is "0": 0.0 and -0.0 are one key, as termsEqual (and OTP 25) has it.
        return `f${String(t.value)}`;
      case "atom":
        return `a${t.value}`;
      case "binary":
        return `b${t.value.toString("latin1")}`;
    }
    const known = this.memo.get(t);
    if (known !== undefined) return known;
    let text: string;
    switch (t.type) {
      case "tuple":
        text = `t${this.keys(t.items)}`;
        break;
      case "map": {
        // Keys of one map are distinct, so ordering the pairs by key makes them canonical.
        const pairs = t.entries.map(([k, v]) => [this.key(k), this.key(v)]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
        text = `m${this.keys(pairs.flat())}`;
        break;
      }
      case "list":
      case "string": {
        // A string is the list of its character codes; `[a|[b]]` is `[a,b]`.
        const view = listView(t)!;
        text = `l${this.keys(view.items)}${view.tail === null ? "" : `|${this.key(view.tail)}`}`;
        break;
      }
    }
    let id = this.ids.get(text);
    if (id === undefined) {
      id = `#${this.ids.size}`;
      this.ids.set(text, id);
    }
    this.memo.set(t, id);
    return id;
  }

  // Length-prefixed, so that no choice of atom or binary text can make two lists read alike.
  private keys(items: readonly (Term | string)[]): string {
    let s = "";
    for (const x of items) {
      const k = typeof x === "string" ? x : this.key(x);
      s += `${k.length}:${k}`;
    }
    return s;
  }
}
