/** `driftwatch registry ...`: the local model registry (or MLflow's, with registry.kind mlflow). */
import { createRegistry } from '../app/backends.js';
import { canonicalStage } from '../registry/model-uri.js';
import type { ModelVersion, RegisteredModel } from '../registry/types.js';
import { configFrom, parse, subcommand, usage } from './args.js';
import { type Command, groupHelp, optionNames, type SubcommandHelp } from './command.js';
import { fmtTime } from './format.js';

const JSON_OPTION = ['--json', 'print JSON'] as const;

const SUBCOMMANDS = {
  register: {
    usage: '  driftwatch registry register --name NAME --path DIR [--description TEXT]',
    options: [
      ['--name NAME', 'the registered model (created on its first version)'],
      ['--path DIR', 'an MLflow model directory (MLmodel with an onnx flavor)'],
      ['--description TEXT', 'the version description'],
      JSON_OPTION,
    ],
  },
  list: { usage: '  driftwatch registry list [--json]', options: [JSON_OPTION] },
  show: { usage: '  driftwatch registry show NAME [--json]', options: [JSON_OPTION] },
  transition: {
    usage: '  driftwatch registry transition NAME VERSION --stage None|Staging|Production|Archived [--archive-existing]',
    options: [
      ['--stage STAGE', 'None, Staging, Production or Archived (any case)'],
      ['--archive-existing', 'move the versions now in that stage to Archived'],
    ],
  },
  'set-alias': { usage: '  driftwatch registry set-alias NAME ALIAS VERSION' },
  'delete-alias': { usage: '  driftwatch registry delete-alias NAME ALIAS' },
  tag: { usage: '  driftwatch registry tag NAME VERSION KEY VALUE' },
  'delete-tag': { usage: '  driftwatch registry delete-tag NAME VERSION KEY' },
} satisfies Record<string, SubcommandHelp>;
type Sub = keyof typeof SUBCOMMANDS;

function printVersions(versions: ModelVersion[]): void {
  const rows = versions.map((v) => [
    v.version,
    v.current_stage,
    v.aliases.join(',') || '-',
    fmtTime(v.creation_timestamp),
    v.tags.map((t) => `${t.key}=${t.value}`).join(' ') || '-',
  ]);
  const head = ['VERSION', 'STAGE', 'ALIASES', 'CREATED', 'TAGS'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows])
    console.log(
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
}

async function run(args: string[]): Promise<number> {
  const [first, ...rest] = args;
  const sub = subcommand('registry', first, Object.keys(SUBCOMMANDS) as Sub[], 'registry needs a subcommand');
  const { values, positionals } = parse(
    rest,
    {
      name: { type: 'string' },
      path: { type: 'string' },
      description: { type: 'string' },
      stage: { type: 'string' },
      'archive-existing': { type: 'boolean' },
      json: { type: 'boolean' },
    },
    optionNames((SUBCOMMANDS[sub] as SubcommandHelp).options),
  );
  const registry = createRegistry(configFrom(values));
  const need = (n: number, what: string) => {
    if (positionals.length !== n) usage(`registry ${sub} takes ${what}`);
  };
  switch (sub) {
    case 'register': {
      if (!values.name || !values.path) usage('registry register needs --name NAME --path DIR');
      const mv = await registry.createModelVersion({
        name: values.name,
        sourceDir: values.path,
        ...(values.description ? { description: values.description } : {}),
      });
      if (values.json) console.log(JSON.stringify({ model_version: mv }, null, 2));
      else console.log(`Registered ${mv.name} version ${mv.version} (stage None)`);
      return 0;
    }
    case 'list': {
      const models = await registry.listRegisteredModels();
      if (values.json) {
        console.log(JSON.stringify({ registered_models: models }, null, 2));
        return 0;
      }
      if (!models.length) {
        console.log('No registered models.');
        return 0;
      }
      for (const m of models) {
        const latest = m.latest_versions.map((v) => `${v.current_stage}:v${v.version}`).join(' ');
        const aliases = m.aliases.map((a) => `@${a.alias}=v${a.version}`).join(' ');
        console.log(`${m.name}  ${latest}${aliases ? '  ' + aliases : ''}`);
      }
      return 0;
    }
    case 'show': {
      need(1, 'NAME');
      const name = positionals[0]!;
      const model: RegisteredModel = await registry.getRegisteredModel(name);
      const versions = await registry.listModelVersions(name);
      if (values.json) {
        console.log(JSON.stringify({ registered_model: model, model_versions: versions }, null, 2));
        return 0;
      }
      console.log(`${model.name}${model.description ? ': ' + model.description : ''}`);
      printVersions(versions);
      return 0;
    }
    case 'transition': {
      need(2, 'NAME VERSION --stage STAGE');
      const stage = canonicalStage(values.stage ?? '');
      if (!stage) usage('--stage must be one of None, Staging, Production, Archived');
      const mv = await registry.transitionStage(positionals[0]!, positionals[1]!, stage, { archiveExisting: values['archive-existing'] ?? false });
      console.log(`${mv.name} version ${mv.version} is now in stage ${mv.current_stage}`);
      return 0;
    }
    case 'set-alias':
      need(3, 'NAME ALIAS VERSION');
      await registry.setAlias(positionals[0]!, positionals[1]!, positionals[2]!);
      console.log(`${positionals[0]}@${positionals[1]} -> version ${positionals[2]}`);
      return 0;
    case 'delete-alias':
      need(2, 'NAME ALIAS');
      await registry.deleteAlias(positionals[0]!, positionals[1]!);
      console.log(`deleted alias ${positionals[0]}@${positionals[1]}`);
      return 0;
    case 'tag':
      need(4, 'NAME VERSION KEY VALUE');
      await registry.setModelVersionTag(positionals[0]!, positionals[1]!, positionals[2]!, positionals[3]!);
      console.log(`tagged ${positionals[0]} version ${positionals[1]}: ${positionals[2]}=${positionals[3]}`);
      return 0;
    case 'delete-tag':
      need(3, 'NAME VERSION KEY');
      await registry.deleteModelVersionTag(positionals[0]!, positionals[1]!, positionals[2]!);
      console.log(`deleted tag ${positionals[2]} from ${positionals[0]} version ${positionals[1]}`);
      return 0;
  }
}

export const registry: Command = {
  name: 'registry',
  summary: 'the model registry: register, list, show, transition, aliases, tags',
  ...groupHelp(SUBCOMMANDS),
  run,
};
