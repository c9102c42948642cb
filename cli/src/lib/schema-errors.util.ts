/** Turns TypeBox validation errors into short, path-based lines a person can act on. */
export interface SchemaError {
  keyword: string;
  instancePath: string;
  message: string;
  params: Record<string, unknown>;
  schemaPath?: string;
}

/** `/patchlets/1/expect` -> `patchlets[1].expect` */
export function readablePath(instancePath: string): string {
  if (!instancePath) return '(top level)';
  return instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');
}

/** Messages by field name (the last path segment), used instead of TypeBox's generic wording. */
export type FieldHints = Record<string, string>;

/**
 * One line per problem. Errors from the branches of a union (anyOf) at one path become one line:
 * the field's hint, or the list of allowed constants.
 */
export function formatSchemaErrors(opts: { errors: SchemaError[]; hints?: FieldHints; prefix?: string; max?: number }): string[] {
  const lines: string[] = [];
  const unions = new Map<string, SchemaError[]>();
  const hintFor = (instancePath: string) => {
    const parts = instancePath.split('/');
    const last = parts.at(-1) ?? '';
    // an array item: hints['cves[]'] speaks for every entry of cves
    return /^\d+$/.test(last) ? opts.hints?.[`${parts.at(-2)}[]`] : opts.hints?.[last];
  };
  const at = (instancePath: string) => readablePath(`${opts.prefix ?? ''}${instancePath}`);
  for (const e of opts.errors) {
    if (e.keyword === 'boolean') continue; // the additionalProperties error next to it says it better
    if (e.schemaPath?.includes('/anyOf/')) {
      unions.set(e.instancePath, [...(unions.get(e.instancePath) ?? []), e]);
      continue;
    }
    if (e.keyword === 'additionalProperties') {
      const names = (e.params.additionalProperties as string[] | undefined) ?? [];
      lines.push(`${at(e.instancePath)}: unknown field${names.length === 1 ? '' : 's'} ${names.join(', ')}`);
    } else if (e.keyword === 'required') {
      const names = (e.params.requiredProperties as string[] | undefined) ?? [];
      const what = `missing field${names.length === 1 ? '' : 's'} ${names.join(', ')}`;
      lines.push(opts.prefix || e.instancePath ? `${at(e.instancePath)}: ${what}` : what);
    } else {
      lines.push(`${at(e.instancePath)}: ${hintFor(e.instancePath) ?? e.message}`);
    }
  }
  for (const [path, errs] of unions) {
    const consts = errs.filter((e) => e.keyword === 'const').map((e) => JSON.stringify(e.params.allowedValue));
    const text = hintFor(path) ?? (consts.length === errs.length ? `must be one of ${consts.join(', ')}` : [...new Set(errs.map((e) => e.message))].join(' or '));
    lines.push(`${at(path)}: ${text}`);
  }
  const unique = [...new Set(lines)];
  const max = opts.max ?? 6;
  return unique.length > max ? [...unique.slice(0, max), `(${unique.length - max} more)`] : unique;
}
