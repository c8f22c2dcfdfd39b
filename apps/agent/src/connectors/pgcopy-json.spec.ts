import { types } from 'pg';
import { copyEncoderFor, copyLineToJson, toJsonValue, unescapeCopy } from '@gateway/domain';

const parserFor = (oid: number) => types.getTypeParser(oid, 'text') as (v: string) => unknown;
const encoderFor = (oid: number) => copyEncoderFor(oid, parserFor);

const viaPg = (oid: number, text: string) => JSON.stringify(toJsonValue((types.getTypeParser(oid, 'text') as (v: string) => unknown)(text)));

// The API reads PostgreSQL snapshots (COPY text) with these encoders and node-postgres' parsers.
describe('COPY text to JSON', () => {
  it('encodes timestamptz with any offset and fraction exactly as node-postgres decodes it', () => {
    const samples = [
      '2026-01-01 00:00:00+00',
      '2026-01-01 00:00:00.5+00',
      '2026-06-30 23:59:59.999999+00',
      '2026-03-29 01:30:00.123456+05:30',
      '2026-10-25 02:00:00-03',
      '1999-12-31 23:59:59.1-09:30',
      '2026-01-01 00:00:00+05:30:15',
      '0044-03-15 12:00:00+00 BC',
      'infinity',
      '-infinity',
    ];
    const encode = encoderFor(1184);
    for (const s of samples) expect([s, encode(s)]).toEqual([s, viaPg(1184, s)]);
  });

  it('encodes numbers, booleans, text and nulls, undoing COPY escapes', () => {
    expect(unescapeCopy('a\\tb\\nc\\\\d\\re')).toBe('a\tb\nc\\d\re');
    const line = ['42', '-1.5', 'NaN', 't', 'say \\"hi\\"\\there', '\\N', '12345678901234567890'].join('\t');
    expect(JSON.parse(copyLineToJson(line, [23, 701, 701, 16, 25, 25, 1700].map(encoderFor)))).toEqual([42, -1.5, null, true, 'say "hi"\there', null, '12345678901234567890']);
  });
});
