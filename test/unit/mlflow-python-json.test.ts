/**
 * The codec's two readings MLflow's Python side has and JSON.parse lacks: Python's json.loads
 * takes the bare tokens NaN, Infinity and -Infinity (MLflow's _decode_json_input), and
 * scoring_server.invocations reads Content-Type parameters itself (charset only, utf-8 only).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkMlflowContentType, decodeMlflowJson } from '../../src/protocol/mlflow.js';

test("Python's NaN and Infinity tokens are read outside strings only", () => {
  const r = decodeMlflowJson('{"instances": [[NaN, -Infinity, Infinity, "NaN \\" Infinity", 1]]}');
  assert.equal(r.input.kind, 'raw');
  const row = (r.input as { value: unknown[][] }).value[0]!;
  assert.deepEqual(row, [null, -Infinity, Infinity, 'NaN " Infinity', 1]);
  // Anything else JSON.parse refuses stays refused, with JSON.parse's own message.
  for (const bad of ['{"instances": [nan]}', '{"instances": [NaNa]}', '{"instances": [Infinit]}', '{"instances": [NaN']) {
    assert.throws(
      () => decodeMlflowJson(bad),
      (e: any) => e.code === 'DW_ERR_SERVE_BAD_REQUEST' && /valid JSON/.test(e.message),
      bad,
    );
  }
});

test('Content-Type: charset utf-8 only, no other parameter, json or csv', () => {
  const accepted: Array<[string | undefined, string]> = [
    ['application/json', 'application/json'],
    [undefined, 'application/json'],
    ['', 'application/json'],
    ['text/csv', 'text/csv'],
    ['application/json; charset=utf-8', 'application/json'],
    ['application/json;charset=UTF-8', 'application/json'],
    ['TEXT/CSV; CHARSET="utf-8"', 'text/csv'],
    ['application/json;', 'application/json'],
  ];
  for (const [header, media] of accepted) assert.deepEqual(checkMlflowContentType(header), { ok: true, media }, String(header));
  const refused: Array<[string, RegExp]> = [
    ['application/json; charset=latin-1', /only supports UTF-8/],
    ['application/json; charset=utf8', /only supports UTF-8/],
    ['application/json; foo=bar', /Unrecognized content type parameters: foo/],
    ['text/csv; header=present; charset=utf-8', /Unrecognized content type parameters: header/],
    ['application/xml', /only supports the following content types/],
    ['application/x-www-form-urlencoded', /only supports the following content types/],
  ];
  for (const [header, re] of refused) {
    const r = checkMlflowContentType(header);
    assert.equal(r.ok, false, header);
    assert.match((r as { message: string }).message, re, header);
  }
  // A hostile header cannot make a huge message.
  const long = checkMlflowContentType(`application/${'x'.repeat(10_000)}`);
  assert.ok(!long.ok && long.message.length < 300);
});
