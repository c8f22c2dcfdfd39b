import * as crypto from 'node:crypto';

/** Bearer tokens carry a prefix naming their kind, so a leaked one is recognisable; only their hash is stored. */
export const USER_TOKEN_PREFIX = 'gwu_';
export const MEMBER_TOKEN_PREFIX = 'gwm_';
export const PAT_PREFIX = 'gwp_';

export const newToken = (prefix: string) => prefix + crypto.randomBytes(32).toString('base64url');
// crypto.hash (Node 20.12+) is the one-shot form: every request hashes its bearer token, and a Hash object per call
// costs several times the digest.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;
export const hashToken = (token: string) => (oneShot ? oneShot('sha256', token, 'hex') : crypto.createHash('sha256').update(token).digest('hex'));
