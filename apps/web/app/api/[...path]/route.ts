import type { NextRequest } from 'next/server';

/**
 * /api/* of the portal is the REST API, proxied at run time (API_URL is read when the portal runs, not when it
 * is built), so the browser sees one origin and the API's httpOnly session cookie is the portal's.
 */
export const dynamic = 'force-dynamic';

const apiUrl = () => process.env.API_URL ?? `http://127.0.0.1:${process.env.API_PORT ?? 3000}`;
/** Hop-by-hop headers and what fetch sets itself. */
const DROP = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'accept-encoding', 'upgrade']);

async function proxy(req: NextRequest) {
  const url = new URL(req.nextUrl.pathname + req.nextUrl.search, apiUrl());
  const headers = new Headers();
  req.headers.forEach((v, k) => {
    if (!DROP.has(k)) headers.set(k, v);
  });
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  let res: Response;
  try {
    res = await fetch(url, { method: req.method, headers, body: hasBody ? await req.arrayBuffer() : undefined, redirect: 'manual', cache: 'no-store' });
  } catch {
    return Response.json({ statusCode: 502, error: 'bad gateway', message: 'The API cannot be reached. Check that it is running (npm start) and try again.' }, { status: 502 });
  }
  const out = new Headers();
  res.headers.forEach((v, k) => {
    if (!DROP.has(k) && k !== 'content-encoding' && k !== 'set-cookie') out.set(k, v);
  });
  for (const c of res.headers.getSetCookie()) out.append('set-cookie', c);
  return new Response(res.body, { status: res.status, headers: out });
}

export { proxy as GET, proxy as POST, proxy as PUT, proxy as PATCH, proxy as DELETE };
