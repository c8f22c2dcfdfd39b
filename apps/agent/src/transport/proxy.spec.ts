import { parseProxyUrl, proxyFromEnv, redactUrl } from './proxy';

describe('proxyFromEnv', () => {
  const target = 'https://gateway.example.com/v1';

  it('reads HTTPS_PROXY and HTTP_PROXY, upper or lower case, by the target scheme', () => {
    expect(proxyFromEnv(target, { HTTPS_PROXY: 'http://p:1' })).toBe('http://p:1');
    expect(proxyFromEnv(target, { https_proxy: 'http://p:2' })).toBe('http://p:2');
    expect(proxyFromEnv('http://gateway.example.com', { HTTP_PROXY: 'http://p:3', HTTPS_PROXY: 'http://p:4' })).toBe('http://p:3');
    expect(proxyFromEnv(target, { HTTP_PROXY: 'http://p:3' })).toBeNull();
  });

  it('looks up WebSocket addresses as their HTTP counterparts', () => {
    expect(proxyFromEnv('wss://gateway.example.com/ws', { HTTPS_PROXY: 'http://p:1' })).toBe('http://p:1');
    expect(proxyFromEnv('ws://gateway.example.com/ws', { HTTP_PROXY: 'http://p:2' })).toBe('http://p:2');
  });

  it('honours NO_PROXY', () => {
    expect(proxyFromEnv(target, { HTTPS_PROXY: 'http://p:1', NO_PROXY: '.example.com' })).toBeNull();
    expect(proxyFromEnv(target, { HTTPS_PROXY: 'http://p:1', no_proxy: '*' })).toBeNull();
    expect(proxyFromEnv(target, { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'other.example.org' })).toBe('http://p:1');
  });

  it('reads a bare host:port as an HTTP proxy, and ignores ALL_PROXY and npm settings', () => {
    expect(proxyFromEnv(target, { HTTPS_PROXY: 'proxy.corp:3128' })).toBe('http://proxy.corp:3128');
    expect(proxyFromEnv(target, { ALL_PROXY: 'socks5://p:1080', npm_config_https_proxy: 'http://p:9' })).toBeNull();
  });

  it('leaves process.env as it was', () => {
    const real = process.env;
    const before = { ...process.env };
    proxyFromEnv(target, { HTTPS_PROXY: 'http://p:1' });
    expect(process.env).toBe(real);
    expect(process.env).toEqual(before);
  });
});

describe('proxy URLs', () => {
  it('are shown without credentials', () => {
    expect(redactUrl('http://user:secret@proxy.corp:3128')).toBe('http://proxy.corp:3128');
    expect(redactUrl('not a url //user:secret@x')).not.toContain('secret');
  });

  it('must be http(s)', () => {
    expect(parseProxyUrl('http://user:secret@proxy.corp:3128').host).toBe('proxy.corp:3128');
    expect(() => parseProxyUrl('socks5://user:secret@proxy.corp:1080')).toThrow(/^the proxy socks5:\/\/proxy.corp:1080 is a socks5 proxy/);
    expect(() => parseProxyUrl('nonsense')).toThrow(/is not a URL/);
  });
});
