// Erlang terms as plain data: what `file:consult/1`, `io_lib_pretty` and
// `term_to_binary/1` read and write. Integers are bigints so nothing is rounded.
export type Term =
  | { type: "integer"; value: bigint }
  | { type: "float"; value: number }
  | { type: "atom"; value: string }
  | { type: "binary"; value: Buffer } // <<"...">> or <<1,2,3>>
  | { type: "string"; value: string } // "..." (a list of character codes)
  | { type: "list"; items: Term[]; tail?: Term } // tail present only for improper lists
  | { type: "tuple"; items: Term[] }
  | { type: "map"; entries: [Term, Term][] };

export const atom = (value: string): Term => ({ type: "atom", value });
export const bin = (value: string | Buffer): Term => ({
  type: "binary",
  value: typeof value === "string" ? Buffer.from(value, "utf8") : value,
});
export const int = (value: number | bigint): Term => ({ type: "integer", value: BigInt(value) });
export const list = (items: Term[]): Term => ({ type: "list", items });
export const tuple = (items: Term[]): Term => ({ type: "tuple", items });
export const map = (entries: [Term, Term][]): Term => ({ type: "map", entries });
export const bool = (value: boolean): Term => atom(value ? "true" : "false");
export const float = (value: number): Term => ({ type: "float", value });
export const str = (value: string): Term => ({ type: "string", value });

// A list as Erlang sees it: `string` is sugar for a list of character codes, and a `list`
// whose tail is itself a list (or string) continues into it. `tail` is null for proper lists.
export function listView(t: Term): { items: Term[]; tail: Term | null } | null {
  if (t.type !== "list" && t.type !== "string") return null;
  const items: Term[] = [];
  let cur: Term | undefined = t;
  for (;;) {
    if (cur === undefined) return { items, tail: null };
    if (cur.type === "string") {
      for (const ch of cur.value) items.push(int(ch.codePointAt(0)!));
      return { items, tail: null };
    }
    if (cur.type !== "list") return { items, tail: cur };
    for (const x of cur.items) items.push(x); // not push(...): that overflows the stack past ~100k items
    cur = cur.tail;
  }
}

export const isNil = (t: Term): boolean => {
  const v = listView(t);
  return v !== null && v.items.length === 0 && v.tail === null;
};

// `{type: "list", items: [], tail: X}` is just X in Erlang; callers that dispatch on the
// type look through it first.
export function unwrap(t: Term): Term {
  while (t.type === "list" && t.items.length === 0 && t.tail !== undefined) t = t.tail;
  return t;
}
