-- AlterTable
ALTER TABLE "Member" ADD COLUMN "description" TEXT NOT NULL DEFAULT '';

-- CreateTable
CREATE TABLE "DataSource" (
    "id" UUID NOT NULL,
    "clusterId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "connection" JSONB NOT NULL,
    "credentials" JSONB,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "DataSource_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "DataSource_clusterId_name_key" ON "DataSource"("clusterId", "name");

-- AddForeignKey
ALTER TABLE "DataSource" ADD CONSTRAINT "DataSource_clusterId_fkey" FOREIGN KEY ("clusterId") REFERENCES "Cluster"("id") ON DELETE CASCADE ON UPDATE CASCADE;
