/**
 * `--help` on every command and subcommand, and the answers to typos, as a user gets them: real
 * CLI processes, each in a fresh empty working directory. Help must leave no trace (no
 * `.driftwatch/`, no file at all), read no config (DRIFTWATCH_CONFIG points at a file that does not
 * exist, which any config load reports) and exit at once (start/serve/proxy/analyze would
 * otherwise keep serving until the timeout kills them).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { alerts } from '../../src/cli/alerts.js';
import { feedback } from '../../src/cli/feedback.js';
import { reference } from '../../src/cli/reference.js';
import { registry } from '../../src/cli/registry.js';
import { stats } from '../../src/cli/stats.js';
import { ROOT } from '../helpers.js';

// tsx resolved here: the commands run from a temp directory with no node_modules.
const CLI = [process.execPath, '--import', import.meta.resolve('tsx'), join(ROOT, 'src', 'cli', 'main.ts')];
const TIMEOUT_MS = 20_000;

const COMMANDS = ['start', 'serve', 'proxy', 'registry', 'reference', 'stats', 'drift', 'analyze', 'check', 'challenger', 'feedback', 'alerts', 'version'];
const GROUPS = { registry, reference, stats, feedback, alerts };
const SUBCOMMANDS = Object.entries(GROUPS).flatMap(([group, c]) => Object.keys(c.subcommands ?? {}).map((sub) => [group, sub] as const));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** What the working directory holds afterwards. */
  left: string[];
  ms: number;
  /** The signal that ended it: SIGKILL when the timeout had to. */
  signal: NodeJS.Signals | null;
}

/** Runs the CLI in a fresh empty directory, with no DRIFTWATCH_* from this process. */
function run(args: string[]): Promise<Run> {
  const cwd = mkdtempSync(join(tmpdir(), 'dw-help-'));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('DRIFTWATCH_') && !k.startsWith('MLFLOW_')) env[k] = v;
  // Any config load fails on this; so would a bound port be noticed, by the timeout.
  env.DRIFTWATCH_CONFIG = join(cwd, 'no-such-config.yaml');
  const t0 = Date.now();
  const proc = spawn(CLI[0]!, [...CLI.slice(1), ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => (stdout += d));
  proc.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), TIMEOUT_MS);
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      const left = readdirSync(cwd);
      rmSync(cwd, { recursive: true, force: true });
      resolve({ code, stdout, stderr, left, ms: Date.now() - t0, signal });
    });
  });
}

/** Runs many at a time (each is a process start of a few hundred ms). */
async function runAll(cases: string[][], parallel = 4): Promise<Map<string, Run>> {
  const out = new Map<string, Run>();
  const queue = [...cases];
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let c = queue.shift(); c; c = queue.shift()) out.set(c.join(' '), await run(c));
    }),
  );
  return out;
}

function assertHelp(r: Run | undefined, label: string, mustMention: string): string {
  assert.ok(r, label);
  assert.equal(r.code, 0, `${label}: exit ${r.code} after ${r.ms} ms\n${r.stderr}`);
  assert.equal(r.stderr, '', `${label}: nothing on stderr`);
  assert.match(r.stdout, /^Usage:|^driftwatch \d/, `${label}: usage text on stdout`);
  assert.ok(r.stdout.includes(mustMention), `${label}: mentions ${mustMention}\n${r.stdout}`);
  assert.deepEqual(r.left, [], `${label}: left files behind in the working directory`);
  return r.stdout;
}

describe('--help on every command and subcommand', () => {
  test('the lists here cover every command module and subcommand', () => {
    assert.deepEqual(Object.keys(registry.subcommands!), ['register', 'list', 'show', 'transition', 'set-alias', 'delete-alias', 'tag', 'delete-tag']);
    assert.deepEqual(Object.keys(reference.subcommands!), ['build', 'show']);
    assert.deepEqual(Object.keys(stats.subcommands!), ['series', 'show']);
    assert.deepEqual(Object.keys(alerts.subcommands!), ['test', 'list', 'silence', 'unsilence']);
  });

  test('top level: no arguments, --help, -h, help', async () => {
    const runs = await runAll([[], ['--help'], ['-h'], ['help']]);
    for (const [label, r] of runs) {
      const text = assertHelp(r, label || '(none)', 'Run "driftwatch COMMAND --help"');
      const listed = [
        ...text
          .split('Commands:\n')[1]!
          .split('\n\n')[0]!
          .matchAll(/^ {2}(\S+) +\S/gm),
      ].map((m) => m[1]);
      assert.deepEqual(listed, [...COMMANDS, 'help'], `${label}: one line per command`);
    }
  });

  test('every command: COMMAND --help (and -h, help COMMAND) prints its usage, exits 0 at once, touches nothing', async () => {
    // Each command with --help, and with one of the other two forms in turn (a process each is slow).
    const other = (c: string, i: number) => (i % 2 ? [c, '-h'] : ['help', c]);
    const runs = await runAll(COMMANDS.flatMap((c, i) => [[c, '--help'], other(c, i)]));
    COMMANDS.forEach((c, i) => {
      const text = assertHelp(runs.get(`${c} --help`), `${c} --help`, `driftwatch ${c}`);
      assert.ok(!text.includes('Commands:'), `${c}: its own usage, not the top-level help`);
      const label = other(c, i).join(' ');
      assert.equal(assertHelp(runs.get(label), label, `driftwatch ${c}`), text, `${label} prints what ${c} --help does`);
    });
    // A group's help shows every subcommand.
    for (const [group, sub] of SUBCOMMANDS)
      assert.ok(runs.get(`${group} --help`)!.stdout.includes(`driftwatch ${group} ${sub}`), `${group} --help shows ${sub}`);
    // The long-running commands exit on their own instead of serving: a command still serving
    // is killed by the timeout (SIGKILL), which no load on the machine can turn into an exit 0.
    // (No clock check: a loaded CI box made a healthy --help take over 10 s.)
    for (const c of ['start', 'serve', 'proxy', 'analyze']) {
      const r = runs.get(`${c} --help`)!;
      assert.equal(r.signal, null, `${c} --help was killed by the timeout after ${r.ms} ms: it kept running`);
      assert.equal(r.code, 0, `${c} --help exits 0`);
    }
  });

  test('every subcommand: GROUP SUB --help (and -h, help GROUP SUB) prints its own usage only', async () => {
    const others = Object.keys(GROUPS).flatMap((g) => {
      const [first, second] = SUBCOMMANDS.filter(([group]) => group === g).map(([, s]) => s);
      return [
        [g, first!, '-h'],
        // (a group of one subcommand, feedback, is asked for that one both ways)
        ['help', g, (second ?? first)!],
      ];
    });
    const runs = await runAll([...SUBCOMMANDS.map(([g, s]) => [g, s, '--help']), ...others]);
    for (const [group, sub] of SUBCOMMANDS) {
      const text = assertHelp(runs.get(`${group} ${sub} --help`), `${group} ${sub} --help`, `driftwatch ${group} ${sub}`);
      for (const [g2, other] of SUBCOMMANDS) {
        if (g2 === group && other !== sub)
          assert.ok(!text.includes(`driftwatch ${group} ${other} `), `${group} ${sub} --help shows only its own usage, not ${other}`);
      }
    }
    for (const args of others) {
      const [group, sub] = args[0] === 'help' ? [args[1]!, args[2]!] : [args[0]!, args[1]!];
      assert.equal(assertHelp(runs.get(args.join(' ')), args.join(' '), `driftwatch ${group} ${sub}`), runs.get(`${group} ${sub} --help`)!.stdout);
    }
  });

  test('--help wins over everything else on the line: missing or bad arguments, unknown flags', async () => {
    const cases = [
      ['stats', 'show', '--help'],
      ['serve', '--port', 'eighty', '--bogus', '--help'],
      ['registry', 'transition', '--stage', 'Live', '-h'],
      ['start', '--model', 's3://not-a-uri', '--help'],
      ['registry', 'frobnicate', '--help'],
    ];
    const runs = await runAll([...cases, ['check', '--once', '--', '--help']]);
    for (const c of cases) assertHelp(runs.get(c.join(' ')), c.join(' '), `driftwatch ${c[0]}`);
    // An unknown subcommand with --help: the group's usage.
    assert.ok(runs.get('registry frobnicate --help')!.stdout.includes('driftwatch registry transition'));
    // After "--", --help is an argument, not a request for help.
    const r = runs.get('check --once -- --help')!;
    assert.equal(r.code, 2);
    assert.match(r.stderr, /check takes no positional arguments/);
  });
});

describe('typos are answered with the closest name', () => {
  const usageError = (r: Run, message: string, hint: string) => {
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `driftwatch: DW_ERR_CLI_USAGE: ${message}\nRun "${hint}" for usage.\n`);
    assert.doesNotMatch(r.stderr, /Unknown option '|To specify a positional|argument is ambiguous/, "node's own parseArgs wording never shows");
    assert.deepEqual(r.left, []);
  };

  test('an unknown option names the closest known one, else lists the options', async () => {
    const runs = await runAll([
      ['serve', '--modle', 'x'],
      ['registry', 'transition', 'weather', '1', '--stag', 'Production'],
      ['alerts', 'silence', '--unitl', '2h'],
      ['drift', '--frobnicate'],
      ['drift', '--bins'],
    ]);
    usageError(runs.get('serve --modle x')!, 'unknown option --modle (did you mean --model?)', 'driftwatch serve --help');
    usageError(
      runs.get('registry transition weather 1 --stag Production')!,
      'unknown option --stag (did you mean --stage?)',
      'driftwatch registry transition --help',
    );
    usageError(runs.get('alerts silence --unitl 2h')!, 'unknown option --unitl (did you mean --until?)', 'driftwatch alerts silence --help');
    usageError(
      runs.get('drift --frobnicate')!,
      'unknown option --frobnicate; the options are --reference, --current, --format, --psi-mode, --ks-method, --bins, --stat, --correction, --rule, --min-effect, --fail-on, --config, --registry-root, --log-level, --help',
      'driftwatch drift --help',
    );
    usageError(runs.get('drift --bins')!, 'option --bins needs a value', 'driftwatch drift --help');
  });

  test('an unknown command or subcommand names the closest one, else lists them', async () => {
    const runs = await runAll([['registy'], ['alerts', 'silense'], ['frobnicate'], ['reference', 'frobnicate'], ['help', 'statz']]);
    usageError(runs.get('registy')!, 'unknown command "registy" (did you mean registry?)', 'driftwatch help');
    usageError(runs.get('alerts silense')!, 'unknown alerts subcommand "silense" (did you mean silence?)', 'driftwatch alerts --help');
    usageError(
      runs.get('frobnicate')!,
      'unknown command "frobnicate"; the commands are start, serve, proxy, registry, reference, stats, drift, analyze, check, challenger, feedback, alerts, version, help',
      'driftwatch help',
    );
    usageError(runs.get('reference frobnicate')!, 'unknown reference subcommand "frobnicate"; the subcommands are build, show', 'driftwatch reference --help');
    usageError(runs.get('help statz')!, 'unknown command "statz" (did you mean stats?)', 'driftwatch help');
  });
});

test('--admin-port: on start, serve, proxy and analyze, in their --help, checked as a port (issue 19 item 8)', async () => {
  const runs = await runAll([
    ['start', '--help'],
    ['serve', '--help'],
    ['proxy', '--help'],
    ['analyze', '--help'],
    ['analyze', '--admin-port', 'x'],
    ['serve', '--admin-port', '70000'],
  ]);
  for (const c of ['start', 'serve', 'proxy', 'analyze']) {
    assert.match(runs.get(`${c} --help`)!.stdout, /--admin-port P\s+port of the admin API and status page \(default 9097; 0: any free port\)/, c);
  }
  const bad = runs.get('analyze --admin-port x')!;
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--admin-port must be an integer, got "x"/);
  const high = runs.get('serve --admin-port 70000')!;
  assert.equal(high.code, 2);
  assert.match(high.stderr, /--admin-port must be 0 to 65535, got 70000/);
});
