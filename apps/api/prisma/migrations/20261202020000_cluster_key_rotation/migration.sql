-- Cluster key rotation: each member has a key to receive a new cluster key with (registered when it connects); a
-- rotation leaves each member its new key sealed to that key until the member confirms it holds it.
ALTER TABLE "Cluster" ADD COLUMN "keyGeneration" INTEGER NOT NULL DEFAULT 1;
ALTER TABLE "Member" ADD COLUMN "boxPublicKey" TEXT;
ALTER TABLE "Member" ADD COLUMN "pendingClusterKey" JSONB;
ALTER TABLE "Member" ADD COLUMN "pendingKeyGeneration" INTEGER;
