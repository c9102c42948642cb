-- CreateTable
CREATE TABLE "PatchEnablement" (
    "patchId" TEXT NOT NULL,
    "groupName" TEXT NOT NULL,
    "enabledById" UUID,
    "enabledAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "PatchEnablement_pkey" PRIMARY KEY ("patchId","groupName")
);

-- CreateTable
CREATE TABLE "GroupState" (
    "groupName" TEXT NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 0,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "GroupState_pkey" PRIMARY KEY ("groupName")
);

-- CreateIndex
CREATE INDEX "PatchEnablement_groupName_idx" ON "PatchEnablement"("groupName");

-- AddForeignKey
ALTER TABLE "PatchEnablement" ADD CONSTRAINT "PatchEnablement_patchId_fkey" FOREIGN KEY ("patchId") REFERENCES "Patch"("id") ON DELETE CASCADE ON UPDATE CASCADE;
