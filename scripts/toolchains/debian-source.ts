// Upstream source tarballs of Debian source packages, had through an apt configuration private
// to this script: its own sources.list (deb-src lines only), its own state and cache
// directories, the system's archive keyring to check the index. The system's apt sources,
// lists and cache are never read or written, and nothing needs root.
//
// `apt-get source --print-uris` resolves PACKAGE/SUITE to the files of its current version,
// with their SHA-256 from the signed index; the upstream tarball (*.orig.tar.*) is fetched with
// apt's own downloader, which checks that hash. Debian's packaging (.dsc, .debian.tar.*) is not
// fetched: the toolchains are built from the upstream sources as Debian ships them, not into
// .deb packages (and some mirrors serve only the upstream tarballs).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const MIRROR = "http://deb.debian.org/debian";
const KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg";
const APT_HELPER = "/usr/lib/apt/apt-helper";

export interface SourceTarball {
  package: string;
  version: string; // Debian's version, e.g. 1:27.3.4.1+dfsg-1+deb13u4
  file: string; // the downloaded *.orig.tar.* (absolute)
}

export class DebianSources {
  readonly dir: string;
  readonly suites: readonly string[];
  private updated = false;

  constructor(dir: string, suites: readonly string[]) {
    this.dir = dir;
    this.suites = suites;
  }

  private aptOptions(): string[] {
    const d = this.dir;
    return [
      ["Dir::Etc::SourceList", join(d, "etc", "sources.list")],
      ["Dir::Etc::SourceParts", join(d, "etc", "sources.list.d")],
      ["Dir::Etc::Preferences", join(d, "etc", "preferences")],
      ["Dir::Etc::PreferencesParts", join(d, "etc", "preferences.d")],
      ["Dir::State", join(d, "state")],
      ["Dir::State::status", join(d, "state", "status")],
      ["Dir::Cache", join(d, "cache")],
      ["Debug::NoLocking", "1"], // the private state needs no lock against the system's apt
      ["APT::Sandbox::User", process.getuid?.() === 0 ? "root" : ""], // no _apt user for private dirs
    ].flatMap(([k, v]) => ["-o", `${k}=${v}`]);
  }

  // Writes the private configuration and fetches the suites' source indexes (once per run).
  update(): void {
    if (this.updated) return;
    const d = this.dir;
    for (const sub of ["etc/sources.list.d", "etc/preferences.d", "state/lists/partial", "cache/archives/partial"]) mkdirSync(join(d, sub), { recursive: true });
    writeFileSync(join(d, "etc", "sources.list"), this.suites.map((s) => `deb-src [signed-by=${KEYRING}] ${MIRROR} ${s} main\n`).join(""));
    writeFileSync(join(d, "etc", "preferences"), "");
    writeFileSync(join(d, "state", "status"), "");
    execFileSync("apt-get", [...this.aptOptions(), "-q", "update"], { stdio: ["ignore", "inherit", "inherit"] });
    this.updated = true;
  }

  // The upstream tarball of PACKAGE in SUITE, downloaded into `into` unless already there.
  fetchOrig(pkg: string, suite: string, into: string): SourceTarball {
    this.update();
    const out = execFileSync("apt-get", [...this.aptOptions(), "-q", "source", "--download-only", "--print-uris", `${pkg}/${suite}`], { encoding: "utf8" });
    // 'URI' FILE SIZE SHA256:HEX
    const files = [...out.matchAll(/^'([^']+)' (\S+) (\d+) (SHA256:[0-9a-f]{64})$/gm)].map((m) => ({ uri: m[1], name: m[2], hash: m[4] }));
    const orig = files.find((f) => /\.orig\.tar\.(xz|gz|bz2)$/.test(f.name));
    const dsc = files.find((f) => f.name.endsWith(".dsc"));
    if (!orig || !dsc) throw new Error(`apt-get source --print-uris ${pkg}/${suite}: no .dsc and .orig.tar.* listed:\n${out}`);
    const version = dsc.name.slice(pkg.length + 1, -".dsc".length).replace(/%3a/gi, ":");
    mkdirSync(into, { recursive: true });
    const file = join(into, orig.name);
    if (!existsSync(file)) {
      const part = `${file}.part`;
      rmSync(part, { force: true });
      execFileSync(APT_HELPER, [...this.aptOptions(), "download-file", orig.uri, part, orig.hash], { stdio: ["ignore", "inherit", "inherit"] });
      renameSync(part, file);
    }
    return { package: pkg, version, file };
  }
}
