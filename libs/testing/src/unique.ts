import { randomBytes } from 'node:crypto';

/** A name part no other test, and no parallel run, uses: the time and some randomness. */
export const uniqueSuffix = () => `${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
