/**
 * Argument handling shared by every command: node:util parseArgs in strict mode (no dependency to
 * install, and it is enough for flat `--flag VALUE` command lines), with its errors rewritten into
 * driftwatch's own (`unknown option --modle (did you mean --model?)`), the options every command
 * takes, the usage error, and flag conversions.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { DriftwatchError } from '../errors.js';
import { parseTimePoint, TIME_POINT_HELP } from '../time-range.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

/** Options every command takes. */
export const COMMON = {
  config: { type: 'string' },
  'registry-root': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const COMMON_HELP = `Common options:
  --config FILE          YAML or JSON config (also DRIFTWATCH_CONFIG); see docs/configuration.md
  --registry-root DIR    local registry directory (default .driftwatch/registry)
  --log-level LEVEL      debug | info | warn | error | silent
  -h, --help             print this help and exit
`;

/**
 * A usage mistake. main.ts adds `Run "driftwatch COMMAND --help" for usage.` naming the command
 * (and subcommand) that was running, so a command only says what was wrong.
 */
export class CliUsageError extends DriftwatchError {
  constructor(message: string) {
    super('DW_ERR_CLI_USAGE', message);
  }
}

/**
 * The exit code of `check --fail-on` and `drift --fail-on` when findings reach the level: distinct
 * from 1 (could not run) and 2 (usage), as promtool check and linters keep them apart, so a
 * pipeline can tell "the model drifted" from "the gate broke".
 */
export const EXIT_FINDINGS = 3;

export function usage(message: string): never {
  throw new CliUsageError(message);
}

/** Whether the command line asks for help: `--help` or `-h` anywhere before a `--`. */
export function wantsHelp(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

/**
 * parseArgs (strict, positionals allowed) over COMMON + `options`. Every problem is a usage error
 * in driftwatch's words; an unknown option names the closest known one, preferring the names in
 * `relevant` (a subcommand's own options, when its group parses a shared set), or lists them.
 */
export function parse<T extends Options>(args: string[], options: T, relevant?: readonly string[]) {
  const all = { ...COMMON, ...options } as typeof COMMON & T;
  // A lenient pass first: its tokens say exactly which argument is wrong, and how.
  const { tokens } = parseArgs({ args, options: all, allowPositionals: true, strict: false, tokens: true });
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    const spec = (all as Options)[t.name];
    if (!spec) usage(unknownOption(t.rawName, relevant ?? Object.keys(options), Object.keys(all)));
    if (spec.type === 'string' && t.value === undefined) usage(`option ${t.rawName} needs a value`);
    if (spec.type === 'string' && !t.inlineValue && t.value?.startsWith('-')) {
      usage(`option ${t.rawName} needs a value (got ${JSON.stringify(t.value)}; a value starting with "-" is written ${t.rawName}=${t.value})`);
    }
    if (spec.type === 'boolean' && t.value !== undefined) usage(`option ${t.rawName} takes no value (got ${JSON.stringify(t.value)})`);
  }
  try {
    return parseArgs({ args, options: all, allowPositionals: true as const, strict: true as const });
  } catch {
    // Not reached when the pass above is complete; node's wording is not ours to show either way.
    return usage(`cannot parse the arguments ${JSON.stringify(args.join(' '))}`);
  }
}

function unknownOption(raw: string, relevant: readonly string[], all: readonly string[]): string {
  const typed = raw.replace(/^-+/, '');
  // A single-dash letter is too short to guess from.
  const near = raw.startsWith('--') ? (closest(typed, [...relevant, 'help']) ?? closest(typed, all)) : null;
  if (near) return `unknown option ${raw} (did you mean --${near}?)`;
  const listed = [...new Set([...relevant, ...Object.keys(COMMON)])].map((n) => `--${n}`);
  return `unknown option ${raw}; the options are ${listed.join(', ')}`;
}

/** An unknown subcommand of `group` (or none given: `missing`) as a usage error; else `sub`. */
export function subcommand<S extends string>(group: string, sub: string | undefined, names: readonly S[], missing: string): S {
  if (sub === undefined) usage(missing);
  if ((names as readonly string[]).includes(sub)) return sub as S;
  const near = sub.startsWith('-') ? null : closest(sub, names);
  usage(`unknown ${group} subcommand ${JSON.stringify(sub)}${near ? ` (did you mean ${near}?)` : `; the subcommands are ${names.join(', ')}`}`);
}

/**
 * Optimal string alignment distance (Damerau-Levenshtein with adjacent transpositions, each
 * substring edited once): insertions, deletions, substitutions and swaps of neighbours cost 1.
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate a typo most likely meant, or null: the nearest within max(2, length/3) edits
 * (never one that shares nothing with the input: fewer edits than the candidate is long), the
 * first listed on a tie; failing that, the only candidate the input is a prefix of (3+ letters).
 */
export function closest(input: string, candidates: readonly string[]): string | null {
  const typed = input.toLowerCase();
  const limit = Math.max(2, Math.floor(typed.length / 3));
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(typed, c.toLowerCase());
    if (d <= limit && d < c.length && d < bestD) {
      best = c;
      bestD = d;
    }
  }
  if (best !== null) return best;
  const prefixed = typed.length >= 3 ? [...new Set(candidates)].filter((c) => c.toLowerCase().startsWith(typed)) : [];
  return prefixed.length === 1 ? prefixed[0]! : null;
}

/** The config: file (--config or DRIFTWATCH_CONFIG), DRIFTWATCH_* variables, then the flags. */
export function configFrom(values: Record<string, unknown>, overrides: Record<string, unknown> = {}): Config {
  // biome-ignore lint/suspicious/noExplicitAny: nested config overrides built key by key; loadConfig validates them
  const o: Record<string, any> = { ...overrides };
  if (values['registry-root']) o.registry = { root: values['registry-root'] };
  if (values['log-level']) o.log = { level: values['log-level'] };
  return loadConfig({ file: values.config as string | undefined, overrides: o });
}

/** The --admin-port option (start, serve, proxy, analyze) and its help line. */
export const ADMIN_PORT_OPTION = { 'admin-port': { type: 'string' } } as const;
export const ADMIN_PORT_HELP = ['--admin-port P', 'port of the admin API and status page (default 9097; 0: any free port)'] as const;

/** The config override --admin-port gives (none when absent). */
export function adminOverride(values: Record<string, unknown>): Record<string, unknown> {
  const port = intFlag(values['admin-port'], 'admin-port');
  if (port === undefined) return {};
  if (port < 0 || port > 65535) usage(`--admin-port must be 0 to 65535, got ${port}`);
  return { admin: { port } };
}

export function intFlag(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) usage(`--${name} must be an integer, got ${JSON.stringify(v)}`);
  return n;
}

/** A --since/--until value (or `fallback` when absent) as epoch ms. */
export function timeFlag(v: unknown, name: string, fallback: string, nowMs: number): number {
  const text = typeof v === 'string' ? v : fallback;
  const ms = parseTimePoint(text, nowMs);
  if (ms === null) usage(`--${name} must be ${TIME_POINT_HELP}; got ${JSON.stringify(text)}`);
  return ms;
}
