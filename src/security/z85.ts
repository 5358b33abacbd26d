/**
 * Z85 (ZeroMQ RFC 32), the text form zeromq.js gives CURVE keys in. A ZAP
 * request carries the client's key as 32 raw bytes; encoding it lets it be
 * looked up among the roster's keys.
 */
const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';

export function z85Encode(bytes: Uint8Array): string {
  if (bytes.length % 4 !== 0) throw new RangeError(`Z85 encodes whole 4-byte words, not ${bytes.length} bytes`);
  let out = '';
  for (let i = 0; i < bytes.length; i += 4) {
    let value = ((bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!) >>> 0;
    let word = '';
    for (let j = 0; j < 5; j++) {
      word = ALPHABET[value % 85]! + word;
      value = Math.floor(value / 85);
    }
    out += word;
  }
  return out;
}

/** A CURVE key in Z85: 40 characters of the alphabet. */
export const Z85_KEY = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;
