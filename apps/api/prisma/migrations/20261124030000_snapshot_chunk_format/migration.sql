-- Snapshot chunks say how their rows are written: NDJSON arrays, or PostgreSQL's COPY text format as agents
-- copy it from PostgreSQL sources (turned into JSON or CSV when the snapshot is read).
ALTER TABLE "SnapshotChunk" ADD COLUMN "format" TEXT NOT NULL DEFAULT 'ndjson';
ALTER TABLE "SnapshotChunk" ADD CONSTRAINT "SnapshotChunk_format_check" CHECK ("format" IN ('ndjson', 'pgcopy'));
