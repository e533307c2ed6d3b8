import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isMovable, parseModelUri } from '../../src/registry/model-uri.js';

test('parses every MLflow model URI form', () => {
  assert.deepEqual(parseModelUri('models:/fraud/3'), { kind: 'version', name: 'fraud', version: 3, text: 'models:/fraud/3' });
  assert.deepEqual(parseModelUri('models:/fraud/production'), { kind: 'stage', name: 'fraud', stage: 'Production', text: 'models:/fraud/production' });
  assert.deepEqual(parseModelUri('models:/fraud/STAGING'), { kind: 'stage', name: 'fraud', stage: 'Staging', text: 'models:/fraud/STAGING' });
  assert.deepEqual(parseModelUri('models:/fraud/latest'), { kind: 'latest', name: 'fraud', text: 'models:/fraud/latest' });
  assert.deepEqual(parseModelUri('models:/fraud@champion'), { kind: 'alias', name: 'fraud', alias: 'champion', text: 'models:/fraud@champion' });
  assert.deepEqual(parseModelUri('models:fraud/1'), { kind: 'version', name: 'fraud', version: 1, text: 'models:fraud/1' });
  assert.deepEqual(parseModelUri('./some/dir'), { kind: 'path', path: './some/dir', text: './some/dir' });
});

test('rejects malformed URIs with a message naming the accepted forms', () => {
  for (const bad of ['models:/fraud', 'models:/fraud/Prod', 'models:/fraud/0', 'models:/a/b/c', 'models:/@x', 'models:/fraud@', 's3://bucket/model', '']) {
    assert.throws(
      () => parseModelUri(bad),
      (e: any) => e.code === 'DW_ERR_MODEL_URI_INVALID' && /models:\/NAME\/VERSION/.test(e.message),
      bad,
    );
  }
});

test('only stage, latest and alias URIs can move', () => {
  assert.equal(isMovable(parseModelUri('models:/m/1')), false);
  assert.equal(isMovable(parseModelUri('/tmp/x')), false);
  assert.equal(isMovable(parseModelUri('models:/m/Production')), true);
  assert.equal(isMovable(parseModelUri('models:/m/latest')), true);
  assert.equal(isMovable(parseModelUri('models:/m@a')), true);
});
