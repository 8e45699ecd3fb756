// Sends `size` bytes of an open file as a response body through one buffer, reused from chunk to
// chunk: a chunk is read only once the previous one was handed to the socket. A read stream piped
// into the response allocates a new buffer per chunk and reads ahead; with hundreds of downloads
// at once that garbage, not the files, made a server's memory. Here one download holds one
// buffer, whatever its size or its client's speed. The file is closed at the end.
import type { FileHandle } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { BeamixError } from "../../errors.ts";

export const SEND_CHUNK = 32 * 1024;

export async function sendFile(fh: FileHandle, res: ServerResponse, size: number): Promise<void> {
  try {
    const buf = Buffer.allocUnsafe(Math.max(1, Math.min(SEND_CHUNK, size)));
    for (let at = 0; at < size; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - at), at);
      if (bytesRead === 0) throw new BeamixError(`the file ended after ${at} of ${size} bytes`); // shrunk since stat
      at += bytesRead;
      await written(res, buf.subarray(0, bytesRead));
    }
    await new Promise<void>((ok) => res.end(ok));
  } finally {
    await fh.close();
  }
}

// Resolves once the socket took the chunk (the buffer may then be reused); rejects when the
// client went away first.
function written(res: ServerResponse, chunk: Buffer): Promise<void> {
  return new Promise((ok, fail) => {
    if (res.destroyed) return fail(new BeamixError("the client went away"));
    const gone = () => fail(new BeamixError("the client went away"));
    res.once("close", gone);
    res.write(chunk, (err) => {
      res.off("close", gone);
      if (err) fail(err);
      else ok();
    });
  });
}
