/**
 * DRIFTWATCH_* environment overrides, derived from the schema's paths so there is no second list
 * to keep in step: serve.maxBodyBytes <-> DRIFTWATCH_SERVE_MAX_BODY_BYTES. Values are parsed by
 * the leaf's type (numbers, booleans; arrays and objects as JSON). An unknown DRIFTWATCH_* name is
 * reported like any other config problem, so a typo does not silently do nothing.
 */
import type { z } from 'zod';
import { configSchema } from './schema.js';

/** Names that are not config paths: the config file itself, and test-suite switches. */
const RESERVED = /^DRIFTWATCH_(CONFIG|TEST_[A-Z0-9_]+)$/;

type LeafKind = 'string' | 'number' | 'boolean' | 'json';
export interface EnvLeaf {
  path: string[];
  envName: string;
  kind: LeafKind;
}

function innerOf(schema: z.ZodType): z.ZodType {
  // biome-ignore lint/suspicious/noExplicitAny: zod's internal _zod.def is untyped across schema kinds
  let s: any = schema;
  for (let i = 0; i < 20; i++) {
    const def = s?._zod?.def;
    if (def && ['default', 'prefault', 'optional', 'nullable', 'readonly'].includes(def.type)) s = def.innerType;
    else if (def && def.type === 'pipe') s = def.in;
    else break;
  }
  return s;
}

function snake(segment: string): string {
  return segment.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** Every settable leaf of the schema with its environment name. */
export function envLeaves(): EnvLeaf[] {
  const out: EnvLeaf[] = [];
  const walk = (schema: z.ZodType, path: string[]): void => {
    // biome-ignore lint/suspicious/noExplicitAny: zod's internal _zod.def is untyped across schema kinds
    const s: any = innerOf(schema);
    const type: string = s._zod.def.type;
    if (type === 'object') {
      for (const [key, child] of Object.entries(s.shape as Record<string, z.ZodType>)) walk(child, [...path, key]);
      return;
    }
    const kind: LeafKind = type === 'number' ? 'number' : type === 'boolean' ? 'boolean' : type === 'array' || type === 'record' ? 'json' : 'string';
    out.push({ path, envName: 'DRIFTWATCH_' + path.map(snake).join('_'), kind });
  };
  walk(configSchema, []);
  return out;
}

export interface EnvProblem {
  path: string;
  message: string;
}

/** Turns DRIFTWATCH_* variables into a partial config object plus the problems found on the way. */
export function configFromEnv(env: NodeJS.ProcessEnv): { value: Record<string, unknown>; problems: EnvProblem[] } {
  const leaves = new Map(envLeaves().map((l) => [l.envName, l]));
  const value: Record<string, unknown> = {};
  const problems: EnvProblem[] = [];
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('DRIFTWATCH_') || raw === undefined || RESERVED.test(name)) continue;
    const leaf = leaves.get(name);
    if (!leaf) {
      problems.push({ path: name, message: 'unknown DRIFTWATCH_* variable (see docs/configuration.md for the list)' });
      continue;
    }
    let parsed: unknown = raw;
    if (leaf.kind === 'number') {
      parsed = raw.trim() === '' ? Number.NaN : Number(raw);
      if (Number.isNaN(parsed)) {
        problems.push({ path: name, message: `expected a number, got ${JSON.stringify(raw)}` });
        continue;
      }
    } else if (leaf.kind === 'boolean') {
      const v = raw.trim().toLowerCase();
      if (!['true', 'false', '1', '0', 'yes', 'no'].includes(v)) {
        problems.push({ path: name, message: `expected true or false, got ${JSON.stringify(raw)}` });
        continue;
      }
      parsed = v === 'true' || v === '1' || v === 'yes';
    } else if (leaf.kind === 'json') {
      try {
        parsed = JSON.parse(raw);
      } catch {
        problems.push({ path: name, message: 'expected JSON' });
        continue;
      }
    }
    let node = value;
    for (const seg of leaf.path.slice(0, -1)) node = (node[seg] ??= {}) as Record<string, unknown>;
    node[leaf.path[leaf.path.length - 1]!] = parsed;
  }
  return { value, problems };
}

/**
 * MLflow's own client variables (MLFLOW_TRACKING_URI, MLFLOW_TRACKING_TOKEN,
 * MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD), as registry settings. They only fill what
 * the file, DRIFTWATCH_* and flags left unset, and only for registry.kind mlflow: a shell that has
 * MLFLOW_TRACKING_URI set for other tools must not switch or break a local-registry config.
 */
export function mlflowRegistryFromEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  const pairs: Array<[string, string]> = [
    ['MLFLOW_TRACKING_URI', 'trackingUri'],
    ['MLFLOW_TRACKING_TOKEN', 'token'],
    ['MLFLOW_TRACKING_USERNAME', 'username'],
    ['MLFLOW_TRACKING_PASSWORD', 'password'],
  ];
  for (const [name, key] of pairs) {
    const v = env[name];
    if (v !== undefined && v !== '') out[key] = v;
  }
  return out;
}
