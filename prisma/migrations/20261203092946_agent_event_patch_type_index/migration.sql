-- CreateIndex
CREATE INDEX "AgentEvent_patchId_type_seq_idx" ON "AgentEvent"("patchId", "type", "seq");
