// A build's log, as it is written: never held whole in memory (600 MB of output once made one
// string too long for V8). The first half of the cap goes to a file as it comes; after that only
// the last half of the cap is kept, in memory; what falls between is dropped, and the log says
// where and how much. The beginning says what ran, the end why it failed.
import { closeSync, createReadStream, openSync, writeSync } from "node:fs";

export const DEFAULT_LOG_BYTES = 16 * 1024 * 1024;

export class BuildLog {
  readonly file: string;
  readonly maxBytes: number;
  private readonly fd: number;
  private readonly headMax: number;
  private readonly tailMax: number;
  private head = 0; // bytes in the file
  private tail: Buffer[] = []; // the last bytes after the head, at least tailMax of them once cut
  private tailBytes = 0;
  private total = 0;
  private closed = false;

  // `file` is created (it must not exist); `maxBytes` is what is kept at most, head and tail.
  constructor(file: string, maxBytes = DEFAULT_LOG_BYTES) {
    this.file = file;
    this.maxBytes = maxBytes;
    this.fd = openSync(file, "wx", 0o600);
    this.headMax = Math.ceil(maxBytes / 2);
    this.tailMax = maxBytes - this.headMax;
  }

  write(chunk: string | Buffer): void {
    if (this.closed) return;
    let b = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
    this.total += b.length;
    if (this.head < this.headMax) {
      const n = Math.min(b.length, this.headMax - this.head);
      writeSync(this.fd, b, 0, n);
      this.head += n;
      b = b.subarray(n);
    }
    if (b.length === 0) return;
    // Copied: the caller's buffer may be a slice of a larger one that must not be kept alive.
    this.tail.push(Buffer.from(b));
    this.tailBytes += b.length;
    while (this.tail.length > 1 && this.tailBytes - this.tail[0].length >= this.tailMax) this.tailBytes -= this.tail.shift()!.length;
  }

  // The kept log, once: the head, a line saying what was left out, the tail from its first whole line.
  async *contents(): AsyncGenerator<Buffer> {
    this.close();
    if (this.head > 0) yield* createReadStream(this.file) as AsyncIterable<Buffer>;
    let tail = Buffer.concat(this.tail);
    if (tail.length > this.tailMax) {
      tail = tail.subarray(tail.length - this.tailMax);
      const nl = tail.indexOf(0x0a);
      if (nl >= 0 && nl < tail.length - 1) tail = tail.subarray(nl + 1);
    }
    const dropped = this.total - this.head - tail.length;
    if (dropped > 0) {
      yield Buffer.from(
        `\n[beamix: log cut: ${dropped} bytes left out here; of ${this.total} bytes of output, the first ${this.head} and the last ${tail.length} are kept (--max-build-log ${this.maxBytes})]\n`,
      );
    }
    yield tail;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}
