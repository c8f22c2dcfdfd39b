import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';

export interface PrivatePki {
  /** The CA's certificate (PEM file, for `gateway install --ca`). */
  caFile: string;
  caPem: string;
  /** A server certificate for 127.0.0.1 signed by the CA, and its key (for TLS_CERT_FILE / TLS_KEY_FILE). */
  certFile: string;
  keyFile: string;
}

/**
 * A private CA made with openssl in `dir`, and a server certificate for IP 127.0.0.1 that it signed: what an
 * on-premises control plane behind a company CA looks like. Neither is in the system trust store.
 */
export function makePrivatePki(dir: string, commonName = 'Gateway Test CA'): PrivatePki {
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '2', '-subj', `/CN=${commonName}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', ...ec, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1');
  writeFileSync(file('server.ext'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('server.crt'), '-days', '2', '-extfile', file('server.ext'));
  return { caFile: file('ca.crt'), caPem: readFileSync(file('ca.crt'), 'utf8'), certFile: file('server.crt'), keyFile: file('server.key') };
}

/**
 * JSON over HTTPS trusting `ca` only for this call. The global fetch cannot be given a CA, and the test's own
 * calls must not go through a proxy or keep sockets open (agent: false), so they never show in what is measured.
 */
export function httpsJson<T = Record<string, unknown>>(url: string, method: string, body: unknown, token: string | undefined, ca: string, timeoutMs = 30_000): Promise<{ status: number; body: T }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = {
      ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    };
    const req = https.request(url, { method, headers, ca, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, body: (text ? JSON.parse(text) : undefined) as T });
        } catch {
          reject(new Error(`${method} ${url} answered ${res.statusCode} with something that is not JSON: ${text.slice(0, 200)}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer within ${timeoutMs / 1000} s`)));
    req.on('error', reject);
    req.end(payload);
  });
}
