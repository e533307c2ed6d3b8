/**
 * BENCH-ONLY module hook: `node --import ./bench/legacy/use-http-proxy.mjs dist/src/cli/main.js proxy ...`
 * runs the unchanged CLI/app with the old http-proxy based proxy server
 * (bench/legacy/http-proxy-server.mjs) in place of dist/src/proxy/proxy-server.js, so the benchmark
 * measures old and new in the same run, through the same composition root (queue, drain, admin).
 */
import { register } from 'node:module';

register(
  'data:text/javascript,' +
    encodeURIComponent(`
      const legacy = ${JSON.stringify(new URL('./http-proxy-server.mjs', import.meta.url).href)};
      export async function resolve(specifier, context, next) {
        const r = await next(specifier, context);
        return r.url.endsWith('/dist/src/proxy/proxy-server.js') ? { ...r, url: legacy } : r;
      }`),
  import.meta.url,
);
