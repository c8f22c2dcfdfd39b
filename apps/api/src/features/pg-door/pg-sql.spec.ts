import { commandTag, localCommand, splitStatements } from './pg-sql';

describe('splitStatements', () => {
  test('splits at semicolons outside quotes, dollar quotes and comments', () => {
    expect(splitStatements("SELECT 'a;b'; SELECT \"x;y\" FROM t -- c;d\n; SELECT $q$;$q$; /* ; */ SELECT 1;")).toEqual(["SELECT 'a;b'", ' SELECT "x;y" FROM t -- c;d\n', ' SELECT $q$;$q$', ' /* ; */ SELECT 1']);
    expect(splitStatements(' ; -- nothing\n ;')).toEqual([]);
    expect(splitStatements("SELECT 'it''s; fine'")).toEqual(["SELECT 'it''s; fine'"]);
  });
});

describe('localCommand', () => {
  test('reads the session and transaction commands BI tools send', () => {
    expect(localCommand('BEGIN')).toEqual({ kind: 'begin' });
    expect(localCommand('start transaction read only')).toEqual({ kind: 'begin' });
    expect(localCommand('ROLLBACK TO SAVEPOINT s1')).toEqual({ kind: 'rollback', toSavepoint: true });
    expect(localCommand("SET application_name = 'Metabase'")).toEqual({ kind: 'set', name: 'application_name', value: 'Metabase', local: false });
    expect(localCommand('SET search_path TO "$user", public')).toEqual({ kind: 'set', name: 'search_path', value: '$user, public', local: false });
    expect(localCommand("SET TIME ZONE 'UTC'")).toEqual({ kind: 'set', name: 'timezone', value: 'UTC', local: false });
    expect(localCommand('SET extra_float_digits = 3')).toEqual({ kind: 'set', name: 'extra_float_digits', value: '3', local: false });
    expect(localCommand('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY')).toEqual({ kind: 'set-ignored', tag: 'SET' });
    expect(localCommand('SHOW gateway.served_by')).toEqual({ kind: 'show', name: 'gateway.served_by' });
    expect(localCommand('/* tool */ SHOW TIME ZONE')).toEqual({ kind: 'show', name: 'timezone' });
    expect(localCommand('DEALLOCATE ALL')).toEqual({ kind: 'deallocate', name: null });
    expect(localCommand('LISTEN x')).toEqual({ kind: 'refused', word: 'LISTEN' });
    expect(localCommand('SELECT 1')).toBeNull();
    expect(localCommand('SHOW max_connections FROM x')).toBeNull();
  });

  test('command tags', () => {
    expect(commandTag('SELECT 1', 1)).toBe('SELECT 1');
    expect(commandTag('(SELECT 1) UNION (SELECT 2)', 2)).toBe('SELECT 2');
    expect(commandTag('EXPLAIN SELECT 1', 1)).toBe('EXPLAIN');
  });
});
