/** The one part of a multipart/form-data body a prediction needs: the file field, by name. */
import { badRequest, utf8 } from './http.js';

export function multipartField(body: Uint8Array, contentType: string, names: string[]): Uint8Array {
  const match = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  if (!match) throw badRequest('multipart/form-data without a boundary');
  const boundary = new TextEncoder().encode(`--${match[1] ?? match[2]}`);
  const parts: Uint8Array[] = [];
  let at = indexOf(body, boundary, 0);
  while (at >= 0) {
    const start = at + boundary.length;
    if (body[start] === 0x2d && body[start + 1] === 0x2d) break; // the closing boundary
    const next = indexOf(body, boundary, start);
    if (next < 0) throw badRequest('multipart body ends without its closing boundary');
    // The part runs from after the boundary's CRLF to before the next boundary's CRLF.
    parts.push(body.subarray(start + 2, next - 2));
    at = next;
  }
  const fields = parts.map((part) => {
    const end = indexOf(part, CRLF2, 0);
    if (end < 0) throw badRequest('a multipart part without headers');
    const headers = utf8.decode(part.subarray(0, end));
    const name = /content-disposition:[^\r\n]*\bname="([^"]*)"/i.exec(headers)?.[1];
    return { name, data: part.subarray(end + 4) };
  });
  const field = names.map((n) => fields.find((f) => f.name === n)).find(Boolean);
  if (!field) throw badRequest(`the multipart body has no field ${names.map((n) => `'${n}'`).join(' or ')} (fields: ${fields.map((f) => `'${f.name}'`).join(', ') || 'none'})`);
  return field.data;
}

const CRLF2 = new Uint8Array([13, 10, 13, 10]);

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0];
  for (let i = haystack.indexOf(first, from); i >= 0 && i <= haystack.length - needle.length; i = haystack.indexOf(first, i + 1)) {
    let k = 1;
    while (k < needle.length && haystack[i + k] === needle[k]) k++;
    if (k === needle.length) return i;
  }
  return -1;
}
