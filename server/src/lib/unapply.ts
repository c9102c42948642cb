import type { FastifyInstance } from 'fastify';
import type { Principal } from './permissions.ts';
import type { OperationScope } from '../services/operation.service.ts';

/**
 * Takes a patch out now: disables it where the scope says (a group, or every group for the
 * fleet; one agent keeps its group's setting), records the operation, sends the command to the
 * targets connected here and tells the other replicas (anyone missed gets it on connect or by the sweep) and pushes
 * the new desired state.
 */
export async function unapplyNow(app: FastifyInstance, opts: { creator: Principal; patchId: string; scope: OperationScope }) {
  const { patchId, scope } = opts;
  const groups = 'agentId' in scope ? [] : 'group' in scope ? (await app.services.desired.disable({ patchId, group: scope.group }), [scope.group]) : await app.services.desired.disableEverywhere(patchId);
  const op = await app.services.operations.createUnapply({ creator: opts.creator, patchId, scope });
  const sent = await app.agentPush.commandIssued({ id: op.id, patchId, agentIds: op.agentIds });
  for (const g of groups) await app.agentPush.desiredChanged(g);
  return { id: op.id, targets: op.agentIds.length, sentNow: sent.length, disabledIn: groups };
}
