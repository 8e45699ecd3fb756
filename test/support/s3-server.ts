// A real S3 API on loopback for tests: s3rver (a JavaScript implementation of the S3 REST API)
// over a temporary directory, with one bucket. It refuses unknown access key ids (403) but does not
// check SigV4 signatures themselves.
//
// One change to s3rver: its PUT streams into the object's final file and answers before that file
// is flushed, so a reader could see a partial object, which S3 never shows. Here each PUT writes a
// temporary file and renames it into place once it is complete, as S3's all-or-nothing PUT.
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { dirname } from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createHash } from "node:crypto";

// s3rver's only account: requests signed with another access key id are refused.
export const S3RVER_KEY = "S3RVER";

interface S3Object {
  bucket: string;
  key: string;
  content: Buffer | Readable;
  metadata: Record<string, string>;
}

interface FilesystemStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
  putObject(object: S3Object): Promise<{ size: number; md5: string }>;
}

interface S3Event {
  Records: { eventName: string; s3: { object: { key: string } } }[];
}

interface S3rverInstance {
  store: FilesystemStore;
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  on(event: "event", listener: (e: S3Event) => void): void;
}

type S3rverCtor = new (options: Record<string, unknown>) => S3rverInstance;

const S3rver = createRequire(import.meta.url)("s3rver") as S3rverCtor;

export interface S3TestServer {
  endpoint: string; // http://127.0.0.1:PORT
  bucket: string;
  env: Record<string, string>; // what a client needs: endpoint, region, credentials
  puts: string[]; // object keys written, in order
  close(): Promise<void>;
}

export async function startS3Server(dir: string, bucket = "beamix-cache"): Promise<S3TestServer> {
  const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: dir, configureBuckets: [{ name: bucket }] });
  const store = server.store;
  store.putObject = async (object) => {
    const final = store.getResourcePath(object.bucket, object.key, "object");
    await mkdir(dirname(final), { recursive: true });
    const tmp = `${final}.tmp-${randomBytes(6).toString("hex")}`;
    const md5 = createHash("md5");
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        md5.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    try {
      const source = Buffer.isBuffer(object.content) ? [object.content] : object.content;
      await pipeline(source, tap, createWriteStream(tmp));
      await rename(tmp, final);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    const hex = md5.digest("hex");
    await store.putMetadata(object.bucket, object.key, object.metadata, hex);
    return { size, md5: hex };
  };
  const puts: string[] = [];
  server.on("event", (e) => {
    for (const r of e.Records ?? []) if (r.eventName.startsWith("ObjectCreated")) puts.push(r.s3.object.key);
  });
  const addr = await server.run();
  const endpoint = `http://127.0.0.1:${addr.port}`;
  return {
    endpoint,
    bucket,
    env: {
      AWS_ENDPOINT_URL: endpoint,
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: S3RVER_KEY,
      AWS_SECRET_ACCESS_KEY: S3RVER_KEY,
      // Never ask an instance-metadata address for credentials from a test.
      AWS_EC2_METADATA_DISABLED: "true",
    },
    puts,
    close: () => server.close(),
  };
}
