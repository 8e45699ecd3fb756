// A cache in an S3 bucket (s3://BUCKET/PREFIX), through the AWS SDK. Where and as whom come from
// the usual environment: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (any S3-compatible server; path-
// style addressing then, as such servers rarely have per-bucket host names), AWS_REGION (or
// AWS_DEFAULT_REGION), and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (else the SDK's own chain:
// profiles, SSO, instance roles).
//
// A PUT makes an object appear whole or not at all, which is what racing publishers need (see
// backend.ts): archives have content-addressed keys, and publish.ts writes each record last.
// Archives are streamed from their file, never held in memory. The SDK's newer default of
// checksumming every upload (aws-chunked bodies with trailers) is turned off: S3 does not require
// it, many compatible servers do not understand it, and every archive is checked against its
// signed record on the way in anyway.
//
// The SDK is loaded on first use, so commands that never touch S3 do not pay for it.
import { Readable } from "node:stream";
import type { S3Client, S3ClientConfig } from "@aws-sdk/client-s3";
import { BeamixError, errorMessage } from "../../errors.ts";
import type { CacheBackend, CacheBody, GetOptions, PutBody, PutOptions } from "./backend.ts";
import { DEFAULT_IDLE_TIMEOUT_MS } from "./http-backend.ts";
import { cacheControlOf, isSafeKey } from "../format/layout.ts";

export interface S3Location {
  bucket: string;
  prefix: string; // "" or "a/b", no leading or trailing slash
}

// Bucket names as S3 allows them today (lowercase, digits, dots, hyphens).
const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX_SEGMENT_RE = /^[A-Za-z0-9_][A-Za-z0-9._+=@-]{0,199}$/;
// A single PUT takes at most 5 GiB; no store item comes near it.
const MAX_PUT_BYTES = 5 * 1024 ** 3;
const ATTEMPTS = 3;

export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([^/?#]*)(\/[^?#]*)?$/i.exec(url);
  if (!m) {
    const why = /[?#]/.test(url) ? " (options in the URL are not supported: set AWS_REGION and AWS_ENDPOINT_URL instead)" : "";
    throw new BeamixError(`${url}: not an s3://BUCKET/PREFIX URL${why}`);
  }
  const bucket = m[1];
  if (!BUCKET_RE.test(bucket) || bucket.includes("..")) throw new BeamixError(`${url}: invalid bucket name ${JSON.stringify(bucket)}`);
  const segments = (m[2] ?? "").split("/").filter((s) => s !== "");
  for (const s of segments) {
    if (!PREFIX_SEGMENT_RE.test(s) || s.includes("..")) throw new BeamixError(`${url}: invalid prefix segment ${JSON.stringify(s)}`);
  }
  return { bucket, prefix: segments.join("/") };
}

const ignore = () => {};
const SILENT = { debug: ignore, info: ignore, warn: ignore, error: ignore };

const nonEmpty = (v: string | undefined) => (v === undefined || v.trim() === "" ? undefined : v.trim());

// The client configuration the environment describes.
export function s3ConfigFromEnv(env: NodeJS.ProcessEnv = process.env): S3ClientConfig {
  const endpoint = nonEmpty(env.AWS_ENDPOINT_URL_S3) ?? nonEmpty(env.AWS_ENDPOINT_URL);
  // An S3-compatible server usually ignores the region, but the signature needs one.
  const region = nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION) ?? (endpoint ? "us-east-1" : undefined);
  const accessKeyId = nonEmpty(env.AWS_ACCESS_KEY_ID);
  const secretAccessKey = nonEmpty(env.AWS_SECRET_ACCESS_KEY);
  const sessionToken = nonEmpty(env.AWS_SESSION_TOKEN);
  const config: S3ClientConfig = {
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    // Retries are ours (see retrying): the SDK does not retry an upload stream, and says so on
    // the console unless given a logger.
    maxAttempts: 1,
    logger: SILENT,
  };
  if (endpoint) {
    config.endpoint = endpoint;
    config.forcePathStyle = true;
  }
  if (region) config.region = region;
  if (accessKeyId && secretAccessKey) config.credentials = { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  return config;
}

interface SdkError {
  name?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

const statusOf = (err: unknown): number | undefined => (err as SdkError)?.$metadata?.httpStatusCode;

function isMissing(err: unknown): boolean {
  const e = err as SdkError;
  if (e?.name === "NoSuchBucket") return false; // a configuration error, not a missing object
  return e?.name === "NoSuchKey" || e?.name === "NotFound" || statusOf(err) === 404;
}

function isTransient(err: unknown): boolean {
  const e = err as SdkError;
  if (e?.$retryable) return true;
  const status = statusOf(err);
  if (status !== undefined) return status >= 500 || status === 429;
  return ["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "TimeoutError"].includes(e?.code ?? e?.name ?? "");
}

// One short phrase for what went wrong, for a message naming the object.
function describe(err: unknown): string {
  const e = err as SdkError;
  const name = e?.name ?? "";
  const status = statusOf(err);
  if (name === "CredentialsProviderError" || /Could not load credentials/i.test(errorMessage(err))) {
    return "no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)";
  }
  if (/Region is missing/i.test(errorMessage(err))) return "no AWS region (set AWS_REGION)";
  if (name === "NoSuchBucket") return "no such bucket";
  if (status === 403 || name === "AccessDenied") {
    // HEAD answers have no body, so the SDK cannot name the error there.
    const why = name && !["AccessDenied", "Forbidden", "Unknown", "UnknownError"].includes(name) ? `, ${name}` : "";
    return `access denied (HTTP 403${why}): check the credentials and the bucket's policy`;
  }
  const text = errorMessage(err);
  const detail = text && text !== name && text !== "UnknownError" ? `${name ? `${name}: ` : ""}${text}` : name || "unknown error";
  return status !== undefined ? `${detail} (HTTP ${status})` : detail;
}

type Sdk = typeof import("@aws-sdk/client-s3");

let sdkPromise: Promise<Sdk> | undefined;
const loadSdk = () => (sdkPromise ??= import("@aws-sdk/client-s3"));

export interface S3BackendOptions {
  env?: NodeJS.ProcessEnv; // where the endpoint, region and credentials come from (default process.env)
}

export class S3Backend implements CacheBackend {
  readonly url: string;
  readonly writable = true;
  readonly location: S3Location;
  private readonly env: NodeJS.ProcessEnv;
  private clientPromise: Promise<{ sdk: Sdk; client: S3Client }> | undefined;

  constructor(url: string, options: S3BackendOptions = {}) {
    this.location = parseS3Url(url);
    this.url = `s3://${this.location.bucket}${this.location.prefix ? `/${this.location.prefix}` : ""}`;
    this.env = options.env ?? process.env;
  }

  private connect(): Promise<{ sdk: Sdk; client: S3Client }> {
    this.clientPromise ??= loadSdk().then((sdk) => ({ sdk, client: new sdk.S3Client(s3ConfigFromEnv(this.env)) }));
    return this.clientPromise;
  }

  // Releases the SDK's sockets (tests, short-lived tools); the backend can still be used after.
  close(): void {
    const p = this.clientPromise;
    this.clientPromise = undefined;
    void p?.then(({ client }) => client.destroy());
  }

  private objectKey(key: string): string {
    if (!isSafeKey(key)) throw new BeamixError(`${this.url}: invalid cache key ${JSON.stringify(key)}`);
    return this.location.prefix ? `${this.location.prefix}/${key}` : key;
  }

  private fail(what: string, key: string, err: unknown): BeamixError {
    if (err instanceof BeamixError) return err;
    return new BeamixError(`${what} ${this.url}/${key}: ${describe(err)}`, { cause: err });
  }

  // Runs op, again after a short pause when it failed in a way that may pass (5xx, throttling, a
  // dropped connection); at most ATTEMPTS times.
  private async retrying<T>(op: (attempt: number) => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await op(attempt);
      } catch (err) {
        if (attempt >= ATTEMPTS || !isTransient(err) || signal?.aborted) throw err;
        await new Promise((r) => setTimeout(r, 200 * 2 ** (attempt - 1)));
      }
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<CacheBody | undefined> {
    const Key = this.objectKey(key);
    const { sdk, client } = await this.connect();
    const idle = new IdleTimer(options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS, options.signal);
    let res;
    try {
      res = await this.retrying(() => client.send(new sdk.GetObjectCommand({ Bucket: this.location.bucket, Key }), { abortSignal: idle.signal }), idle.signal);
    } catch (err) {
      idle.stop();
      if (isMissing(err)) return undefined;
      throw idle.timedOut ? idle.error(`GET ${this.url}/${key}`) : this.fail("GET", key, err);
    }
    const stream = res.Body as Readable | undefined;
    const size = typeof res.ContentLength === "number" && !res.ContentEncoding ? res.ContentLength : undefined;
    const url = `${this.url}/${key}`;
    const cancel = () => {
      idle.stop();
      stream?.destroy();
    };
    async function* chunks(): AsyncGenerator<Uint8Array> {
      if (!stream) return;
      let received = 0;
      // A stalled body: the timer destroys the stream, which ends the iteration with an error.
      idle.onTimeout = () => stream.destroy();
      try {
        idle.touch();
        for await (const c of stream) {
          received += (c as Uint8Array).byteLength;
          idle.touch();
          yield c as Uint8Array;
        }
        if (size !== undefined && received !== size) throw new BeamixError(`GET ${url}: the body ended after ${received} of ${size} bytes`);
      } catch (err) {
        if (err instanceof BeamixError) throw err;
        if (idle.timedOut) throw idle.error(`GET ${url}`, received);
        throw new BeamixError(`GET ${url}: the connection failed after ${received} bytes: ${errorMessage(err)}`);
      } finally {
        cancel();
      }
    }
    return { size, cancel, [Symbol.asyncIterator]: chunks };
  }

  async exists(key: string, options: GetOptions = {}): Promise<boolean> {
    const Key = this.objectKey(key);
    const { sdk, client } = await this.connect();
    const idle = new IdleTimer(options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS, options.signal);
    try {
      await this.retrying(() => client.send(new sdk.HeadObjectCommand({ Bucket: this.location.bucket, Key }), { abortSignal: idle.signal }), idle.signal);
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw idle.timedOut ? idle.error(`HEAD ${this.url}/${key}`) : this.fail("HEAD", key, err);
    } finally {
      idle.stop();
    }
  }

  async put(key: string, body: Buffer | PutBody, options: PutOptions = {}): Promise<void> {
    const Key = this.objectKey(key);
    const size = Buffer.isBuffer(body) ? body.length : body.size;
    if (size > MAX_PUT_BYTES) throw new BeamixError(`PUT ${this.url}/${key}: ${size} bytes is more than one upload can take (5 GiB)`);
    const { sdk, client } = await this.connect();
    try {
      await this.retrying(async () => {
        // Each attempt reads the body afresh; the length is given so the SDK streams it as it is.
        const Body = Buffer.isBuffer(body) ? body : Readable.from(body.open(), { objectMode: false });
        await client.send(
          new sdk.PutObjectCommand({
            Bucket: this.location.bucket,
            Key,
            Body,
            ContentLength: size,
            ContentType: options.contentType ?? "application/octet-stream",
            CacheControl: cacheControlOf(key),
          }),
        );
      });
    } catch (err) {
      throw this.fail("PUT", key, err);
    }
  }

  async list(prefix = ""): Promise<string[]> {
    const base = this.location.prefix ? `${this.location.prefix}/` : "";
    const { sdk, client } = await this.connect();
    const keys: string[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.retrying(() =>
          client.send(new sdk.ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: base + prefix, ContinuationToken: token })),
        );
        for (const o of page.Contents ?? []) {
          const key = o.Key?.slice(base.length);
          if (key !== undefined && o.Key!.startsWith(base) && isSafeKey(key)) keys.push(key);
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw this.fail("LIST", prefix || "", err);
    }
    return keys.sort();
  }
}

// Aborts a request after `ms` without progress, or when the caller's signal fires.
class IdleTimer {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private readonly ms: number;
  readonly signal: AbortSignal;
  timedOut = false;
  onTimeout: (() => void) | undefined;

  constructor(ms: number, outer?: AbortSignal) {
    this.ms = ms;
    this.signal = outer ? AbortSignal.any([this.controller.signal, outer]) : this.controller.signal;
    this.touch();
  }
  touch(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort();
      this.onTimeout?.();
    }, this.ms);
    this.timer.unref();
  }
  stop(): void {
    clearTimeout(this.timer);
  }
  error(what: string, received?: number): BeamixError {
    this.stop();
    return new BeamixError(`${what}: no data for ${this.ms / 1000} s${received === undefined ? "" : ` after ${received} bytes`} (time-out)`);
  }
}
