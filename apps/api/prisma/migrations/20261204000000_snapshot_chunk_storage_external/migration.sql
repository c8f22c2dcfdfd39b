-- Snapshot chunks arrive compressed (Brotli from agents, gzip from older ones). Left at the default storage
-- (EXTENDED), PostgreSQL ran pglz over every megabyte before giving up on it: a third of a core during a large
-- refresh, for nothing. EXTERNAL keeps the value out of line without compressing it again.
ALTER TABLE "SnapshotChunk" ALTER COLUMN "data" SET STORAGE EXTERNAL;
