import { Writable } from 'node:stream';
import pino from 'pino';
import { LOG_REDACT } from './run';

describe("the agent's log", () => {
  it('writes secrets that reach a log object as [redacted]', () => {
    const lines: string[] = [];
    const log = pino({ redact: { paths: LOG_REDACT, censor: '[redacted]' } }, new Writable({ write: (c, _e, done) => (lines.push(String(c)), done()) }));
    log.info({ ds: { password: 'hunter2-secret', credentials: { sealed: 'xyz' } }, cfg: { memberPrivateKey: 'PRIVATE-KEY', proxy: 'http://u:p@proxy:3128' }, auth: { token: 'gwm_secret' } }, 'something happened');
    const text = lines.join('');
    for (const secret of ['hunter2-secret', 'xyz', 'PRIVATE-KEY', 'u:p@proxy', 'gwm_secret']) expect(text).not.toContain(secret);
    expect(text).toContain('[redacted]');
  });
});
