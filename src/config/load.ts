/**
 * Loads the configuration: defaults < file (YAML or JSON) < DRIFTWATCH_* env < command-line flags.
 * Every problem is collected and reported at once, so a user fixes a config in one round trip.
 * The result is deep-frozen: nothing changes a setting behind the composition root's back.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { DriftwatchError, messageOf } from '../errors.js';
import { configFromEnv, mlflowRegistryFromEnv } from './env.js';
import { adminUrlFor, configSchema, crossFieldProblems, type Config } from './schema.js';

export interface LoadConfigOptions {
  /** Path of a YAML/JSON config file; DRIFTWATCH_CONFIG is used when absent. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags, highest precedence. */
  overrides?: Record<string, unknown>;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? deepMerge(out[k] as Record<string, unknown>, v) : v;
  }
  return out;
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new DriftwatchError('DW_ERR_CONFIG_FILE', `cannot read config file ${file}: ${messageOf(e)}`, { cause: e });
  }
  let parsed: unknown;
  try {
    // YAML is a superset of JSON, so one parser reads both formats.
    parsed = parseYaml(text, { prettyErrors: true });
  } catch (e) {
    throw new DriftwatchError('DW_ERR_CONFIG_FILE', `config file ${file} is not valid YAML/JSON: ${messageOf(e)}`, { cause: e });
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isPlainObject(parsed)) {
    throw new DriftwatchError('DW_ERR_CONFIG_FILE', `config file ${file} must hold a mapping at the top level`);
  }
  return parsed;
}

export function loadConfig(opts: LoadConfigOptions = {}): Config {
  const env = opts.env ?? process.env;
  const file = opts.file ?? env.DRIFTWATCH_CONFIG;
  const fromFile = file ? readConfigFile(file) : {};
  const fromEnv = configFromEnv(env);
  let merged = deepMerge(deepMerge(fromFile, fromEnv.value), opts.overrides ?? {});
  // MLflow's tools resolve models:/ URIs against MLFLOW_TRACKING_URI: so does driftwatch when no
  // registry is configured explicitly (no registry.kind, no registry.root). An explicit kind wins.
  const reg = isPlainObject(merged.registry) ? merged.registry : {};
  if (reg.kind === undefined && reg.root === undefined && isHttpUrl(env.MLFLOW_TRACKING_URI)) {
    merged = deepMerge(merged, { registry: { kind: 'mlflow' } });
  }
  // MLflow's own MLFLOW_TRACKING_* variables: lowest precedence, and only for the MLflow registry.
  if (isPlainObject(merged.registry) && merged.registry.kind === 'mlflow') {
    merged = deepMerge({ registry: mlflowRegistryFromEnv(env) }, merged);
  }
  const result = configSchema.safeParse(merged);
  const problems = [...fromEnv.problems, ...crossFieldProblems(merged)].map((p) => `${p.path}: ${p.message}`);
  if (!result.success) {
    for (const issue of result.error.issues) {
      problems.push(`${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !result.success) {
    const where = file ? ` (file ${file})` : '';
    throw new DriftwatchError('DW_ERR_CONFIG_INVALID', `invalid configuration${where}, ${problems.length} problem(s):\n  - ${problems.join('\n  - ')}`);
  }
  const config = result.data;
  // Links in notifications point at the admin port: unless alerts.externalUrl was given (file,
  // DRIFTWATCH_ALERTS_EXTERNAL_URL or a flag), it follows the admin port configured here, not the
  // schema's fixed default (issue 19: --admin-port left every link on the old port).
  const givenAlerts = isPlainObject(merged.alerts) ? merged.alerts : {};
  if (givenAlerts.externalUrl === undefined) config.alerts = { ...config.alerts, externalUrl: adminUrlFor(config.admin) };
  return deepFreeze(config);
}

/** An http(s) URL: MLFLOW_TRACKING_URI may also be file:, databricks or sqlite, which driftwatch cannot use. */
function isHttpUrl(v: string | undefined): boolean {
  if (!v) return false;
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}
