-- AlterTable
ALTER TABLE "Agent" ADD COLUMN     "inventoryDigest" TEXT;
