// The small files Hex and Mix leave next to a fetched and compiled dependency, written in
// their own formats (see test/vectors/hex/README.md, "Consumer: facts"):
//   deps/APP/.hex                            term_to_binary({{hex,2,0}, #{...}}) — Hex's manifest
//   deps/APP/.fetch                          empty; Mix touches it after fetching
//   _build/ENV/lib/APP/.mix/compile.fetch    empty; Mix touches it after compiling a fetchable dep
//   _build/ENV/lib/APP/.mix/compile.elixir_scm
//                                            term_to_binary({1, {ElixirVersion, OtpRelease}, Scm}),
//                                            {2, ..., Scm, LockEntry} from Mix 1.20
// (which of them a Mix version leaves, and for which dependencies: mix-dep-markers.ts).
// Both binaries come from term_to_binary/1 of the VM that runs Mix, whose atom encoding
// changed in OTP 26 (ATOM_EXT before, SMALL_ATOM_UTF8_EXT since): we write what that OTP writes.
import type { HexLockEntry, MixLockEntry } from "../mix/lock.ts";
import { lockEntryRepo, lockEntryToTerm } from "../mix/lock.ts";
import { termToBinary } from "../erlang/etf.ts";
import { atom, bin, int, list, map, str, tuple } from "../erlang/term.ts";
import { BeamixError } from "../errors.ts";

// The SCM modules Mix records for a dependency: Hex's, and Mix's own git SCM.
export const HEX_SCM_MODULE = "Elixir.Hex.SCM";
export const GIT_SCM_MODULE = "Elixir.Mix.SCM.Git";

export function atomEncodingFor(otpRelease: string): "otp25" | "utf8" {
  const n = Number.parseInt(otpRelease, 10);
  if (!Number.isInteger(n)) throw new BeamixError(`cannot tell the atom encoding of OTP release ${JSON.stringify(otpRelease)}`);
  return n >= 26 ? "utf8" : "otp25";
}

// deps/APP/.hex for a locked Hex dependency. Hex writes the lock's values: the package name
// (not the app), the checksums as lowercase hex, the repository and the build managers.
export function hexManifest(e: HexLockEntry, otpRelease: string): Buffer {
  if (e.innerChecksum === undefined || e.outerChecksum === undefined || e.managers === undefined) {
    throw new BeamixError(`mix.lock entry of ${e.app} was written by an old Hex (no checksums or managers): run mix deps.get with a current Hex first`);
  }
  const term = tuple([
    tuple([atom("hex"), int(2), int(0)]),
    map([
      [atom("name"), bin(e.package)],
      [atom("version"), bin(e.version)],
      [atom("inner_checksum"), bin(e.innerChecksum)],
      [atom("outer_checksum"), bin(e.outerChecksum)],
      [atom("repo"), bin(lockEntryRepo(e))],
      [atom("managers"), list(e.managers.map(atom))],
    ]),
  ]);
  return termToBinary(term, { atoms: atomEncodingFor(otpRelease) });
}

// _build/ENV/lib/APP/.mix/compile.elixir_scm, as Mix.Dep.ElixirSCM.update writes it: the
// Elixir version string (System.version/0), the OTP release as a charlist, the SCM module; in
// manifest version 2 (Mix 1.20) also the dependency's mix.lock entry, the term Mix read.
export function elixirScmManifest(elixirVersion: string, otpRelease: string, scmModule: string, lock?: { version: 2; entry: MixLockEntry }): Buffer {
  const head = [tuple([bin(elixirVersion), str(otpRelease)]), atom(scmModule)];
  const term = lock === undefined ? tuple([int(1), ...head]) : tuple([int(lock.version), ...head, lockEntryToTerm(lock.entry)]);
  return termToBinary(term, { atoms: atomEncodingFor(otpRelease) });
}
