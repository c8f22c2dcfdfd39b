import { call } from '@gateway/testing';
import { startTestApi, type TestApi } from './support/test-env';

// Sign-in rate limits count failed attempts per client address. The portal's proxy (same host) says who the
// client is with X-Forwarded-For; anyone else's X-Forwarded-For must not move the count to another address.
describe('TRUST_PROXY: whose X-Forwarded-For the sign-in limits believe', () => {
  let trusting: TestApi;
  let strict: TestApi;

  beforeAll(async () => {
    [trusting, strict] = await Promise.all([startTestApi(), startTestApi({ TRUST_PROXY: 'none' })]);
  });
  afterAll(async () => {
    await Promise.all([trusting?.close(), strict?.close()]);
  });

  /** 51 failed sign-ins, each for another email, each claiming another client address. */
  const failures = async (api: TestApi) => {
    const statuses: number[] = [];
    for (let i = 0; i < 51; i++) {
      const r = await call(api.url, 'POST', '/api/auth/login', { body: { email: `nobody${i}@example.com`, password: 'wrong password!' }, headers: { 'x-forwarded-for': `203.0.113.${i}` } });
      statuses.push(r.status);
    }
    return statuses;
  };

  it('counts per forwarded address when the proxy is on the loopback (the default), and per peer with none', async () => {
    expect(trusting.config.TRUST_PROXY).toBe('loopback');
    expect(new Set(await failures(trusting))).toEqual(new Set([401]));
    const strictStatuses = await failures(strict);
    expect(strictStatuses.slice(0, 50).every((s) => s === 401)).toBe(true);
    expect(strictStatuses[50]).toBe(429);
  }, 120_000);
});
