import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** The workspace root: the API and the agent are started from their entry files under it, by path. */
export const ROOT = path.join(__dirname, '../../..');

/** A fresh directory of this test's own under the system's temporary directory. */
export const tempDir = (prefix: string) => mkdtempSync(path.join(tmpdir(), prefix));
