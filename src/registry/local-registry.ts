/**
 * The embedded model registry: a directory on local disk, no service to run.
 *
 *   ROOT/models/NAME/registered_model.json   the model and all its versions (MLflow REST shapes)
 *   ROOT/models/NAME/versions/N/             a copy of version N's model directory
 *
 * One JSON document per registered model, replaced atomically (atomic-file.ts) under a lock, so a
 * crash never leaves a torn file and the CLI can write while a server reads. Registering copies the
 * model directory (as MLflow copies artifacts): later edits to the source do not change a version.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { MODEL_NAME_PATTERN } from '../config/schema.js';
import { DriftwatchError, messageOf } from '../errors.js';
import { readModelDir } from '../model/mlmodel.js';
import { validateReference } from '../stats/reference.js';
import type { ReferenceProfile } from '../stats/types.js';
import { fsyncDir, withFileLock, writeFileAtomic } from './atomic-file.js';
import { canonicalStage, type ModelUri, type Stage } from './model-uri.js';
import type { CreateVersionInput, ModelRegistry, ModelVersion, RegisteredModel, ResolvedModel, Tag } from './types.js';

interface StoredVersion extends Omit<ModelVersion, 'aliases'> {}

interface StoredModel {
  format: 1;
  registered_model: Omit<RegisteredModel, 'latest_versions'>;
  model_versions: StoredVersion[];
}

const ALIAS_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]{0,255}$/;
const TAG_KEY_PATTERN = /^[A-Za-z0-9_.\-/ :]{1,250}$/;

export interface LocalRegistryDeps {
  /** Clock in epoch ms; injected so tests can pin timestamps. */
  now?: () => number;
}

export class LocalRegistry implements ModelRegistry {
  readonly root: string;
  private readonly now: () => number;

  constructor(root: string, deps: LocalRegistryDeps = {}) {
    this.root = resolve(root);
    this.now = deps.now ?? Date.now;
  }

  private modelDir(name: string): string {
    return join(this.root, 'models', name);
  }

  private docPath(name: string): string {
    return join(this.modelDir(name), 'registered_model.json');
  }

  private checkName(name: string): void {
    if (!MODEL_NAME_PATTERN.test(name)) {
      throw new DriftwatchError('DW_ERR_REGISTRY_INVALID', `invalid model name ${JSON.stringify(name)}: use letters, digits, ".", "_" and "-" (at most 128)`);
    }
  }

  private read(name: string): StoredModel {
    this.checkName(name);
    const path = this.docPath(name);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new DriftwatchError('DW_ERR_REGISTRY_MODEL_NOT_FOUND', `registered model ${JSON.stringify(name)} not found in registry ${this.root}`);
      }
      throw e;
    }
    try {
      return JSON.parse(text) as StoredModel;
    } catch (e) {
      throw new DriftwatchError('DW_ERR_REGISTRY_CORRUPT', `registry file ${path} is not valid JSON: ${messageOf(e)}`, { cause: e });
    }
  }

  /** Read-modify-write of one model's document under its lock. */
  private update<T>(name: string, fn: (doc: StoredModel) => T, create = false): T {
    this.checkName(name);
    mkdirSync(this.modelDir(name), { recursive: true });
    return withFileLock(join(this.modelDir(name), '.lock'), () => {
      let doc: StoredModel;
      if (create && !existsSync(this.docPath(name))) {
        const t = this.now();
        doc = {
          format: 1,
          registered_model: { name, creation_timestamp: t, last_updated_timestamp: t, description: '', tags: [], aliases: [] },
          model_versions: [],
        };
      } else {
        doc = this.read(name);
      }
      const result = fn(doc);
      writeFileAtomic(this.docPath(name), JSON.stringify(doc, null, 2) + '\n');
      return result;
    });
  }

  private view(doc: StoredModel, v: StoredVersion): ModelVersion {
    return {
      ...v,
      tags: v.tags.map((t) => ({ ...t })),
      aliases: doc.registered_model.aliases.filter((a) => a.version === v.version).map((a) => a.alias),
    };
  }

  private findVersion(doc: StoredModel, version: string | number): StoredVersion {
    const v = String(version);
    const found = doc.model_versions.find((mv) => mv.version === v);
    if (!found) {
      const known = doc.model_versions.map((mv) => mv.version).join(', ') || 'none';
      throw new DriftwatchError(
        'DW_ERR_REGISTRY_VERSION_NOT_FOUND',
        `registered model ${doc.registered_model.name} has no version ${JSON.stringify(v)} (versions: ${known})`,
      );
    }
    return found;
  }

  private toRegistered(doc: StoredModel): RegisteredModel {
    // MLflow's latest_versions: the newest version in each stage.
    const latest = new Map<string, StoredVersion>();
    for (const v of doc.model_versions) {
      const cur = latest.get(v.current_stage);
      if (!cur || Number(v.version) > Number(cur.version)) latest.set(v.current_stage, v);
    }
    return {
      ...doc.registered_model,
      latest_versions: [...latest.values()].sort((a, b) => Number(a.version) - Number(b.version)).map((v) => this.view(doc, v)),
    };
  }

  async listRegisteredModels(): Promise<RegisteredModel[]> {
    const dir = join(this.root, 'models');
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((n) => existsSync(this.docPath(n)))
      .sort()
      .map((n) => this.toRegistered(this.read(n)));
  }

  async getRegisteredModel(name: string): Promise<RegisteredModel> {
    return this.toRegistered(this.read(name));
  }

  async listModelVersions(name: string): Promise<ModelVersion[]> {
    const doc = this.read(name);
    return doc.model_versions.map((v) => this.view(doc, v));
  }

  async getModelVersion(name: string, version: string | number): Promise<ModelVersion> {
    const doc = this.read(name);
    return this.view(doc, this.findVersion(doc, version));
  }

  versionDir(name: string, version: string | number): string {
    return join(this.modelDir(name), 'versions', String(version));
  }

  async resolve(uri: ModelUri): Promise<ResolvedModel> {
    if (uri.kind === 'path') {
      const m = readModelDir(uri.path);
      return { uri: uri.text, name: basename(m.dir), version: '1', dir: m.dir };
    }
    const doc = this.read(uri.name);
    let chosen: StoredVersion | undefined;
    const byNumber = (a: StoredVersion, b: StoredVersion) => Number(b.version) - Number(a.version);
    switch (uri.kind) {
      case 'version':
        chosen = this.findVersion(doc, uri.version);
        break;
      case 'latest':
        chosen = [...doc.model_versions].sort(byNumber)[0];
        if (!chosen) throw new DriftwatchError('DW_ERR_REGISTRY_VERSION_NOT_FOUND', `registered model ${uri.name} has no versions`);
        break;
      case 'stage':
        chosen = doc.model_versions.filter((v) => v.current_stage === uri.stage).sort(byNumber)[0];
        if (!chosen) {
          throw new DriftwatchError('DW_ERR_REGISTRY_VERSION_NOT_FOUND', `registered model ${uri.name} has no version in stage ${uri.stage}`);
        }
        break;
      case 'alias': {
        const a = doc.registered_model.aliases.find((x) => x.alias === uri.alias);
        if (!a) {
          const known = doc.registered_model.aliases.map((x) => x.alias).join(', ') || 'none';
          throw new DriftwatchError(
            'DW_ERR_REGISTRY_ALIAS_NOT_FOUND',
            `registered model ${uri.name} has no alias ${JSON.stringify(uri.alias)} (aliases: ${known})`,
          );
        }
        chosen = this.findVersion(doc, a.version);
        break;
      }
    }
    return { uri: uri.text, name: uri.name, version: chosen.version, dir: this.versionDir(uri.name, chosen.version) };
  }

  async createModelVersion(input: CreateVersionInput): Promise<ModelVersion> {
    this.checkName(input.name);
    const model = readModelDir(input.sourceDir); // refuse what could not be served
    const rel = relative(model.dir, this.root);
    if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) {
      throw new DriftwatchError(
        'DW_ERR_REGISTRY_INVALID',
        `the registry ${this.root} lies inside the model directory ${model.dir}; register from a directory that does not contain the registry`,
      );
    }
    for (const key of Object.keys(input.tags ?? {})) this.checkTagKey(key);
    const versionsDir = join(this.modelDir(input.name), 'versions');
    return this.update(
      input.name,
      (doc) => {
        const next = doc.model_versions.reduce((m, v) => Math.max(m, Number(v.version)), 0) + 1;
        const target = join(versionsDir, String(next));
        const staging = `${target}.partial-${process.pid}`;
        mkdirSync(versionsDir, { recursive: true });
        rmSync(staging, { recursive: true, force: true });
        rmSync(target, { recursive: true, force: true }); // left by a crash before the document was written
        cpSync(model.dir, staging, { recursive: true, dereference: true });
        renameSync(staging, target);
        fsyncDir(versionsDir);
        const t = this.now();
        const mv: StoredVersion = {
          name: input.name,
          version: String(next),
          creation_timestamp: t,
          last_updated_timestamp: t,
          current_stage: 'None',
          description: input.description ?? '',
          source: model.dir,
          run_id: input.runId ?? model.runId ?? '',
          status: 'READY',
          tags: Object.entries(input.tags ?? {}).map(([key, value]) => ({ key, value })),
        };
        doc.model_versions.push(mv);
        doc.registered_model.last_updated_timestamp = t;
        return this.view(doc, mv);
      },
      true,
    );
  }

  async transitionStage(name: string, version: string | number, stageIn: Stage, opts: { archiveExisting?: boolean } = {}): Promise<ModelVersion> {
    const stage = canonicalStage(stageIn);
    if (!stage) throw new DriftwatchError('DW_ERR_REGISTRY_INVALID', `invalid stage ${JSON.stringify(stageIn)}: use None, Staging, Production or Archived`);
    return this.update(name, (doc) => {
      const mv = this.findVersion(doc, version);
      const t = this.now();
      // MLflow's archive_existing_versions: other versions in the target stage move to Archived.
      if (opts.archiveExisting && (stage === 'Staging' || stage === 'Production')) {
        for (const other of doc.model_versions) {
          if (other !== mv && other.current_stage === stage) {
            other.current_stage = 'Archived';
            other.last_updated_timestamp = t;
          }
        }
      }
      mv.current_stage = stage;
      mv.last_updated_timestamp = t;
      doc.registered_model.last_updated_timestamp = t;
      return this.view(doc, mv);
    });
  }

  async setAlias(name: string, alias: string, version: string | number): Promise<void> {
    // MLflow reserves "latest" and version-like aliases (v1, v2, ...): they would shadow URIs.
    if (!ALIAS_PATTERN.test(alias) || alias.toLowerCase() === 'latest' || /^v\d+$/i.test(alias)) {
      throw new DriftwatchError(
        'DW_ERR_REGISTRY_INVALID',
        `invalid alias ${JSON.stringify(alias)}: start with a letter or "_", use letters, digits, "_" and "-"; "latest" and v<N> are reserved`,
      );
    }
    this.update(name, (doc) => {
      const mv = this.findVersion(doc, version);
      doc.registered_model.aliases = doc.registered_model.aliases.filter((a) => a.alias !== alias);
      doc.registered_model.aliases.push({ alias, version: mv.version });
      doc.registered_model.last_updated_timestamp = this.now();
    });
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    this.update(name, (doc) => {
      if (!doc.registered_model.aliases.some((a) => a.alias === alias)) {
        throw new DriftwatchError('DW_ERR_REGISTRY_ALIAS_NOT_FOUND', `registered model ${name} has no alias ${JSON.stringify(alias)}`);
      }
      doc.registered_model.aliases = doc.registered_model.aliases.filter((a) => a.alias !== alias);
      doc.registered_model.last_updated_timestamp = this.now();
    });
  }

  private checkTagKey(key: string): void {
    if (!TAG_KEY_PATTERN.test(key)) {
      throw new DriftwatchError(
        'DW_ERR_REGISTRY_INVALID',
        `invalid tag key ${JSON.stringify(key)}: 1-250 of letters, digits, "_", "-", ".", "/", ":" and space`,
      );
    }
  }

  async setModelVersionTag(name: string, version: string | number, key: string, value: string): Promise<void> {
    this.checkTagKey(key);
    if (value.length > 5000) throw new DriftwatchError('DW_ERR_REGISTRY_INVALID', 'tag values are limited to 5000 characters (as in MLflow)');
    this.update(name, (doc) => {
      const mv = this.findVersion(doc, version);
      const tags: Tag[] = mv.tags.filter((t) => t.key !== key);
      tags.push({ key, value });
      mv.tags = tags;
      mv.last_updated_timestamp = this.now();
    });
  }

  private referencePath(name: string, version: string): string {
    return join(this.modelDir(name), 'references', `${version}.json`);
  }

  async getReference(name: string, version: string | number): Promise<ReferenceProfile | null> {
    const v = this.findVersion(this.read(name), version);
    const path = this.referencePath(name, v.version);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    try {
      return validateReference(JSON.parse(text));
    } catch (e) {
      throw new DriftwatchError('DW_ERR_REFERENCE_INVALID', `reference profile ${path} is invalid: ${messageOf(e)}`, { cause: e });
    }
  }

  async putReference(ref: ReferenceProfile): Promise<void> {
    const v = this.findVersion(this.read(ref.model), ref.version);
    const path = this.referencePath(ref.model, v.version);
    mkdirSync(dirname(path), { recursive: true });
    // Replaced atomically: a server reading it mid-write sees the old one or the new one.
    writeFileAtomic(path, JSON.stringify(validateReference(ref)));
  }

  async deleteModelVersionTag(name: string, version: string | number, key: string): Promise<void> {
    this.update(name, (doc) => {
      const mv = this.findVersion(doc, version);
      mv.tags = mv.tags.filter((t) => t.key !== key);
      mv.last_updated_timestamp = this.now();
    });
  }
}
