import { CreateDataSourceRequest, Credentials, CreateDatasetRequest } from '@gateway/domain';
import { numberOrUndefined, validate } from './forms';

describe('portal forms use the API schemas', () => {
  it('names each invalid field of a data source form', () => {
    const r = validate(CreateDataSourceRequest, { name: '', type: 'postgres', connection: { host: 'db', port: numberOrUndefined('99999'), database: '' }, credentials: { username: 'u', password: '' } });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(Object.keys(r.errors).sort()).toEqual(['connection.database', 'connection.port', 'name']);
  });

  it('accepts a valid sign-in and reports a short password', () => {
    expect(validate(Credentials, { email: 'Admin@Example.com', password: 'long enough pw' })).toEqual({ ok: true, data: { email: 'admin@example.com', password: 'long enough pw' } });
    const r = validate(Credentials, { email: 'nope', password: 'short' });
    expect(r.ok ? null : r.errors).toEqual({ email: 'must be an email address', password: 'must be at least 10 characters' });
  });

  it('reports a bad cron expression and time zone on their fields', () => {
    const r = validate(CreateDatasetRequest, { dataSourceId: '00000000-0000-4000-8000-000000000000', name: 'd', query: 'SELECT 1', schedule: { cron: 'every day', timezone: 'Mars/Base' } });
    expect(r.ok ? [] : Object.keys(r.errors).sort()).toEqual(['schedule.cron', 'schedule.timezone']);
  });
});
