// Precompiled NIFs as fixed-output inputs. Packages built with elixir_make's precompiler
// (cc_precompiler) or with rustler_precompiled download a library archive while they compile,
// from a URL the package names, and check it against a checksum file the package ships
// (`checksum.exs`, `checksum-Elixir.MODULE.exs`). A sandboxed build has no network, so beamix
// fetches the archive for the build's target itself, before the build, bounded in size and
// time, verified against the package's own checksum, into a cache keyed by that checksum; the
// build then finds it where the package's Mix code looks first (ELIXIR_MAKE_CACHE_DIR,
// RUSTLER_PRECOMPILED_GLOBAL_CACHE_PATH). The archive's identity is in the checksum file, which
// is part of the source, so the derivation hash already covers it; the URL is not part of it.
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BeamixError, errorMessage } from "../errors.ts";
import { httpGet } from "../util/http-get.ts";

export type PrecompiledKind = "elixir_make" | "rustler_precompiled";

export const MAX_ARCHIVE_BYTES = 512 * 1024 * 1024;
const IDLE_TIMEOUT_MS = 30_000;
const DEADLINE_MS = 10 * 60_000;
const MAX_CHECKSUM_FILE_BYTES = 1024 * 1024;

// Which kind a package is, from its top-level files: a checksum file shipped with mix.exs.
export function precompiledKindOfFiles(files: readonly string[]): { kind: PrecompiledKind; checksumFile: string } | undefined {
  if (!files.includes("mix.exs")) return undefined;
  const rustler = files.find((f) => /^checksum-Elixir\.[A-Za-z0-9_.]+\.exs$/.test(f));
  if (rustler) return { kind: "rustler_precompiled", checksumFile: rustler };
  if (files.includes("checksum.exs")) return { kind: "elixir_make", checksumFile: "checksum.exs" };
  return undefined;
}

// The map a checksum file holds, `%{"NAME" => "sha256:HEX", ...}`, read as data (never
// evaluated): every entry must be a string key and a sha256 value.
export function parseChecksumFile(text: string, where: string): Map<string, string> {
  if (text.length > MAX_CHECKSUM_FILE_BYTES) throw new BeamixError(`${where}: larger than ${MAX_CHECKSUM_FILE_BYTES} bytes`);
  const body = /^\s*%\{([\s\S]*)\}\s*$/.exec(text);
  if (!body) throw new BeamixError(`${where}: not a map %{"archive" => "sha256:..."}`);
  const out = new Map<string, string>();
  const entry = /^\s*"([^"\\]+)"\s*=>\s*"sha256:([0-9a-fA-F]{64})"\s*(,|$)/;
  let rest = body[1];
  while (rest.trim() !== "") {
    const m = entry.exec(rest);
    if (!m) throw new BeamixError(`${where}: cannot read the entry ${JSON.stringify(rest.trim().slice(0, 60))} (expected "NAME" => "sha256:HEX")`);
    out.set(m[1], m[2].toLowerCase());
    rest = rest.slice(m[0].length);
  }
  return out;
}

// The target as each library names it, from the toolchain's triple (x86_64-pc-linux-gnu):
// cc_precompiler drops the vendor, Rust calls it "unknown".
export function targetNames(triple: string): { cc: string; rust: string } {
  const parts = triple.split("-");
  if (parts.length === 4) return { cc: `${parts[0]}-${parts[2]}-${parts[3]}`, rust: `${parts[0]}-unknown-${parts[2]}-${parts[3]}` };
  return { cc: triple, rust: triple };
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

export interface ArchiveChoice {
  file: string; // the archive's name, as the checksum file lists it
  sha256: string;
  nifVersion: string;
}

// The archive for this build: the one of the build's NIF version, else the closest older one
// of the same major version (as both libraries fall back), for the build's target.
export function chooseArchive(
  checksums: ReadonlyMap<string, string>,
  k: { kind: PrecompiledKind; app: string; version: string; crate?: string; triple: string; nifVersion: string },
  where: string,
): ArchiveChoice {
  const t = targetNames(k.triple);
  const re =
    k.kind === "elixir_make"
      ? new RegExp(`^${escape(k.app)}-nif-(\\d+\\.\\d+)-${escape(t.cc)}-${escape(k.version)}\\.tar\\.gz$`)
      : new RegExp(`^lib${escape(k.crate ?? k.app)}-v${escape(k.version)}-nif-(\\d+\\.\\d+)-${escape(t.rust)}\\.so\\.tar\\.gz$`);
  const [major, minor] = k.nifVersion.split(".").map(Number);
  const candidates = [...checksums]
    .map(([file, sha256]) => ({ file, sha256, nifVersion: re.exec(file)?.[1] }))
    .filter((c): c is ArchiveChoice => c.nifVersion !== undefined)
    .filter((c) => Number(c.nifVersion.split(".")[0]) === major && Number(c.nifVersion.split(".")[1]) <= minor)
    .sort((a, b) => Number(b.nifVersion.split(".")[1]) - Number(a.nifVersion.split(".")[1]));
  if (candidates.length === 0) {
    throw new BeamixError(`${where}: its checksum file lists no precompiled archive for ${k.kind === "elixir_make" ? t.cc : t.rust} at NIF version ${k.nifVersion} or an older ${major}.x`);
  }
  return candidates[0];
}

// The archive in the cache, fetched from `url` when it is not there yet: at most
// MAX_ARCHIVE_BYTES, verified against the checksum before it is kept. Returns its path.
export async function fetchArchive(cacheRoot: string, choice: ArchiveChoice, url: string, where: string): Promise<string> {
  const dir = join(cacheRoot, "precompiled", choice.sha256);
  const path = join(dir, choice.file);
  const cached = await readFile(path).catch(() => undefined);
  if (cached && createHash("sha256").update(cached).digest("hex") === choice.sha256) return path;
  let res;
  try {
    res = await httpGet(url, { idleTimeoutMs: IDLE_TIMEOUT_MS, deadlineMs: DEADLINE_MS });
  } catch (err) {
    throw new BeamixError(`${where}: cannot download the precompiled archive ${url}: ${errorMessage(err)}`);
  }
  if (res.status !== 200) {
    res.cancel();
    throw new BeamixError(`${where}: cannot download the precompiled archive ${url}: HTTP ${res.status}`);
  }
  const declared = Number(res.headers["content-length"] ?? NaN);
  if (declared > MAX_ARCHIVE_BYTES) {
    res.cancel();
    throw new BeamixError(`${where}: the precompiled archive ${url} is ${declared} bytes, more than ${MAX_ARCHIVE_BYTES}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const hash = createHash("sha256");
  try {
    for await (const chunk of res.body) {
      size += chunk.length;
      if (size > MAX_ARCHIVE_BYTES) {
        res.cancel();
        throw new BeamixError(`${where}: the precompiled archive ${url} is more than ${MAX_ARCHIVE_BYTES} bytes`);
      }
      hash.update(chunk);
      chunks.push(chunk);
    }
  } catch (err) {
    throw err instanceof BeamixError && err.message.startsWith(where) ? err : new BeamixError(`${where}: cannot download the precompiled archive ${url}: ${errorMessage(err)}`);
  }
  const got = hash.digest("hex");
  if (got !== choice.sha256) throw new BeamixError(`${where}: the precompiled archive ${url} has SHA-256 ${got}, its checksum file says ${choice.sha256}`);
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, Buffer.concat(chunks));
  await rename(tmp, path);
  return path;
}

// Where the build finds the archive: the environment variable the package's Mix code reads.
export const CACHE_ENV: Record<PrecompiledKind, string> = {
  elixir_make: "ELIXIR_MAKE_CACHE_DIR",
  rustler_precompiled: "RUSTLER_PRECOMPILED_GLOBAL_CACHE_PATH",
};
