#!/usr/bin/env node
/**
 * The `driftwatch` command: dispatch to one module per command (start.ts, serve.ts, ...), --help
 * for each, and the exit code.
 *
 *   driftwatch start                         serve the bundled example model from the local registry
 *   driftwatch serve --model URI [...]       serve models (MLflow scoring protocol + Open Inference v2)
 *   driftwatch registry <subcommand> ...     the local model registry
 *   driftwatch COMMAND --help | help COMMAND [SUBCOMMAND] | version
 *
 * Exit codes: 0 success, 1 failure, 2 bad usage or configuration.
 *
 * `--help` / `-h` anywhere on a command line prints that command's usage and exits 0 before the
 * command runs: no config is read, no registry or store is opened, no port is bound.
 */
import { isDriftwatchError } from '../errors.js';
import { VERSION } from '../version.js';
import { alerts } from './alerts.js';
import { analyze } from './analyze.js';
import { CliUsageError, closest, COMMON_HELP, subcommand, usage, wantsHelp } from './args.js';
import { challenger } from './challenger.js';
import { check } from './check.js';
import { type Command, helpOf, pathOf, SIGNALS_HELP } from './command.js';
import { drift } from './drift.js';
import { feedback } from './feedback.js';
import { proxy } from './proxy.js';
import { reference } from './reference.js';
import { registry } from './registry.js';
import { serve } from './serve.js';
import { start } from './start.js';
import { stats } from './stats.js';

const version: Command = {
  name: 'version',
  summary: 'print the version',
  help: 'Usage:\n  driftwatch version\n      Print the version of driftwatch (also: driftwatch --version).\n',
  run: async () => {
    console.log(VERSION);
    return 0;
  },
};

const COMMANDS: readonly Command[] = [start, serve, proxy, registry, reference, stats, drift, analyze, check, challenger, feedback, alerts, version];
const NAMES = [...COMMANDS.map((c) => c.name), 'help'];

const HELP = `driftwatch ${VERSION}: scoring server and monitoring sidecar for ML models

Usage: driftwatch COMMAND [SUBCOMMAND] [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(11)}${c.summary}`).join('\n')}
  ${'help'.padEnd(11)}this text; help COMMAND [SUBCOMMAND] prints that command's usage

Run "driftwatch COMMAND --help" for a command's usage and options.

${COMMON_HELP}
${SIGNALS_HELP}
Exit codes: 0 success, 1 failure, 2 bad usage or configuration.
`;

function commandNamed(name: string): Command {
  const found = COMMANDS.find((c) => c.name === name);
  if (found) return found;
  const near = name.startsWith('-') ? null : closest(name, NAMES);
  return usage(`unknown command ${JSON.stringify(name)}${near ? ` (did you mean ${near}?)` : `; the commands are ${NAMES.join(', ')}`}`);
}

/** `driftwatch help [COMMAND [SUBCOMMAND]]`; `onCommand` learns the command a usage error concerns. */
function helpFor(args: string[], onCommand: (name: string) => void): string {
  const [name, sub] = args;
  if (name === undefined || name === 'help' || name.startsWith('-')) return HELP;
  const command = commandNamed(name);
  onCommand(command.name);
  if (sub !== undefined && command.subcommands) subcommand(command.name, sub, Object.keys(command.subcommands), '');
  return helpOf(command, args.slice(1));
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  // What a usage error points at: "" (the top-level help), "serve", "registry transition".
  let path = '';
  try {
    if (name === undefined || name === '--help' || name === '-h') {
      process.stdout.write(HELP);
      return 0;
    }
    if (name === 'help') {
      process.stdout.write(helpFor(args, (n) => (path = n)));
      return 0;
    }
    const command = name === '--version' ? version : commandNamed(name);
    // Before anything else: --help must not read config, open a registry or bind a port.
    if (wantsHelp(args)) {
      process.stdout.write(helpOf(command, args));
      return 0;
    }
    path = pathOf(command, args);
    return await command.run(args);
  } catch (e) {
    if (isDriftwatchError(e)) {
      const hint = e instanceof CliUsageError ? `\nRun "driftwatch ${path ? `${path} --help` : 'help'}" for usage.` : '';
      process.stderr.write(`driftwatch: ${e.code}: ${e.message}${hint}\n`);
      return e.code === 'DW_ERR_CLI_USAGE' || e.code.startsWith('DW_ERR_CONFIG') || e.code === 'DW_ERR_MODEL_URI_INVALID' ? 2 : 1;
    }
    process.stderr.write(`driftwatch: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  () => {
    process.exitCode = 1;
  },
);
