// The signed static registry: protobuf encoding and decoding, signatures, key fingerprints and
// `buildRegistry`, all against the bytes the real Hex 2.1.1 wrote (test/vectors/hex/registry).
import { test } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, utimes, writeFile } from "node:fs/promises";
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzip, gzipRegistry } from "../src/hex/gzip.ts";
import { BeamixError } from "../src/errors.ts";
import { HEXPM_PUBLIC_KEY_PEM } from "../src/hex/hexpm-key.ts";
import { buildRegistry } from "../src/hex/registry/build.ts";
import {
  decodeNames,
  decodePackage,
  decodeSigned,
  decodeVersions,
  encodeNames,
  encodePackage,
  encodeSigned,
  encodeVersions,
  type Names,
  type Package,
  type Versions,
} from "../src/hex/registry/proto.ts";
import { publicKeyFileText, publicKeyFingerprint, signPayload, signResource, verifySigned } from "../src/hex/registry/signed.ts";

const VEC = "test/vectors/hex/registry";
const PRIVATE_KEY = readFileSync(join(VEC, "private_key.pem"), "utf8");
const VECTORS_PUBLIC_KEY = readFileSync(join(VEC, "public/public_key"), "utf8");

// Every decoded vector: [registry dir, resource].
const REGISTRIES = ["", "empty", "hexpm-deps"] as const;
const RESOURCES: [string, string][] = [
  ["", "names"],
  ["", "versions"],
  ["", "packages/vec_alias"],
  ["", "packages/vec_core"],
  ["", "packages/vec_erl"],
  ["", "packages/vec_opt"],
  ["empty", "names"],
  ["empty", "versions"],
  ["hexpm-deps", "names"],
  ["hexpm-deps", "versions"],
  ["hexpm-deps", "packages/vec_core"],
];

interface DecodedJson {
  decoded: any;
  payload_hex: string;
  signature_hex: string;
  signed_message_hex: string;
  file_sha256: string;
}

const decodedJson = (reg: string, resource: string): DecodedJson =>
  JSON.parse(readFileSync(join(VEC, reg, "decoded", `${resource}.json`), "utf8"));
const servedFile = (reg: string, resource: string): Buffer => readFileSync(join(VEC, reg, "public", resource));

// The vectors' JSON (snake_case, hex checksums, missing optional fields) → our typed values.
function namesFromJson(j: any): Names {
  return {
    repository: j.repository,
    packages: j.packages.map((p: any) => ({ name: p.name, updatedAt: { seconds: p.updated_at.seconds, nanos: p.updated_at.nanos } })),
  };
}
function versionsFromJson(j: any): Versions {
  return { repository: j.repository, packages: j.packages.map((p: any) => ({ name: p.name, versions: p.versions, retired: p.retired })) };
}
function packageFromJson(j: any): Package {
  return {
    name: j.name,
    repository: j.repository,
    releases: j.releases.map((r: any) => ({
      version: r.version,
      innerChecksum: Buffer.from(r.inner_checksum, "hex"),
      outerChecksum: Buffer.from(r.outer_checksum, "hex"),
      dependencies: r.dependencies.map((d: any) => ({
        package: d.package,
        requirement: d.requirement,
        optional: d.optional,
        app: d.app,
        repository: d.repository ?? j.repository, // a missing one means "this repository"
      })),
    })),
  };
}

function codecFor(resource: string) {
  if (resource === "names") return { decode: decodeNames, encode: encodeNames, fromJson: namesFromJson } as const;
  if (resource === "versions") return { decode: decodeVersions, encode: encodeVersions, fromJson: versionsFromJson } as const;
  return { decode: decodePackage, encode: encodePackage, fromJson: packageFromJson } as const;
}

for (const [reg, resource] of RESOURCES) {
  const label = `${reg || "public"}/${resource}`;

  test(`decode ${label} gives what Hex decoded`, () => {
    const j = decodedJson(reg, resource);
    const { decode, fromJson } = codecFor(resource);
    assert.deepEqual(decode(Buffer.from(j.payload_hex, "hex")), fromJson(j.decoded));
  });

  test(`encode ${label} reproduces Hex's payload byte for byte`, () => {
    const j = decodedJson(reg, resource);
    const { encode, fromJson } = codecFor(resource);
    assert.equal((encode as (v: unknown) => Buffer)(fromJson(j.decoded)).toString("hex"), j.payload_hex);
  });

  test(`${label}: Signed envelope, signature and gzip match the served file`, () => {
    const j = decodedJson(reg, resource);
    const file = servedFile(reg, resource);
    const signed = decodeSigned(gunzip(file, 1 << 20));
    assert.equal(signed.payload.toString("hex"), j.payload_hex);
    assert.equal(signed.signature.toString("hex"), j.signature_hex);
    assert.equal(encodeSigned(signed).toString("hex"), j.signed_message_hex);
    const payload = Buffer.from(j.payload_hex, "hex");
    assert.equal(signPayload(payload, PRIVATE_KEY).toString("hex"), j.signature_hex);
    assert.deepEqual(signResource(payload, PRIVATE_KEY), file);
    assert.deepEqual(verifySigned(file, VECTORS_PUBLIC_KEY, { repository: "vectors", resource }), payload);
  });
}

// Unknown fields, appended at the top level and inside nested messages, are skipped.
const UNKNOWN_FIELDS = Buffer.concat([
  Buffer.from([0x78, 0x2a]), // field 15, varint 42
  Buffer.from([0xa2, 0x06, 0x03, 0x61, 0x62, 0x63]), // field 100, length-delimited "abc"
  Buffer.from([0x81, 0x01, 1, 2, 3, 4, 5, 6, 7, 8]), // field 16, fixed64
  Buffer.from([0x8d, 0x01, 1, 2, 3, 4]), // field 17, fixed32
]);

test("decoders ignore unknown fields at the top level", () => {
  for (const [reg, resource] of RESOURCES) {
    const j = decodedJson(reg, resource);
    const { decode, fromJson } = codecFor(resource);
    const payload = Buffer.concat([Buffer.from(j.payload_hex, "hex"), UNKNOWN_FIELDS]);
    assert.deepEqual(decode(payload), fromJson(j.decoded), `${reg}/${resource}`);
  }
  const j = decodedJson("", "packages/vec_core");
  const signed = Buffer.concat([Buffer.from(j.signed_message_hex, "hex"), UNKNOWN_FIELDS]);
  assert.equal(decodeSigned(signed).payload.toString("hex"), j.payload_hex);
});

// A length-delimited field whose body gets extra bytes: the enclosing length grows with it.
function field(tag: number, body: Buffer): Buffer {
  const len: number[] = [];
  let n = body.length;
  do {
    len.push((n & 0x7f) | (n >= 0x80 ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  return Buffer.concat([Buffer.from([tag]), Buffer.from(len), body]);
}

test("decoders ignore unknown fields inside nested messages and unknown enum values", () => {
  const dep = (pkg: string) =>
    field(0x1a, Buffer.concat([field(0x0a, Buffer.from(pkg)), field(0x12, Buffer.from("~> 1.0")), Buffer.from([0x18, 0x00]), field(0x22, Buffer.from(pkg)), UNKNOWN_FIELDS]));
  const retired = field(0x22, Buffer.concat([Buffer.from([0x08, 0x63]), field(0x12, Buffer.from("gone")), UNKNOWN_FIELDS])); // reason 99
  const release = field(
    0x0a,
    Buffer.concat([field(0x0a, Buffer.from("1.0.0")), field(0x12, Buffer.alloc(32, 7)), dep("a"), retired, UNKNOWN_FIELDS, field(0x2a, Buffer.alloc(32, 9))]),
  );
  const payload = Buffer.concat([release, field(0x12, Buffer.from("pkg")), UNKNOWN_FIELDS, field(0x1a, Buffer.from("repo"))]);
  assert.deepEqual(decodePackage(payload), {
    name: "pkg",
    repository: "repo",
    releases: [
      {
        version: "1.0.0",
        innerChecksum: Buffer.alloc(32, 7),
        outerChecksum: Buffer.alloc(32, 9),
        dependencies: [{ package: "a", requirement: "~> 1.0", optional: false, app: "a", repository: "repo" }],
        retired: { reason: "other", message: "gone" },
      },
    ],
  });

  const ts = field(0x1a, Buffer.concat([Buffer.from([0x08, 0x05, 0x10, 0x00]), UNKNOWN_FIELDS]));
  const names = Buffer.concat([field(0x0a, Buffer.concat([field(0x0a, Buffer.from("x")), UNKNOWN_FIELDS, ts])), field(0x12, Buffer.from("r"))]);
  assert.deepEqual(decodeNames(names), { repository: "r", packages: [{ name: "x", updatedAt: { seconds: 5, nanos: 0 } }] });
});

test("retirement status and retired indexes round-trip", () => {
  const pkg: Package = {
    name: "p",
    repository: "r",
    releases: [
      {
        version: "1.0.0",
        innerChecksum: Buffer.alloc(32, 1),
        outerChecksum: Buffer.alloc(32, 2),
        dependencies: [{ package: "q", requirement: ">= 0.0.0", optional: true, app: "q_app", repository: "hexpm" }],
        retired: { reason: "security", message: "CVE-0000-0000" },
      },
      { version: "1.1.0", innerChecksum: Buffer.alloc(32, 3), dependencies: [], retired: { reason: "renamed" } },
    ],
  };
  assert.deepEqual(decodePackage(encodePackage(pkg)), pkg);
  const versions: Versions = { repository: "r", packages: [{ name: "p", versions: ["1.0.0", "1.1.0", "2.0.0"], retired: [0, 2] }] };
  const bytes = encodeVersions(versions);
  assert.ok(bytes.includes(Buffer.from([0x1a, 0x02, 0x00, 0x02])), "retired is packed");
  assert.deepEqual(decodeVersions(bytes), versions);
  assert.throws(
    () => decodeVersions(encodeVersions({ repository: "r", packages: [{ name: "p", versions: ["1.0.0"], retired: [3] }] })),
    /retired index 3 is out of range/,
  );
});

test("decoders reject a record missing its name or repository", () => {
  assert.throws(() => decodePackage(field(0x12, Buffer.from("pkg"))), /missing repository/);
  assert.throws(() => decodeNames(Buffer.alloc(0)), /missing repository/);
  assert.throws(() => decodePackage(Buffer.from([0x0a, 0x05, 0x01])), /not a valid Package message/);
});

test("verifySigned names the resource and repository when something does not match", () => {
  const file = servedFile("", "packages/vec_core");
  const what = { repository: "vectors", resource: "packages/vec_core" };
  const message = "registry vectors: signature of packages/vec_core does not verify with the repository's public key";
  const signed = decodeSigned(gunzip(file, 1 << 20));

  const payload = Buffer.from(signed.payload);
  payload[20] ^= 1;
  const flippedPayload = signResourceRaw(payload, signed.signature);
  assert.throws(() => verifySigned(flippedPayload, VECTORS_PUBLIC_KEY, what), (e: Error) => e instanceof BeamixError && e.message === message);

  const signature = Buffer.from(signed.signature);
  signature[100] ^= 0x80;
  assert.throws(() => verifySigned(signResourceRaw(signed.payload, signature), VECTORS_PUBLIC_KEY, what), { message });

  assert.throws(() => verifySigned(file, HEXPM_PUBLIC_KEY_PEM, what), { message });
  assert.throws(() => verifySigned(file.subarray(0, 40), VECTORS_PUBLIC_KEY, what), /^BeamixError: registry vectors: packages\/vec_core: /);
  assert.throws(() => verifySigned(Buffer.from("not gzip at all, not at all"), VECTORS_PUBLIC_KEY, what), /registry vectors: packages\/vec_core: not gzip data/);
  assert.throws(() => verifySigned(file, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", what), /public key is not a valid RSA public key/);
});

function signResourceRaw(payload: Buffer, signature: Buffer): Buffer {
  // The same envelope Hex writes, with whatever signature we give it.
  return gzipRegistry(encodeSigned({ payload, signature }));
}

test("public key file and fingerprints match what Hex wrote and printed", () => {
  const text = publicKeyFileText(PRIVATE_KEY);
  assert.equal(text, VECTORS_PUBLIC_KEY);
  assert.equal(Buffer.byteLength(text), 427);
  assert.equal(publicKeyFileText(VECTORS_PUBLIC_KEY), VECTORS_PUBLIC_KEY);
  // The two lines of `mix hex.repo list`.
  const listing = readFileSync("test/vectors/hex/consumer/logs/hex-repo-list.txt", "utf8");
  const printed = (repo: string) => listing.split("\n").find((l) => l.startsWith(`${repo} `))!.trim().split(/\s+/)[2];
  assert.equal(publicKeyFingerprint(VECTORS_PUBLIC_KEY), printed("vectors"));
  assert.equal(publicKeyFingerprint(PRIVATE_KEY), "SHA256:pZugzCzfGeiFaHW8EyE0C7wXVVYJvDFkZFux8yDjuj0");
  assert.equal(publicKeyFingerprint(HEXPM_PUBLIC_KEY_PEM), printed("hexpm"));
  assert.equal(publicKeyFingerprint(HEXPM_PUBLIC_KEY_PEM), "SHA256:O1LOYhHFW4kcrblKAxROaDEzLD8bn1seWbe5tq8TRsk");
  assert.equal(HEXPM_PUBLIC_KEY_PEM, readFileSync("test/vectors/hex/hexpm_public_key.pem", "utf8"));
});

// --- buildRegistry ---------------------------------------------------------------------------

const MTIMES = new Map(
  readFileSync(join(VEC, "tarball-mtimes.txt"), "utf8")
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => {
      const [, seconds, file] = l.split(/\s+/);
      return [file, Number(seconds)] as const;
    }),
);

// A fresh DIR with DIR/tarballs copied from a vector registry and the recorded mtimes set.
async function registryInput(reg: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "beamix-registry-"));
  // git keeps no empty directories, so the empty registry's tarballs/ is made here.
  await mkdir(join(dir, "tarballs"));
  await cp(join(VEC, reg, "public", "tarballs"), join(dir, "tarballs"), { recursive: true }).catch((err) => {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  });
  for (const f of await readdir(join(dir, "tarballs"))) {
    const t = MTIMES.get(f);
    assert.ok(t !== undefined, `no recorded mtime for ${f}`);
    await utimes(join(dir, "tarballs", f), t, t);
  }
  return dir;
}

async function listTree(root: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listTree(root, p)));
    else out.push(p);
  }
  return out.sort();
}

for (const reg of REGISTRIES) {
  test(`buildRegistry reproduces registry/${reg || "public"} byte for byte`, async (t) => {
    const dir = await registryInput(reg);
    t.after(() => rm(dir, { recursive: true, force: true }));
    const result = await buildRegistry({ dir, name: "vectors", privateKeyPem: PRIVATE_KEY });
    const expected = await listTree(join(VEC, reg, "public"));
    assert.deepEqual(await listTree(dir), expected);
    for (const f of expected) {
      assert.deepEqual(await readFile(join(dir, f)), await readFile(join(VEC, reg, "public", f)), f);
    }
    assert.deepEqual(
      result.files.filter((f) => f.startsWith("packages/")),
      expected.filter((f) => f.startsWith("packages/")),
    );
    // Building again over the result changes nothing.
    await buildRegistry({ dir, name: "vectors", privateKeyPem: PRIVATE_KEY });
    for (const f of expected) assert.deepEqual(await readFile(join(dir, f)), await readFile(join(VEC, reg, "public", f)), f);
  });
}

test("buildRegistry: updated_at is the newest tarball mtime of each package", async (t) => {
  const dir = await registryInput("");
  t.after(() => rm(dir, { recursive: true, force: true }));
  await utimes(join(dir, "tarballs", "vec_erl-1.0.0.tar"), 1800000000, 1800000000.75);
  const result = await buildRegistry({ dir, name: "other", privateKeyPem: PRIVATE_KEY });
  assert.deepEqual([result.packages, result.releases], [4, 5]);
  assert.deepEqual(
    result.index.map((p) => [p.name, p.versions, p.updatedAt]),
    [
      ["vec_alias", ["0.2.0"], 1714521600],
      ["vec_core", ["0.3.0"], 1711929600],
      ["vec_erl", ["1.0.0", "1.1.0"], 1800000000],
      ["vec_opt", ["0.1.0"], 1709251200],
    ],
  );
  const names = decodeNames(verifySigned(await readFile(join(dir, "names")), VECTORS_PUBLIC_KEY, { repository: "other", resource: "names" }));
  assert.equal(names.repository, "other");
  assert.deepEqual(names.packages[2], { name: "vec_erl", updatedAt: { seconds: 1800000000, nanos: 0 } });
  // In a registry named "other", the vectors' `repository: "vectors"` dependencies are written out.
  const core = decodePackage(
    verifySigned(await readFile(join(dir, "packages/vec_core")), VECTORS_PUBLIC_KEY, { repository: "other", resource: "packages/vec_core" }),
  );
  assert.deepEqual(
    core.releases[0].dependencies.map((d) => d.repository),
    ["vectors", "vectors"],
  );
});

test("buildRegistry refuses a tarball whose file name does not match its metadata, writing nothing", async (t) => {
  const dir = await registryInput("");
  t.after(() => rm(dir, { recursive: true, force: true }));
  await rename(join(dir, "tarballs", "vec_opt-0.1.0.tar"), join(dir, "tarballs", "vec_opt-0.2.0.tar"));
  await assert.rejects(buildRegistry({ dir, name: "vectors", privateKeyPem: PRIVATE_KEY }), (err: Error) => {
    assert.ok(err instanceof BeamixError);
    assert.match(err.message, /vec_opt-0\.2\.0\.tar holds vec_opt 0\.1\.0, so it must be named vec_opt-0\.1\.0\.tar/);
    return true;
  });
  assert.deepEqual(await readdir(dir), ["tarballs"]);
});

test("buildRegistry refuses a corrupt tarball and a non-RSA key, naming them", async (t) => {
  const dir = await registryInput("");
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "tarballs", "broken-1.0.0.tar"), Buffer.alloc(1024, 1));
  await assert.rejects(buildRegistry({ dir, name: "vectors", privateKeyPem: PRIVATE_KEY }), /broken-1\.0\.0\.tar/);
  await rm(join(dir, "tarballs", "broken-1.0.0.tar"));
  const ed = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  await assert.rejects(buildRegistry({ dir, name: "vectors", privateKeyPem: ed }), /private key is ed25519/);
  await assert.rejects(buildRegistry({ dir: join(dir, "nope"), name: "vectors", privateKeyPem: PRIVATE_KEY }), /cannot read .*nope\/tarballs/);
  assert.deepEqual(await readdir(dir), ["tarballs"]);
});
