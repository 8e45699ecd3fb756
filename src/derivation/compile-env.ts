// Compile-time configuration of packages, keyed by what each package actually reads.
//
// Mix compiles a dependency with the top-level project's configuration, and Elixir records
// every `Application.compile_env` read in the `.app` it writes:
//   {compile_env, [{App, [Key | SubKeys], {ok, Value} | error}, ...]}
// The output of a build depends on the configuration only through those reads (a read's
// result steers everything the build does with it). So the identity of a package build
// covers the configured values at exactly the keys the package reads, and nothing else:
// changing config that a package reads rebuilds it (and, through the input hashes, its
// dependents); changing config nobody reads at compile time rebuilds nothing.
//
// The keys are only known after a build, so identities are found in two steps
// (src/derivation/identity.ts):
//
//   basis   = hash of the derivation with no project config at all (name, version, source,
//             build system, toolchain, inputs' final hashes, the definition's own arguments)
//   reads   = the (app, key) pairs the package's build read, recorded per basis by the store
//             (src/store/compile-env-index.ts) and by caches as hints
//   final   = the derivation whose compileConfig is the configured values (the definition's
//             own, the project's merged over them) restricted to `reads`; its hash names the
//             store item.
//
// This is sound for every recorded set: an item registered under (basis, values at R) was
// made by a build that read exactly R, and a build with any config that agrees at R would
// read R again and produce the same output.
//
// Granularity is the top-level key: a read of [key, sub] covers the whole value of key (more
// rebuilds than strictly needed, never fewer). Reads that bypass compile_env
// (Application.get_env in a module body, which Elixir warns about) are invisible here, as they
// are to Mix; a definition's own config is therefore always part of the identity.
import { BeamixError } from "../errors.ts";
import { canonicalSha256, compareCodePoints } from "./canonical.ts";
import type { CompileConfig } from "./config.ts";
import { parseTerms } from "../erlang/parse.ts";
import { listView, unwrap, type Term } from "../erlang/term.ts";

// One compile-time read: an application and the top-level key of its environment.
export interface ConfigRead {
  app: string;
  key: string;
}

// What a store item's deriver records about its config, so read sets can be found again.
export interface CompileEnvRecord {
  basis: string;
  reads: ConfigRead[];
}

const atomOf = (t: Term): string | null => {
  const u = unwrap(t);
  return u.type === "atom" ? u.value : null;
};

// Sorted and without duplicates: the canonical form of a read set.
export function sortReads(reads: readonly ConfigRead[]): ConfigRead[] {
  const seen = new Map<string, ConfigRead>();
  for (const r of reads) seen.set(`${r.app}\0${r.key}`, r);
  return [...seen.values()].sort((a, b) => compareCodePoints(a.app, b.app) || compareCodePoints(a.key, b.key));
}

export const readSetKey = (reads: readonly ConfigRead[]): string => JSON.stringify(sortReads(reads).map((r) => [r.app, r.key]));

// The compile_env reads recorded in the text of an application resource file.
export function compileEnvReads(appFileText: string, file: string): ConfigRead[] {
  const terms = parseTerms(appFileText, file);
  const app = terms.length === 1 ? unwrap(terms[0]) : null;
  if (!app || app.type !== "tuple" || app.items.length !== 3) throw new BeamixError(`${file}: not an application resource file`);
  const props = listView(unwrap(app.items[2]));
  if (!props || props.tail !== null) throw new BeamixError(`${file}: the application's properties are not a list`);
  const reads: ConfigRead[] = [];
  for (const p of props.items) {
    const u = unwrap(p);
    if (u.type !== "tuple" || u.items.length !== 2 || atomOf(u.items[0]) !== "compile_env") continue;
    const entries = listView(unwrap(u.items[1]));
    if (!entries || entries.tail !== null) throw new BeamixError(`${file}: compile_env is not a list`);
    for (const e of entries.items) {
      const t = unwrap(e);
      const path = t.type === "tuple" && t.items.length === 3 ? listView(unwrap(t.items[1])) : null;
      const readApp = t.type === "tuple" ? atomOf(t.items[0]) : null;
      const key = path && path.items.length > 0 ? atomOf(path.items[0]) : null;
      if (readApp === null || key === null) throw new BeamixError(`${file}: unexpected compile_env entry`);
      reads.push({ app: readApp, key });
    }
  }
  return sortReads(reads);
}

// The part of `config` at the given reads; keys the config lacks stay absent (an absent key is
// a value too: adding it later changes the identity).
export function restrictConfig(config: CompileConfig, reads: readonly ConfigRead[]): CompileConfig {
  const out: CompileConfig = {};
  // Own properties only: read sets may come from a cache's hint, and a read of "__proto__" or
  // "constructor" must not reach Object.prototype.
  for (const { app, key } of reads) {
    const entries = Object.hasOwn(config, app) ? config[app] : undefined;
    if (entries && Object.hasOwn(entries, key)) {
      if (!Object.hasOwn(out, app)) Object.defineProperty(out, app, { value: {}, enumerable: true, writable: true, configurable: true });
      Object.defineProperty(out[app], key, { value: entries[key], enumerable: true, writable: true, configurable: true });
    }
  }
  return out;
}

// Tagged so that a basis hash can never equal a real derivation hash.
export function basisHashOf(identity: unknown): string {
  return canonicalSha256({ format: "beamix-compile-env-basis/2", derivation: identity as never });
}
