import { fromBinary, hasBinary, toBinary } from './pg-binary';

describe('binary format', () => {
  test('round-trips the types clients ask for in binary', () => {
    const cases: [number, string][] = [
      [16, 't'],
      [16, 'f'],
      [17, '\\x00ff10'],
      [20, '-9223372036854775808'],
      [21, '-32768'],
      [23, '2147483647'],
      [701, '1.5'],
      [25, 'héllo'],
      [2950, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'],
      [1082, '2026-12-02'],
      [1114, '2026-12-02 05:30:16.123456'],
      [3802, '{"a": 1}'],
    ];
    for (const [oid, text] of cases) expect([oid, fromBinary(oid, toBinary(oid, text)!)]).toEqual([oid, text]);
  });

  test('timestamptz: the instant, whatever offset the source printed it in', () => {
    const b = toBinary(1184, '2026-12-02 10:30:16.5+05:30')!;
    expect(fromBinary(1184, b)).toBe('2026-12-02 05:00:16.500000+00');
    // 2000-01-01 00:00:00 UTC is 0 microseconds.
    expect(toBinary(1184, '2000-01-01 00:00:00+00')!.readBigInt64BE()).toBe(0n);
  });

  test('types without a binary form here are not claimed', () => {
    expect(hasBinary(1700)).toBe(false);
    expect(hasBinary(23)).toBe(true);
    expect(fromBinary(1700, Buffer.from([0, 0]))).toBeNull();
  });
});
