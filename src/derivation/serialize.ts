// Derivations as JSON, for store derivers and substitute records, without loss: compile-time
// config holds Erlang terms (big integers, binaries, maps with any keys), which plain
// JSON.stringify cannot carry. Terms are written in their canonical form (config.ts), which
// reads back to an equal term, so a derivation read back hashes as it did.
import { BeamixError } from "../errors.ts";
import type { Term } from "../erlang/term.ts";
import { canonicalConfig, type CompileConfig } from "./config.ts";
import type { CanonicalValue } from "./canonical.ts";
import type { Derivation } from "./derivation.ts";

export function derivationToJson(d: Derivation): unknown {
  const def = d.definition;
  return {
    ...d,
    definition: { ...def, arguments: { ...def.arguments, compileConfig: canonicalConfig(def.arguments.compileConfig) } },
    compileConfig: canonicalConfig(d.compileConfig),
  };
}

// The inverse of derivationToJson; throws a BeamixError on anything that is not its output.
// The caller checks what it read by hashing it (nothing here is trusted).
export function derivationFromJson(x: unknown): Derivation {
  const o = x as { definition?: { arguments?: { compileConfig?: unknown } }; compileConfig?: unknown };
  if (typeof o !== "object" || o === null || typeof o.definition !== "object" || o.definition === null || typeof o.definition.arguments !== "object" || o.definition.arguments === null) {
    throw new BeamixError("not a derivation");
  }
  return {
    ...(o as unknown as Derivation),
    definition: {
      ...(o.definition as unknown as Derivation["definition"]),
      arguments: { ...(o.definition.arguments as unknown as Derivation["definition"]["arguments"]), compileConfig: configFromCanonical(o.definition.arguments.compileConfig) },
    },
    compileConfig: configFromCanonical(o.compileConfig),
  };
}

function configFromCanonical(x: unknown): CompileConfig {
  if (typeof x !== "object" || x === null || Array.isArray(x)) throw new BeamixError("compile config is not an object");
  const out: CompileConfig = {};
  for (const [app, entries] of Object.entries(x)) {
    if (typeof entries !== "object" || entries === null || Array.isArray(entries)) throw new BeamixError(`compile config of ${app} is not an object`);
    const keys: Record<string, Term> = {};
    for (const [key, value] of Object.entries(entries)) {
      Object.defineProperty(keys, key, { value: termFromCanonical(value as CanonicalValue, 0), enumerable: true, writable: true, configurable: true });
    }
    Object.defineProperty(out, app, { value: keys, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

const MAX_DEPTH = 256;

function termFromCanonical(x: CanonicalValue, depth: number): Term {
  const bad = () => new BeamixError("not a canonical term");
  if (!Array.isArray(x) || typeof x[0] !== "string" || depth > MAX_DEPTH) throw bad();
  const [tag, v, tail] = x;
  switch (tag) {
    case "integer":
      if (typeof v !== "string" || !/^-?[0-9]{1,4096}$/.test(v)) throw bad();
      return { type: "integer", value: BigInt(v) };
    case "float": {
      const n = Number(v);
      if (typeof v !== "string" || !Number.isFinite(n)) throw bad();
      return { type: "float", value: v === "-0.0" ? -0 : n };
    }
    case "atom":
      if (typeof v !== "string") throw bad();
      return { type: "atom", value: v };
    case "binary":
      if (typeof v !== "string" || !/^(?:[0-9a-f]{2})*$/.test(v)) throw bad();
      return { type: "binary", value: Buffer.from(v, "hex") };
    case "tuple":
      if (!Array.isArray(v)) throw bad();
      return { type: "tuple", items: v.map((i) => termFromCanonical(i, depth + 1)) };
    case "list": {
      if (!Array.isArray(v)) throw bad();
      const items = v.map((i) => termFromCanonical(i, depth + 1));
      return x.length === 3 ? { type: "list", items, tail: termFromCanonical(tail as CanonicalValue, depth + 1) } : { type: "list", items };
    }
    case "map":
      if (!Array.isArray(v)) throw bad();
      return {
        type: "map",
        entries: v.map((e) => {
          if (!Array.isArray(e) || e.length !== 2) throw bad();
          return [termFromCanonical(e[0], depth + 1), termFromCanonical(e[1], depth + 1)] as [Term, Term];
        }),
      };
    default:
      throw bad();
  }
}
