-- A refresh's and an attempt's status become enums: only RefreshLifecycle writes them, and the database refuses
-- anything else. (The index on Refresh.status is rebuilt by the type change.)
CREATE TYPE "RefreshStatus" AS ENUM ('queued', 'running', 'succeeded', 'failed', 'cancelled');
CREATE TYPE "AttemptStatus" AS ENUM ('running', 'succeeded', 'failed', 'abandoned', 'cancelled');

ALTER TABLE "Refresh" ALTER COLUMN "status" TYPE "RefreshStatus" USING "status"::"RefreshStatus";
ALTER TABLE "RefreshAttempt" ALTER COLUMN "status" TYPE "AttemptStatus" USING "status"::"AttemptStatus";
