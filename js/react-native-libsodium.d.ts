import type { DeriveKeyRequest } from './index.js';

/** The part of libsodium's API the adapter uses: react-native-libsodium's exports, or libsodium-wrappers(-sumo) once ready. */
export interface LibsodiumPwhash {
  crypto_pwhash(keyLength: number, password: string | Uint8Array, salt: Uint8Array, opsLimit: number, memLimit: number, algorithm: number): Uint8Array;
  crypto_pwhash_ALG_ARGON2ID13: number;
  crypto_pwhash_SALTBYTES?: number;
}

/**
 * A `passwordStorage.deriveKey` that runs Argon2id v1.3 in libsodium's `crypto_pwhash` (native code in
 * React Native through react-native-libsodium): opslimit = iterations, memlimit = memoryKiB × 1024,
 * `crypto_pwhash_ALG_ARGON2ID13`. Throws a `RangeError` for what libsodium cannot compute (parallelism
 * other than 1, a salt other than 16 bytes); a `TypeError` at once if `sodium` has no `crypto_pwhash`.
 */
export function libsodiumDeriveKey(sodium: LibsodiumPwhash): (request: DeriveKeyRequest) => Uint8Array;
