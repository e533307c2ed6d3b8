/**
 * The model registry interface. Shapes and field names follow MLflow's Model Registry REST API 2.0
 * (RegisteredModel, ModelVersion: `version` is a string, timestamps are epoch milliseconds, tags
 * are [{key, value}]) so the local registry and an MLflow-backed one are interchangeable.
 */
import type { ReferenceProfile } from '../stats/types.js';
import type { ModelUri, Stage } from './model-uri.js';

export interface Tag {
  key: string;
  value: string;
}

export interface ModelVersion {
  name: string;
  version: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  current_stage: Stage;
  description: string;
  source: string;
  run_id: string;
  status: 'READY';
  tags: Tag[];
  aliases: string[];
}

export interface RegisteredModel {
  name: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  description: string;
  tags: Tag[];
  aliases: Array<{ alias: string; version: string }>;
  latest_versions: ModelVersion[];
}

/** A URI resolved to one concrete version with a local model directory. */
export interface ResolvedModel {
  uri: string;
  /** Registered name, or the directory name for a path URI. */
  name: string;
  /** Version string; for a path URI, "1". */
  version: string;
  /** Local directory in MLflow's layout. */
  dir: string;
}

export interface CreateVersionInput {
  name: string;
  sourceDir: string;
  description?: string;
  runId?: string;
  tags?: Record<string, string>;
}

export interface ModelRegistry {
  listRegisteredModels(): Promise<RegisteredModel[]>;
  getRegisteredModel(name: string): Promise<RegisteredModel>;
  listModelVersions(name: string): Promise<ModelVersion[]>;
  getModelVersion(name: string, version: string | number): Promise<ModelVersion>;
  resolve(uri: ModelUri): Promise<ResolvedModel>;
  createModelVersion(input: CreateVersionInput): Promise<ModelVersion>;
  transitionStage(name: string, version: string | number, stage: Stage, opts?: { archiveExisting?: boolean }): Promise<ModelVersion>;
  setAlias(name: string, alias: string, version: string | number): Promise<void>;
  deleteAlias(name: string, alias: string): Promise<void>;
  setModelVersionTag(name: string, version: string | number, key: string, value: string): Promise<void>;
  deleteModelVersionTag(name: string, version: string | number, key: string): Promise<void>;
  /** The reference profile stored with a model version, or null when it has none. */
  getReference(name: string, version: string | number): Promise<ReferenceProfile | null>;
  /** Stores (replaces) the reference profile of ref.model version ref.version. */
  putReference(ref: ReferenceProfile): Promise<void>;
}
