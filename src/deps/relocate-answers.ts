// Mix's answers about a project, moved with the project. A fresh checkout of the same project in
// another directory (a CI workspace, a second clone) gets the same answers from Mix except that
// every absolute path under the project's directory starts with the new directory instead:
// build_path, deps_path, lockfile, config_path, each dependency's dest and build, and config
// values made with Path.expand(..., __DIR__). So an answer whose absolute paths all lie under
// its project's directory is movable: rewriting that prefix gives what Mix would answer there.
// One with an absolute path anywhere else (deps_path: "../deps" expands outside, a config value
// naming /srv/data) could mean either a fixed place or one relative to the project, so it is not
// moved: Mix is asked again in the new directory.
import { binaryToTerm, termToBinary } from "../erlang/etf.ts";
import type { Term } from "../erlang/term.ts";

import { isUnder, movePath } from "./moved-path.ts";

export { isUnder, movePath };

function mapStrings(t: Term, f: (s: string) => string): Term {
  switch (t.type) {
    case "binary": {
      const s = t.value.toString("utf8");
      const out = f(s);
      return out === s ? t : { type: "binary", value: Buffer.from(out, "utf8") };
    }
    case "string":
      return { type: "string", value: f(t.value) };
    case "list":
      return { type: "list", items: t.items.map((x) => mapStrings(x, f)), ...(t.tail ? { tail: mapStrings(t.tail, f) } : {}) };
    case "tuple":
      return { type: "tuple", items: t.items.map((x) => mapStrings(x, f)) };
    case "map":
      return { type: "map", entries: t.entries.map(([k, v]) => [mapStrings(k, f), mapStrings(v, f)]) };
    default:
      return t;
  }
}

// Whether a path lies under a directory (isUnder, or a stricter rule).
export type Under = (path: string, dir: string) => boolean;

// Whether every absolute path among the answer's strings lies under dir.
export function movableTerm(t: Term, dir: string, under: Under = isUnder): boolean {
  let ok = true;
  mapStrings(t, (s) => {
    if (s.startsWith("/") && !under(s, dir)) ok = false;
    return s;
  });
  return ok;
}

export function movableEtf(etf: Buffer, dir: string, under: Under = isUnder): boolean {
  return movableTerm(binaryToTerm(etf), dir, under);
}

const moved = movePath;

export function moveEtf(etf: Buffer, from: string, to: string): Buffer {
  return termToBinary(mapStrings(binaryToTerm(etf), (s) => moved(s, from, to)));
}

export function moveTerm(t: Term, from: string, to: string): Term {
  return mapStrings(t, (s) => moved(s, from, to));
}

// A mix.rebar.config (Erlang terms as text) has no structure cheap to walk; its paths, if any,
// are Mix's under the project's directory.
export function movableText(text: Buffer, dir: string, under: Under = isUnder): boolean {
  const abs = text.toString("utf8").match(/"\/[^"]*"/g) ?? [];
  return abs.every((q) => under(q.slice(1, -1), dir));
}

export function moveText(text: Buffer, from: string, to: string): Buffer {
  return Buffer.from(text.toString("utf8").replace(/"(\/[^"]*)"/g, (q, p: string) => `"${moved(p, from, to)}"`), "utf8");
}
