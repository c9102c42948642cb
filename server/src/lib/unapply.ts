import type { FastifyInstance } from 'fastify';
import type { Principal } from './permissions.ts';
import type { OperationScope } from '../services/operation.service.ts';
import { commandMessage, pushDesired } from './agent-push.ts';

/**
 * Takes a patch out now: disables it where the scope says (a group, or every group for the
 * fleet; one agent keeps its group's setting), records the operation, sends the command to the
 * targets connected here (others get it on connect, by the sweep or another replica) and pushes
 * the new desired state.
 */
export async function unapplyNow(app: FastifyInstance, opts: { creator: Principal; patchId: string; scope: OperationScope }) {
  const { patchId, scope } = opts;
  const groups = 'agentId' in scope ? [] : 'group' in scope ? (await app.services.desired.disable({ patchId, group: scope.group }), [scope.group]) : await app.services.desired.disableEverywhere(patchId);
  const op = await app.services.operations.createUnapply({ creator: opts.creator, patchId, scope });
  const sent = op.agentIds.filter((id) => app.agentHub.send(id, commandMessage({ id: op.id, patchId })));
  await app.services.operations.markSent({ operationId: op.id, agentIds: sent });
  for (const g of groups) await pushDesired({ hub: app.agentHub, desired: app.services.desired, group: g });
  return { id: op.id, targets: op.agentIds.length, sentNow: sent.length, disabledIn: groups };
}
