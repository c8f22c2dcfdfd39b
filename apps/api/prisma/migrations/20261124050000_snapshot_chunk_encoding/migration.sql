-- Snapshot chunks say how they are compressed: Brotli at its fastest setting (what agents send: about three
-- times cheaper than gzip for the same size) or gzip (chunks stored before).
ALTER TABLE "SnapshotChunk" ADD COLUMN "encoding" TEXT NOT NULL DEFAULT 'gzip';
ALTER TABLE "SnapshotChunk" ADD CONSTRAINT "SnapshotChunk_encoding_check" CHECK ("encoding" IN ('gzip', 'br'));
