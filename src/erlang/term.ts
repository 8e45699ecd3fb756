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
