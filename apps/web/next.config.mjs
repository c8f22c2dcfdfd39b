import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The portal is a client of the REST API only; /api/* is proxied to it (app/api/[...path]/route.ts). */
export default {
  reactStrictMode: true,
  poweredByHeader: false,
  outputFileTracingRoot: path.join(here, '../..'),
  turbopack: { root: path.join(here, '../..') },
};
