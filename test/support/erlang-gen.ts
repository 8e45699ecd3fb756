// Shared by the Erlang tests: a seeded generator of varied terms and a runner that has the
// real Erlang (erl/escript on PATH) evaluate a script over them in one VM start.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeTerm } from "../../src/erlang/write.ts";
import { atom, bin, float, int, list, map, str, tuple, type Term } from "../../src/erlang/term.ts";

export { rng } from "./rng.ts";

const WORDS = [
  "lib", "mix.exs", "README.md", "src/vec_erl.erl", "Apache-2.0", "~> 1.0", "https://example.invalid/x",
  "hello world", "a", "", "priv/static/assets/app.js", "CHANGELOG.md", "vectors", "hexpm", "rebar3",
];
const ATOMS = [
  "ok", "error", "true", "false", "hex", "name", "a", "nonode@nohost", "with_underscore", "camelCase",
  "Capital", "with space", "end", "maybe", "else", "", "é", "ßtraße", "ж", "new\nline", "quote'q",
  "back\\slash", "_under", "9lives", "a.b", "a-b", "requirements", "build_tools", "a_very_long_tag_name_for_tuples",
  "\u{1F600}", "del\x7f", "tab\there",
];

export function genTerm(r: () => number, depth = 0): Term {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const n = (max: number): number => Math.floor(r() * (max + 1));
  const leafKinds = ["int", "bigint", "float", "atom", "bin", "bin", "string", "bytes", "ubin"];
  const kinds = depth >= 4 ? leafKinds : [...leafKinds, "list", "list", "tuple", "tagged", "tagged", "map", "proplist", "improper", "binlist"];
  switch (pick(kinds)) {
    case "int":
      return int(pick([0, 1, 7, 255, 256, -1, -128, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 42, 1000000]) + (r() < 0.3 ? n(1000) : 0));
    case "bigint":
      return int((r() < 0.5 ? -1n : 1n) * (2n ** BigInt(20 + n(300)) + BigInt(n(1e6))));
    case "float":
      return float(genFloat(r));
    case "atom":
      return atom(pick(ATOMS));
    case "bin": {
      const k = n(3);
      const s = Array.from({ length: k + 1 }, () => pick(WORDS)).join(pick([" ", "/", "", "\n", "\"", "\\"]));
      return bin(r() < 0.2 ? s.repeat(1 + n(6)) : s);
    }
    case "ubin":
      return bin(pick(["café", "naïve résumé", "€100", "日本語", "ok\u00a0nbsp", "\u0085", "x\u{1F600}"]));
    case "bytes": {
      const len = pick([1, 2, 5, 20, 40, 90]);
      return bin(Buffer.from(Array.from({ length: len }, () => pick([0, 1, 7, 10, 127, 128, 200, 255, n(255)]))));
    }
    case "string":
      return str(pick(["", "abc", "hello world", "with\nnewline", "tab\t", "ünïcödé", "日本", "q\"uote", "x".repeat(100)]));
    case "list":
      return list(Array.from({ length: n(8) }, () => genTerm(r, depth + 1)));
    case "binlist":
      return list(Array.from({ length: n(25) }, () => bin(pick(WORDS))));
    case "improper": {
      const items = Array.from({ length: 1 + n(3) }, () => genTerm(r, depth + 1));
      let tail = genTerm(r, depth + 1);
      while (tail.type === "list" || tail.type === "string") tail = genTerm(r, depth + 1);
      return { type: "list", items, tail };
    }
    case "tuple":
      return tuple(Array.from({ length: n(5) }, () => genTerm(r, depth + 1)));
    case "tagged":
      return tuple([atom(pick(ATOMS)), ...Array.from({ length: 1 + n(4) }, () => genTerm(r, depth + 1))]);
    case "proplist":
      return list(Array.from({ length: 1 + n(6) }, () => tuple([bin(pick(WORDS)), genTerm(r, depth + 2)])));
    case "map": {
      const entries: [Term, Term][] = [];
      const seen = new Set<string>();
      for (let i = 0, k = n(r() < 0.1 ? 32 : 7); i < k; i++) {
        const key = r() < 0.6 ? atom(pick(ATOMS)) : genTerm(r, 4);
        const id = writeTerm(key);
        // OTP 25 treats 0.0 and -0.0 as the same key; keep such keys out.
        if (seen.has(id) || (key.type === "float" && key.value === 0)) continue;
        seen.add(id);
        entries.push([key, genTerm(r, depth + 1)]);
      }
      return map(entries);
    }
  }
  throw new Error("unreachable");
}

export function genFloat(r: () => number): number {
  const special = [0.0, -0.0, 1.0, 0.1, 0.5, 100.0, 1e15, 1e16, 2 ** 53, 2 ** 53 + 2, 123456789.0, 1e-4, 1.2e-4, 5e-324,
    1.7976931348623157e308, 12345.678, 1e21, 1e22, 0.3, 2.5e-7, 1e10, 1234567890123.0, 9.5, 4.35, 0.001234];
  if (r() < 0.4) return special[Math.floor(r() * special.length)] * (r() < 0.3 ? -1 : 1);
  const mag = Math.floor(r() * 40) - 20;
  const digits = Math.floor(r() * 6);
  const v = Number((r() * 10).toFixed(digits)) * 10 ** mag;
  return Number.isFinite(v) ? v : 1.0;
}

// Runs an escript whose main/1 receives [InputFile, OutputFile], with the terms written to
// InputFile in `~w` syntax; returns the output file's lines.
// `files` are written next to InputFile.
export function runErlang(
  script: string,
  terms: Term[],
  env: Record<string, string> = {},
  files: Record<string, string> = {},
): string[] {
  const dir = mkdtempSync(join(tmpdir(), "beamix-erl-"));
  try {
    const inFile = join(dir, "terms.txt");
    const outFile = join(dir, "out.txt");
    const scriptFile = join(dir, "run.escript");
    writeFileSync(inFile, "%% coding: utf-8\n" + terms.map((t) => writeTerm(t) + ".\n").join(""));
    writeFileSync(scriptFile, script);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    execFileSync("escript", [scriptFile, inFile, outFile], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "inherit"] });
    return readFileSync(outFile, "utf8").split("\n").filter((l) => l !== "");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const b64 = (s: string): string => Buffer.from(s, "base64").toString("utf8");
