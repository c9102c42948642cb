-- CreateTable
CREATE TABLE "AgentEvent" (
    "seq" BIGSERIAL NOT NULL,
    "eventId" UUID NOT NULL,
    "agentId" UUID NOT NULL,
    "type" TEXT NOT NULL,
    "patchId" TEXT NOT NULL,
    "pid" BIGINT NOT NULL,
    "reason" TEXT,
    "detail" TEXT,
    "commandId" UUID,
    "at" TIMESTAMP(3) NOT NULL,
    "receivedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "AgentEvent_pkey" PRIMARY KEY ("seq")
);

-- CreateTable
CREATE TABLE "AgentModule" (
    "agentId" UUID NOT NULL,
    "sha256" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "processes" INTEGER NOT NULL,

    CONSTRAINT "AgentModule_pkey" PRIMARY KEY ("agentId","sha256")
);

-- CreateIndex
CREATE INDEX "AgentEvent_patchId_seq_idx" ON "AgentEvent"("patchId", "seq");

-- CreateIndex
CREATE UNIQUE INDEX "AgentEvent_agentId_eventId_key" ON "AgentEvent"("agentId", "eventId");

-- CreateIndex
CREATE INDEX "AgentModule_sha256_idx" ON "AgentModule"("sha256");

-- AddForeignKey
ALTER TABLE "AgentEvent" ADD CONSTRAINT "AgentEvent_agentId_fkey" FOREIGN KEY ("agentId") REFERENCES "Agent"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "AgentModule" ADD CONSTRAINT "AgentModule_agentId_fkey" FOREIGN KEY ("agentId") REFERENCES "Agent"("id") ON DELETE CASCADE ON UPDATE CASCADE;
