import { createHash, hash, randomBytes } from 'node:crypto';

/** Bearer tokens carry a prefix naming their kind, so a leaked one is recognisable; only their hash is stored. */
export const USER_TOKEN_PREFIX = 'gwu_';
export const MEMBER_TOKEN_PREFIX = 'gwm_';
export const PAT_PREFIX = 'gwp_';

export const newToken = (prefix: string) => prefix + randomBytes(32).toString('base64url');
// crypto.hash (Node 20.12+) is the one-shot form: every request hashes its bearer token, and a Hash object per call
// costs several times the digest. Node 20.11 (the oldest the engines field allows) has only createHash.
const oneShot = typeof hash === 'function';
export const hashToken = (token: string) => (oneShot ? hash('sha256', token, 'hex') : createHash('sha256').update(token).digest('hex'));
