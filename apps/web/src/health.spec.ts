import { describeHealth } from './health';

describe('describeHealth', () => {
  it('reports the API as down when it cannot be reached', () => {
    expect(describeHealth(null, 'connect ECONNREFUSED')).toEqual([{ label: 'API', status: 'down', detail: 'connect ECONNREFUSED' }]);
  });

  it('lists the API, PostgreSQL and Redis with their state', () => {
    const lines = describeHealth({
      status: 'degraded',
      version: '0.1.0',
      database: { status: 'up', latencyMs: 3 },
      redis: { status: 'down', error: 'connection refused' },
    });
    expect(lines).toEqual([
      { label: 'API', status: 'up', detail: 'version 0.1.0' },
      { label: 'PostgreSQL', status: 'up', detail: 'answered in 3 ms' },
      { label: 'Redis', status: 'down', detail: 'connection refused' },
    ]);
  });
});
