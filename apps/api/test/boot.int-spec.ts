import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.join(__dirname, '../../..');

describe('booting the API process', () => {
  it.each([
    ['API_PORT', 'eighty'],
    ['DATABASE_URL', 'mysql://localhost/x'],
    ['REDIS_URL', 'nonsense'],
  ])('stops with one line naming %s when it is invalid', (name, value) => {
    const r = spawnSync(process.execPath, [path.join(root, 'tools/run-api.js')], { env: { ...process.env, [name]: value }, encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^api: invalid environment: ${name} `));
    expect(r.stdout).toBe('');
  }, 40_000);
});
