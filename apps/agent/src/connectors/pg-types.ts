const TYPE_NAMES: Record<number, string> = {
  16: 'bool', 17: 'bytea', 20: 'int8', 21: 'int2', 23: 'int4', 25: 'text', 114: 'json', 700: 'float4', 701: 'float8',
  1042: 'bpchar', 1043: 'varchar', 1082: 'date', 1083: 'time', 1114: 'timestamp', 1184: 'timestamptz', 1700: 'numeric',
  2950: 'uuid', 3802: 'jsonb',
};

/** The name of a PostgreSQL type id, as live results and snapshots label their columns. */
export const pgTypeName = (oid: number) => TYPE_NAMES[oid] ?? `oid:${oid}`;
