/**
 * The registry interface over an MLflow tracking server's Model Registry (REST API 2.0), so
 * driftwatch serves, follows and flags models that already live in MLflow.
 *
 * The whole HTTP surface is MLFLOW_ENDPOINTS below plus the artifact proxy (list, download,
 * upload). Facts of real servers (2.x, 3.x) this is written against:
 * - `version` is a string and timestamps are numbers; proto3 JSON leaves out empty fields
 *   (no `tags`, `aliases`, `description`, an empty search is `{}`), so every field has a default.
 * - model-versions/search does not carry `aliases` (model-versions/get does): list views take them
 *   from registered-models/get.
 * - A missing alias is 400 INVALID_PARAMETER_VALUE ("Registered model alias X not found"), not 404.
 * - Searches page with max_results + page_token.
 * - Stages are deprecated since 2.9 in favour of aliases but still served: both resolve.
 * - Only READY versions exist for driftwatch (PENDING_REGISTRATION / FAILED_REGISTRATION have no
 *   complete artifacts): they are neither resolved nor listed.
 *
 * Model files are downloaded through the artifact proxy into a verified local cache
 * (artifact-cache.ts). Reference profiles are stored as MLflow artifacts next to nothing else
 * (driftwatch/references/NAME/VERSION/SHA256.json, uploaded with PUT) and pointed at by the
 * model-version tag `driftwatch.reference`, so every driftwatch process that reads this MLflow
 * server sees the same reference, and the team sees it in MLflow's UI.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, join, relative, resolve as resolvePath } from 'node:path';
import type { RegistryConfig } from '../config/schema.js';
import { DriftwatchError, messageOf } from '../errors.js';
import { readModelDir } from '../model/mlmodel.js';
import { validateReference } from '../stats/reference.js';
import type { ReferenceProfile } from '../stats/types.js';
import type { Logger } from '../telemetry/logger.js';
import { ArtifactCache, safeSegment } from './artifact-cache.js';
import { writeFileAtomic } from './atomic-file.js';
import { MlflowClient, MlflowRestError, type MlflowCredentials, type MlflowEndpoint } from './mlflow-client.js';
import { canonicalStage, type ModelUri, type Stage } from './model-uri.js';
import type { CreateVersionInput, ModelRegistry, ModelVersion, RegisteredModel, ResolvedModel, Tag } from './types.js';

/** Every REST call this adapter makes, and what for: the list to check against a real server. */
export const MLFLOW_ENDPOINTS: ReadonlyArray<{ endpoint: MlflowEndpoint; usedBy: string }> = [
  { endpoint: 'GET registered-models/search', usedBy: 'listRegisteredModels (names, paged)' },
  { endpoint: 'GET registered-models/get', usedBy: 'getRegisteredModel, listModelVersions (aliases), resolve error messages' },
  { endpoint: 'POST registered-models/create', usedBy: 'createModelVersion of a new name' },
  { endpoint: 'GET registered-models/alias', usedBy: 'resolve models:/NAME@ALIAS' },
  { endpoint: 'POST registered-models/alias', usedBy: 'setAlias' },
  { endpoint: 'DELETE registered-models/alias', usedBy: 'deleteAlias (JSON body)' },
  { endpoint: 'GET model-versions/get', usedBy: 'getModelVersion, resolve models:/NAME/N, getReference' },
  { endpoint: 'GET model-versions/search', usedBy: 'listModelVersions, resolve models:/NAME/STAGE and /latest (filter name="NAME", paged)' },
  { endpoint: 'POST model-versions/create', usedBy: 'createModelVersion (source: the uploaded mlflow-artifacts:/ directory)' },
  { endpoint: 'GET model-versions/get-download-uri', usedBy: "where a version's model directory lives (once per version)" },
  { endpoint: 'POST model-versions/transition-stage', usedBy: 'transitionStage' },
  { endpoint: 'POST model-versions/set-tag', usedBy: 'setModelVersionTag (staleness tags), putReference' },
  { endpoint: 'DELETE model-versions/delete-tag', usedBy: 'deleteModelVersionTag (JSON body)' },
];
/** Artifact proxy calls: GET /api/2.0/mlflow-artifacts/artifacts?path=P (list), GET .../artifacts/P (download), PUT .../artifacts/P (upload). */

export const REFERENCE_TAG = 'driftwatch.reference';
/** MLflow's own cap for registered-models/search (SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD). */
const DEFAULT_PAGE_SIZE = 1000;
/** Pages followed at most in one search: a server whose page tokens never end cannot hang a poll. */
const MAX_PAGES = 1000;

export interface MlflowRegistryOptions {
  trackingUri: string;
  credentials?: MlflowCredentials;
  cacheDir: string;
  timeoutMs?: number;
  downloadTimeoutMs?: number;
  retries?: number;
  retryDelayMs?: number;
  logger?: Logger;
  /** max_results of each search page (tests use small pages to exercise paging). */
  pageSize?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

// biome-ignore lint/suspicious/noExplicitAny: MLflow's JSON answers, read field by field with checks
type Raw = Record<string, any>;

const str = (v: unknown, d = ''): string => (v === undefined || v === null ? d : String(v));
const num = (v: unknown, d = 0): number => (v === undefined || v === null || Number.isNaN(Number(v)) ? d : Number(v));
const tagsOf = (v: unknown): Tag[] => (Array.isArray(v) ? v.map((t: Raw) => ({ key: str(t.key), value: str(t.value) })) : []);

/** mlflow-artifacts:/P or mlflow-artifacts://host:port/P -> P (a path under the artifact proxy). */
export function proxyPathOf(uri: string): string {
  const m = /^mlflow-artifacts:(?:\/\/[^/]*)?\/*(.*)$/.exec(uri);
  if (!m) {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(uri)?.[1] ?? 'a local path';
    throw new DriftwatchError(
      'DW_ERR_REGISTRY_UNSUPPORTED',
      `artifact location ${uri} (${scheme}) is not served by MLflow's artifact proxy; run the tracking server with proxied artifacts (mlflow server --serve-artifacts, the default since 2.0, with --artifacts-destination) so driftwatch can download it`,
    );
  }
  const path = m[1]!.replace(/\/+$/, '');
  if (path.split('/').some((s) => s === '..')) throw new DriftwatchError('DW_ERR_REGISTRY_UNSUPPORTED', `artifact location ${uri} contains ".."`);
  return path;
}

export function createMlflowRegistry(config: RegistryConfig, deps: { logger?: Logger } = {}): MlflowRegistry {
  if (!config.trackingUri) throw new DriftwatchError('DW_ERR_CONFIG_INVALID', 'registry.kind mlflow needs registry.trackingUri (or MLFLOW_TRACKING_URI)');
  return new MlflowRegistry({
    trackingUri: config.trackingUri,
    credentials: { token: config.token, username: config.username, password: config.password },
    cacheDir: config.cacheDir,
    timeoutMs: config.timeoutMs,
    downloadTimeoutMs: config.downloadTimeoutMs,
    retries: config.retries,
    retryDelayMs: config.retryDelayMs,
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
}

export class MlflowRegistry implements ModelRegistry {
  readonly client: MlflowClient;
  readonly cache: ArtifactCache;
  private readonly serverDir: string;
  private readonly pageSize: number;
  private readonly log: Logger | undefined;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  /** Artifact locations by version: a version's source never changes, so it is asked once. */
  private readonly downloadPaths = new Map<string, string>();

  constructor(opts: MlflowRegistryOptions) {
    this.log = opts.logger;
    this.client = new MlflowClient({
      trackingUri: opts.trackingUri,
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      timeoutMs: opts.timeoutMs ?? 10_000,
      downloadTimeoutMs: opts.downloadTimeoutMs ?? 600_000,
      retries: opts.retries ?? 4,
      retryDelayMs: opts.retryDelayMs ?? 500,
      ...(opts.logger ? { logger: opts.logger } : {}),
      ...(opts.sleep ? { sleep: opts.sleep } : {}),
    });
    const url = new URL(this.client.describe);
    // One cache per server: the same name and version on two servers are different models.
    this.serverDir = join(resolvePath(opts.cacheDir), safeSegment(`${url.host}${url.pathname.replace(/\/+$/, '')}`));
    this.cache = new ArtifactCache(join(this.serverDir, 'models'), {
      source: { list: (p) => this.client.listArtifacts(p), download: (p, d) => this.client.downloadArtifact(p, d) },
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
    this.pageSize = opts.pageSize ?? DEFAULT_PAGE_SIZE;
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  get describe(): string {
    return `mlflow ${this.client.describe}`;
  }

  // ---- mapping MLflow's JSON to the interface's shapes -------------------------------------

  private toVersion(raw: Raw, aliases?: Map<string, string[]>): ModelVersion | null {
    if (str(raw.status, 'READY') !== 'READY') return null;
    const version = str(raw.version);
    const created = num(raw.creation_timestamp);
    return {
      name: str(raw.name),
      version,
      creation_timestamp: created,
      last_updated_timestamp: num(raw.last_updated_timestamp, created),
      current_stage: canonicalStage(str(raw.current_stage, 'None')) ?? 'None',
      description: str(raw.description),
      source: str(raw.source),
      run_id: str(raw.run_id),
      status: 'READY',
      tags: tagsOf(raw.tags),
      aliases: Array.isArray(raw.aliases) ? raw.aliases.map(String) : (aliases?.get(version) ?? []),
    };
  }

  private toRegistered(raw: Raw): RegisteredModel {
    const aliases = Array.isArray(raw.aliases) ? raw.aliases.map((a: Raw) => ({ alias: str(a.alias), version: str(a.version) })) : [];
    const byVersion = aliasMap(aliases);
    const created = num(raw.creation_timestamp);
    return {
      name: str(raw.name),
      creation_timestamp: created,
      last_updated_timestamp: num(raw.last_updated_timestamp, created),
      description: str(raw.description),
      tags: tagsOf(raw.tags),
      aliases,
      latest_versions: (Array.isArray(raw.latest_versions) ? raw.latest_versions : [])
        .map((v: Raw) => this.toVersion(v, byVersion))
        .filter((v: ModelVersion | null): v is ModelVersion => v !== null)
        .sort((a: ModelVersion, b: ModelVersion) => Number(a.version) - Number(b.version)),
    };
  }

  /** A RESOURCE_DOES_NOT_EXIST on a version call: the model, or only the version, is missing. */
  private versionError(e: unknown, name: string, version: string): unknown {
    if (e instanceof MlflowRestError && e.mlflowErrorCode === 'RESOURCE_DOES_NOT_EXIST' && !/registered model/i.test(e.serverMessage)) {
      return new DriftwatchError(
        'DW_ERR_REGISTRY_VERSION_NOT_FOUND',
        `registered model ${name} has no version ${JSON.stringify(version)} on ${this.client.describe}`,
        { cause: e },
      );
    }
    return e;
  }

  private async paged(endpoint: 'GET registered-models/search' | 'GET model-versions/search', params: Record<string, unknown>, key: string): Promise<Raw[]> {
    const out: Raw[] = [];
    let token: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const body = await this.client.call<Raw>(endpoint, { ...params, max_results: this.pageSize, ...(token ? { page_token: token } : {}) });
      if (Array.isArray(body[key])) out.push(...(body[key] as Raw[]));
      token = typeof body.next_page_token === 'string' && body.next_page_token ? body.next_page_token : undefined;
      if (!token) return out;
    }
    throw new DriftwatchError('DW_ERR_REGISTRY_UNAVAILABLE', `MLflow ${this.client.describe} ${endpoint}: still paging after ${MAX_PAGES} pages`);
  }

  private async searchVersions(name: string): Promise<ModelVersion[]> {
    const raws = await this.paged('GET model-versions/search', { filter: `name=${filterString(name)}` }, 'model_versions');
    return raws
      .map((r) => this.toVersion(r))
      .filter((v): v is ModelVersion => v !== null && v.name === name)
      .sort((a, b) => Number(a.version) - Number(b.version));
  }

  // ---- reads ------------------------------------------------------------------------------

  async listRegisteredModels(): Promise<RegisteredModel[]> {
    const raws = await this.paged('GET registered-models/search', {}, 'registered_models');
    const names = [...new Set(raws.map((r) => str(r.name)))].sort();
    // Each by registered-models/get: search answers need not carry aliases on every server version.
    const out: RegisteredModel[] = [];
    for (const n of names) {
      try {
        out.push(await this.getRegisteredModel(n));
      } catch (e) {
        if ((e as DriftwatchError).code !== 'DW_ERR_REGISTRY_MODEL_NOT_FOUND') throw e; // deleted meanwhile
      }
    }
    return out;
  }

  async getRegisteredModel(name: string): Promise<RegisteredModel> {
    const body = await this.client.call<Raw>('GET registered-models/get', { name });
    return this.toRegistered((body.registered_model ?? {}) as Raw);
  }

  async listModelVersions(name: string): Promise<ModelVersion[]> {
    const model = await this.getRegisteredModel(name);
    const aliases = aliasMap(model.aliases);
    return (await this.searchVersions(name)).map((v) => ({ ...v, aliases: v.aliases.length ? v.aliases : (aliases.get(v.version) ?? []) }));
  }

  async getModelVersion(name: string, version: string | number): Promise<ModelVersion> {
    const v = String(version);
    let body: Raw;
    try {
      body = await this.client.call<Raw>('GET model-versions/get', { name, version: v });
    } catch (e) {
      const err = this.versionError(e, name, v);
      // MLflow answers "Model Version (name=X, version=N) not found" whether the model or only the
      // version is missing: ask for the model, so a wrong name says so (its own 404 is thrown).
      if (err instanceof DriftwatchError && err.code === 'DW_ERR_REGISTRY_VERSION_NOT_FOUND') await this.getRegisteredModel(name);
      throw err;
    }
    const mv = this.toVersion((body.model_version ?? {}) as Raw);
    if (!mv) {
      throw new DriftwatchError(
        'DW_ERR_REGISTRY_VERSION_NOT_FOUND',
        `registered model ${name} version ${v} is not READY on ${this.client.describe} (status ${str(body.model_version?.status)})`,
      );
    }
    return mv;
  }

  async resolve(uri: ModelUri): Promise<ResolvedModel> {
    if (uri.kind === 'path') {
      const m = readModelDir(uri.path);
      return { uri: uri.text, name: basename(m.dir), version: '1', dir: m.dir };
    }
    let chosen: ModelVersion | undefined;
    switch (uri.kind) {
      case 'version':
        chosen = await this.getModelVersion(uri.name, uri.version);
        break;
      case 'latest':
      case 'stage': {
        const all = await this.searchVersions(uri.name);
        const pool = uri.kind === 'stage' ? all.filter((v) => v.current_stage === uri.stage) : all;
        chosen = pool[pool.length - 1];
        if (!chosen) {
          await this.getRegisteredModel(uri.name); // a missing model says so, rather than "no version"
          throw new DriftwatchError(
            'DW_ERR_REGISTRY_VERSION_NOT_FOUND',
            uri.kind === 'stage'
              ? `registered model ${uri.name} has no READY version in stage ${uri.stage} on ${this.client.describe}`
              : `registered model ${uri.name} has no READY versions on ${this.client.describe}`,
          );
        }
        break;
      }
      case 'alias': {
        let body: Raw;
        try {
          body = await this.client.call<Raw>('GET registered-models/alias', { name: uri.name, alias: uri.alias });
        } catch (e) {
          // Real servers answer a missing alias with 400 INVALID_PARAMETER_VALUE, not 404.
          if (
            e instanceof MlflowRestError &&
            (e.mlflowErrorCode === 'INVALID_PARAMETER_VALUE' || e.mlflowErrorCode === 'RESOURCE_DOES_NOT_EXIST') &&
            /alias/i.test(e.serverMessage) &&
            /not found|does not exist/i.test(e.serverMessage)
          ) {
            throw new DriftwatchError(
              'DW_ERR_REGISTRY_ALIAS_NOT_FOUND',
              `registered model ${uri.name} has no alias ${JSON.stringify(uri.alias)} on ${this.client.describe}`,
              { cause: e },
            );
          }
          throw e;
        }
        const mv = this.toVersion((body.model_version ?? {}) as Raw);
        if (!mv) throw new DriftwatchError('DW_ERR_REGISTRY_VERSION_NOT_FOUND', `alias ${uri.name}@${uri.alias} points at a version that is not READY`);
        chosen = mv;
        break;
      }
    }
    const dir = await this.modelDir(chosen.name || uri.name, chosen.version);
    return { uri: uri.text, name: uri.name, version: chosen.version, dir };
  }

  /** The local, verified copy of a version's model directory (downloaded on first use). */
  async modelDir(name: string, version: string): Promise<string> {
    const key = `${name}\u0000${version}`;
    let path = this.downloadPaths.get(key);
    if (path === undefined) {
      let body: Raw;
      try {
        body = await this.client.call<Raw>('GET model-versions/get-download-uri', { name, version });
      } catch (e) {
        throw this.versionError(e, name, version);
      }
      path = proxyPathOf(str(body.artifact_uri));
      if (this.downloadPaths.size >= 4096) this.downloadPaths.delete(this.downloadPaths.keys().next().value!);
      this.downloadPaths.set(key, path);
    }
    const started = this.now();
    const dir = await this.cache.ensure([name, version], path);
    const tookMs = this.now() - started;
    if (tookMs > 50) this.log?.info('model version files ready in the local cache', { model: name, version, dir, tookMs });
    return dir;
  }

  // ---- writes -----------------------------------------------------------------------------

  async createModelVersion(input: CreateVersionInput): Promise<ModelVersion> {
    const model = readModelDir(input.sourceDir); // refuse what could not be served
    const files = listFiles(model.dir);
    // MLflow registers a version from a source URI; without a run, the directory is uploaded
    // through the artifact proxy first, and the version points at that upload.
    const prefix = `driftwatch/uploads/${safeSegment(input.name)}/${this.now()}-${randomBytes(4).toString('hex')}`;
    for (const rel of files) await this.client.uploadArtifact(`${prefix}/${rel}`, readFileSync(join(model.dir, rel)));
    try {
      await this.client.call('POST registered-models/create', { name: input.name });
    } catch (e) {
      if (!(e instanceof MlflowRestError && e.mlflowErrorCode === 'RESOURCE_ALREADY_EXISTS')) throw e;
    }
    const body = await this.client.call<Raw>('POST model-versions/create', {
      name: input.name,
      source: `mlflow-artifacts:/${prefix}`,
      // Only an explicit run id: the MLmodel's run_id names a run of whichever server trained the
      // model, which this server may not have (and may then refuse the version for).
      ...(input.runId ? { run_id: input.runId } : {}),
      ...(input.description ? { description: input.description } : {}),
      ...(input.tags ? { tags: Object.entries(input.tags).map(([key, value]) => ({ key, value })) } : {}),
    });
    let raw = (body.model_version ?? {}) as Raw;
    // Registration may be asynchronous (PENDING_REGISTRATION): wait a bounded time for READY.
    for (let i = 0; i < 40 && str(raw.status, 'READY') === 'PENDING_REGISTRATION'; i++) {
      await this.sleep(250);
      raw = ((await this.client.call<Raw>('GET model-versions/get', { name: input.name, version: str(raw.version) })).model_version ?? {}) as Raw;
    }
    const mv = this.toVersion(raw);
    if (!mv)
      throw new DriftwatchError(
        'DW_ERR_REGISTRY_INVALID',
        `MLflow did not finish registering ${input.name} version ${str(raw.version)}: status ${str(raw.status)} ${str(raw.status_message)}`,
      );
    return mv;
  }

  async transitionStage(name: string, version: string | number, stageIn: Stage, opts: { archiveExisting?: boolean } = {}): Promise<ModelVersion> {
    const stage = canonicalStage(stageIn);
    if (!stage) throw new DriftwatchError('DW_ERR_REGISTRY_INVALID', `invalid stage ${JSON.stringify(stageIn)}: use None, Staging, Production or Archived`);
    const v = String(version);
    let body: Raw;
    try {
      // MLflow refuses archive_existing_versions=true for None and Archived (500 INTERNAL_ERROR):
      // there is nothing to archive into those stages, so it is only sent for the active ones.
      const archive = (opts.archiveExisting ?? false) && (stage === 'Staging' || stage === 'Production');
      body = await this.client.call<Raw>('POST model-versions/transition-stage', { name, version: v, stage, archive_existing_versions: archive });
    } catch (e) {
      throw this.versionError(e, name, v);
    }
    const mv = this.toVersion((body.model_version ?? {}) as Raw);
    return mv ?? this.getModelVersion(name, v);
  }

  async setAlias(name: string, alias: string, version: string | number): Promise<void> {
    const v = String(version);
    try {
      await this.client.call('POST registered-models/alias', { name, alias, version: v });
    } catch (e) {
      throw this.versionError(e, name, v);
    }
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    await this.client.call('DELETE registered-models/alias', { name, alias });
  }

  async setModelVersionTag(name: string, version: string | number, key: string, value: string): Promise<void> {
    const v = String(version);
    try {
      await this.client.call('POST model-versions/set-tag', { name, version: v, key, value });
    } catch (e) {
      throw this.versionError(e, name, v);
    }
  }

  async deleteModelVersionTag(name: string, version: string | number, key: string): Promise<void> {
    const v = String(version);
    try {
      await this.client.call('DELETE model-versions/delete-tag', { name, version: v, key });
    } catch (e) {
      throw this.versionError(e, name, v);
    }
  }

  // ---- reference profiles -----------------------------------------------------------------

  private referenceFile(sha: string): string {
    return join(this.serverDir, 'references', `${sha}.json`);
  }

  async getReference(name: string, version: string | number): Promise<ReferenceProfile | null> {
    const mv = await this.getModelVersion(name, version);
    const pointer = mv.tags.find((t) => t.key === REFERENCE_TAG)?.value;
    if (!pointer) return null;
    const path = proxyPathOf(pointer);
    const sha = /([0-9a-f]{64})\.json$/.exec(path)?.[1];
    if (!sha)
      throw new DriftwatchError(
        'DW_ERR_REFERENCE_INVALID',
        `tag ${REFERENCE_TAG} of ${name} version ${mv.version} is not a driftwatch reference location: ${pointer}`,
      );
    const local = this.referenceFile(sha);
    // Content-addressed: a cached file whose hash matches is the reference, whatever the server does.
    let text = existsSync(local) ? readFileSync(local, 'utf8') : null;
    if (text === null || sha256(text) !== sha) {
      mkdirSync(join(this.serverDir, 'references'), { recursive: true });
      const tmp = `${local}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      try {
        const got = await this.client.downloadArtifact(path, tmp);
        if (got.sha256 !== sha) throw new DriftwatchError('DW_ERR_REGISTRY_ARTIFACT', `reference ${pointer} does not match its SHA-256`);
        renameSync(tmp, local);
      } finally {
        rmSync(tmp, { force: true });
      }
      text = readFileSync(local, 'utf8');
    }
    try {
      return validateReference(JSON.parse(text));
    } catch (e) {
      throw new DriftwatchError('DW_ERR_REFERENCE_INVALID', `reference profile ${pointer} is invalid: ${messageOf(e)}`, { cause: e });
    }
  }

  async putReference(ref: ReferenceProfile): Promise<void> {
    const mv = await this.getModelVersion(ref.model, ref.version);
    const text = JSON.stringify(validateReference(ref));
    const sha = sha256(text);
    const path = `driftwatch/references/${safeSegment(mv.name)}/${safeSegment(mv.version)}/${sha}.json`;
    await this.client.uploadArtifact(path, Buffer.from(text, 'utf8'));
    mkdirSync(join(this.serverDir, 'references'), { recursive: true });
    writeFileAtomic(this.referenceFile(sha), text);
    // The tag is written last: a reader never follows a pointer to an artifact not yet uploaded.
    await this.setModelVersionTag(mv.name, mv.version, REFERENCE_TAG, `mlflow-artifacts:/${path}`);
  }
}

/**
 * A name as a string literal of MLflow's search filter. MLflow (search_utils.py) tokenizes the
 * filter with sqlparse and takes the text between the quotes as the value without unescaping it,
 * so a quote of the kind used cannot be written inside: double quotes unless the name holds one,
 * then single quotes. A name with both, or ending in a backslash (which would escape the closing
 * quote), cannot be expressed.
 */
export function filterString(name: string): string {
  const q = !name.includes('"') ? '"' : !name.includes("'") ? "'" : null;
  if (q === null || /\\$/.test(name)) {
    throw new DriftwatchError(
      'DW_ERR_REGISTRY_UNSUPPORTED',
      `model name ${JSON.stringify(name)} cannot be written in MLflow's search filter (it holds both quote kinds or ends in a backslash)`,
    );
  }
  return `${q}${name}${q}`;
}

function aliasMap(aliases: ReadonlyArray<{ alias: string; version: string }>): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const a of aliases) m.set(a.version, [...(m.get(a.version) ?? []), a.alias]);
  return m;
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Files under dir, relative with "/" separators (bounded: a model directory, not a file system). */
function listFiles(dir: string, max = 10_000): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else {
        if (out.length >= max) throw new DriftwatchError('DW_ERR_REGISTRY_INVALID', `model directory ${dir} holds more than ${max} files`);
        out.push(relative(dir, p).split(/[\\/]/).join('/'));
      }
    }
  };
  walk(dir);
  return out.sort();
}
