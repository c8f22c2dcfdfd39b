-- CreateTable
CREATE TABLE "Dataset" (
    "id" UUID NOT NULL,
    "clusterId" UUID NOT NULL,
    "dataSourceId" UUID,
    "name" TEXT NOT NULL,
    "query" TEXT NOT NULL,
    "cron" TEXT,
    "timezone" TEXT,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "retryAttempts" INTEGER NOT NULL DEFAULT 3,
    "retryBackoffMs" INTEGER NOT NULL DEFAULT 10000,
    "timeoutMs" INTEGER NOT NULL DEFAULT 600000,
    "retention" INTEGER NOT NULL DEFAULT 5,
    "nextRunAt" TIMESTAMPTZ(3),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Dataset_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Refresh" (
    "id" UUID NOT NULL,
    "datasetId" UUID NOT NULL,
    "status" TEXT NOT NULL,
    "trigger" TEXT NOT NULL,
    "triggeredBy" TEXT,
    "scheduledFor" TIMESTAMPTZ(3),
    "cancelRequested" BOOLEAN NOT NULL DEFAULT false,
    "rows" BIGINT NOT NULL DEFAULT 0,
    "bytes" BIGINT NOT NULL DEFAULT 0,
    "error" TEXT,
    "snapshotAttempt" INTEGER,
    "columns" JSONB,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMPTZ(3),
    "finishedAt" TIMESTAMPTZ(3),
    "lastProgressAt" TIMESTAMPTZ(3),

    CONSTRAINT "Refresh_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RefreshAttempt" (
    "id" UUID NOT NULL,
    "refreshId" UUID NOT NULL,
    "number" INTEGER NOT NULL,
    "memberId" UUID,
    "memberName" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "error" TEXT,
    "startedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMPTZ(3),

    CONSTRAINT "RefreshAttempt_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SnapshotChunk" (
    "refreshId" UUID NOT NULL,
    "attempt" INTEGER NOT NULL,
    "seq" INTEGER NOT NULL,
    "rows" INTEGER NOT NULL,
    "bytes" INTEGER NOT NULL,
    "data" BYTEA NOT NULL,

    CONSTRAINT "SnapshotChunk_pkey" PRIMARY KEY ("refreshId","attempt","seq")
);

-- CreateIndex
CREATE INDEX "Dataset_enabled_nextRunAt_idx" ON "Dataset"("enabled", "nextRunAt");

-- CreateIndex
CREATE UNIQUE INDEX "Dataset_clusterId_name_key" ON "Dataset"("clusterId", "name");

-- CreateIndex
CREATE INDEX "Refresh_datasetId_createdAt_idx" ON "Refresh"("datasetId", "createdAt");

-- CreateIndex
CREATE INDEX "Refresh_status_idx" ON "Refresh"("status");

-- CreateIndex
CREATE UNIQUE INDEX "Refresh_datasetId_scheduledFor_key" ON "Refresh"("datasetId", "scheduledFor");

-- CreateIndex
CREATE UNIQUE INDEX "RefreshAttempt_refreshId_number_key" ON "RefreshAttempt"("refreshId", "number");

-- AddForeignKey
ALTER TABLE "Dataset" ADD CONSTRAINT "Dataset_clusterId_fkey" FOREIGN KEY ("clusterId") REFERENCES "Cluster"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Dataset" ADD CONSTRAINT "Dataset_dataSourceId_fkey" FOREIGN KEY ("dataSourceId") REFERENCES "DataSource"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Refresh" ADD CONSTRAINT "Refresh_datasetId_fkey" FOREIGN KEY ("datasetId") REFERENCES "Dataset"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RefreshAttempt" ADD CONSTRAINT "RefreshAttempt_refreshId_fkey" FOREIGN KEY ("refreshId") REFERENCES "Refresh"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SnapshotChunk" ADD CONSTRAINT "SnapshotChunk_refreshId_fkey" FOREIGN KEY ("refreshId") REFERENCES "Refresh"("id") ON DELETE CASCADE ON UPDATE CASCADE;
