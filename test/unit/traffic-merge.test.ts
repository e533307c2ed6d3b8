/**
 * mergeTrafficSnapshots: the summaries of several proxy workers as one (/api/traffic of a
 * `proxy --workers N` group). Checked against one TrafficSummary that saw all of the traffic:
 * counts exact, moments equal to rounding, categories bounded as one summary bounds them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Row } from '../../src/capture/extract.js';
import type { InferenceEvent } from '../../src/capture/inference-event.js';
import { mergeTrafficSnapshots } from '../../src/capture/traffic-merge.js';
import { TrafficSummary } from '../../src/capture/traffic-summary.js';

const event = (model: string, version: string, status: number, totalMs: number) => ({ model, version, status, totalMs }) as InferenceEvent;

/** A deterministic stream of traffic: requests, numeric and categorical features, missing values. */
function traffic(i: number): { e: InferenceEvent; features: Row[]; predictions: Row[] } {
  const model = i % 4 === 3 ? 'fraud' : 'weather';
  const rows = Array.from({ length: (i % 3) + 1 }, (_, r) => ({
    temp: i % 11 === 0 ? null : Math.sin(i * 7 + r) * 40 + 10,
    city: `c${(i * 13 + r) % 45}`, // 45 categories: more than the 32 a summary keeps
  }));
  return {
    e: event(model, i % 5 === 0 ? '2' : '1', [200, 200, 200, 404, 503][i % 5]!, (i * 37) % 900),
    features: rows,
    predictions: rows.map((_, r) => ({ label: (i + r) % 3 ? 'sun' : 'rain' })),
  };
}

function feed(s: TrafficSummary, from: number, to: number, step = 1): void {
  for (let i = from; i < to; i += step) {
    const t = traffic(i);
    s.observeRequest(t.e);
    if (t.e.status === 200) s.observeRows(t.e.model!, t.e.version!, t.features, t.predictions);
  }
}

test('two workers merged equal one summary that saw everything', () => {
  const all = new TrafficSummary(1000);
  feed(all, 0, 600);
  const a = new TrafficSummary(2000);
  const b = new TrafficSummary(1000);
  feed(a, 0, 600, 2); // round-robin: even requests to one worker, odd to the other
  feed(b, 1, 600, 2);
  const merged = mergeTrafficSnapshots([a.toJSON(), b.toJSON()], 'unused');
  const whole = all.toJSON();
  assert.equal(merged.since, whole.since, 'the earliest start');
  const key = (m: { model: string | undefined; version: string | undefined }) => `${m.model}/${m.version}`;
  assert.deepEqual(merged.models.map(key).sort(), whole.models.map(key).sort());
  for (const w of whole.models) {
    const m = merged.models.find((x) => key(x) === key(w))!;
    assert.equal(m.requests, w.requests);
    assert.deepEqual(m.by_status_class, w.by_status_class);
    assert.deepEqual(m.latency_ms, w.latency_ms);
    assert.equal(m.rows, w.rows);
    const mt = m.features.temp!;
    const wt = w.features.temp!;
    assert.deepEqual(
      [mt.count, mt.missing, mt.numeric!.n, mt.numeric!.min, mt.numeric!.max],
      [wt.count, wt.missing, wt.numeric!.n, wt.numeric!.min, wt.numeric!.max],
    );
    assert.ok(Math.abs(mt.numeric!.mean - wt.numeric!.mean) < 1e-9, `${mt.numeric!.mean} vs ${wt.numeric!.mean}`);
    assert.ok(Math.abs(mt.numeric!.std - wt.numeric!.std) < 1e-9, `${mt.numeric!.std} vs ${wt.numeric!.std}`);
    assert.deepEqual(m.predictions.label!.categories, w.predictions.label!.categories);
    // Categories: every count is kept exactly in total, at most 32 named.
    const mc = m.features.city!;
    assert.ok(Object.keys(mc.categories!).length <= 32);
    const named = Object.values(mc.categories!).reduce((s, c) => s + c, 0);
    assert.equal(named + mc.other_categories, mc.count - mc.missing);
  }
});

test('no workers reported yet: an empty summary since the given time; one worker: itself', () => {
  assert.deepEqual(mergeTrafficSnapshots([], '2026-12-07T22:00:00.000Z'), { since: '2026-12-07T22:00:00.000Z', models: [] });
  const one = new TrafficSummary(5000);
  feed(one, 0, 50);
  assert.deepEqual(mergeTrafficSnapshots([one.toJSON()], 'unused'), one.toJSON());
});
