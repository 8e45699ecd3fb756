// System inputs an automatic definition gets from the package's own C sources: an
// `#include <yaml.h>` of a header this table knows names the library and the Debian package
// that provide it. Only headers whose provider is known are taken (the C library's own, ERTS's
// and unknown ones are left alone): a definition file declares the rest.
import type { HexMetadata } from "../hex/metadata.ts";
import { readTarball } from "../hex/tarball.ts";
import { readContents } from "../hex/unpack.ts";
import type { SystemInput } from "./system-inputs.ts";

export const KNOWN_HEADERS: Readonly<Record<string, Omit<SystemInput, "header">>> = {
  "yaml.h": { library: "yaml", debian: "libyaml-dev" },
  "expat.h": { library: "expat", debian: "libexpat1-dev" },
  "zlib.h": { library: "z", debian: "zlib1g-dev" },
  "openssl/ssl.h": { library: "ssl", debian: "libssl-dev" },
  "openssl/evp.h": { library: "crypto", debian: "libssl-dev" },
  "openssl/crypto.h": { library: "crypto", debian: "libssl-dev" },
  "security/pam_appl.h": { library: "pam", debian: "libpam0g-dev" },
  "CL/cl.h": { library: "OpenCL", debian: "ocl-icd-opencl-dev" },
  "sqlite3.h": { library: "sqlite3", debian: "libsqlite3-dev" },
  "gmp.h": { library: "gmp", debian: "libgmp-dev" },
  "curl/curl.h": { library: "curl", debian: "libcurl4-openssl-dev" },
};

const C_SOURCE = /\.(c|h|cc|cpp|cxx|hh|hpp)$/;
const INCLUDE = /^[ \t]*#[ \t]*include[ \t]*(?:<([^>\n]+)>|"([^"\n]+)")/gm;

// The known system headers a package's C sources include (`<yaml.h>`, or `"yaml.h"` when the
// package has no such file of its own), in the order of the table.
export function systemInputsOfSources(files: readonly { path: string; data: Buffer }[]): SystemInput[] {
  const own = new Set(files.map((f) => f.path.split("/").pop()));
  const seen = new Set<string>();
  for (const f of files) {
    if (!C_SOURCE.test(f.path)) continue;
    for (const m of f.data.toString("latin1").matchAll(INCLUDE)) {
      const header = m[1] ?? m[2];
      if (Object.hasOwn(KNOWN_HEADERS, header) && (m[1] !== undefined || !own.has(header.split("/").pop()))) seen.add(header);
    }
  }
  return Object.keys(KNOWN_HEADERS)
    .filter((h) => seen.has(h))
    .map((header) => ({ header, ...KNOWN_HEADERS[header] }));
}

// The same for a Hex package tarball; a package without C sources is not unpacked.
export function systemInputsOfTarball(tarball: Uint8Array, metadata: HexMetadata): SystemInput[] {
  if (!metadata.files.some((f) => C_SOURCE.test(f))) return [];
  const contents = readContents(readTarball(tarball).contentsGz, { label: `${metadata.name} ${metadata.version}` });
  return systemInputsOfSources(contents.flatMap((e) => (e.type === "file" ? [e] : [])));
}
