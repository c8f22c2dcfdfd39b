/**
 * The little SQL the front door reads itself: where one statement of a simple Query ends, and the session and
 * transaction commands it answers without a data source (BEGIN, SET, SHOW, ...). Everything else goes to the
 * source as it is. (No SQL parser library reads both PostgreSQL's and MySQL's dialects; this only needs to find
 * quotes, comments and semicolons.)
 */

/** The statements of a simple Query, split at semicolons outside quotes, dollar quotes and comments. */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    if (c === "'" || c === '"') {
      i++;
      while (i < sql.length && !(sql[i] === c && sql[i + 1] !== c)) i += sql[i] === c ? 2 : 1;
      i++;
    } else if (c === '-' && sql[i + 1] === '-') {
      const j = sql.indexOf('\n', i);
      i = j < 0 ? sql.length : j;
    } else if (c === '/' && sql[i + 1] === '*') {
      const j = sql.indexOf('*/', i + 2);
      i = j < 0 ? sql.length : j + 2;
    } else if (c === '$') {
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i, i + 64))?.[0];
      if (tag && !/[A-Za-z0-9_]/.test(sql[i - 1] ?? '')) {
        const j = sql.indexOf(tag, i + tag.length);
        i = j < 0 ? sql.length : j + tag.length;
      } else i++;
    } else if (c === ';') {
      out.push(sql.slice(start, i));
      start = ++i;
    } else i++;
  }
  out.push(sql.slice(start));
  return out.filter((s) => stripComments(s).length > 0);
}

/** The statement without leading comments and surrounding blanks and semicolons. */
export function stripComments(sql: string): string {
  return sql
    .replace(/^(\s*(--[^\n]*(\n|$)|\/\*[\s\S]*?\*\/))*/, '')
    .trim()
    .replace(/[;\s]+$/, '');
}

export type Local =
  | { kind: 'begin' }
  | { kind: 'commit' }
  | { kind: 'rollback'; toSavepoint: boolean }
  | { kind: 'savepoint' | 'release' }
  | { kind: 'set'; name: string; value: string | null; local: boolean }
  | { kind: 'set-ignored'; tag: string }
  | { kind: 'reset'; name: string }
  | { kind: 'show'; name: string }
  | { kind: 'discard' }
  | { kind: 'deallocate'; name: string | null }
  | { kind: 'refused'; word: string };

const unquote = (v: string) => {
  const t = v.trim();
  if (/^'.*'$/s.test(t)) return t.slice(1, -1).replace(/''/g, "'");
  if (/^".*"$/s.test(t)) return t.slice(1, -1).replace(/""/g, '"');
  return t;
};

const nameOf = (n: string) => unquote(n).toLowerCase();

/** A command the front door answers itself, or null for one that goes to the data source. */
export function localCommand(statement: string): Local | null {
  const s = stripComments(statement);
  const word = /^[A-Za-z_]+/.exec(s)?.[0]?.toLowerCase();
  switch (word) {
    case 'begin':
    case 'start':
      return /^start\s+(?!transaction\b)/i.test(s) ? null : { kind: 'begin' };
    case 'commit':
    case 'end':
      return /^(commit|end)\s+prepared\b/i.test(s) ? { kind: 'refused', word: 'COMMIT PREPARED' } : { kind: 'commit' };
    case 'rollback':
    case 'abort':
      return { kind: 'rollback', toSavepoint: /^rollback\s+(work\s+|transaction\s+)?to\b/i.test(s) };
    case 'savepoint':
      return { kind: 'savepoint' };
    case 'release':
      return { kind: 'release' };
    case 'set': {
      if (/^set\s+(session\s+characteristics|transaction|constraints|role|session\s+authorization)\b/i.test(s)) return { kind: 'set-ignored', tag: 'SET' };
      const zone = /^set\s+(session\s+|local\s+)?time\s+zone\s+(.+)$/is.exec(s);
      if (zone) return { kind: 'set', name: 'timezone', value: /^(local|default)$/i.test(zone[2].trim()) ? null : unquote(zone[2]), local: /local/i.test(zone[1] ?? '') };
      const m = /^set\s+(session\s+|local\s+)?("[^"]+"|[A-Za-z_][\w.]*)\s*(=|\bto\b)\s*(.*)$/is.exec(s);
      if (!m) return { kind: 'set-ignored', tag: 'SET' };
      const value = m[4].trim();
      return { kind: 'set', name: nameOf(m[2]), value: /^default$/i.test(value) ? null : value.split(/\s*,\s*/).map(unquote).join(', '), local: /local/i.test(m[1] ?? '') };
    }
    case 'reset': {
      const m = /^reset\s+("[^"]+"|[A-Za-z_][\w.]*)/i.exec(s);
      return { kind: 'reset', name: m ? nameOf(m[1]) : 'all' };
    }
    case 'show': {
      const zone = /^show\s+time\s+zone$/i.test(s);
      const m = /^show\s+("[^"]+"|[A-Za-z_][\w.]*)$/i.exec(s);
      return zone ? { kind: 'show', name: 'timezone' } : m ? { kind: 'show', name: nameOf(m[1]) } : null;
    }
    case 'discard':
      return { kind: 'discard' };
    case 'deallocate': {
      const m = /^deallocate\s+(prepare\s+)?("[^"]+"|[A-Za-z_]\w*)/i.exec(s);
      const name = m ? unquote(m[2]) : null;
      return { kind: 'deallocate', name: name && name.toLowerCase() !== 'all' ? name : null };
    }
    case 'listen':
    case 'notify':
    case 'prepare':
    case 'execute':
    case 'copy':
      return { kind: 'refused', word: word.toUpperCase() };
    case 'unlisten':
      return { kind: 'set-ignored', tag: 'UNLISTEN' };
    default:
      return null;
  }
}

/** The CommandComplete tag of a statement the source ran, from its first keyword. */
export function commandTag(statement: string, rows: number): string {
  const word = /^[A-Za-z_]+/.exec(stripComments(statement).replace(/^\(+\s*/, ''))?.[0]?.toUpperCase();
  if (word === 'SHOW' || word === 'EXPLAIN' || word === 'DESCRIBE' || word === 'DESC') return word === 'DESC' ? 'DESCRIBE' : word;
  return `SELECT ${rows}`;
}
