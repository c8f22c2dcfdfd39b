import { OutageWatch } from './outage-watch';

describe('OutageWatch', () => {
  const logger = () => {
    const lines: [string, string][] = [];
    return { lines, log: (m: string) => lines.push(['log', m]), warn: (m: string) => lines.push(['warn', m]), error: (m: string) => lines.push(['error', m]) };
  };

  it('says an outage once while it lasts, and once that it is over', () => {
    const l = logger();
    const w = new OutageWatch(l, 'scheduler');
    for (let i = 0; i < 40; i++) w.failed(Object.assign(new Error("Can't reach database server"), { code: 'P1001' }));
    w.succeeded();
    w.succeeded();
    expect(l.lines).toEqual([
      ['warn', expect.stringMatching(/^the database \(PostgreSQL\) is unreachable: the scheduler waits and resumes when it is back/)],
      ['log', 'the database (PostgreSQL) is back: the scheduler resumed'],
    ]);
  });

  it('logs every real fault at error', () => {
    const l = logger();
    const w = new OutageWatch(l, 'reconciler');
    w.failed(new TypeError('x is undefined'));
    w.failed(new TypeError('x is undefined'));
    expect(l.lines.map(([level]) => level)).toEqual(['error', 'error']);
  });
});
