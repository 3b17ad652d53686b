// react-native-libsodium's crypto_pwhash, as docs/react-native.md's block imports it: the
// functions the package's adapter (wallet-backup/react-native-libsodium) calls. The package is a
// React Native native module, not installed here; its API is libsodium's (the same as
// libsodium-wrappers-sumo, which the Hermes tests run).
export function crypto_pwhash(keyLength: number, password: string | Uint8Array, salt: Uint8Array, opsLimit: number, memLimit: number, algorithm: number): Uint8Array
export const crypto_pwhash_ALG_ARGON2ID13: number
export const crypto_pwhash_SALTBYTES: number
