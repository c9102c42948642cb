-- AlterTable
ALTER TABLE "OperationTarget" DROP COLUMN "sentAt";
