/**
 * Node-only cryptography shared by the API and the agent. Kept behind its own entry point
 * (`@gateway/domain/crypto`) so that the browser bundle of the portal never pulls in node:crypto.
 */
import { createCipheriv, createHash, createDecipheriv, createPublicKey, generateKeyPairSync, publicEncrypt, privateDecrypt, randomBytes, sign, verify, constants, KeyObject } from 'node:crypto';
import { hashRaw, type Options as Argon2Options } from '@node-rs/argon2';
import { KeyEnvelope, SealedBox } from './envelopes';

export { KeyEnvelope, SealedBox } from './envelopes';

/** Argon2id as in RFC 9106's second recommended option (64 MiB, 3 passes). */
export const DEFAULT_KDF = { memoryKiB: 65536, iterations: 3, parallelism: 1 } as const;
const ARGON2ID = 2; // Algorithm.Argon2id; the package declares it as a const enum, which isolated builds cannot inline.

export class WrongRecoveryKeyError extends Error {
  constructor() {
    super('the recovery key does not open this cluster\'s key: check the recovery key');
    this.name = 'WrongRecoveryKeyError';
  }
}

export interface KeyPairPem {
  publicKey: string;
  privateKey: string;
}

/** The cluster key pair: RSA-3072, used to sign join proofs (PSS) and to receive data source credentials (OAEP). */
export function generateClusterKeyPair(): KeyPairPem {
  return generateKeyPairSync('rsa', {
    modulusLength: 3072,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
}

/** A member's own identity key pair (Ed25519), used to authenticate the member to the API. */
export function generateMemberKeyPair(): KeyPairPem {
  return generateKeyPairSync('ed25519', {
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
}

async function deriveKey(recoveryKey: string, kdf: KeyEnvelope['kdf']): Promise<Buffer> {
  const options: Argon2Options = {
    algorithm: ARGON2ID,
    memoryCost: kdf.memoryKiB,
    timeCost: kdf.iterations,
    parallelism: kdf.parallelism,
    outputLen: 32,
    salt: Buffer.from(kdf.salt, 'base64'),
  };
  return hashRaw(recoveryKey.normalize('NFC'), options);
}

/** Seals the cluster private key under a key derived from the recovery key. Runs on the host only. */
export async function sealPrivateKey(
  privateKeyPem: string,
  recoveryKey: string,
  kdfParams: { memoryKiB: number; iterations: number; parallelism: number } = DEFAULT_KDF,
): Promise<KeyEnvelope> {
  const kdf = { alg: 'argon2id' as const, ...kdfParams, salt: randomBytes(16).toString('base64') };
  const key = await deriveKey(recoveryKey, kdf);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from('gateway-cluster-key:v1'));
  const ciphertext = Buffer.concat([cipher.update(privateKeyPem, 'utf8'), cipher.final()]);
  key.fill(0);
  return {
    v: 1,
    kdf,
    cipher: 'aes-256-gcm',
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    ciphertext: ciphertext.toString('base64'),
  };
}

/** Opens a sealed cluster private key; a wrong recovery key fails the GCM tag check. */
export async function openPrivateKey(envelope: KeyEnvelope, recoveryKey: string): Promise<string> {
  const parsed = KeyEnvelope.parse(envelope);
  const key = await deriveKey(recoveryKey, parsed.kdf);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(parsed.iv, 'base64'));
    decipher.setAAD(Buffer.from('gateway-cluster-key:v1'));
    decipher.setAuthTag(Buffer.from(parsed.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(parsed.ciphertext, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    throw new WrongRecoveryKeyError();
  } finally {
    key.fill(0);
  }
}

function signOptions(key: KeyObject) {
  return key.asymmetricKeyType === 'rsa'
    ? { algorithm: 'sha256', padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }
    : { algorithm: null, padding: undefined, saltLength: undefined };
}

/** Signs a proof-of-possession message with an RSA (PSS) or Ed25519 private key; returns base64. */
export function signMessage(privateKeyPem: string, message: string): string {
  const probe = createPublicKey(privateKeyPem);
  const { algorithm, padding, saltLength } = signOptions(probe);
  return sign(algorithm, Buffer.from(message), { key: privateKeyPem, padding, saltLength }).toString('base64');
}

/** Verifies a signature made by signMessage; any malformed key or signature is simply "not valid". */
export function verifyMessage(publicKeyPem: string, message: string, signatureB64: string): boolean {
  try {
    const key = createPublicKey(publicKeyPem);
    const { algorithm, padding, saltLength } = signOptions(key);
    return verify(algorithm, Buffer.from(message), { key, padding, saltLength }, Buffer.from(signatureB64, 'base64'));
  } catch {
    return false;
  }
}

/** Checks that a PEM string is a public key of one of the kinds we accept. */
export function publicKeyKind(publicKeyPem: string): 'rsa' | 'ed25519' | null {
  try {
    const key = createPublicKey(publicKeyPem);
    if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048) return 'rsa';
    if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
    return null;
  } catch {
    return null;
  }
}

/** Encrypts to the cluster public key: only members holding the cluster private key can open it. */
export function sealForCluster(clusterPublicKeyPem: string, plaintext: string): SealedBox {
  const dataKey = randomBytes(32);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', dataKey, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const wrappedKey = publicEncrypt(
    { key: clusterPublicKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    dataKey,
  );
  dataKey.fill(0);
  return {
    v: 1,
    alg: 'RSA-OAEP-256+A256GCM',
    wrappedKey: wrappedKey.toString('base64'),
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    ciphertext: ciphertext.toString('base64'),
  };
}

export function openFromCluster(clusterPrivateKeyPem: string, box: SealedBox): string {
  const parsed = SealedBox.parse(box);
  const dataKey = privateDecrypt(
    { key: clusterPrivateKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    Buffer.from(parsed.wrappedKey, 'base64'),
  );
  try {
    const decipher = createDecipheriv('aes-256-gcm', dataKey, Buffer.from(parsed.iv, 'base64'));
    decipher.setAuthTag(Buffer.from(parsed.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(parsed.ciphertext, 'base64')), decipher.final()]).toString('utf8');
  } finally {
    dataKey.fill(0);
  }
}

export const randomToken = (bytes = 32) => randomBytes(bytes).toString('base64url');

/** A member's box key pair (RSA-2048, OAEP): what a rotated cluster key is sealed to for that member. */
export function generateBoxKeyPair(): KeyPairPem {
  return generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
}

/** The public key (SPKI PEM) of a private key (PKCS#8 PEM). */
export function publicKeyOf(privateKeyPem: string): string {
  return createPublicKey(privateKeyPem).export({ type: 'spki', format: 'pem' }).toString();
}

/** JSON with object keys sorted at every level: the same bytes on both sides, whatever order a parser kept. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value as object)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/** The SHA-256 (base64url) of a cluster key rotation's content, which the current cluster key signs. */
export function rotateKeyDigest(req: { publicKey: string; keyEnvelope: unknown; credentials: unknown; memberKeys: unknown }): string {
  return createHash('sha256').update(canonicalJson({ publicKey: req.publicKey, keyEnvelope: req.keyEnvelope, credentials: req.credentials, memberKeys: req.memberKeys })).digest('base64url');
}
