// The app of the Metro consumer (tests/packaging/metro-hermes.test.mjs): what
// a React Native app writes, bundled by Metro from the installed tarball and
// run as Hermes bytecode. Prints `RESULT <json>` and `DONE`.
//
// What a device supplies, the test supplies:
// - crypto.getRandomValues (react-native-get-random-values on a device): a
//   SHA-256 counter-mode generator seeded with 32 bytes from Node's CSPRNG
//   (input.json, written by the test; the Hermes CLI has no random source);
// - passwordStorage.deriveKey (a native Argon2 module on a device):
//   @noble/hashes' pure-JS Argon2id.
import { Portal, BackupMethods, MpcStatuses } from 'wallet-backup'
import { libsodiumDeriveKey } from 'wallet-backup/react-native-libsodium'
import { argon2id } from '@noble/hashes/argon2.js'
import { sha256 } from '@noble/hashes/sha2.js'
import input from './input.json'

/* global print */

function hexToBytes(hex) {
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16)
  return out
}

function installRandom(seed) {
  let counter = 0
  globalThis.crypto = {
    getRandomValues(array) {
      const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength)
      for (let i = 0; i < bytes.length; i += 32) {
        const block = new Uint8Array(seed.length + 4)
        block.set(seed)
        block[seed.length] = counter >>> 24
        block[seed.length + 1] = (counter >>> 16) & 255
        block[seed.length + 2] = (counter >>> 8) & 255
        block[seed.length + 3] = counter & 255
        counter++
        const out = sha256(block)
        for (let j = 0; j < 32 && i + j < bytes.length; j++) bytes[i + j] = out[j]
      }
      return array
    },
  }
}

function utf8(s) {
  const b = []
  const bin = unescape(encodeURIComponent(s))
  for (let i = 0; i < bin.length; i++) b.push(bin.charCodeAt(i))
  return new Uint8Array(b)
}

let kdfCalls = 0
async function deriveKey(request) {
  kdfCalls++
  return argon2id(utf8(request.password), request.salt, {
    m: request.memoryKiB, t: request.iterations, p: request.parallelism, dkLen: request.hashLength,
  })
}

async function main() {
  installRandom(hexToBytes(input.seed))
  let shares = input.shares
  let record = null
  const keychain = { getShares: async () => shares, setShares: async (s) => { shares = s } }
  const custodian = { read: async () => record, write: async (r) => { record = r } }
  const passwordStorage = { password: input.password, deriveKey }

  const statuses = []
  const cipherText = await new Portal({ keychain, custodian })
    .backupWallet(BackupMethods.Password, (e) => statuses.push(e.status), { passwordStorage })
  shares = ''
  await new Portal({ keychain, custodian }).recoverWallet(cipherText, BackupMethods.Password, null, { passwordStorage })
  const recovered = shares

  let wrong = 'no error'
  try {
    await new Portal({ keychain, custodian }).recoverWallet(cipherText, 'password', null, { passwordStorage: { password: 'wrong', deriveKey } })
  } catch (e) {
    wrong = e.code
  }
  // Without deriveKey the React Native build refuses at once (NATIVE_KDF_REQUIRED).
  let noKdf = 'no error'
  try {
    await new Portal({ keychain, custodian }).backupWallet('password', null, { passwordStorage: { password: input.password } })
  } catch (e) {
    noKdf = e.code
  }
  // The libsodium adapter is bundled from its subpath and checks what it is given.
  let adapter = 'no error'
  try {
    libsodiumDeriveKey({})
  } catch (e) {
    adapter = e.name
  }
  print('RESULT ' + JSON.stringify({
    recovered, cipherText, record, kdfCalls, wrong, noKdf, adapter,
    done: statuses[statuses.length - 1] === MpcStatuses.Done,
  }))
  print('DONE')
}

main().catch((e) => print('FATAL ' + String(e && e.stack ? e.stack : e)))
