import { z } from 'zod';

export const Id = z.uuid({ error: 'must be a UUID' });
export const IdParams = z.object({ id: Id }).strict();

/** Names of clusters and members: printable, no leading or trailing blanks, so they can be used on a command line. */
export const Name = z
  .string()
  .trim()
  .min(1, { error: 'must not be empty' })
  .max(100, { error: 'must be at most 100 characters' })
  .regex(/^[^\u0000-\u001f]+$/, { error: 'must not contain control characters' });

export const PemPublicKey = z
  .string()
  .max(4096)
  .regex(/^-----BEGIN PUBLIC KEY-----[\s\S]+-----END PUBLIC KEY-----\s*$/, {
    error: 'must be a PEM-encoded SPKI public key',
  });

export const Base64 = z.string().max(65536).regex(/^[A-Za-z0-9+/]*={0,2}$/, { error: 'must be base64' });
