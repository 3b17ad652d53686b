// `wallet-backup/react-native-libsodium`: a `passwordStorage.deriveKey` for
// React Native over libsodium's `crypto_pwhash` (Argon2id v1.3, native code
// through react-native-libsodium). The package does not depend on
// react-native-libsodium: the app passes its module in, so this file has no
// imports and no side effects, and apps that do not use it never load it.
//
//   import * as sodium from 'react-native-libsodium'
//   import { libsodiumDeriveKey } from 'wallet-backup/react-native-libsodium'
//   const passwordStorage = { password, deriveKey: libsodiumDeriveKey(sodium) }
//
// What it maps: the module asks for Argon2id v0x13 with `memoryKiB`,
// `iterations`, `parallelism`, a 16-byte `salt` and `hashLength` 32;
// libsodium takes `opslimit` = iterations, `memlimit` = memoryKiB × 1024
// bytes, and `crypto_pwhash_ALG_ARGON2ID13`, and always runs one lane
// (parallelism 1, the module's default). What libsodium cannot compute
// (another parallelism, salt length, algorithm or version) is a thrown
// `RangeError` naming it, which reaches the app as the `cause` of an
// `INVALID_ARGUMENT`. libsodium-wrappers(-sumo) has the same API and serves
// the same way once `await sodium.ready` has resolved.

/**
 * A `passwordStorage.deriveKey` running Argon2id in libsodium's `crypto_pwhash`.
 * @param {object} sodium react-native-libsodium's exports (or libsodium-wrappers-sumo, ready).
 * @returns {(request: object) => Uint8Array}
 */
export function libsodiumDeriveKey(sodium) {
  if (!sodium || typeof sodium.crypto_pwhash !== 'function' || typeof sodium.crypto_pwhash_ALG_ARGON2ID13 !== 'number') {
    throw new TypeError('libsodiumDeriveKey: pass the libsodium module (react-native-libsodium\'s exports), which has crypto_pwhash and crypto_pwhash_ALG_ARGON2ID13')
  }
  const saltBytes = typeof sodium.crypto_pwhash_SALTBYTES === 'number' ? sodium.crypto_pwhash_SALTBYTES : 16
  return function deriveKey(request) {
    const { password, salt, memoryKiB, iterations, parallelism, hashLength, algorithm, version } = request
    if (algorithm !== 'argon2id' || version !== 0x13) {
      throw new RangeError(`libsodiumDeriveKey: libsodium computes Argon2id v0x13, not ${algorithm} v${version}`)
    }
    if (parallelism !== 1) {
      throw new RangeError(`libsodiumDeriveKey: libsodium's Argon2id runs with parallelism 1, not ${parallelism}: leave passwordStorage.kdf.parallelism at 1`)
    }
    if (!(salt instanceof Uint8Array) || salt.length !== saltBytes) {
      throw new RangeError(`libsodiumDeriveKey: libsodium's Argon2id takes a ${saltBytes}-byte salt, not ${salt && salt.length}`)
    }
    return sodium.crypto_pwhash(hashLength, utf8(password), salt, iterations, memoryKiB * 1024, sodium.crypto_pwhash_ALG_ARGON2ID13)
  }
}

/** The UTF-8 bytes of `text` (Hermes has no TextEncoder everywhere); the module's password is valid Unicode. */
function utf8(text) {
  const out = []
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i)
    // A surrogate pair is one code point (the module never passes a lone surrogate).
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) c = 0x10000 + ((c - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00)
    if (c < 0x80) out.push(c)
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63))
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63))
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63))
  }
  return new Uint8Array(out)
}
