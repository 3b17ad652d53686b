// The values the documentation's code blocks assume the app already has: declared here so
// tests/docs/code_blocks.test.mjs can type-check each block against the package's types.
// At run time the test gives the Node.js-runnable blocks real ones (runtime.mjs).
declare const apiKey: string
declare const apiHost: string
declare const keychain: import('wallet-backup').Keychain
declare const custodian: import('wallet-backup').Custodian
declare const password: string
declare const portal: import('wallet-backup').Portal
declare const onProgress: import('wallet-backup').ProgressCallback
// The app's sign-ins and native modules (blocks that use them are marked no-run).
declare const googleAccessToken: string | null
declare const googleUser: { accessToken: string } | null
declare const cloudKitApiToken: string
declare const CLOUDKIT_API_TOKEN: string
declare const session: { ckWebAuthToken?: string | null }
declare const firebaseUser: { getIdToken(forceRefresh: boolean): Promise<string> }
declare const auth: { currentUser: { getIdToken(forceRefresh: boolean): Promise<string> } | null }
declare function myNativeArgon2id(request: {
  password: string, salt: Uint8Array, memoryKiB: number, iterations: number, parallelism: number, hashLength: 32
}): Promise<Uint8Array>
// The app's own server, keeping the cipherText of self-managed backups.
declare const myServer: { storeCipherText(cipherText: string): Promise<void> }
