-- CreateTable
CREATE TABLE "Operation" (
    "id" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "patchId" TEXT NOT NULL,
    "scope" TEXT NOT NULL,
    "createdById" UUID,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Operation_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "OperationTarget" (
    "operationId" UUID NOT NULL,
    "agentId" UUID NOT NULL,
    "status" TEXT NOT NULL,
    "detail" TEXT,
    "sentAt" TIMESTAMP(3),
    "doneAt" TIMESTAMP(3),

    CONSTRAINT "OperationTarget_pkey" PRIMARY KEY ("operationId","agentId")
);

-- CreateIndex
CREATE INDEX "OperationTarget_agentId_status_idx" ON "OperationTarget"("agentId", "status");

-- AddForeignKey
ALTER TABLE "OperationTarget" ADD CONSTRAINT "OperationTarget_operationId_fkey" FOREIGN KEY ("operationId") REFERENCES "Operation"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "OperationTarget" ADD CONSTRAINT "OperationTarget_agentId_fkey" FOREIGN KEY ("agentId") REFERENCES "Agent"("id") ON DELETE CASCADE ON UPDATE CASCADE;
