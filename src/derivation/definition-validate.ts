// Checking a definition that came from outside (a definition file, an import): every field of
// untrusted input validated, every problem reported at once with the field's path, defaults
// filled in.
import { BeamixError } from "../errors.ts";
import { tryParseVersion } from "../elixir/version.ts";
import { ConfigValueError, configFromJson, type CompileConfig } from "./config.ts";
import { createHash } from "node:crypto";
import { BUILD_SYSTEMS, isBuildSystem, type BuildSystem } from "../build-system/registry.ts";
import { DEBIAN_NAME, HEADER_NAME, LIBRARY_NAME, SYSTEM_INPUT_FIELDS, type SystemInput } from "../native/system-inputs.ts";
import type { BuildArguments, Definition, Input, Patch, PhaseOverride, PhaseStep, Source } from "./definition.ts";

const PACKAGE_NAME = /^[a-z][A-Za-z0-9_]*$/; // hex.pm's rule
const APP_NAME = /^[a-z][A-Za-z0-9_]*$/; // an unquoted Erlang atom
const REPO_NAME = /^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$/; // "hexpm", "hexpm:org", "vectors"
const TOOL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.+-]*$/;
const PHASE_NAME = /^[a-z][a-z0-9_-]*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
const GIT_COMMIT = /^([0-9a-fA-F]{40}|[0-9a-fA-F]{64})$/;
// The build system sets these itself; a definition changes them through its own fields.
const RESERVED_ENV: Record<string, string> = { MIX_ENV: "arguments.mixEnv" };

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === "object" && x !== null && !Array.isArray(x);

// Collects every problem so one run of `beamix` reports them all.
class Problems {
  list: string[] = [];
  add(path: string, msg: string): void {
    this.list.push(`${path}: ${msg}`);
  }
}

function unknownKeys(p: Problems, o: Obj, allowed: readonly string[], path: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) p.add(path ? `${path}.${k}` : k, "unknown field");
}

function str(p: Problems, o: Obj, key: string, path: string, re?: RegExp, what?: string): string | undefined {
  const v = o[key];
  const at = path ? `${path}.${key}` : key;
  if (typeof v !== "string" || v === "") {
    p.add(at, v === undefined ? "missing" : "must be a non-empty string");
    return undefined;
  }
  if (re && !re.test(v)) {
    p.add(at, `${JSON.stringify(v)} is not ${what}`);
    return undefined;
  }
  return v;
}

function optStr(p: Problems, o: Obj, key: string, path: string): string | undefined {
  if (o[key] === undefined) return undefined;
  return str(p, o, key, path);
}

function readSource(p: Problems, x: unknown): Source | undefined {
  if (!isObj(x)) {
    p.add("source", x === undefined ? "missing" : "must be an object with a type (hex, dir, git)");
    return undefined;
  }
  switch (x.type) {
    case "hex": {
      unknownKeys(p, x, ["type", "repo", "url", "innerChecksum", "outerChecksum"], "source");
      const repo = x.repo === undefined ? "hexpm" : str(p, x, "repo", "source", REPO_NAME, "a repository name");
      const url = optStr(p, x, "url", "source");
      const inner = str(p, x, "innerChecksum", "source", SHA256_HEX, "a SHA-256 in hex");
      const outer = x.outerChecksum === undefined ? undefined : str(p, x, "outerChecksum", "source", SHA256_HEX, "a SHA-256 in hex");
      if (repo === undefined || inner === undefined) return undefined;
      const s: Source = { type: "hex", repo, innerChecksum: inner.toLowerCase() };
      if (url !== undefined) s.url = url;
      if (outer !== undefined) s.outerChecksum = outer.toLowerCase();
      return s;
    }
    case "dir": {
      unknownKeys(p, x, ["type", "path", "treeHash"], "source");
      const path = str(p, x, "path", "source");
      const treeHash = str(p, x, "treeHash", "source", SHA256_HEX, "a SHA-256 in hex");
      return path && treeHash ? { type: "dir", path, treeHash: treeHash.toLowerCase() } : undefined;
    }
    case "git": {
      unknownKeys(p, x, ["type", "url", "commit"], "source");
      const url = str(p, x, "url", "source");
      const commit = str(p, x, "commit", "source", GIT_COMMIT, "a full commit id (40 or 64 hex digits)");
      return url && commit ? { type: "git", url, commit: commit.toLowerCase() } : undefined;
    }
    default:
      p.add("source.type", `must be "hex", "dir" or "git", got ${JSON.stringify(x.type)}`);
      return undefined;
  }
}

function readInputs(p: Problems, x: unknown, defaultRepo: string, field = "inputs"): Input[] {
  if (x === undefined) return [];
  if (!Array.isArray(x)) {
    p.add(field, "must be an array");
    return [];
  }
  const out: Input[] = [];
  const seen = new Set<string>();
  x.forEach((item, i) => {
    const at = `${field}[${i}]`;
    const o: Obj | undefined = typeof item === "string" ? { name: item } : isObj(item) ? item : undefined;
    if (!o) {
      p.add(at, "must be a package name or {name, app?, optional?, repo?}");
      return;
    }
    unknownKeys(p, o, ["name", "app", "optional", "repo"], at);
    const name = str(p, o, "name", at, PACKAGE_NAME, "a valid Hex package name");
    const app = o.app === undefined ? name : str(p, o, "app", at, APP_NAME, "a valid OTP application name");
    const repo = o.repo === undefined ? defaultRepo : str(p, o, "repo", at, REPO_NAME, "a repository name");
    if (o.optional !== undefined && typeof o.optional !== "boolean") p.add(`${at}.optional`, "must be true or false");
    if (!name || !app || !repo) return;
    if (seen.has(name)) p.add(at, `${name} is listed twice`);
    seen.add(name);
    out.push({ name, app, optional: o.optional === true, repo });
  });
  return out;
}

function readStringList(p: Problems, x: unknown, path: string, re: RegExp, what: string): string[] {
  if (x === undefined) return [];
  if (!Array.isArray(x)) {
    p.add(path, "must be an array of strings");
    return [];
  }
  const out: string[] = [];
  x.forEach((v, i) => {
    if (typeof v !== "string" || !re.test(v)) p.add(`${path}[${i}]`, `${JSON.stringify(v)} is not ${what}`);
    else if (out.includes(v)) p.add(`${path}[${i}]`, `${v} is listed twice`);
    else out.push(v);
  });
  return out;
}

// [{header: "yaml.h", library: "yaml", pkgConfig: "yaml-0.1", debian: "libyaml-dev"}, ...]
function readSystemInputs(p: Problems, x: unknown): SystemInput[] {
  if (x === undefined) return [];
  if (!Array.isArray(x)) {
    p.add("systemInputs", "must be an array of {header?, library?, pkgConfig?, debian?}");
    return [];
  }
  const out: SystemInput[] = [];
  x.forEach((item, i) => {
    const at = `systemInputs[${i}]`;
    if (!isObj(item)) return p.add(at, "must be an object {header?, library?, pkgConfig?, debian?}");
    unknownKeys(p, item, SYSTEM_INPUT_FIELDS, at);
    const rules = { header: [HEADER_NAME, "a header name like yaml.h or openssl/ssl.h"], library: [LIBRARY_NAME, "a library name as given to -l"], pkgConfig: [LIBRARY_NAME, "a pkg-config module name"], debian: [DEBIAN_NAME, "a Debian package name"] } as const;
    const input: SystemInput = {};
    for (const k of SYSTEM_INPUT_FIELDS) {
      if (item[k] === undefined) continue;
      const v = str(p, item, k, at, rules[k][0], rules[k][1]);
      if (v !== undefined) input[k] = v;
    }
    if (item.header === undefined && item.library === undefined && item.pkgConfig === undefined) p.add(at, "needs a header, a library or a pkgConfig module to look for");
    else out.push(input);
  });
  return out;
}

function readStep(p: Problems, o: Obj, at: string): PhaseStep | undefined {
  const hasRun = o.run !== undefined;
  const hasShell = o.shell !== undefined;
  if (hasRun === hasShell) {
    p.add(at, "needs exactly one of run (an argv array) or shell (a script)");
    return undefined;
  }
  if (hasRun) {
    if (!Array.isArray(o.run) || o.run.length === 0 || !o.run.every((a) => typeof a === "string") || o.run[0] === "") {
      p.add(`${at}.run`, "must be a non-empty array of strings");
      return undefined;
    }
    return { run: [...(o.run as string[])] };
  }
  if (typeof o.shell !== "string" || o.shell.trim() === "") {
    p.add(`${at}.shell`, "must be a non-empty string");
    return undefined;
  }
  return { shell: o.shell };
}

function readPhases(p: Problems, x: unknown): PhaseOverride[] {
  if (x === undefined) return [];
  if (!Array.isArray(x)) {
    p.add("arguments.phases", "must be an array");
    return [];
  }
  const out: PhaseOverride[] = [];
  x.forEach((item, i) => {
    const at = `arguments.phases[${i}]`;
    if (!isObj(item)) {
      p.add(at, "must be an object {op, name, ...}");
      return;
    }
    const name = str(p, item, "name", at, PHASE_NAME, "a phase name ([a-z][a-z0-9_-]*)");
    switch (item.op) {
      case "remove":
        unknownKeys(p, item, ["op", "name"], at);
        if (name) out.push({ op: "remove", name });
        return;
      case "replace": {
        unknownKeys(p, item, ["op", "name", "run", "shell"], at);
        const step = readStep(p, item, at);
        if (name && step) out.push({ op: "replace", name, ...step });
        return;
      }
      case "add": {
        unknownKeys(p, item, ["op", "name", "before", "after", "run", "shell"], at);
        const step = readStep(p, item, at);
        const before = item.before === undefined ? undefined : str(p, item, "before", at, PHASE_NAME, "a phase name");
        const after = item.after === undefined ? undefined : str(p, item, "after", at, PHASE_NAME, "a phase name");
        if (before !== undefined && after !== undefined) p.add(at, "give before or after, not both");
        if (!name || !step) return;
        const o: PhaseOverride = { op: "add", name, ...step };
        if (before !== undefined) o.before = before;
        if (after !== undefined) o.after = after;
        out.push(o);
        return;
      }
      default:
        p.add(`${at}.op`, `must be "add", "replace" or "remove", got ${JSON.stringify(item.op)}`);
    }
  });
  return out;
}

function readPatches(p: Problems, x: unknown): Patch[] {
  if (x === undefined) return [];
  if (!Array.isArray(x)) {
    p.add("arguments.patches", "must be an array");
    return [];
  }
  const out: Patch[] = [];
  x.forEach((item, i) => {
    const at = `arguments.patches[${i}]`;
    if (!isObj(item)) {
      p.add(at, "must be an object {file, sha256} or {text}");
      return;
    }
    unknownKeys(p, item, ["sha256", "strip", "file", "text"], at);
    const file = optStr(p, item, "file", at);
    const text = item.text === undefined ? undefined : typeof item.text === "string" ? item.text : (p.add(`${at}.text`, "must be a string"), undefined);
    if (item.file === undefined && item.text === undefined) p.add(at, "needs file or text");
    let sha256 = item.sha256 === undefined ? undefined : str(p, item, "sha256", at, SHA256_HEX, "a SHA-256 in hex")?.toLowerCase();
    if (text !== undefined) {
      const actual = createHash("sha256").update(text, "utf8").digest("hex");
      if (sha256 !== undefined && sha256 !== actual) p.add(`${at}.sha256`, `does not match the text (its SHA-256 is ${actual})`);
      sha256 = actual;
    } else if (file !== undefined && item.sha256 === undefined) {
      p.add(`${at}.sha256`, "missing (a patch file is identified by its SHA-256)");
    }
    const strip = item.strip === undefined ? 1 : item.strip;
    if (typeof strip !== "number" || !Number.isInteger(strip) || strip < 0) p.add(`${at}.strip`, "must be a non-negative integer");
    if (sha256 === undefined || typeof strip !== "number") return;
    const patch: Patch = { sha256, strip };
    if (file !== undefined) patch.file = file;
    if (text !== undefined) patch.text = text;
    out.push(patch);
  });
  return out;
}

function readEnv(p: Problems, x: unknown): Record<string, string> {
  if (x === undefined) return {};
  if (!isObj(x)) {
    p.add("arguments.env", "must be an object of NAME -> value");
    return {};
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(x)) {
    const at = `arguments.env.${k}`;
    if (!ENV_NAME.test(k)) p.add(at, "is not a valid environment variable name");
    else if (RESERVED_ENV[k]) p.add(at, `is set by the build system; use ${RESERVED_ENV[k]}`);
    else if (typeof v !== "string") p.add(at, "must be a string");
    else if (v.includes("\0")) p.add(at, "must not contain NUL");
    else out[k] = v;
  }
  return out;
}

function readArguments(p: Problems, x: unknown): BuildArguments {
  const a: Obj = x === undefined ? {} : isObj(x) ? x : (p.add("arguments", "must be an object"), {});
  unknownKeys(p, a, ["mixEnv", "compileConfig", "env", "check", "phases", "patches"], "arguments");
  const mixEnv = a.mixEnv === undefined ? "prod" : str(p, a, "mixEnv", "arguments", /^[a-z][a-z0-9_]*$/, "a Mix environment name");
  let compileConfig: CompileConfig = {};
  if (a.compileConfig !== undefined) {
    try {
      compileConfig = configFromJson(a.compileConfig, "arguments.compileConfig");
      for (const app of Object.keys(compileConfig)) {
        if (!APP_NAME.test(app)) p.add(`arguments.compileConfig.${app}`, "is not a valid OTP application name");
      }
    } catch (err) {
      if (!(err instanceof ConfigValueError)) throw err;
      p.list.push(err.message);
    }
  }
  if (a.check !== undefined && typeof a.check !== "boolean") p.add("arguments.check", "must be true or false");
  return {
    mixEnv: mixEnv ?? "prod",
    compileConfig,
    env: readEnv(p, a.env),
    check: a.check === true,
    phases: readPhases(p, a.phases),
    patches: readPatches(p, a.patches),
  };
}

// Checks a definition read from a file (or built by code) and returns it with every default
// filled in. All problems are reported at once, each prefixed by the field's path.
export function validateDefinition(x: unknown, file?: string): Definition {
  const p = new Problems();
  const where = file ?? "definition";
  if (!isObj(x)) throw new BeamixError(`${where}: a definition must be an object`);
  unknownKeys(p, x, ["name", "version", "app", "source", "buildSystem", "inputs", "buildInputs", "nativeInputs", "systemInputs", "precompiledNif", "arguments"], "");
  const name = str(p, x, "name", "", PACKAGE_NAME, "a valid Hex package name");
  const version = str(p, x, "version", "");
  if (version !== undefined && !tryParseVersion(version)) p.add("version", `${JSON.stringify(version)} is not a valid version`);
  const app = x.app === undefined ? name : str(p, x, "app", "", APP_NAME, "a valid OTP application name");
  const source = readSource(p, x.source);
  let buildSystem: BuildSystem | undefined;
  if (isBuildSystem(x.buildSystem)) buildSystem = x.buildSystem;
  else p.add("buildSystem", x.buildSystem === undefined ? "missing" : `must be one of ${BUILD_SYSTEMS.join(", ")}, got ${JSON.stringify(x.buildSystem)}`);
  const defaultRepo = source?.type === "hex" ? source.repo : "hexpm";
  const inputs = readInputs(p, x.inputs, defaultRepo);
  if (name !== undefined && inputs.some((i) => i.name === name)) p.add("inputs", `${name} cannot depend on itself`);
  const buildInputs = readInputs(p, x.buildInputs, defaultRepo, "buildInputs");
  if (name !== undefined && buildInputs.some((i) => i.name === name)) p.add("buildInputs", `${name} cannot build with itself`);
  const nativeInputs = readStringList(p, x.nativeInputs, "nativeInputs", TOOL_NAME, "a tool name");
  const systemInputs = readSystemInputs(p, x.systemInputs);
  if (x.precompiledNif !== undefined && x.precompiledNif !== "download" && x.precompiledNif !== "build") p.add("precompiledNif", `must be "download" or "build", got ${JSON.stringify(x.precompiledNif)}`);
  const args = readArguments(p, x.arguments);

  if (p.list.length > 0 || !name || !version || !app || !source || !buildSystem) {
    const label = file ?? (typeof x.name === "string" ? `definition of ${x.name}${typeof x.version === "string" ? ` ${x.version}` : ""}` : "definition");
    throw new BeamixError(`${label}: ${p.list.join("; ")}`);
  }
  const def: Definition = { name, version, app, source, buildSystem, inputs, nativeInputs, arguments: args };
  if (buildInputs.length > 0) def.buildInputs = buildInputs;
  if (systemInputs.length > 0) def.systemInputs = systemInputs;
  if (x.precompiledNif === "download" || x.precompiledNif === "build") def.precompiledNif = x.precompiledNif;
  return def;
}

