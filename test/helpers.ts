/** Shared test helpers: temp dirs, a registry with the example model, a server on port 0. */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServeApp, type ServeApp } from '../src/app/serve-app.js';
import { loadConfig } from '../src/config/load.js';
import { LocalRegistry } from '../src/registry/local-registry.js';
import { createLogger, type Logger } from '../src/telemetry/logger.js';

export const ROOT = resolve(fileURLToPath(import.meta.url), '..', '..');
export const EXAMPLE_MODEL_DIR = join(ROOT, 'examples', 'seattle-weather', 'model');
export const FEATURES = ['precipitation', 'temp_max', 'temp_min', 'wind'];

export function tempDir(prefix = 'dw-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A logger that keeps lines in memory, for asserting on logs (and on what they never contain). */
export function memoryLogger(level: 'debug' | 'info' = 'info'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger({ level, write: (l) => lines.push(l) }), lines };
}

/** A copy of the example model with its MLmodel rewritten by fn (for tensor-signature variants etc.). */
export function variantModel(parent: string, name: string, fn: (mlmodel: string) => string): string {
  const dir = join(parent, name);
  cpSync(EXAMPLE_MODEL_DIR, dir, { recursive: true });
  writeFileSync(join(dir, 'MLmodel'), fn(readFileSync(join(dir, 'MLmodel'), 'utf8')));
  return dir;
}

export interface RunningServer {
  app: ServeApp;
  url: string;
  adminUrl: string | null;
  registry: LocalRegistry;
  close(): Promise<void>;
}

export async function startServer(opts: {
  registryRoot: string;
  models: Array<{ uri: string; name?: string }>;
  serve?: Record<string, unknown>;
  admin?: Record<string, unknown>;
  pollIntervalMs?: number;
  logger?: Logger;
  predictVia?: 'lean' | 'express';
}): Promise<RunningServer> {
  const config = loadConfig({
    env: {},
    overrides: {
      serve: { port: 0, models: opts.models, ...opts.serve },
      registry: { root: opts.registryRoot, pollIntervalMs: opts.pollIntervalMs ?? 60_000 },
      admin: { port: 0, ...opts.admin },
      log: { level: 'silent' },
    },
  });
  const registry = new LocalRegistry(opts.registryRoot);
  const app = createServeApp(config, {
    registry,
    logger: opts.logger ?? createLogger({ level: 'silent' }),
    ...(opts.predictVia ? { predictVia: opts.predictVia } : {}),
  });
  const { scoring, admin } = await app.start();
  return {
    app,
    registry,
    url: `http://127.0.0.1:${scoring.port}`,
    adminUrl: admin ? `http://127.0.0.1:${admin.port}` : null,
    close: () => app.close(),
  };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; headers: Headers }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = { __text: text };
  }
  return { status: res.status, json, headers: res.headers };
}

/** Real rows from the data set the example model was trained on. */
export function weatherRows(from: string, to: string): Array<{ date: string; features: number[]; weather: string }> {
  const text = readFileSync(join(ROOT, 'node_modules', 'vega-datasets', 'data', 'seattle-weather.csv'), 'utf8')
    .trim()
    .split('\n');
  const header = text[0]!.split(',');
  return text
    .slice(1)
    .map((line) => {
      const c = line.split(',');
      return {
        date: c[header.indexOf('date')]!,
        features: FEATURES.map((f) => Number(c[header.indexOf(f)])),
        weather: c[header.indexOf('weather')]!,
      };
    })
    .filter((r) => r.date >= from && r.date <= to);
}
