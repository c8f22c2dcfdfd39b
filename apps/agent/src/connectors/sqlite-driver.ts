import type BetterSqlite3 from 'better-sqlite3';
import { ConnectorError } from './types';

/** The little of a SQLite driver the connector needs: prepared statements that return rows as arrays. */
export interface SqliteStatement {
  /** True when the statement returns rows (a read). */
  readonly reader: boolean;
  columns(): { name: string; type?: string }[];
  /** With anonymous (`?`) parameters bound in order. */
  iterate(params?: unknown[]): IterableIterator<unknown[]>;
}

export interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
  close(): void;
}

export type OpenSqlite = (path: string) => SqliteDatabase;

function betterSqlite3(Database: typeof BetterSqlite3): OpenSqlite {
  return (path) => {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    return {
      prepare(sql) {
        const stmt = db.prepare(sql);
        const reader = stmt.reader;
        if (reader) stmt.raw(true);
        return {
          reader,
          columns: () => stmt.columns().map((c) => ({ name: c.name, type: c.type ?? undefined })),
          iterate: (params = []) => stmt.iterate(...params) as IterableIterator<unknown[]>,
        };
      },
      close: () => db.close(),
    };
  };
}

type NodeStatement = {
  columns(): { name: string; type: string | null }[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
  setReturnArrays?(on: boolean): void;
};
type NodeSqlite = { DatabaseSync: new (path: string, options: { readOnly: boolean }) => { prepare(sql: string): NodeStatement; close(): void } };

function nodeSqlite({ DatabaseSync }: NodeSqlite): OpenSqlite {
  return (path) => {
    const db = new DatabaseSync(path, { readOnly: true });
    return {
      prepare(sql) {
        const stmt = db.prepare(sql);
        const columns = stmt.columns().map((c) => ({ name: c.name, type: c.type ?? undefined }));
        const arrays = typeof stmt.setReturnArrays === 'function';
        if (arrays) stmt.setReturnArrays!(true);
        return {
          reader: columns.length > 0,
          columns: () => columns,
          // Without setReturnArrays (older Node 22), rows come as objects: their values in column order.
          iterate: (params = []) => (arrays ? (stmt.iterate(...params) as IterableIterator<unknown[]>) : mapIterator(stmt.iterate(...params), (r) => Object.values(r as object))),
        };
      },
      close: () => db.close(),
    };
  };
}

function* mapIterator<T, U>(it: IterableIterator<T>, f: (t: T) => U): IterableIterator<U> {
  for (const x of it) yield f(x);
}

let chosen: { open: OpenSqlite; name: string } | null | undefined;

/**
 * better-sqlite3 when it is installed (an optional dependency of the agent's package: a native module), else
 * Node's own `node:sqlite` (Node 22.13 and later), so that a host without a compiler still reads SQLite files.
 */
export function sqliteDriver(): { open: OpenSqlite; name: string } {
  if (chosen === undefined) {
    chosen = null;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      chosen = { open: betterSqlite3(require('better-sqlite3') as typeof BetterSqlite3), name: 'better-sqlite3' };
    } catch {
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const builtIn = require('node:sqlite') as NodeSqlite;
        if (typeof builtIn.DatabaseSync === 'function' && typeof (builtIn.DatabaseSync.prototype as { prepare?: unknown }).prepare === 'function') chosen = { open: nodeSqlite(builtIn), name: 'node:sqlite' };
      } catch {
        // neither
      }
    }
  }
  if (!chosen) throw new ConnectorError('unreachable', `this member cannot read SQLite files: install better-sqlite3 next to the agent (npm install -g better-sqlite3) or run it on Node 22.13 or later, which has SQLite built in (this is Node ${process.versions.node})`);
  return chosen;
}

/** For tests: forget the choice, or force one. */
export function useSqliteDriver(name: 'better-sqlite3' | 'node:sqlite' | null) {
  chosen = undefined;
  if (name === 'node:sqlite') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    chosen = { open: nodeSqlite(require('node:sqlite') as NodeSqlite), name };
  } else if (name === 'better-sqlite3') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    chosen = { open: betterSqlite3(require('better-sqlite3') as typeof BetterSqlite3), name };
  }
}
