/** The CLI's argument helpers: the typo suggestion, --help detection, parseArgs errors in our words. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CliUsageError, closest, editDistance, parse, wantsHelp } from '../../src/cli/args.js';

describe('editDistance (optimal string alignment)', () => {
  test('insertions, deletions, substitutions and adjacent swaps cost 1 each', () => {
    assert.equal(editDistance('', ''), 0);
    assert.equal(editDistance('model', 'model'), 0);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('abc', ''), 3);
    assert.equal(editDistance('modle', 'model'), 1); // swap
    assert.equal(editDistance('mode', 'model'), 1); // insertion
    assert.equal(editDistance('modell', 'model'), 1); // deletion
    assert.equal(editDistance('modal', 'model'), 1); // substitution
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('ca', 'abc'), 3); // OSA, not unrestricted Damerau (which says 2)
    assert.equal(editDistance('registy', 'registry'), 1);
  });

  test('symmetric', () => {
    for (const [a, b] of [
      ['stage', 'stag'],
      ['since', 'until'],
      ['deliver-timeout', 'deliver-timout'],
      ['json', 'jsno'],
    ] as const) {
      assert.equal(editDistance(a, b), editDistance(b, a));
    }
  });
});

describe('closest', () => {
  const serve = ['model', 'name', 'host', 'port', 'workers', 'config', 'registry-root', 'log-level', 'help'];

  test('a near typo names the intended option', () => {
    assert.equal(closest('modle', serve), 'model');
    assert.equal(closest('MODEL', serve), 'model');
    assert.equal(closest('worker', serve), 'workers');
    assert.equal(closest('registry_root', serve), 'registry-root');
    assert.equal(closest('loglevel', serve), 'log-level');
    assert.equal(closest('hepl', serve), 'help');
    assert.equal(closest('conifg', serve), 'config');
  });

  test('the limit is max(2, length/3) edits', () => {
    // 2 edits allowed for short names...
    assert.equal(closest('mdl', ['model']), 'model');
    assert.equal(closest('mx', ['model']), null);
    // ... and length/3 for long ones: "deliver-tmeout" (14 letters) may be 4 edits away.
    assert.equal(closest('delivr-tmout', ['deliver-timeout']), 'deliver-timeout');
    assert.equal(closest('xyz-timeout-abc', ['deliver-timeout']), null);
  });

  test('nothing close: null, and never a candidate that shares nothing with the input', () => {
    assert.equal(closest('frobnicate', serve), null);
    assert.equal(closest('x', ['h', 'json']), null);
    assert.equal(closest('ab', ['cd']), null);
  });

  test('the nearest wins; on a tie, the first listed', () => {
    assert.equal(closest('stage', ['stat', 'stage']), 'stage');
    assert.equal(closest('sta', ['stat', 'stag']), 'stat');
  });

  test('a unique prefix of three letters or more counts when no candidate is near', () => {
    assert.equal(closest('arch', ['stage', 'archive-existing', 'json']), 'archive-existing');
    assert.equal(closest('del', ['delete-alias', 'delete-tag']), null); // ambiguous
    assert.equal(closest('ar', ['archive-existing']), null); // too short
  });

  test('commands and subcommands', () => {
    const commands = ['start', 'serve', 'proxy', 'registry', 'reference', 'stats', 'drift', 'analyze', 'check', 'alerts', 'version', 'help'];
    assert.equal(closest('registy', commands), 'registry');
    assert.equal(closest('refrence', commands), 'reference');
    assert.equal(closest('analyse', commands), 'analyze');
    assert.equal(closest('alert', commands), 'alerts');
    assert.equal(closest('serv', commands), 'serve');
    assert.equal(closest('delete-alais', ['set-alias', 'delete-alias', 'tag', 'delete-tag']), 'delete-alias');
  });
});

describe('wantsHelp', () => {
  test('--help or -h anywhere before "--"', () => {
    assert.equal(wantsHelp(['--help']), true);
    assert.equal(wantsHelp(['show', '--model', 'x', '-h']), true);
    assert.equal(wantsHelp(['show', '--model', 'x']), false);
    assert.equal(wantsHelp(['--', '--help']), false);
    assert.equal(wantsHelp(['--helpful']), false);
    assert.equal(wantsHelp([]), false);
  });
});

describe('parse', () => {
  const options = { model: { type: 'string' }, json: { type: 'boolean' }, 'model-version': { type: 'string' } } as const;
  const problem = (args: string[], relevant?: string[]) => {
    try {
      parse(args, options, relevant);
    } catch (e) {
      assert.ok(e instanceof CliUsageError, String(e));
      assert.equal(e.code, 'DW_ERR_CLI_USAGE');
      return e.message;
    }
    return assert.fail(`${args.join(' ')} parsed`);
  };

  test('values, booleans, positionals and the common options parse as before', () => {
    const { values, positionals } = parse(['a', '--model', 'm', '--json', '--config', 'c.yaml', '--model-version=3', 'b'], options);
    assert.deepEqual({ ...values }, { model: 'm', json: true, config: 'c.yaml', 'model-version': '3' });
    assert.deepEqual(positionals, ['a', 'b']);
    assert.deepEqual(parse(['--model=-x'], options).values.model, '-x');
    assert.deepEqual(parse(['--', '--json'], options).positionals, ['--json']);
  });

  test("problems in our words, never parseArgs' own", () => {
    assert.equal(problem(['--modle', 'x']), 'unknown option --modle (did you mean --model?)');
    assert.equal(problem(['--model-verison', '2']), 'unknown option --model-verison (did you mean --model-version?)');
    assert.equal(problem(['--registry-rot', 'd']), 'unknown option --registry-rot (did you mean --registry-root?)');
    assert.equal(problem(['--zzz']), 'unknown option --zzz; the options are --model, --json, --model-version, --config, --registry-root, --log-level, --help');
    assert.equal(problem(['-q']), 'unknown option -q; the options are --model, --json, --model-version, --config, --registry-root, --log-level, --help');
    assert.equal(problem(['--model']), 'option --model needs a value');
    assert.equal(problem(['--model', '--json']), 'option --model needs a value (got "--json"; a value starting with "-" is written --model=--json)');
    assert.equal(problem(['--json=false']), 'option --json takes no value (got "false")');
  });

  test("a subcommand's own options are listed and preferred; the shared set still parses", () => {
    assert.equal(problem(['--zzz'], ['json']), 'unknown option --zzz; the options are --json, --config, --registry-root, --log-level, --help');
    assert.equal(problem(['--modle'], ['json']), 'unknown option --modle (did you mean --model?)');
    assert.equal(parse(['--model', 'm'], options, ['json']).values.model, 'm');
  });
});
