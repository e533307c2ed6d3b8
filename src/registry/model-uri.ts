/**
 * Model URIs, as MLflow spells them (mlflow/store/artifact/utils/models.py):
 *   models:/NAME/VERSION   a version number
 *   models:/NAME/STAGE     None | Staging | Production | Archived, case-insensitive
 *   models:/NAME/latest    the highest version number
 *   models:/NAME@ALIAS     an alias
 * and, for convenience, a plain directory path holding an MLflow model. Pure.
 */
import { DriftwatchError } from '../errors.js';

export const STAGES = ['None', 'Staging', 'Production', 'Archived'] as const;
export type Stage = (typeof STAGES)[number];

export type ModelUri =
  | { kind: 'version'; name: string; version: number; text: string }
  | { kind: 'stage'; name: string; stage: Stage; text: string }
  | { kind: 'latest'; name: string; text: string }
  | { kind: 'alias'; name: string; alias: string; text: string }
  | { kind: 'path'; path: string; text: string };

export function canonicalStage(s: string): Stage | null {
  const found = STAGES.find((st) => st.toLowerCase() === s.toLowerCase());
  return found ?? null;
}

export function parseModelUri(text: string): ModelUri {
  const fail = (why: string): never => {
    throw new DriftwatchError(
      'DW_ERR_MODEL_URI_INVALID',
      `invalid model URI ${JSON.stringify(text)}: ${why}; expected models:/NAME/VERSION, models:/NAME/STAGE, models:/NAME/latest, models:/NAME@ALIAS or a directory`,
    );
  };
  if (!text.startsWith('models:')) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) fail('only models:/ URIs and local directories are supported');
    if (text.trim() === '') fail('empty');
    return { kind: 'path', path: text, text };
  }
  const rest = text.slice('models:'.length).replace(/^\/+/, '');
  const at = rest.indexOf('@');
  if (at >= 0) {
    const name = rest.slice(0, at);
    const alias = rest.slice(at + 1);
    if (!name || !alias || name.includes('/') || alias.includes('/')) fail('alias form is models:/NAME@ALIAS');
    return { kind: 'alias', name, alias, text };
  }
  const parts = rest.split('/');
  if (parts.length !== 2 || !parts[0] || !parts[1]) fail('expected exactly NAME/SUFFIX after models:/');
  const [name, suffix] = parts as [string, string];
  if (/^\d+$/.test(suffix)) {
    const version = Number(suffix);
    if (!Number.isSafeInteger(version) || version < 1) fail('version numbers start at 1');
    return { kind: 'version', name, version, text };
  }
  if (suffix.toLowerCase() === 'latest') return { kind: 'latest', name, text };
  const stage = canonicalStage(suffix);
  if (stage) return { kind: 'stage', name, stage, text };
  return fail(`${JSON.stringify(suffix)} is neither a version number, a stage (${STAGES.join(', ')}) nor "latest"`);
}

/** True when the version behind the URI can change while we serve it. */
export function isMovable(uri: ModelUri): boolean {
  return uri.kind === 'stage' || uri.kind === 'latest' || uri.kind === 'alias';
}
