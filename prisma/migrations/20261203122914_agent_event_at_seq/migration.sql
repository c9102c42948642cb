-- DropIndex
DROP INDEX "AgentEvent_at_idx";

-- CreateIndex
CREATE INDEX "AgentEvent_at_seq_idx" ON "AgentEvent"("at", "seq");
