import { z } from 'zod';
import { Base64 } from '../common';

/**
 * The cluster private key as the API stores it: sealed under a key derived from the recovery key.
 * The KDF parameters travel with the blob so they can be raised later without breaking old clusters.
 */
export const KeyEnvelope = z
  .object({
    v: z.literal(1),
    kdf: z
      .object({
        alg: z.literal('argon2id'),
        memoryKiB: z.number().int().min(19456).max(4194304),
        iterations: z.number().int().min(2).max(64),
        parallelism: z.number().int().min(1).max(16),
        salt: Base64,
      })
      .strict(),
    cipher: z.literal('aes-256-gcm'),
    iv: Base64,
    tag: Base64,
    ciphertext: Base64,
  })
  .strict();
export type KeyEnvelope = z.infer<typeof KeyEnvelope>;

/** Data encrypted to the cluster public key (RSA-OAEP-256 wraps a fresh AES-256-GCM key). */
export const SealedBox = z
  .object({
    v: z.literal(1),
    alg: z.literal('RSA-OAEP-256+A256GCM'),
    wrappedKey: Base64,
    iv: Base64,
    tag: Base64,
    ciphertext: Base64,
  })
  .strict();
export type SealedBox = z.infer<typeof SealedBox>;
