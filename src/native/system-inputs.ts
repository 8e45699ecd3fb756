// System libraries a package's C code builds against (libyaml, expat, zlib, openssl, pam...):
// declared by its definition (`systemInputs`), looked for on this host before its build starts,
// and counted in its derivation hash by what was found.
//
// Each is looked for the way its build will look: the header with the C compiler's
// preprocessor (`cc -E`), the library with the linker's search (`cc -print-file-name`), both
// with the build's PATH and no host CPATH/LIBRARY_PATH, so what is found here is what the
// sandbox (which sees /usr and /lib*) finds. Its version is pkg-config's when a module is
// named, else the Debian package's when one is named and installed, else the SHA-256 of the
// header and library files found: never a host path.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { access, readFile } from "node:fs/promises";
import { isAbsolute } from "node:path";
import { BeamixError } from "../errors.ts";

export interface SystemInput {
  header?: string; // as in `#include <...>`: "yaml.h", "openssl/ssl.h"
  library?: string; // as in `-l...`: "yaml", "ssl"
  pkgConfig?: string; // pkg-config module: "yaml-0.1"
  debian?: string; // the Debian package that provides it: "libyaml-dev"
}

// What a derivation records of a system input: the declaration and the version found.
export interface SystemInputFound extends SystemInput {
  version: string; // "pkg-config:0.2.5", "debian:0.2.5-1" or "sha256:<hex of the files>"
}

const PATH = "/usr/bin:/bin";
const TIMEOUT_MS = 30_000;

export const SYSTEM_INPUT_FIELDS = ["header", "library", "pkgConfig", "debian"] as const;
export const HEADER_NAME = /^(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9_./+-]*\.(h|hh|hpp)$/;
export const LIBRARY_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/;
export const DEBIAN_NAME = /^[a-z0-9][a-z0-9.+-]+$/;

interface Run {
  ok: boolean;
  stdout: string;
  missing?: boolean; // the program itself is not there
}

function run(cmd: string, args: string[], input?: string): Promise<Run> {
  return new Promise((res) => {
    const child = execFile(cmd, args, { env: { PATH, LANG: "C" }, timeout: TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024, encoding: "utf8" }, (err, stdout) => {
      res({ ok: !err, stdout, missing: (err as NodeJS.ErrnoException | null)?.code === "ENOENT" });
    });
    child.stdin?.on("error", () => {}); // a tool that does not read its input may exit first
    child.stdin?.end(input ?? "");
  });
}

const installHint = (i: SystemInput) => (i.debian ? `; install the Debian package ${i.debian}` : "");

// The file the preprocessor takes for `#include <header>`, from its line markers.
async function findHeader(header: string): Promise<string | undefined> {
  const r = await run("cc", ["-E", "-x", "c", "-"], `#include <${header}>\n`);
  if (r.missing) throw new BeamixError(`no C compiler (cc) on this host to look for ${header}; install the Debian package build-essential`);
  if (!r.ok) return undefined;
  const suffix = `/${header}`;
  for (const m of r.stdout.matchAll(/^# \d+ "([^"]+)"/gm)) if (m[1].endsWith(suffix)) return m[1];
  return undefined;
}

async function findLibraryFile(library: string): Promise<string | undefined> {
  for (const file of [`lib${library}.so`, `lib${library}.a`]) {
    const r = await run("cc", [`-print-file-name=${file}`]);
    if (r.missing) throw new BeamixError(`no C compiler (cc) on this host to look for the library ${library}; install the Debian package build-essential`);
    const path = r.stdout.trim();
    // An unknown file is printed back as given.
    if (r.ok && isAbsolute(path) && (await access(path).then(() => true, () => false))) return path;
  }
  return undefined;
}

// The build sandbox binds /usr and the top-level library directories (src/sandbox/bwrap.ts).
const SANDBOX_SEES = /^\/(usr|lib|lib32|lib64|libx32)\//;

function visible(path: string, what: string): string {
  if (!SANDBOX_SEES.test(path)) throw new BeamixError(`${what} was found at ${path}, which the build sandbox does not see (it sees /usr and /lib*)`);
  return path;
}

async function probe(i: SystemInput): Promise<SystemInputFound> {
  const files: string[] = [];
  if (i.header !== undefined) {
    const h = await findHeader(i.header);
    if (!h) throw new BeamixError(`system header ${i.header} not found by the C compiler (cc -E)${installHint(i)}`);
    files.push(visible(h, `system header ${i.header}`));
  }
  if (i.library !== undefined) {
    const l = await findLibraryFile(i.library);
    if (!l) throw new BeamixError(`system library ${i.library} (lib${i.library}.so) not found by the linker (cc -print-file-name)${installHint(i)}`);
    files.push(visible(l, `system library ${i.library}`));
  }
  let version: string | undefined;
  if (i.pkgConfig !== undefined) {
    const r = await run("pkg-config", ["--modversion", i.pkgConfig]);
    if (r.missing) throw new BeamixError(`no pkg-config on this host to look for the module ${i.pkgConfig}; install the Debian package pkg-config`);
    if (!r.ok || r.stdout.trim() === "") throw new BeamixError(`pkg-config module ${i.pkgConfig} not found${installHint(i)}`);
    version = `pkg-config:${r.stdout.trim()}`;
  }
  if (version === undefined && i.debian !== undefined) {
    const r = await run("dpkg-query", ["-W", "-f", "${db:Status-Status} ${Version}", i.debian]);
    const m = /^installed (\S+)$/.exec(r.stdout.trim());
    if (r.ok && m) version = `debian:${m[1]}`;
  }
  if (version === undefined) {
    const h = createHash("sha256");
    for (const f of files) h.update(await readFile(f));
    version = `sha256:${h.digest("hex")}`;
  }
  return { ...i, version };
}

const memo = new Map<string, Promise<SystemInputFound>>();

// Looks for every declared system input on this host (each once per process); the first one
// missing fails with one line naming it, and the Debian package when the declaration names one.
export async function probeSystemInputs(inputs: readonly SystemInput[], where: string): Promise<SystemInputFound[]> {
  return Promise.all(
    inputs.map((i) => {
      const key = JSON.stringify(SYSTEM_INPUT_FIELDS.map((k) => i[k] ?? null));
      let p = memo.get(key);
      if (!p) {
        p = probe(i);
        memo.set(key, p);
        p.catch(() => memo.delete(key)); // a failure is not kept: the user may install the package and retry in the same session
      }
      return p.catch((err: unknown) => {
        throw err instanceof BeamixError ? new BeamixError(`${where}: ${err.message}`) : err;
      });
    }),
  );
}

export const describeSystemInput = (i: SystemInput): string => i.header ?? (i.library !== undefined ? `lib${i.library}` : (i.pkgConfig ?? i.debian ?? "?"));
