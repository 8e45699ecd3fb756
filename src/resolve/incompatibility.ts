// Incompatibilities, the facts of a PubGrub-style solver: sets of terms that must not all hold.
// A term says "package P takes a value in SET", where SET is a bitset of P's domain (bit 0:
// absent). External incompatibilities come from the request and the registry; derived ones
// record the two they were resolved from, which is what the failure explanation walks.

export interface Term {
  readonly pkg: string;
  readonly set: bigint;
}

export type Cause =
  // The request asks for PKG (terms: [PKG outside the requirement, or absent]).
  | { readonly kind: "root"; readonly pkg: string; readonly requirement: string | undefined; readonly noMatch?: string }
  // PARENT (its term's releases) depends on DEP. noMatch: no usable release of DEP fits.
  | {
      readonly kind: "dependency";
      readonly parent: string;
      readonly dep: string;
      readonly requirement: string;
      readonly optional: boolean;
      readonly noMatch?: string;
    }
  | { readonly kind: "conflict"; readonly left: Incompatibility; readonly right: Incompatibility };

export interface Incompatibility {
  readonly terms: readonly Term[];
  readonly cause: Cause;
}

// Terms on the same package are one term (their intersection); a term that holds for every
// value says nothing and is dropped. Returns null when some term can never hold: such an
// incompatibility forbids nothing.
export function makeIncompatibility(terms: readonly Term[], cause: Cause, full: (pkg: string) => bigint): Incompatibility | null {
  const merged = new Map<string, bigint>();
  for (const t of terms) merged.set(t.pkg, (merged.get(t.pkg) ?? full(t.pkg)) & t.set);
  const out: Term[] = [];
  for (const [pkg, set] of merged) {
    if (set === 0n) return null;
    if (set !== full(pkg)) out.push({ pkg, set });
  }
  return { terms: out, cause };
}

export const isDerived = (i: Incompatibility): boolean => i.cause.kind === "conflict";
