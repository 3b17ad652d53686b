// UTF-8 TextEncoder/TextDecoder for the React Native build's wasm-bindgen
// glue: Hermes has neither (newer ones have TextEncoder only). esbuild
// injects these in place of the globals; the platform's own are used when
// present, and no global is ever set.

/** UTF-8 of a JS string; lone surrogates become U+FFFD, as TextEncoder does. */
function encode(string) {
  const out = []
  for (let i = 0; i < string.length; i++) {
    let c = string.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < string.length) {
      const d = string.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)
        i++
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd
    if (c < 0x80) out.push(c)
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63))
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63))
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63))
  }
  return new Uint8Array(out)
}

/** A JS string from UTF-8; malformed sequences become U+FFFD (non-fatal decoding). */
function decode(bytes) {
  let out = ''
  let chunk = []
  const flush = () => {
    out += String.fromCharCode.apply(null, chunk)
    chunk = []
  }
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]
    let n = 0
    let c = 0xfffd
    let min = 0
    if (b < 0x80) (c = b), (n = 0)
    else if (b >= 0xc2 && b < 0xe0) (c = b & 31), (n = 1), (min = 0x80)
    else if (b >= 0xe0 && b < 0xf0) (c = b & 15), (n = 2), (min = 0x800)
    else if (b >= 0xf0 && b < 0xf5) (c = b & 7), (n = 3), (min = 0x10000)
    else n = -1
    i++
    if (n > 0) {
      let j = 0
      for (; j < n && i < bytes.length && (bytes[i] & 0xc0) === 0x80; j++, i++) c = (c << 6) | (bytes[i] & 63)
      if (j < n || c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) c = 0xfffd
    } else if (n < 0) c = 0xfffd
    if (c >= 0x10000) {
      c -= 0x10000
      chunk.push(0xd800 + (c >> 10), 0xdc00 + (c & 1023))
    } else chunk.push(c)
    if (chunk.length >= 4096) flush()
  }
  flush()
  return out
}

function MiniTextEncoder() {}
MiniTextEncoder.prototype.encode = function (string = '') {
  return encode(String(string))
}

function MiniTextDecoder() {}
MiniTextDecoder.prototype.decode = function (bytes) {
  return bytes === undefined ? '' : decode(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes))
}

const G = typeof globalThis !== 'undefined' ? globalThis : {}
const NativeEncoder = G.TextEncoder
const NativeDecoder = G.TextDecoder
export const TextEncoder = typeof NativeEncoder === 'function' ? NativeEncoder : MiniTextEncoder
export const TextDecoder = typeof NativeDecoder === 'function' ? NativeDecoder : MiniTextDecoder
