// metadata.config ⇄ HexMetadata: the Erlang terms of a package tarball's metadata.
//
// Reading is liberal in what real tarballs contain: keys in any order, text as binaries or
// charlists, requirements in both shapes seen in the wild (a list of kvlists that each carry
// <<"name">>, as Hex 2 writes; or the older list keyed by package name,
// [{<<"pkg">>, [{<<"app">>,..}, {<<"optional">>,..}, {<<"requirement">>,..}]}]), maps where
// lists of pairs are expected. Writing is exactly what Hex 2.1 writes: one {Key, Value} per
// key, keys sorted, every string a binary, requirements as kvlists with keys
// app, name, optional, repository, requirement.
import { BeamixError } from "../errors.ts";
import { parseTerms } from "../erlang/parse.ts";
import { formatConsultFile } from "../erlang/pretty.ts";
import { atom, bin, list, listView, tuple, unwrap, type Term } from "../erlang/term.ts";
import type { HexMetadata, HexRequirement } from "./metadata.ts";

const DEFAULT_REPOSITORY = "hexpm";

type Fail = (what: string) => never;

function failer(file: string | undefined): Fail {
  return (what) => {
    throw new BeamixError(`${file ?? "metadata.config"}: ${what}`);
  };
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

// Hex writes UTF-8; a binary that is not valid UTF-8 can only be Latin-1 from an old tool.
function binaryText(b: Buffer): string {
  try {
    return utf8.decode(b);
  } catch {
    return b.toString("latin1");
  }
}

// A binary or a charlist as a string; undefined for anything else.
function textOf(t: Term): string | undefined {
  const u = unwrap(t);
  if (u.type === "binary") return binaryText(u.value);
  if (u.type === "string") return u.value;
  const view = listView(u);
  if (!view || view.tail !== null) return undefined;
  // One character at a time: fromCodePoint(...codes) overflows the stack on a long charlist.
  let s = "";
  for (const item of view.items) {
    if (item.type !== "integer" || item.value < 0n || item.value > 0x10ffffn) return undefined;
    s += String.fromCodePoint(Number(item.value));
  }
  return s;
}

function text(t: Term, what: string, fail: Fail): string {
  const s = textOf(t);
  return s ?? fail(`${what} must be a string`);
}

function items(t: Term, what: string, fail: Fail): Term[] {
  const view = listView(unwrap(t));
  if (!view || view.tail !== null) return fail(`${what} must be a list`);
  // A charlist is a list too, but never the list of strings or pairs we expect here.
  if (unwrap(t).type === "string" && view.items.length > 0) return fail(`${what} must be a list, not a string`);
  return view.items;
}

function textList(t: Term, what: string, fail: Fail): string[] {
  return items(t, what, fail).map((item) => text(item, `each entry of ${what}`, fail));
}

// [{K, V}, ...] or #{K => V}: the pairs, in their written order.
function pairs(t: Term, what: string, fail: Fail): [Term, Term][] {
  const u = unwrap(t);
  if (u.type === "map") return u.entries;
  return items(u, what, fail).map((item) => {
    const p = unwrap(item);
    if (p.type !== "tuple" || p.items.length !== 2) return fail(`${what} must hold {Key, Value} pairs`);
    return [p.items[0], p.items[1]];
  });
}

function isPairList(t: Term): boolean {
  const u = unwrap(t);
  if (u.type === "map") return true;
  if (u.type !== "list") return false;
  return u.items.every((i) => {
    const p = unwrap(i);
    return p.type === "tuple" && p.items.length === 2;
  });
}

function bool(t: Term, what: string, fail: Fail): boolean {
  const u = unwrap(t);
  if (u.type === "atom" && (u.value === "true" || u.value === "false")) return u.value === "true";
  return fail(`${what} must be true or false`);
}

// One requirement's fields; `name` comes from the fields (new shape) or the key (old shape).
function requirement(fields: [Term, Term][], keyName: string | undefined, fail: Fail): HexRequirement {
  const where = keyName === undefined ? "a requirement" : `requirement ${keyName}`;
  const seen = new Map<string, Term>();
  for (const [k, v] of fields) {
    const key = text(k, `a key of ${where}`, fail);
    if (seen.has(key)) fail(`${where} has ${key} twice`);
    seen.set(key, v);
  }
  const nameTerm = seen.get("name");
  const name = nameTerm !== undefined ? text(nameTerm, `name of ${where}`, fail) : keyName;
  if (name === undefined) return fail(`${where} has no name`);
  if (keyName !== undefined && name !== keyName) fail(`requirement ${keyName} names itself ${name}`);
  const label = `requirement ${name}`;
  const req = seen.get("requirement");
  if (req === undefined) fail(`${label} has no requirement`);
  const app = seen.get("app");
  const optional = seen.get("optional");
  const repository = seen.get("repository");
  // Other keys (none known today) are dropped: HexRequirement has no place for them.
  return {
    name,
    app: app !== undefined ? text(app, `app of ${label}`, fail) : name,
    requirement: text(req!, `requirement of ${label}`, fail),
    optional: optional !== undefined ? bool(optional, `optional of ${label}`, fail) : false,
    repository: repository !== undefined ? text(repository, `repository of ${label}`, fail) : DEFAULT_REPOSITORY,
  };
}

function requirements(t: Term, fail: Fail): HexRequirement[] {
  const u = unwrap(t);
  // Old shape as a map: #{<<"pkg">> => [...] | #{...}}.
  if (u.type === "map") {
    return u.entries.map(([k, v]) => requirement(pairs(v, "a requirement", fail), text(k, "a requirement's name", fail), fail));
  }
  return items(u, "requirements", fail).map((item) => {
    const e = unwrap(item);
    // Old shape: {<<"pkg">>, [{<<"app">>, ...}, ...]}.
    if (e.type === "tuple" && e.items.length === 2 && textOf(e.items[0]) !== undefined && isPairList(e.items[1])) {
      const name = textOf(e.items[0])!;
      return requirement(pairs(e.items[1], `requirement ${name}`, fail), name, fail);
    }
    // New shape: [{<<"app">>, ...}, {<<"name">>, ...}, ...].
    if (isPairList(e)) return requirement(pairs(e, "a requirement", fail), undefined, fail);
    return fail("each requirement must be a list of {Key, Value} pairs");
  });
}

// The typed metadata of a parsed metadata.config (one term per {Key, Value}).
export function metadataFromTerms(terms: Term[], file?: string): HexMetadata {
  const fail: Fail = failer(file);
  const byKey = new Map<string, Term>();
  const other: [string, Term][] = [];
  const known = new Set(["name", "version", "app", "description", "elixir", "files", "licenses", "build_tools", "requirements", "links"]);
  for (const term of terms) {
    const t = unwrap(term);
    if (t.type !== "tuple" || t.items.length !== 2) fail("every term must be a {Key, Value} tuple");
    const key = textOf((t as { items: Term[] }).items[0]);
    if (key === undefined) return fail("every key must be a string");
    if (byKey.has(key)) fail(`key ${key} appears twice`);
    const value = (t as { items: Term[] }).items[1];
    byKey.set(key, value);
    if (!known.has(key)) other.push([key, value]);
  }
  const get = (key: string): Term | undefined => byKey.get(key);
  const required = (key: string): string => {
    const v = get(key);
    if (v === undefined) return fail(`no ${key}`);
    return text(v, key, fail);
  };
  const optionalText = (key: string): string | undefined => {
    const v = get(key);
    return v === undefined ? undefined : text(v, key, fail);
  };
  const optionalList = (key: string): string[] => {
    const v = get(key);
    return v === undefined ? [] : textList(v, key, fail);
  };
  const name = required("name");
  const linksTerm = get("links");
  const requirementsTerm = get("requirements");
  const m: HexMetadata = {
    name,
    version: required("version"),
    app: optionalText("app") ?? name,
    files: optionalList("files"),
    licenses: optionalList("licenses"),
    buildTools: optionalList("build_tools"),
    requirements: requirementsTerm === undefined ? [] : requirements(requirementsTerm, fail),
    links:
      linksTerm === undefined
        ? []
        : pairs(linksTerm, "links", fail).map(([k, v]): [string, string] => [text(k, "a link name", fail), text(v, "a link", fail)]),
    other,
  };
  const description = optionalText("description");
  if (description !== undefined) m.description = description;
  const elixir = optionalText("elixir");
  if (elixir !== undefined) m.elixir = elixir;
  return m;
}

function requirementTerm(r: HexRequirement): Term {
  return list([
    tuple([bin("app"), bin(r.app)]),
    tuple([bin("name"), bin(r.name)]),
    tuple([bin("optional"), atom(r.optional ? "true" : "false")]),
    tuple([bin("repository"), bin(r.repository)]),
    tuple([bin("requirement"), bin(r.requirement)]),
  ]);
}

// The {Key, Value} terms of metadata.config, in the order Hex writes them (keys sorted).
export function metadataToTerms(m: HexMetadata): Term[] {
  const entries: [string, Term][] = [
    ["app", bin(m.app)],
    ["build_tools", list(m.buildTools.map((s) => bin(s)))],
    ["files", list(m.files.map((s) => bin(s)))],
    ["licenses", list(m.licenses.map((s) => bin(s)))],
    ["links", list(m.links.map(([k, v]) => tuple([bin(k), bin(v)])))],
    ["name", bin(m.name)],
    ["requirements", list(m.requirements.map(requirementTerm))],
    ["version", bin(m.version)],
  ];
  if (m.description !== undefined) entries.push(["description", bin(m.description)]);
  if (m.elixir !== undefined) entries.push(["elixir", bin(m.elixir)]);
  const modelled = new Set(entries.map(([k]) => k));
  for (const [k, v] of m.other) {
    if (modelled.has(k)) throw new BeamixError(`metadata of ${m.name}: key ${k} is both modelled and in other`);
    entries.push([k, v]);
  }
  // Erlang orders binaries byte by byte.
  entries.sort(([a], [b]) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8")));
  return entries.map(([k, v]) => tuple([bin(k), v]));
}

// metadata.config text exactly as Hex prints it.
export function formatMetadataConfig(m: HexMetadata): string {
  return formatConsultFile(metadataToTerms(m));
}

export function parseMetadataConfig(text: string, file?: string): HexMetadata {
  return metadataFromTerms(parseTerms(text, file), file);
}
