import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { tempDir } from '../helpers.js';

test('defaults are sane and the result is deep-frozen', () => {
  const c = loadConfig({ env: {} });
  assert.equal(c.serve.host, '127.0.0.1');
  assert.equal(c.serve.port, 8080);
  assert.equal(c.admin.host, '127.0.0.1');
  assert.equal(c.serve.onnx.intraOpNumThreads, 1);
  assert.ok(Object.isFrozen(c.serve.onnx));
  assert.throws(() => {
    (c.serve as any).port = 1;
  });
});

test('precedence: file < env < flags', () => {
  const t = tempDir();
  const file = join(t.dir, 'c.yaml');
  writeFileSync(file, 'serve:\n  port: 1000\n  host: 0.0.0.0\n  maxBodyBytes: 5000\n');
  const c = loadConfig({ file, env: { DRIFTWATCH_SERVE_PORT: '2000', DRIFTWATCH_SERVE_MAX_BODY_BYTES: '6000' }, overrides: { serve: { port: 3000 } } });
  assert.equal(c.serve.port, 3000);
  assert.equal(c.serve.maxBodyBytes, 6000);
  assert.equal(c.serve.host, '0.0.0.0');
  const viaEnvFile = loadConfig({ env: { DRIFTWATCH_CONFIG: file } });
  assert.equal(viaEnvFile.serve.port, 1000);
  t.cleanup();
});

test('env values are typed: numbers, booleans, JSON lists', () => {
  const c = loadConfig({ env: { DRIFTWATCH_ADMIN_ENABLED: 'no', DRIFTWATCH_SERVE_MODELS: '[{"uri":"models:/a/1","name":"a"}]' } });
  assert.equal(c.admin.enabled, false);
  assert.deepEqual(c.serve.models, [{ uri: 'models:/a/1', name: 'a' }]);
});

test('all problems are reported at once', () => {
  assert.throws(
    () =>
      loadConfig({
        env: { DRIFTWATCH_SERVE_PORT: '99999', DRIFTWATCH_ADMIN_ENABLED: 'maybe', DRIFTWATCH_NOPE: '1' },
        overrides: { log: { level: 'loud' }, extra: 1 },
      }),
    (e: any) => {
      assert.equal(e.code, 'DW_ERR_CONFIG_INVALID');
      for (const s of ['serve.port', 'DRIFTWATCH_ADMIN_ENABLED', 'DRIFTWATCH_NOPE', 'log.level', '"extra"'])
        assert.ok(e.message.includes(s), `${s} not in ${e.message}`);
      return true;
    },
  );
});

test('a non-loopback admin bind needs a token; duplicate served names are refused', () => {
  assert.throws(() => loadConfig({ env: { DRIFTWATCH_ADMIN_HOST: '0.0.0.0' } }), /admin\.token/);
  assert.equal(loadConfig({ env: { DRIFTWATCH_ADMIN_HOST: '0.0.0.0', DRIFTWATCH_ADMIN_TOKEN: 'a-long-enough-token-123' } }).admin.host, '0.0.0.0');
  assert.throws(() => loadConfig({ env: { DRIFTWATCH_ADMIN_TOKEN: 'short' } }), /at least 16/);
  assert.throws(
    () =>
      loadConfig({
        env: {},
        overrides: {
          serve: {
            models: [
              { uri: 'a', name: 'x' },
              { uri: 'b', name: 'x' },
            ],
          },
        },
      }),
    /duplicate model name x/,
  );
});

test('config file errors name the file', () => {
  const t = tempDir();
  const file = join(t.dir, 'broken.yaml');
  writeFileSync(file, 'serve: [unclosed');
  assert.throws(
    () => loadConfig({ file, env: {} }),
    (e: any) => e.code === 'DW_ERR_CONFIG_FILE' && e.message.includes(file),
  );
  assert.throws(
    () => loadConfig({ file: join(t.dir, 'missing.yaml'), env: {} }),
    (e: any) => e.code === 'DW_ERR_CONFIG_FILE',
  );
  writeFileSync(file, '- a list\n');
  assert.throws(() => loadConfig({ file, env: {} }), /mapping at the top level/);
  t.cleanup();
});

test('a batching wait at or above the request timeout is refused', () => {
  assert.throws(
    () => loadConfig({ env: {}, overrides: { serve: { requestTimeoutMs: 50, batching: { maxWaitMs: 50 } } } }),
    /serve\.batching\.maxWaitMs: must be below serve\.requestTimeoutMs/,
  );
});

test('alert receivers and routes are checked at load time, every problem listed', () => {
  assert.throws(
    () =>
      loadConfig({
        env: {},
        overrides: {
          alerts: {
            receivers: [
              { name: 'ops', kind: 'webhook', url: 'http://127.0.0.1:1/x' },
              { name: 'ops', kind: 'slack' },
              { name: 'pd', kind: 'pagerduty' },
            ],
            routes: [{ receiver: 'nobody' }],
          },
        },
      }),
    (e: Error) =>
      /alerts\.receivers\.0\.secret: a webhook receiver needs a signing secret/.test(e.message) &&
      /alerts\.receivers\.1\.name: duplicate receiver name ops/.test(e.message) &&
      /alerts\.receivers\.1\.url: a slack receiver needs a url/.test(e.message) &&
      /alerts\.receivers\.2\.routingKey: a pagerduty receiver needs/.test(e.message) &&
      /alerts\.routes\.0\.receiver: no receiver named nobody/.test(e.message),
  );
});

test('a receiver URL may carry credentials (sent as Basic auth); a malformed percent-escape in them is refused', () => {
  const receivers = (url: string) => ({ alerts: { receivers: [{ name: 'am', kind: 'slack', url }] } });
  const ok = loadConfig({ env: {}, overrides: receivers('https://ops%40corp:p%3Ass@am.example/api/v2/alerts') });
  assert.equal(ok.alerts.receivers[0]!.url, 'https://ops%40corp:p%3Ass@am.example/api/v2/alerts');
  assert.throws(
    () => loadConfig({ env: {}, overrides: receivers('https://ops:100%zz@am.example/') }),
    (e: Error) => /alerts\.receivers\.0\.url: the user or password in the URL has a malformed percent-escape/.test(e.message) && !e.message.includes('100%zz'),
  );
});

test('admin.allowedHosts: a list of host names, also from DRIFTWATCH_ADMIN_ALLOWED_HOSTS (JSON)', () => {
  assert.deepEqual(loadConfig({ env: {} }).admin.allowedHosts, []);
  assert.deepEqual(loadConfig({ env: { DRIFTWATCH_ADMIN_ALLOWED_HOSTS: '["driftwatch.local","[::1]"]' } }).admin.allowedHosts, ['driftwatch.local', '[::1]']);
  assert.throws(() => loadConfig({ env: {}, overrides: { admin: { allowedHosts: ['evil.example:9100/x'] } } }), /admin\.allowedHosts\.0/);
});
