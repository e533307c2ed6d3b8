/**
 * driftwatch serve with the prediction routes going through express instead of the lean
 * node:http path (`predictVia: 'express'`), so bench/run.sh measures what the lean path buys.
 *   node --import tsx bench/driftwatch-express.ts PORT MODEL_DIR
 */
import { createServeApp } from '../src/app/serve-app.js';
import { loadConfig } from '../src/config/load.js';

const [port, modelDir] = process.argv.slice(2);
const config = loadConfig({
  env: {},
  overrides: { serve: { host: '127.0.0.1', port: Number(port), models: [{ uri: modelDir }] }, admin: { enabled: false }, log: { level: 'warn' } },
});
const app = createServeApp(config, { predictVia: 'express' });
await app.start();
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
