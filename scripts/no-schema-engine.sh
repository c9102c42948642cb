#!/bin/sh
echo "The native Prisma schema engine is not installed here. Apply migrations with: pnpm --filter @suture/server migrate" >&2
exit 1
