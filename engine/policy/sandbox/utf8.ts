/**
 * UTF-8 helpers for the canonical PolicyInput encoding: exact byte lengths, writing without
 * TextEncoder's allocation for the common ASCII case, and the byte order maps and sets are sorted in.
 *
 * Strings must be well-formed Unicode: a lone surrogate has no UTF-8 encoding (TextEncoder would
 * silently turn it into U+FFFD, which would make two different inputs encode alike), so it is
 * reported as an error instead.
 * @module
 */

/** The UTF-8 byte length of `s`, or -1 if `s` contains a lone surrogate. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return -1;
      n += 4;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return -1;
    else n += 3;
  }
  return n;
}

/**
 * Writes `s` as UTF-8 into `buf` at `pos` without bounds beyond `limit`. Returns the position after
 * the last byte, -1 on a lone surrogate, or -2 if the bytes would pass `limit`.
 */
export function writeUtf8(s: string, buf: Uint8Array, pos: number, limit: number): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (pos >= limit) return -2;
      buf[pos++] = c;
    } else if (c < 0x800) {
      if (pos + 2 > limit) return -2;
      buf[pos++] = 0xc0 | (c >> 6);
      buf[pos++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const d = s.charCodeAt(i + 1);
      if (c > 0xdbff || !(d >= 0xdc00 && d <= 0xdfff)) return -1;
      const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
      if (pos + 4 > limit) return -2;
      buf[pos++] = 0xf0 | (cp >> 18);
      buf[pos++] = 0x80 | ((cp >> 12) & 0x3f);
      buf[pos++] = 0x80 | ((cp >> 6) & 0x3f);
      buf[pos++] = 0x80 | (cp & 0x3f);
      i++;
    } else {
      if (pos + 3 > limit) return -2;
      buf[pos++] = 0xe0 | (c >> 12);
      buf[pos++] = 0x80 | ((c >> 6) & 0x3f);
      buf[pos++] = 0x80 | (c & 0x3f);
    }
  }
  return pos;
}

/**
 * Compares two strings in the order of their UTF-8 bytes (= Unicode code point order), which is the
 * order of canonical maps and sets. JavaScript's default order (UTF-16 code units) differs only when
 * a surrogate meets a code unit in U+E000..U+FFFF; this maps surrogates above that range.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800) x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
    if (y >= 0xd800) y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    return x - y;
  }
  return a.length - b.length;
}

/** Compares two byte strings lexicographically. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}
