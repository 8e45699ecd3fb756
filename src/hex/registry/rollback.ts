// Rollback: a correctly signed but older record of a package, replayed by a mirror or a man in the
// middle, brings back releases since deleted and hides retirements (a release retired for security
// looks fine again). Signatures cannot tell: Hex's records carry no version or timestamp. So a
// record is compared with the verified copy already held (package-cache.ts), and one that has lost
// a release or a retirement is called out.
import type { Package } from "./records.ts";

// What `next` lost against `held`, as words for a message, or undefined when it lost nothing.
export function rollbackOf(held: Package, next: Package): string | undefined {
  const now = new Map(next.releases.map((r) => [r.version, r]));
  const dropped: string[] = [];
  const unretired: string[] = [];
  for (const r of held.releases) {
    const n = now.get(r.version);
    if (!n) dropped.push(r.version);
    else if (r.retired && !n.retired) unretired.push(`${r.version} (retired: ${r.retired.reason})`);
  }
  const list = (xs: string[]) => (xs.length > 3 ? `${xs.slice(0, 3).join(", ")} and ${xs.length - 3} more` : xs.join(", "));
  const parts: string[] = [];
  if (dropped.length) parts.push(`drops release${dropped.length > 1 ? "s" : ""} ${list(dropped)}`);
  if (unretired.length) parts.push(`un-retires ${list(unretired)}`);
  return parts.length ? parts.join(" and ") : undefined;
}
