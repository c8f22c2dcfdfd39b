import { z } from 'zod';
import { Name } from './common';

export const DataSourceType = z.enum(['postgres', 'mysql', 'sqlite']);
export type DataSourceType = z.infer<typeof DataSourceType>;

const Host = z.string().trim().min(1, { error: 'must not be empty' }).max(255);
const Port = z.number({ error: 'must be a port number' }).int().min(1).max(65535);
const DbName = z.string().trim().min(1, { error: 'must not be empty' }).max(255);

export const NetworkConnection = z.object({ host: Host, port: Port, database: DbName }).strict();
export const SqliteConnection = z.object({ path: z.string().trim().min(1, { error: 'must be a file path on the agents\' hosts' }).max(4096) }).strict();
export const PasswordCredentials = z.object({ username: z.string().min(1, { error: 'must not be empty' }).max(255), password: z.string().max(4096) }).strict();

export const CreateDataSourceRequest = z.discriminatedUnion('type', [
  z.object({ name: Name, type: z.literal('postgres'), connection: NetworkConnection, credentials: PasswordCredentials }).strict(),
  z.object({ name: Name, type: z.literal('mysql'), connection: NetworkConnection, credentials: PasswordCredentials }).strict(),
  z.object({ name: Name, type: z.literal('sqlite'), connection: SqliteConnection }).strict(),
], { error: 'type must be one of postgres, mysql, sqlite' });
export type CreateDataSourceRequest = z.infer<typeof CreateDataSourceRequest>;

/** An update may rename, move, or replace the credentials; the type stays. */
export const UpdateDataSourceRequest = z
  .object({
    name: Name.optional(),
    connection: z.union([NetworkConnection, SqliteConnection]).optional(),
    credentials: PasswordCredentials.optional(),
  })
  .strict();
export type UpdateDataSourceRequest = z.infer<typeof UpdateDataSourceRequest>;

/** A data source as the API shows it: never its credentials, only whether it has some. */
export const DataSourceView = z.object({
  id: z.string(),
  clusterId: z.string(),
  name: z.string(),
  type: DataSourceType,
  connection: z.record(z.string(), z.unknown()),
  hasCredentials: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type DataSourceView = z.infer<typeof DataSourceView>;

export const MAX_ROWS_LIMIT = 100_000;
export const DEFAULT_MAX_ROWS = 1000;
export const DEFAULT_QUERY_TIMEOUT_MS = 30_000;
export const MAX_QUERY_TIMEOUT_MS = 300_000;

export const QueryRequest = z
  .object({
    sql: z.string().trim().min(1, { error: 'must not be empty' }).max(100_000),
    maxRows: z.number().int().min(1).max(MAX_ROWS_LIMIT).optional(),
    timeoutMs: z.number().int().min(100).max(MAX_QUERY_TIMEOUT_MS).optional(),
  })
  .strict();
export type QueryRequest = z.infer<typeof QueryRequest>;

export const ServedBy = z.object({ memberId: z.string(), memberName: z.string(), reason: z.string() });
export type ServedBy = z.infer<typeof ServedBy>;

export const QueryResult = z.object({
  columns: z.array(z.object({ name: z.string(), type: z.string().optional() })),
  rows: z.array(z.array(z.unknown())),
  truncated: z.boolean(),
  servedBy: ServedBy,
  timings: z.object({ totalMs: z.number(), queueMs: z.number(), executeMs: z.number(), attempts: z.number().int() }),
});
export type QueryResult = z.infer<typeof QueryResult>;

export const ConnectionTestResult = z.object({
  ok: z.literal(true),
  servedBy: ServedBy,
  timings: z.object({ totalMs: z.number(), executeMs: z.number(), attempts: z.number().int() }),
});

export const PingResult = z.object({
  servedBy: ServedBy,
  timings: z.object({ totalMs: z.number(), queueMs: z.number(), attempts: z.number().int() }),
});
export type PingResult = z.infer<typeof PingResult>;
