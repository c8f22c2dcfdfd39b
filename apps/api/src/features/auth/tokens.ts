import { createHash, randomBytes } from 'node:crypto';

/** Bearer tokens carry a prefix naming their kind, so a leaked one is recognisable; only their hash is stored. */
export const USER_TOKEN_PREFIX = 'gwu_';
export const MEMBER_TOKEN_PREFIX = 'gwm_';
export const PAT_PREFIX = 'gwp_';

export const newToken = (prefix: string) => prefix + randomBytes(32).toString('base64url');
export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');
