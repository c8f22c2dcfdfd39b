-- A member an admin drains (before an upgrade, say) takes no new work until resumed.
ALTER TABLE "Member" ADD COLUMN "drainRequestedAt" TIMESTAMPTZ(3);
