import { loadConfig, ConfigError, publicUrl } from './config';

describe('loadConfig', () => {
  it('has defaults that work on a developer machine', () => {
    expect(loadConfig({})).toMatchObject({
      DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/gateway',
      REDIS_URL: 'redis://127.0.0.1:6379',
      API_PORT: 3000,
      REDIS_PREFIX: 'gw',
    });
  });

  it('treats empty values as unset', () => {
    expect(loadConfig({ API_PORT: '' }).API_PORT).toBe(3000);
  });

  it.each([
    ['API_PORT', 'eighty'],
    ['API_PORT', '70000'],
    ['DATABASE_URL', 'mysql://x'],
    ['REDIS_URL', 'not a url'],
    ['LOG_LEVEL', 'loud'],
    ['REDIS_PREFIX', 'has space'],
    ['TRUST_PROXY', 'everyone'],
    ['LIVE_MAX_BYTES', '12'],
    ['API_PUBLIC_URL', 'gateway.example.com'],
    ['API_PUBLIC_URL', 'https://gateway.example.com/'],
  ])('refuses %s=%s with one line naming the variable', (name, value) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain(name);
    expect(message.split('\n')).toHaveLength(1);
  });

  it('refuses a TLS certificate without its key, naming both variables', () => {
    expect(() => loadConfig({ TLS_CERT_FILE: '/etc/gateway/cert.pem' })).toThrow(/TLS_CERT_FILE and TLS_KEY_FILE go together/);
  });

  it('knows nothing of Redis addresses for agents any more', () => {
    expect(Object.keys(loadConfig({}))).not.toEqual(expect.arrayContaining(['AGENT_REDIS_URL']));
    expect(Object.keys(loadConfig({}))).not.toContain('REDIS_AGENT_ACL');
  });

  it('gives the API public URL as configured, else the address the API listens on', () => {
    expect(publicUrl(loadConfig({ API_PUBLIC_URL: 'https://gateway.example.com' }))).toBe('https://gateway.example.com');
    expect(publicUrl(loadConfig({}))).toBe('http://127.0.0.1:3000');
    expect(publicUrl(loadConfig({ API_HOST: '::1', API_PORT: '8443', TLS_CERT_FILE: '/c.pem', TLS_KEY_FILE: '/k.pem' }))).toBe('https://[::1]:8443');
  });
});
