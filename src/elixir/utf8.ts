// UTF-8 as Elixir reads and prints it: invalid bytes are kept as bytes, not replaced.

// UTF-8 decoding of one character at i, or null for an invalid sequence.
export function utf8At(b: Uint8Array, i: number): { cp: number; len: number } | null {
  const b0 = b[i];
  if (b0 < 0x80) return { cp: b0, len: 1 };
  let len: number;
  let cp: number;
  let min: number;
  if (b0 >= 0xc2 && b0 <= 0xdf) [len, cp, min] = [2, b0 & 0x1f, 0x80];
  else if (b0 >= 0xe0 && b0 <= 0xef) [len, cp, min] = [3, b0 & 0x0f, 0x800];
  else if (b0 >= 0xf0 && b0 <= 0xf4) [len, cp, min] = [4, b0 & 0x07, 0x10000];
  else return null;
  if (i + len > b.length) return null;
  for (let k = 1; k < len; k++) {
    const c = b[i + k];
    if ((c & 0xc0) !== 0x80) return null;
    cp = (cp << 6) | (c & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return null;
  return { cp, len };
}
