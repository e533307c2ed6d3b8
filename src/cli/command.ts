/** What a command module exports to main.ts, and how its --help text is laid out. */
import { COMMON_HELP } from './args.js';

export interface Command {
  readonly name: string;
  /** Its line in the top-level help. */
  readonly summary: string;
  /** `driftwatch NAME --help` (for a group: every subcommand). */
  readonly help: string;
  /** A group's subcommands and their own --help texts. */
  readonly subcommands?: Readonly<Record<string, string>>;
  /** Runs the command (never called for --help); resolves the exit code. */
  run(args: string[]): Promise<number>;
}

/** The --help text main.ts prints for `args` (a group's subcommand has its own). */
export function helpOf(command: Command, args: readonly string[]): string {
  return isSubcommand(command, args[0]) ? command.subcommands![args[0]!]! : command.help;
}

/** The command path a usage error points at: "registry transition", or "serve". */
export function pathOf(command: Command, args: readonly string[]): string {
  return isSubcommand(command, args[0]) ? `${command.name} ${args[0]}` : command.name;
}

function isSubcommand(command: Command, name: string | undefined): boolean {
  return name !== undefined && !!command.subcommands && Object.hasOwn(command.subcommands, name);
}

export type OptionHelp = ReadonlyArray<readonly [flag: string, what: string]>;

/** A --help text: the usage lines, the command's own options, the common ones, then notes. */
export function helpText(usageLines: string, options: OptionHelp = [], notes = ''): string {
  const own = options.length ? `Options:\n${options.map(([f, w]) => `  ${f.padEnd(22)} ${w}`).join('\n')}\n\n` : '';
  return `Usage:\n${usageLines.replace(/\n*$/, '\n')}\n${own}${COMMON_HELP}${notes ? `\n${notes.replace(/\n*$/, '\n')}` : ''}`;
}

export const SIGNALS_HELP = 'Signals: SIGTERM/SIGINT drain in-flight requests and exit; SIGHUP re-resolves served models now.';
export const WHEN_HELP = '      WHEN: an ISO time, epoch ms, "now", or a duration back from now (90s, 15m, 2h, 7d).';
export const STOP_SIGNALS_HELP = 'Signals: SIGTERM/SIGINT drain in-flight requests and exit.';

/** A subcommand of a group: its usage line(s) and its own options. */
export interface SubcommandHelp {
  readonly usage: string;
  readonly options?: OptionHelp;
}

/** A group's --help (every subcommand, options merged) and each subcommand's own. */
export function groupHelp(subs: Readonly<Record<string, SubcommandHelp>>, notes = ''): { help: string; subcommands: Record<string, string> } {
  const merged = new Map<string, readonly [string, string]>();
  for (const s of Object.values(subs)) for (const o of s.options ?? []) if (!merged.has(o[0].split(' ')[0]!)) merged.set(o[0].split(' ')[0]!, o);
  return {
    help: helpText(
      Object.values(subs)
        .map((s) => s.usage)
        .join('\n'),
      [...merged.values()],
      notes,
    ),
    subcommands: Object.fromEntries(Object.entries(subs).map(([name, s]) => [name, helpText(s.usage, s.options, notes)])),
  };
}

/** The option names ("model", "json") an OptionHelp lists. */
export function optionNames(options: OptionHelp = []): string[] {
  return options.map(([flag]) => /^--([a-z0-9-]+)/.exec(flag)?.[1]).filter((n): n is string => !!n);
}
