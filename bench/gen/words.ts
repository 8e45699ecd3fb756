// Word lists for names, literals and documentation prose of the synthetic closure.
import type { Rng } from "./rng.ts";

export const VERBS = [
  "parse", "encode", "decode", "split", "merge", "normalize", "validate", "build", "fetch", "put",
  "take", "drop", "render", "format", "expand", "resolve", "lookup", "match", "scan", "compact",
  "collect", "filter", "reduce", "wrap", "unwrap", "convert", "cast", "dump", "load", "sign",
  "verify", "split_on", "join", "prepare", "finalize", "check", "apply", "select", "extract", "mark",
  "count", "index", "route", "dispatch", "attach", "detach", "register", "release", "reserve", "seal",
] as const;

export const NOUNS = [
  "header", "token", "segment", "frame", "chunk", "param", "cookie", "query", "path", "host",
  "scheme", "value", "field", "entry", "record", "stream", "window", "buffer", "route", "scope",
  "socket", "topic", "event", "payload", "session", "secret", "digest", "layout", "template", "asset",
  "listener", "acceptor", "transport", "handler", "message", "channel", "presence", "tracker", "shard", "pool",
  "limit", "range", "charset", "language", "encoding", "quality", "directive", "origin", "upgrade", "extension",
  "body", "status", "reason", "method", "target", "fragment", "label", "pattern", "matcher", "cursor",
] as const;

export const ADJECTIVES = [
  "raw", "safe", "strict", "lenient", "plain", "nested", "empty", "full", "partial", "signed",
  "stale", "fresh", "local", "remote", "default", "custom", "static", "dynamic", "secure", "public",
] as const;

export const MIME_TOPS = ["application", "text", "image", "audio", "video", "font", "model", "multipart"] as const;

export function camel(snake: string): string {
  return snake
    .split("_")
    .map((w) => (w === "" ? "" : w[0].toUpperCase() + w.slice(1)))
    .join("");
}

export function word(r: Rng): string {
  return r.pick(NOUNS);
}

// A lowercase identifier of 3-9 letters that reads like a short word (for extensions, keys).
export function syllables(r: Rng, n = r.int(1, 3)): string {
  const c = "bcdfghjklmnprstvwxz";
  const v = "aeiou";
  let s = "";
  for (let i = 0; i < n; i++) s += c[r.int(0, c.length - 1)] + v[r.int(0, v.length - 1)] + (r.chance(0.4) ? c[r.int(0, c.length - 1)] : "");
  return s;
}

const IRREGULAR: Record<string, string> = { split: "split", put: "put", split_on: "split", take: "taken", drop: "dropped", scan: "scanned", seal: "sealed" };

// "parse" -> "parsed", "merge" -> "merged", "fetch" -> "fetched".
export function past(verb: string): string {
  if (IRREGULAR[verb] !== undefined) return IRREGULAR[verb];
  const v = verb.replace(/_/g, " ");
  return v.endsWith("e") ? `${v}d` : `${v}ed`;
}

export function sentence(r: Rng): string {
  const templates = [
    () => `Returns the ${r.pick(ADJECTIVES)} ${r.pick(NOUNS)} for the given ${r.pick(NOUNS)}.`,
    () => `The ${r.pick(NOUNS)} is ${past(r.pick(VERBS))} before the ${r.pick(NOUNS)} is ${past(r.pick(VERBS))}, so a ${r.pick(ADJECTIVES)} ${r.pick(NOUNS)} never reaches the ${r.pick(NOUNS)}.`,
    () => `When the ${r.pick(NOUNS)} carries a ${r.pick(ADJECTIVES)} ${r.pick(NOUNS)}, the ${r.pick(NOUNS)} is kept as given.`,
    () => `Options are read once, at the first ${r.pick(NOUNS)}, and kept for every later ${r.pick(NOUNS)}.`,
    () => `This is the ${r.pick(ADJECTIVES)} variant: it does not ${r.pick(VERBS).replace(/_/g, " ")} the ${r.pick(NOUNS)}.`,
    () => `A ${r.pick(NOUNS)} that cannot be ${past(r.pick(VERBS))} gives an error tuple naming the ${r.pick(NOUNS)}.`,
    () => `See the ${r.pick(NOUNS)} section of the guide for the ${r.pick(ADJECTIVES)} form.`,
  ];
  return r.pick(templates)();
}

export function paragraph(r: Rng, sentences = r.int(1, 4)): string {
  return Array.from({ length: sentences }, () => sentence(r)).join(" ");
}

// Wraps prose at 92 columns after `indent`.
export function wrap(text: string, indent: string, width = 92): string {
  const lines: string[] = [];
  let line = "";
  for (const w of text.split(" ")) {
    if (line !== "" && indent.length + line.length + 1 + w.length > width) {
      lines.push(indent + line);
      line = w;
    } else {
      line = line === "" ? w : `${line} ${w}`;
    }
  }
  if (line !== "") lines.push(indent + line);
  return lines.join("\n");
}
