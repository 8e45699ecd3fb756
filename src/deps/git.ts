// Git dependencies at their locked commit. Commits are fetched once into a bare cache
// repository per URL (<cache>/git/<sha256 of the URL>.git); checkouts are clones of that cache
// with `origin` set back to the locked URL, which is what Mix's git SCM checks
// (`git config remote.origin.url` and `git rev-parse HEAD` against mix.lock).
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { lstat, mkdir, readdir, readFile, readlink, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { BeamixError } from "../errors.ts";
import type { TarballFile } from "../hex/tarball.ts";

interface GitResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function git(args: string[], cwd?: string): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    // No prompts for credentials, no user or system config that changes what is checked out.
    const env = { ...process.env, GIT_TERMINAL_PROMPT: "0", GIT_CONFIG_NOSYSTEM: "1", LC_ALL: "C" };
    const child = spawn("git", args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", (e: NodeJS.ErrnoException) => reject(e.code === "ENOENT" ? new BeamixError("git was not found on PATH; it is needed for git dependencies") : e));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

async function gitOk(args: string[], what: string, cwd?: string): Promise<string> {
  const r = await git(args, cwd);
  if (r.code !== 0) throw new BeamixError(`${what}: git ${args[0] === "-C" ? args[2] : args[0]} failed: ${r.stderr.trim().split("\n").pop() ?? ""}`);
  return r.stdout;
}

const hasCommit = async (repo: string, rev: string): Promise<boolean> =>
  (await git(["--git-dir", repo, "cat-file", "-e", `${rev}^{commit}`])).code === 0;

// The bare cache repository of `url`, holding `rev`.
export async function fetchGitCommit(url: string, rev: string, cacheRoot: string): Promise<string> {
  if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(rev)) throw new BeamixError(`mix.lock: git revision ${JSON.stringify(rev)} of ${url} is not a full commit id`);
  const repo = join(cacheRoot, "git", `${createHash("sha256").update(url).digest("hex")}.git`);
  await mkdir(dirname(repo), { recursive: true });
  if ((await lstat(repo).catch(() => undefined)) === undefined) {
    const tmp = `${repo}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await gitOk(["init", "--quiet", "--bare", tmp], url);
    await rename(tmp, repo).catch(async (err: NodeJS.ErrnoException) => {
      await rm(tmp, { recursive: true, force: true });
      if (err.code !== "ENOTEMPTY" && err.code !== "EEXIST") throw err; // another process made it
    });
  }
  if (await hasCommit(repo, rev)) return repo;
  await gitOk(["--git-dir", repo, "fetch", "--quiet", "--force", "--tags", url, "+refs/heads/*:refs/heads/*"], url);
  // A commit no branch or tag leads to any more: ask for it by id (servers that allow it).
  if (!(await hasCommit(repo, rev))) await git(["--git-dir", repo, "fetch", "--quiet", url, rev]);
  if (!(await hasCommit(repo, rev))) throw new BeamixError(`${url}: commit ${rev} (from mix.lock) is not in the repository`);
  return repo;
}

// A clone of the cache at `rev` in `dest` (which must not exist), with origin = `url`.
export async function checkoutGitCommit(cacheRepo: string, url: string, rev: string, dest: string): Promise<void> {
  const tmp = join(dirname(dest), `.${basename(dest)}.clone-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  try {
    await gitOk(["clone", "--quiet", "--no-checkout", cacheRepo, tmp], url);
    await gitOk(["-C", tmp, "remote", "set-url", "origin", url], url);
    await gitOk(["-C", tmp, "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", rev], url);
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

// What Mix's git SCM reads from a checkout: origin URL and HEAD; null when it is no checkout.
export async function checkoutState(dir: string): Promise<{ origin: string; rev: string } | null> {
  if (!(await lstat(join(dir, ".git", "HEAD")).then((s) => s.isFile(), () => false))) return null;
  const origin = await git(["--git-dir", join(dir, ".git"), "config", "remote.origin.url"]);
  const rev = await git(["--git-dir", join(dir, ".git"), "rev-parse", "--verify", "--quiet", "HEAD"]);
  if (origin.code !== 0 || rev.code !== 0) return null;
  return { origin: origin.stdout.trim(), rev: rev.stdout.trim() };
}

// The files of a checkout (without .git), for packing it as the source of a build.
export async function checkoutFiles(dir: string): Promise<TarballFile[]> {
  const out: TarballFile[] = [];
  const walk = async (rel: string) => {
    for (const name of (await readdir(join(dir, rel))).sort()) {
      if (rel === "" && name === ".git") continue;
      const path = rel === "" ? name : `${rel}/${name}`;
      const st = await lstat(join(dir, path));
      if (st.isDirectory()) await walk(path);
      else if (st.isFile()) out.push({ path, mode: st.mode & 0o100 ? 0o100755 : 0o100644, data: await readFile(join(dir, path)) });
      else if (st.isSymbolicLink()) throw new BeamixError(`${dir}: ${path} is a symlink (-> ${await readlink(join(dir, path))}); git dependencies with symlinks are not supported`);
    }
  };
  await walk("");
  return out;
}
