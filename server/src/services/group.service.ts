import type { Db } from '../db/index.ts';
import { badRequest, notFound } from '../lib/errors.ts';
import { onlineWhere } from './agent-status.service.ts';

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
export const severityRank = (s: string) => SEVERITIES.indexOf(s as Severity);

/** Where agents go when neither their enrollment token nor any rule names a group. */
export const DEFAULT_GROUP = 'default';

export interface GroupView {
  name: string;
  description: string;
  ring: number | null;
  autoEnable: { minSeverity: Severity; delayMinutes: number } | null;
  agents: number;
  online: number;
}

export interface GroupRuleView {
  id: string;
  priority: number;
  group: string;
  os: string | null;
  hostnamePattern: string | null;
  tag: string | null;
  createdAt: string;
}

type RuleRow = { id: string; priority: number; groupName: string; os: string | null; hostnamePattern: string | null; tag: string | null; createdAt: Date };
const ruleView = (r: RuleRow): GroupRuleView => ({ id: r.id, priority: r.priority, group: r.groupName, os: r.os, hostnamePattern: r.hostnamePattern, tag: r.tag, createdAt: r.createdAt.toISOString() });

/** A hostname glob (`*` any run, `?` one character), case-insensitive, as a whole-name match. */
export function globMatch(pattern: string, name: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i').test(name);
}

/** The first rule, by priority then age, whose every condition holds. */
export function firstMatchingRule<R extends { os: string | null; hostnamePattern: string | null; tag: string | null }>(rules: R[], agent: { os: string; hostname: string; tags: string[] }): R | undefined {
  return rules.find((r) => (!r.os || r.os === agent.os) && (!r.hostnamePattern || globMatch(r.hostnamePattern, agent.hostname)) && (!r.tag || agent.tags.includes(r.tag)));
}

/**
 * Agent groups: rings (the order rollouts follow), policies for new patches, and the rules that
 * assign a group at enrollment. A group exists once an agent is in it or it is configured.
 */
export function createGroupService({ db }: { db: Db }) {
  async function list(): Promise<GroupView[]> {
    const [configured, all, online] = await Promise.all([
      db.prisma.agentGroup.findMany(),
      db.prisma.agent.groupBy({ by: ['groupName'], where: { revokedAt: null }, _count: { _all: true } }),
      db.prisma.agent.groupBy({ by: ['groupName'], where: onlineWhere(), _count: { _all: true } }),
    ]);
    const count = (rows: typeof all, name: string) => rows.find((r) => r.groupName === name)?._count._all ?? 0;
    const names = new Set([...configured.map((g) => g.name), ...all.map((a) => a.groupName)]);
    return [...names]
      .map((name): GroupView => {
        const g = configured.find((x) => x.name === name);
        return {
          name,
          description: g?.description ?? '',
          ring: g?.ring ?? null,
          autoEnable: g?.autoMinSeverity ? { minSeverity: g.autoMinSeverity as Severity, delayMinutes: g.autoDelayMinutes } : null,
          agents: count(all, name),
          online: count(online, name),
        };
      })
      .sort((a, b) => (a.ring ?? Infinity) - (b.ring ?? Infinity) || a.name.localeCompare(b.name));
  }

  return {
    list,

    async get(name: string): Promise<GroupView> {
      const g = (await list()).find((x) => x.name === name);
      if (!g) throw notFound(`no group ${name}`);
      return g;
    },

    /** Creates or changes a group's settings; returns it before and after (for the audit log). */
    async put(opts: { name: string; description?: string; ring: number | null; autoEnable: { minSeverity: Severity; delayMinutes: number } | null }) {
      const before = await db.prisma.agentGroup.findUnique({ where: { name: opts.name } });
      const data = { description: opts.description ?? before?.description ?? '', ring: opts.ring, autoMinSeverity: opts.autoEnable?.minSeverity ?? null, autoDelayMinutes: opts.autoEnable?.delayMinutes ?? 0 };
      const after = await db.prisma.agentGroup.upsert({ where: { name: opts.name }, create: { name: opts.name, ...data }, update: data });
      return { before, after };
    },

    /** Groups that enable a patch of `severity` by policy, with their delay. */
    async autoEnabling(severity: string): Promise<{ name: string; delayMinutes: number }[]> {
      const rows = await db.prisma.agentGroup.findMany({ where: { autoMinSeverity: { not: null } } });
      return rows.filter((g) => severityRank(severity) >= severityRank(g.autoMinSeverity!)).map((g) => ({ name: g.name, delayMinutes: g.autoDelayMinutes }));
    },

    /** The rings in order, each with its groups. */
    async rings(): Promise<{ ring: number; groups: string[] }[]> {
      const rows = await db.prisma.agentGroup.findMany({ where: { ring: { not: null } }, orderBy: [{ ring: 'asc' }, { name: 'asc' }] });
      const out: { ring: number; groups: string[] }[] = [];
      for (const g of rows) {
        const last = out.at(-1);
        if (last?.ring === g.ring) last.groups.push(g.name);
        else out.push({ ring: g.ring!, groups: [g.name] });
      }
      return out;
    },

    async rules(): Promise<GroupRuleView[]> {
      return (await db.prisma.groupRule.findMany({ orderBy: [{ priority: 'asc' }, { createdAt: 'asc' }] })).map(ruleView);
    },

    async addRule(opts: { priority: number; group: string; os?: string; hostnamePattern?: string; tag?: string }): Promise<GroupRuleView> {
      if (!opts.os && !opts.hostnamePattern && !opts.tag) throw badRequest('a rule needs at least one condition: os, hostnamePattern or tag');
      return ruleView(await db.prisma.groupRule.create({ data: { priority: opts.priority, groupName: opts.group, os: opts.os ?? null, hostnamePattern: opts.hostnamePattern ?? null, tag: opts.tag ?? null } }));
    },

    async deleteRule(id: string): Promise<GroupRuleView> {
      const row = await db.prisma.groupRule.findUnique({ where: { id } });
      if (!row) throw notFound(`no group rule ${id}`);
      await db.prisma.groupRule.delete({ where: { id } });
      return ruleView(row);
    },

    /** The group an enrolling agent joins: its token's, else the first matching rule's, else the default. */
    async resolve(agent: { tokenGroup: string | null; os: string; hostname: string; tags: string[] }, tx: Pick<Db['prisma'], 'groupRule'> = db.prisma): Promise<string> {
      if (agent.tokenGroup) return agent.tokenGroup;
      const rules = await tx.groupRule.findMany({ orderBy: [{ priority: 'asc' }, { createdAt: 'asc' }] });
      return firstMatchingRule(rules, agent)?.groupName ?? DEFAULT_GROUP;
    },
  };
}
export type GroupService = ReturnType<typeof createGroupService>;
