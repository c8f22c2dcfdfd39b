import {
  generateClusterKeyPair,
  generateMemberKeyPair,
  openFromCluster,
  openPrivateKey,
  sealForCluster,
  sealPrivateKey,
  signMessage,
  verifyMessage,
  WrongRecoveryKeyError,
} from './index';

// The smallest parameters the envelope schema accepts keep the unit tests quick; production uses DEFAULT_KDF.
const FAST_KDF = { memoryKiB: 19456, iterations: 2, parallelism: 1 };

describe('cluster key sealing', () => {
  const cluster = generateClusterKeyPair();

  it('opens a sealed private key with the same recovery key', async () => {
    const envelope = await sealPrivateKey(cluster.privateKey, 'correct horse battery', FAST_KDF);
    expect(await openPrivateKey(envelope, 'correct horse battery')).toBe(cluster.privateKey);
  });

  it('refuses a wrong recovery key with WrongRecoveryKeyError', async () => {
    const envelope = await sealPrivateKey(cluster.privateKey, 'correct horse battery', FAST_KDF);
    await expect(openPrivateKey(envelope, 'correct horse batterz')).rejects.toBeInstanceOf(WrongRecoveryKeyError);
  });

  it('never stores the private key or the recovery key in the envelope', async () => {
    const envelope = await sealPrivateKey(cluster.privateKey, 'correct horse battery', FAST_KDF);
    const text = JSON.stringify(envelope);
    expect(text).not.toContain('PRIVATE KEY');
    expect(text).not.toContain('correct horse battery');
    expect(text).not.toContain(Buffer.from('correct horse battery').toString('base64'));
  });

  it('uses a fresh salt and iv for every seal', async () => {
    const a = await sealPrivateKey(cluster.privateKey, 'same key!', FAST_KDF);
    const b = await sealPrivateKey(cluster.privateKey, 'same key!', FAST_KDF);
    expect(a.kdf.salt).not.toBe(b.kdf.salt);
    expect(a.iv).not.toBe(b.iv);
  });
});

describe('signatures', () => {
  it.each([
    ['rsa cluster key', generateClusterKeyPair()],
    ['ed25519 member key', generateMemberKeyPair()],
  ])('verifies a %s signature and rejects a tampered message', (_name, pair) => {
    const signature = signMessage(pair.privateKey, 'gateway-join:v1:c:n');
    expect(verifyMessage(pair.publicKey, 'gateway-join:v1:c:n', signature)).toBe(true);
    expect(verifyMessage(pair.publicKey, 'gateway-join:v1:c:m', signature)).toBe(false);
  });

  it('treats garbage keys and signatures as invalid rather than throwing', () => {
    expect(verifyMessage('not a key', 'm', 'AAAA')).toBe(false);
    expect(verifyMessage(generateMemberKeyPair().publicKey, 'm', '!!!')).toBe(false);
  });
});

describe('sealing to the cluster', () => {
  it('round-trips through the cluster key pair and fails with another key', () => {
    const a = generateClusterKeyPair();
    const b = generateClusterKeyPair();
    const box = sealForCluster(a.publicKey, '{"password":"s3cret"}');
    expect(JSON.stringify(box)).not.toContain('s3cret');
    expect(openFromCluster(a.privateKey, box)).toBe('{"password":"s3cret"}');
    expect(() => openFromCluster(b.privateKey, box)).toThrow();
  });
});
