import { table } from './table';

describe('table', () => {
  it('aligns columns under their headers and shows missing values as -', () => {
    expect(table(['NAME', 'ONLINE'], [['a', true], ['longer', null]])).toBe('NAME    ONLINE\na       true\nlonger  -');
  });

  it('prints the header alone for no rows', () => {
    expect(table(['A', 'B'], [])).toBe('A  B');
  });
});
