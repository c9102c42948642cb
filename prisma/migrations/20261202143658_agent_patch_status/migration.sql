-- AlterTable
ALTER TABLE "Agent" ADD COLUMN     "connectedAt" TIMESTAMP(3),
ADD COLUMN     "disconnectedAt" TIMESTAMP(3);

-- CreateTable
CREATE TABLE "AgentPatch" (
    "agentId" UUID NOT NULL,
    "patchId" TEXT NOT NULL,
    "matching" INTEGER NOT NULL,
    "applied" INTEGER NOT NULL,
    "refused" INTEGER NOT NULL,
    "failed" INTEGER NOT NULL,
    "stopped" TEXT,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "AgentPatch_pkey" PRIMARY KEY ("agentId","patchId")
);

-- CreateIndex
CREATE INDEX "AgentPatch_patchId_idx" ON "AgentPatch"("patchId");

-- AddForeignKey
ALTER TABLE "AgentPatch" ADD CONSTRAINT "AgentPatch_agentId_fkey" FOREIGN KEY ("agentId") REFERENCES "Agent"("id") ON DELETE CASCADE ON UPDATE CASCADE;
