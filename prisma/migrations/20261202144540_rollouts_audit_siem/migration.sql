-- AlterTable
ALTER TABLE "Agent" ADD COLUMN     "tags" TEXT[] DEFAULT ARRAY[]::TEXT[];

-- AlterTable
ALTER TABLE "EnrollmentToken" ALTER COLUMN "groupName" DROP NOT NULL;

-- AlterTable
ALTER TABLE "PatchEnablement" ADD COLUMN     "activeFrom" TIMESTAMP(3);

-- CreateTable
CREATE TABLE "AgentGroup" (
    "name" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "ring" INTEGER,
    "autoMinSeverity" TEXT,
    "autoDelayMinutes" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "AgentGroup_pkey" PRIMARY KEY ("name")
);

-- CreateTable
CREATE TABLE "GroupRule" (
    "id" UUID NOT NULL,
    "priority" INTEGER NOT NULL,
    "groupName" TEXT NOT NULL,
    "os" TEXT,
    "hostnamePattern" TEXT,
    "tag" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "GroupRule_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Rollout" (
    "id" UUID NOT NULL,
    "patchId" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "startAt" TIMESTAMP(3) NOT NULL,
    "stageMinutes" DOUBLE PRECISION NOT NULL,
    "minAppliedShare" DOUBLE PRECISION NOT NULL,
    "maxFailures" INTEGER NOT NULL,
    "maxCrashes" INTEGER NOT NULL,
    "unapplyOnAbort" BOOLEAN NOT NULL DEFAULT false,
    "currentStage" INTEGER NOT NULL DEFAULT 0,
    "haltReason" TEXT,
    "createdById" UUID,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "endedAt" TIMESTAMP(3),

    CONSTRAINT "Rollout_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RolloutStage" (
    "rolloutId" UUID NOT NULL,
    "position" INTEGER NOT NULL,
    "ring" INTEGER NOT NULL,
    "groups" TEXT[],
    "status" TEXT NOT NULL,
    "startedAt" TIMESTAMP(3),
    "endedAt" TIMESTAMP(3),
    "agents" INTEGER NOT NULL DEFAULT 0,
    "applied" INTEGER NOT NULL DEFAULT 0,
    "failures" INTEGER NOT NULL DEFAULT 0,
    "crashes" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "RolloutStage_pkey" PRIMARY KEY ("rolloutId","position")
);

-- CreateTable
CREATE TABLE "AuditEntry" (
    "seq" BIGSERIAL NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "actorId" UUID,
    "actorName" TEXT NOT NULL,
    "via" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "targetType" TEXT NOT NULL,
    "targetId" TEXT NOT NULL,
    "before" JSONB,
    "after" JSONB,
    "requestId" TEXT,
    "ip" TEXT,

    CONSTRAINT "AuditEntry_pkey" PRIMARY KEY ("seq")
);

-- CreateTable
CREATE TABLE "CoverageSnapshot" (
    "patchId" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "applied" INTEGER NOT NULL,
    "vulnerable" INTEGER NOT NULL,
    "notApplicable" INTEGER NOT NULL,

    CONSTRAINT "CoverageSnapshot_pkey" PRIMARY KEY ("patchId","at")
);

-- CreateTable
CREATE TABLE "SiemSink" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "config" JSONB NOT NULL,
    "secret" TEXT,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "cursor" BIGINT NOT NULL DEFAULT 0,
    "lastError" TEXT,
    "lastDeliveredAt" TIMESTAMP(3),
    "createdById" UUID,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "SiemSink_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "AgentGroup_ring_idx" ON "AgentGroup"("ring");

-- CreateIndex
CREATE INDEX "GroupRule_priority_idx" ON "GroupRule"("priority");

-- CreateIndex
CREATE INDEX "Rollout_status_idx" ON "Rollout"("status");

-- CreateIndex
CREATE INDEX "Rollout_patchId_idx" ON "Rollout"("patchId");

-- CreateIndex
CREATE INDEX "AuditEntry_action_seq_idx" ON "AuditEntry"("action", "seq");

-- CreateIndex
CREATE INDEX "AuditEntry_targetType_targetId_seq_idx" ON "AuditEntry"("targetType", "targetId", "seq");

-- CreateIndex
CREATE INDEX "AuditEntry_at_idx" ON "AuditEntry"("at");

-- CreateIndex
CREATE INDEX "CoverageSnapshot_at_idx" ON "CoverageSnapshot"("at");

-- CreateIndex
CREATE UNIQUE INDEX "SiemSink_name_key" ON "SiemSink"("name");

-- CreateIndex
CREATE INDEX "AgentEvent_agentId_seq_idx" ON "AgentEvent"("agentId", "seq");

-- CreateIndex
CREATE INDEX "AgentEvent_type_seq_idx" ON "AgentEvent"("type", "seq");

-- CreateIndex
CREATE INDEX "AgentEvent_at_idx" ON "AgentEvent"("at");

-- AddForeignKey
ALTER TABLE "Rollout" ADD CONSTRAINT "Rollout_patchId_fkey" FOREIGN KEY ("patchId") REFERENCES "Patch"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RolloutStage" ADD CONSTRAINT "RolloutStage_rolloutId_fkey" FOREIGN KEY ("rolloutId") REFERENCES "Rollout"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- The audit log is append-only: the database itself refuses to change or delete an entry.
CREATE FUNCTION "audit_entry_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only (% refused)', TG_OP;
END;
$$;
CREATE TRIGGER "AuditEntry_append_only" BEFORE UPDATE OR DELETE ON "AuditEntry" FOR EACH ROW EXECUTE FUNCTION "audit_entry_append_only"();
CREATE TRIGGER "AuditEntry_no_truncate" BEFORE TRUNCATE ON "AuditEntry" FOR EACH STATEMENT EXECUTE FUNCTION "audit_entry_append_only"();
