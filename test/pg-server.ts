/**
 * Starts a real PostgreSQL 15 (Debian's `postgresql` package: /usr/lib/postgresql/15/bin) for the
 * fleet prediction log's tests: its own cluster in a temp dir, on a loopback port, never the
 * system-wide service. PostgreSQL refuses to run as root, and CI runs as root: then the server
 * (and initdb) run as the `postgres` user through `runuser`, with the temp dir handed to it.
 *
 * The cluster has one superuser `dw` with a password (scram-sha-256 over TCP), so the tests pass a
 * password the way a deployment does (labels.postgres.password), not a trust login.
 *
 * When the binaries are missing the tests skip loudly, unless DRIFTWATCH_TEST_REQUIRE_POSTGRES=1
 * (set by .ci/run), in which case they fail: CI must never pass by skipping.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { freePort } from './influx-server.js';

const BIN = process.env.DRIFTWATCH_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';
export const PG_USER = 'dw';
export const PG_PASSWORD = 'pg-test-secret-4711';

/** Whether a missing PostgreSQL fails the test (CI) instead of skipping it. */
export function postgresRequired(): boolean {
  return process.env.DRIFTWATCH_TEST_REQUIRE_POSTGRES === '1';
}

/** Why PostgreSQL cannot be started here, or null when it can. */
export function postgresMissing(): string | null {
  for (const b of ['initdb', 'postgres']) if (!existsSync(join(BIN, b))) return `${join(BIN, b)} not found (Debian: apt-get install postgresql)`;
  if (process.getuid?.() === 0) {
    try {
      execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
    } catch {
      return 'running as root and there is no `postgres` user to run the server as';
    }
  }
  return null;
}

/** true when PostgreSQL can be used; otherwise skips loudly, or fails when it is required. */
export function havePostgres(t: TestContext): boolean {
  const missing = postgresMissing();
  if (missing === null) return true;
  const msg = `PostgreSQL unavailable: ${missing}`;
  if (postgresRequired()) assert.fail(`${msg}, and DRIFTWATCH_TEST_REQUIRE_POSTGRES=1 requires it`);
  t.skip(`SKIPPED: ${msg}; set DRIFTWATCH_TEST_REQUIRE_POSTGRES=1 to make this a failure`);
  return false;
}

export interface PgServer {
  port: number;
  /** postgres://dw@127.0.0.1:PORT/DB (no password: tests pass PG_PASSWORD apart, as deployments should). */
  urlFor(database: string): string;
  /** A new empty database; returns its URL (without the password). */
  createDatabase(name: string): Promise<string>;
  running(): boolean;
  /** The postmaster's process id (its backends are its children), or 0 when it is not running. */
  pid(): number;
  /** Stops the server (data kept): SIGINT is PostgreSQL's fast shutdown, SIGKILL a crash. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and data dir. */
  start(): Promise<void>;
  /** Stops it and deletes the temp dir. */
  destroy(): Promise<void>;
}

const asRoot = () => process.getuid?.() === 0;

function run(cmd: string, args: string[]): { cmd: string; args: string[] } {
  return asRoot() ? { cmd: 'runuser', args: ['-u', 'postgres', '--', cmd, ...args] } : { cmd, args };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface StartPostgresOptions {
  /** fsync and synchronous commit off (tests: fast); on for the benchmark (the real cost). */
  durable?: boolean;
}

export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PgServer> {
  const missing = postgresMissing();
  if (missing !== null) throw new Error(`PostgreSQL unavailable: ${missing}`);
  const dir = mkdtempSync(join(tmpdir(), 'dw-pg-'));
  const data = join(dir, 'data');
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, `${PG_PASSWORD}\n`);
  if (asRoot()) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
    chownSync(pwfile, uid, gid);
  }
  const init = run(join(BIN, 'initdb'), [
    '-D',
    data,
    '-U',
    PG_USER,
    `--pwfile=${pwfile}`,
    '--auth-local=trust',
    '--auth-host=scram-sha-256',
    '-E',
    'UTF8',
    '--no-locale',
    '--no-sync',
  ]);
  try {
    execFileSync(init.cmd, init.args, { stdio: 'pipe' });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${(e as { stderr?: Buffer }).stderr?.toString() ?? (e as Error).message}`);
  }
  const port = await freePort();
  const sock = join(dir, 'sock');
  mkdirSync(sock);
  if (asRoot()) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    chownSync(sock, uid, -1);
  }
  const durability = opts.durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'];
  let child: ChildProcess | null = null;
  let log = '';
  const urlFor = (db: string) => `postgres://${PG_USER}@127.0.0.1:${port}/${db}`;

  const server: PgServer = {
    port,
    urlFor,
    running: () => child !== null && child.exitCode === null && child.signalCode === null,
    pid() {
      try {
        return Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]) || 0;
      } catch {
        return 0;
      }
    },
    async start() {
      if (server.running()) return;
      log = '';
      const r = run(join(BIN, 'postgres'), [
        '-D',
        data,
        '-p',
        String(port),
        '-h',
        '127.0.0.1',
        '-k',
        sock,
        '-c',
        'max_connections=60',
        '-c',
        'shared_buffers=64MB',
        ...durability,
      ]);
      const c = spawn(r.cmd, r.args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      const keep = (b: Buffer) => {
        log = (log + b.toString()).slice(-8_000);
      };
      c.stdout?.on('data', keep);
      c.stderr?.on('data', keep);
      const deadline = Date.now() + 30_000;
      for (;;) {
        if (c.exitCode !== null || c.signalCode !== null) throw new Error(`postgres exited before it was ready:\n${log}`);
        if (log.includes('database system is ready to accept connections')) return;
        if (Date.now() > deadline) throw new Error(`postgres not ready within 30 s:\n${log}`);
        await sleep(50);
      }
    },
    async stop(signal: NodeJS.Signals = 'SIGINT') {
      const c = child;
      if (c === null || c.exitCode !== null || c.signalCode !== null) return;
      // The signal goes to the postmaster itself (its pid file's first line), not to runuser in
      // front of it: a SIGKILL of runuser alone would leave the server running.
      let pid = 0;
      try {
        pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      } catch {
        pid = 0;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          if (pid > 0) process.kill(pid, 'SIGKILL');
          c.kill('SIGKILL');
        }, 10_000);
        c.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        if (pid > 0) process.kill(pid, signal);
        else c.kill(signal);
      });
    },
    async createDatabase(name: string) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
      // createdb from the same installation, over the server's socket (trust for local connections).
      const c = run(join(BIN, 'createdb'), ['-h', sock, '-p', String(port), '-U', PG_USER, name]);
      execFileSync(c.cmd, c.args, { stdio: 'pipe' });
      return urlFor(name);
    },
    async destroy() {
      await server.stop('SIGINT');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  // A test process that dies without destroy() must not leave its server running: the
  // postmaster gets an immediate shutdown (SIGQUIT) as this process exits.
  process.once('exit', () => {
    const pid = server.pid();
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {
        // already gone
      }
    }
  });
  return server;
}
