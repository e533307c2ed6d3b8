/**
 * The deployment manifests (examples/deploy/docker-compose.yml, examples/deploy/k8s/driftwatch.yaml,
 * examples/deploy/k8s/prometheus-rule.yaml, examples/deploy/Dockerfile) checked for structure, since neither runs here: references resolve
 * (depends_on, volumes, Secret keys, ConfigMap, PVC, Service selectors and target ports), mounted
 * paths exist in the repository, every config file they use exists and loads through the real
 * config loader with the environment the container gets, ports agree with those configs, probes
 * and health checks hit paths the servers register, and the sidecar's upstream is the model
 * server. Each checker returns a list of problems; the tail of the file mutates copies and
 * asserts each kind of mistake is caught.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { ROOT } from '../helpers.js';

const DEPLOY = join(ROOT, 'examples', 'deploy');
const COMPOSE_FILE = join(DEPLOY, 'docker-compose.yml');
const K8S_FILE = join(DEPLOY, 'k8s', 'driftwatch.yaml');
const PROMETHEUS_RULE_FILE = join(DEPLOY, 'k8s', 'prometheus-rule.yaml');
const RULES_FILE = join(ROOT, 'config', 'prometheus', 'driftwatch-rules.yaml');
const DOCKERFILE = join(DEPLOY, 'Dockerfile');

/** Paths the servers register, read from their sources (so a renamed route breaks this test). */
function routes(file: string): Set<string> {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return new Set([...text.matchAll(/app\.get\(\s*'([^']+)'/g)].map((m) => m[1]!));
}
const SCORING_PATHS = routes('src/serve/scoring-server.ts');
const ADMIN_PATHS = routes('src/admin/admin-server.ts');

const clone = <T>(v: T): T => structuredClone(v);
type Obj = Record<string, any>;

/** Loads a config as a container would: file + its DRIFTWATCH_* environment (unknown names fail). */
function loadAs(file: string, env: Record<string, string>): { config: Config | null; problem: string | null } {
  try {
    return { config: loadConfig({ file, env }), problem: null };
  } catch (e) {
    return { config: null, problem: (e as Error).message.split('\n')[0]! };
  }
}

/** The driftwatch subcommand and --config value of a command line. */
function driftwatchCommand(args: unknown): { sub: string; config: string | null } | null {
  if (!Array.isArray(args) || typeof args[0] !== 'string') return null;
  if (!['serve', 'proxy', 'analyze', 'start'].includes(args[0])) return null;
  const i = args.indexOf('--config');
  return { sub: args[0], config: i >= 0 ? String(args[i + 1]) : null };
}

// ---- docker compose --------------------------------------------------------------------------

/** ${VAR}, ${VAR:-default}, ${VAR:?message} as docker compose interpolates them, with stand-ins. */
function interpolate(v: unknown): string {
  return String(v).replace(/\$\{([A-Z0-9_]+)(:?[-?][^}]*)?\}/g, (_m, name: string, mod: string | undefined) => {
    if (mod?.startsWith(':-')) return mod.slice(2);
    return name.includes('RECEIVERS') ? '[]' : `stand-in-${name.toLowerCase()}-0123456789`;
  });
}

function envOf(service: Obj): Record<string, string> {
  const e = service.environment ?? {};
  const pairs: Array<[string, string]> = Array.isArray(e)
    ? e.map((kv: string) => kv.split(/=(.*)/s).slice(0, 2) as [string, string])
    : Object.entries(e).map(([k, v]) => [k, String(v)]);
  return Object.fromEntries(pairs.map(([k, v]) => [k, interpolate(v)]));
}

function depNames(service: Obj): string[] {
  const d = service.depends_on;
  if (!d) return [];
  return Array.isArray(d) ? d : Object.keys(d);
}

/** "host:container[/proto]" or "container", and expose entries: container ports. */
function containerPorts(service: Obj): number[] {
  const out: number[] = [];
  for (const p of [...(service.ports ?? []), ...(service.expose ?? [])]) {
    const s = String(typeof p === 'object' ? p.target : p).replace(/\/(tcp|udp)$/, '');
    out.push(Number(s.split(':').at(-1)));
  }
  return out;
}

interface Mount {
  source: string;
  target: string;
  bind: boolean;
}
function mountsOf(service: Obj): Mount[] {
  return (service.volumes ?? []).map((v: unknown) => {
    if (typeof v === 'object' && v) return { source: String((v as Obj).source), target: String((v as Obj).target), bind: (v as Obj).type === 'bind' };
    const [source, target] = String(v).split(':') as [string, string];
    return { source, target, bind: source.startsWith('.') || source.startsWith('/') };
  });
}

/** Host file behind a container path, through the service's bind mounts (file or directory mounts). */
function hostPathFor(service: Obj, containerPath: string): string | null {
  for (const m of mountsOf(service)) {
    if (!m.bind) continue;
    if (containerPath === m.target) return resolve(DEPLOY, m.source);
    if (containerPath.startsWith(m.target + '/')) return resolve(DEPLOY, m.source, containerPath.slice(m.target.length + 1));
  }
  return null;
}

function urlHostPort(u: string): { host: string; port: number; path: string } {
  const url = new URL(u);
  return { host: url.hostname, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)), path: url.pathname };
}

/** A health check command's URL (node -e fetch('...') or curl/wget ...). */
function healthUrl(service: Obj): string | null {
  const t = service.healthcheck?.test;
  const text = Array.isArray(t) ? t.join(' ') : String(t ?? '');
  return /https?:\/\/[^'"\s)]+/.exec(text)?.[0] ?? null;
}

export function checkCompose(doc: Obj): string[] {
  const problems: string[] = [];
  const services: Obj = doc?.services ?? {};
  const names = new Set(Object.keys(services));
  const volumes = new Set(Object.keys(doc?.volumes ?? {}));
  for (const want of ['influxdb', 'grafana', 'model', 'sidecar', 'analyzer']) if (!names.has(want)) problems.push(`service ${want} missing`);
  const loaded = new Map<string, Config>();

  for (const [name, s] of Object.entries(services) as Array<[string, Obj]>) {
    for (const d of depNames(s)) if (!names.has(d)) problems.push(`${name}: depends_on ${d}, which is not a service`);
    if (s.depends_on && !Array.isArray(s.depends_on)) {
      for (const [d, c] of Object.entries(s.depends_on as Obj)) {
        if (!['service_started', 'service_healthy', 'service_completed_successfully'].includes(c?.condition))
          problems.push(`${name}: depends_on ${d} has condition ${c?.condition}`);
        if (c?.condition === 'service_healthy' && services[d] && !services[d].healthcheck)
          problems.push(`${name}: waits for ${d} to be healthy, but ${d} has no healthcheck`);
      }
    }
    for (const m of mountsOf(s)) {
      if (m.bind) {
        if (!existsSync(resolve(DEPLOY, m.source))) problems.push(`${name}: mounts ${m.source}, which does not exist`);
      } else if (!volumes.has(m.source)) problems.push(`${name}: volume ${m.source} is not declared`);
    }
    if (s.build) {
      const ctx = resolve(DEPLOY, s.build.context ?? '.');
      if (!existsSync(join(ctx, s.build.dockerfile ?? 'Dockerfile'))) problems.push(`${name}: Dockerfile ${s.build.dockerfile} not found in ${ctx}`);
    }
    const cmd = driftwatchCommand(s.command);
    if (!cmd) continue;
    if (!cmd.config) {
      problems.push(`${name}: driftwatch ${cmd.sub} without --config`);
      continue;
    }
    const host = hostPathFor(s, cmd.config);
    if (!host || !existsSync(host)) {
      problems.push(`${name}: --config ${cmd.config} is not a mounted file of the repository`);
      continue;
    }
    const { config, problem } = loadAs(host, envOf(s));
    if (!config) {
      problems.push(`${name}: ${cmd.config} does not load: ${problem}`);
      continue;
    }
    loaded.set(name, config);
    const ports = containerPorts(s);
    const health = healthUrl(s);
    if (cmd.sub === 'serve') {
      if (!ports.includes(config.serve.port)) problems.push(`${name}: serve.port ${config.serve.port} is not exposed (${ports.join(', ')})`);
      if (config.serve.host !== '0.0.0.0') problems.push(`${name}: serve.host ${config.serve.host} is unreachable from other containers`);
      if (health) {
        const h = urlHostPort(health);
        if (h.port !== config.serve.port || !SCORING_PATHS.has(h.path))
          problems.push(`${name}: health check ${health} is not a scoring-server path on serve.port ${config.serve.port}`);
      }
    }
    if (cmd.sub === 'proxy') {
      if (!ports.includes(config.proxy.port)) problems.push(`${name}: proxy.port ${config.proxy.port} is not published (${ports.join(', ')})`);
      if (!config.proxy.upstream) problems.push(`${name}: proxy has no upstream`);
      else {
        const up = urlHostPort(config.proxy.upstream);
        const target = services[up.host] as Obj | undefined;
        const tcmd = target ? driftwatchCommand(target.command) : null;
        if (!target || tcmd?.sub !== 'serve') problems.push(`${name}: proxy.upstream ${config.proxy.upstream} is not the scoring server service`);
        else {
          const tcfg = loadAs(hostPathFor(target, tcmd.config!) ?? '', envOf(target)).config;
          if (tcfg && tcfg.serve.port !== up.port) problems.push(`${name}: proxy.upstream port ${up.port} is not ${up.host}'s serve.port ${tcfg.serve.port}`);
          if (!depNames(s).includes(up.host)) problems.push(`${name}: does not depend_on its upstream ${up.host}`);
        }
      }
      if (config.store.kind !== 'influxdb') problems.push(`${name}: store.kind is ${config.store.kind}, not influxdb`);
    }
    if (cmd.sub === 'proxy' || cmd.sub === 'analyze') {
      if (!ports.includes(config.admin.port)) problems.push(`${name}: admin.port ${config.admin.port} is not published (${ports.join(', ')})`);
      if (health) {
        const h = urlHostPort(health);
        if (h.port !== config.admin.port || !ADMIN_PATHS.has(h.path))
          problems.push(`${name}: health check ${health} is not an admin path on admin.port ${config.admin.port}`);
      }
    }
    // the scoring server never touches the store (data path); the sidecar writes it, the analyzer reads it
    if ((cmd.sub === 'proxy' || cmd.sub === 'analyze') && config.store.kind === 'influxdb') {
      const u = urlHostPort(config.store.influxdb.url);
      const influx = services[u.host] as Obj | undefined;
      if (!influx) problems.push(`${name}: store.influxdb.url host ${u.host} is not a service`);
      else {
        if (!containerPorts(influx).includes(u.port)) problems.push(`${name}: InfluxDB port ${u.port} is not the influxdb service's`);
        const ie = envOf(influx);
        if (ie.DOCKER_INFLUXDB_INIT_ORG !== config.store.influxdb.org)
          problems.push(`${name}: store.influxdb.org ${config.store.influxdb.org} is not the org InfluxDB is set up with (${ie.DOCKER_INFLUXDB_INIT_ORG})`);
        if (ie.DOCKER_INFLUXDB_INIT_BUCKET !== config.store.influxdb.bucket)
          problems.push(`${name}: store.influxdb.bucket ${config.store.influxdb.bucket} is not the bucket InfluxDB is set up with`);
        if (!depNames(s).includes(u.host)) problems.push(`${name}: does not depend_on ${u.host}`);
        // the token driftwatch uses must be the one InfluxDB is set up with: the same .env variable
        const varOf = (v: unknown) => /\$\{([A-Z0-9_]+)/.exec(String(v ?? ''))?.[1];
        const setUp = varOf(influx.environment?.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN);
        const used = varOf(s.environment?.DRIFTWATCH_STORE_INFLUXDB_TOKEN);
        if (!used) problems.push(`${name}: no DRIFTWATCH_STORE_INFLUXDB_TOKEN from .env`);
        else if (used !== setUp) problems.push(`${name}: its InfluxDB token (${used}) is not the one InfluxDB is set up with (${setUp})`);
        // InfluxQL reads on 2.x need the bucket mapped to store.influxdb.database (DBRP)
        const init = mountsOf(influx).find((m) => m.target === '/docker-entrypoint-initdb.d');
        const scripts = init ? resolve(DEPLOY, init.source) : null;
        const dbrp = scripts && existsSync(scripts) && statSync(scripts).isDirectory() ? readFileSync(join(scripts, '10-driftwatch-dbrp.sh'), 'utf8') : '';
        if (!new RegExp(`v1 dbrp create[^\\n]*--db ${config.store.influxdb.database}\\b`).test(dbrp))
          problems.push(`${name}: no DBRP mapping for database ${config.store.influxdb.database} in the InfluxDB init scripts`);
      }
    }
  }
  const roles = [...loaded.keys()].map((n) => driftwatchCommand(services[n].command)!.sub);
  for (const want of ['serve', 'proxy', 'analyze']) if (!roles.includes(want)) problems.push(`no service runs driftwatch ${want}`);

  // Grafana: the provisioning folder and the dashboards where the provider file looks for them
  const g = services.grafana as Obj | undefined;
  if (g) {
    const ms = mountsOf(g);
    const prov = ms.find((m) => m.target === '/etc/grafana/provisioning');
    if (!prov || resolve(DEPLOY, prov.source) !== join(ROOT, 'dashboards', 'provisioning'))
      problems.push('grafana: dashboards/provisioning is not mounted at /etc/grafana/provisioning');
    const providerFile = join(ROOT, 'dashboards', 'provisioning', 'dashboards', 'driftwatch.yaml');
    if (existsSync(providerFile)) {
      const path = parse(readFileSync(providerFile, 'utf8'))?.providers?.[0]?.options?.path;
      const dash = ms.find((m) => m.target === path);
      if (!dash || resolve(DEPLOY, dash.source) !== join(ROOT, 'dashboards'))
        problems.push(`grafana: dashboards/ is not mounted at ${path}, where the dashboard provider reads`);
    }
    const dsFile = join(ROOT, 'dashboards', 'provisioning', 'datasources', 'driftwatch.yaml');
    if (existsSync(dsFile)) {
      for (const ds of parse(readFileSync(dsFile, 'utf8'))?.datasources ?? []) {
        const u = urlHostPort(ds.url);
        if (!services[u.host] || !containerPorts(services[u.host]).includes(u.port))
          problems.push(`grafana: data source ${ds.uid} points at ${u.host}:${u.port}, which no service provides`);
      }
    }
  }
  const prom = services.prometheus as Obj | undefined;
  if (prom) {
    const file = hostPathFor(prom, '/etc/prometheus/prometheus.yml');
    const targets: string[] =
      file && existsSync(file)
        ? (parse(readFileSync(file, 'utf8'))?.scrape_configs ?? []).flatMap((c: Obj) => c.static_configs.flatMap((sc: Obj) => sc.targets))
        : [];
    if (!targets.length) problems.push('prometheus: no scrape targets');
    for (const t of targets) {
      const [h, p] = t.split(':') as [string, string];
      const s = services[h] as Obj | undefined;
      const cmd = s ? driftwatchCommand(s.command) : null;
      const cfg = s && cmd ? loaded.get(h) : undefined;
      if (!cfg || cfg.admin.port !== Number(p)) problems.push(`prometheus: target ${t} is not a driftwatch admin port`);
    }
  }
  return problems;
}

// ---- kubernetes ------------------------------------------------------------------------------

const API_VERSIONS: Record<string, string> = {
  Namespace: 'v1',
  ConfigMap: 'v1',
  Secret: 'v1',
  Service: 'v1',
  PersistentVolumeClaim: 'v1',
  Deployment: 'apps/v1',
};

function containerEnv(c: Obj, secrets: Map<string, Obj>, problems: string[], where: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (typeof e.value === 'string') env[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) {
      const { name, key } = e.valueFrom.secretKeyRef;
      const s = secrets.get(name);
      const v = s?.stringData?.[key] ?? (s?.data?.[key] !== undefined ? Buffer.from(s.data[key], 'base64').toString() : undefined);
      if (v === undefined) problems.push(`${where}: env ${e.name} refers to secret ${name} key ${key}, which does not exist`);
      env[e.name] = v ?? '';
    } else if (e.valueFrom?.fieldRef) env[e.name] = 'pod-0';
    else problems.push(`${where}: env ${e.name} has no value`);
  }
  return env;
}

export function checkK8s(docs: Obj[]): string[] {
  const problems: string[] = [];
  for (const [i, d] of docs.entries()) {
    if (!d?.apiVersion || !d?.kind || !d?.metadata?.name) problems.push(`document ${i}: needs apiVersion, kind and metadata.name`);
    else if (API_VERSIONS[d.kind] && API_VERSIONS[d.kind] !== d.apiVersion)
      problems.push(`${d.kind} ${d.metadata.name}: apiVersion ${d.apiVersion}, expected ${API_VERSIONS[d.kind]}`);
  }
  const of = (kind: string) => new Map(docs.filter((d) => d?.kind === kind).map((d) => [d.metadata?.name as string, d]));
  const configMaps = of('ConfigMap');
  const secrets = of('Secret');
  const pvcs = of('PersistentVolumeClaim');
  const deployments = [...of('Deployment').values()];
  const roles = new Map<string, { deployment: Obj; config: Config }>();

  for (const dep of deployments) {
    const where = `Deployment ${dep.metadata.name}`;
    const pod = dep.spec?.template?.spec as Obj | undefined;
    const labels = dep.spec?.template?.metadata?.labels ?? {};
    const sel = dep.spec?.selector?.matchLabels ?? {};
    if (!Object.keys(sel).length || !Object.entries(sel).every(([k, v]) => labels[k] === v))
      problems.push(`${where}: selector does not match the pod template's labels`);
    if (!pod) {
      problems.push(`${where}: no pod template`);
      continue;
    }
    const volumes = new Map<string, Obj>((pod.volumes ?? []).map((v: Obj) => [v.name, v]));
    for (const v of volumes.values()) {
      if (v.configMap && !configMaps.has(v.configMap.name))
        problems.push(`${where}: volume ${v.name} uses ConfigMap ${v.configMap.name}, which is not defined`);
      if (v.persistentVolumeClaim && !pvcs.has(v.persistentVolumeClaim.claimName))
        problems.push(`${where}: volume ${v.name} uses PVC ${v.persistentVolumeClaim.claimName}, which is not defined`);
    }
    const seenPorts = new Map<number, string>();
    const all = [...(pod.initContainers ?? []), ...(pod.containers ?? [])] as Obj[];
    const byRole = new Map<string, { c: Obj; config: Config }>();
    for (const c of all) {
      const cw = `${where} container ${c.name}`;
      if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory || !c.resources?.limits?.cpu || !c.resources?.limits?.memory)
        problems.push(`${cw}: needs cpu and memory requests and limits`);
      for (const m of c.volumeMounts ?? []) if (!volumes.has(m.name)) problems.push(`${cw}: mounts volume ${m.name}, which the pod does not define`);
      const env = containerEnv(c, secrets, problems, cw);
      const isInit = (pod.initContainers ?? []).includes(c);
      if (!isInit) {
        for (const p of c.ports ?? []) {
          const other = seenPorts.get(p.containerPort);
          if (other) problems.push(`${where}: containers ${other} and ${c.name} both use port ${p.containerPort} (one network namespace)`);
          seenPorts.set(p.containerPort, c.name);
        }
      }
      const cmd = driftwatchCommand(c.args);
      if (!cmd) continue;
      // the config file: a ConfigMap key mounted at the --config path
      const mount = (c.volumeMounts ?? []).find((m: Obj) => cmd.config?.startsWith(m.mountPath + '/'));
      const cm = mount ? configMaps.get(volumes.get(mount.name)?.configMap?.name) : undefined;
      const text = cm?.data?.[cmd.config!.slice(mount.mountPath.length + 1)];
      if (typeof text !== 'string') {
        problems.push(`${cw}: --config ${cmd.config} is not a key of a mounted ConfigMap`);
        continue;
      }
      // the ConfigMap carries config/k8s.yaml verbatim, so the file in the repository is what runs
      const file = join(ROOT, 'config', 'k8s.yaml');
      if (readFileSync(file, 'utf8') !== text) problems.push(`${cw}: the ConfigMap's ${cmd.config} differs from config/k8s.yaml`);
      const { config, problem } = loadAs(file, env);
      if (!config) {
        problems.push(`${cw}: its config does not load: ${problem}`);
        continue;
      }
      byRole.set(cmd.sub, { c, config });
      roles.set(cmd.sub, { deployment: dep, config });
      const ports = (c.ports ?? []).map((p: Obj) => p.containerPort);
      const probePaths: Array<[string, Obj | undefined]> = [
        ['readinessProbe', c.readinessProbe],
        ['livenessProbe', c.livenessProbe],
      ];
      const serverPorts =
        cmd.sub === 'serve' ? [config.serve.port, config.admin.port] : cmd.sub === 'proxy' ? [config.proxy.port, config.admin.port] : [config.admin.port];
      for (const p of serverPorts)
        if (!ports.includes(p)) problems.push(`${cw}: the config listens on ${p}, which is not a containerPort (${ports.join(', ')})`);
      for (const p of ports)
        if (!serverPorts.includes(p)) problems.push(`${cw}: containerPort ${p} is not a port its config listens on (${serverPorts.join(', ')})`);
      for (const [kind, probe] of probePaths) {
        const g = probe?.httpGet;
        if (!g) {
          problems.push(`${cw}: no ${kind} httpGet`);
          continue;
        }
        const port = typeof g.port === 'number' ? g.port : (c.ports ?? []).find((p: Obj) => p.name === g.port)?.containerPort;
        const ok =
          cmd.sub === 'serve'
            ? (port === config.serve.port && SCORING_PATHS.has(g.path)) || (port === config.admin.port && ADMIN_PATHS.has(g.path))
            : port === config.admin.port && ADMIN_PATHS.has(g.path);
        if (!ok) problems.push(`${cw}: ${kind} ${g.path} on ${g.port} is not a path the server serves on that port`);
      }
    }
    const serve = byRole.get('serve');
    const proxy = byRole.get('proxy');
    if (proxy) {
      if (!serve) problems.push(`${where}: the sidecar has no model server container in its pod`);
      else {
        const up = proxy.config.proxy.upstream ? urlHostPort(proxy.config.proxy.upstream) : null;
        if (!up || !['127.0.0.1', 'localhost'].includes(up.host))
          problems.push(`${where}: the sidecar's upstream ${proxy.config.proxy.upstream} is not on localhost`);
        else if (up.port !== serve.config.serve.port)
          problems.push(`${where}: the sidecar's upstream port ${up.port} is not the model container's serve.port ${serve.config.serve.port}`);
      }
    }
  }
  for (const want of ['serve', 'proxy', 'analyze']) if (!roles.has(want)) problems.push(`no container runs driftwatch ${want}`);
  const analyzer = roles.get('analyze');
  if (analyzer && analyzer.deployment.spec.replicas !== 1)
    problems.push('the analyzer Deployment must have exactly one replica (checks and alerts would run twice)');
  if (analyzer && roles.get('proxy')?.deployment === analyzer.deployment) problems.push('the analyzer must be its own Deployment');

  for (const svc of of('Service').values()) {
    const where = `Service ${svc.metadata.name}`;
    const sel = svc.spec?.selector ?? {};
    const targets = deployments.filter((d) => Object.keys(sel).length && Object.entries(sel).every(([k, v]) => d.spec?.template?.metadata?.labels?.[k] === v));
    if (!targets.length) {
      problems.push(`${where}: selects no pod`);
      continue;
    }
    const cports = targets.flatMap((d) => (d.spec.template.spec.containers ?? []).flatMap((c: Obj) => c.ports ?? [])) as Obj[];
    for (const p of svc.spec.ports ?? []) {
      const hit = cports.find((cp) => (typeof p.targetPort === 'string' ? cp.name === p.targetPort : cp.containerPort === (p.targetPort ?? p.port)));
      if (!hit) problems.push(`${where}: port ${p.name ?? p.port} targets ${p.targetPort}, which no container port is`);
    }
    // the model pod's Service must reach the sidecar, never the model container directly
    const proxy = roles.get('proxy');
    if (proxy && targets.includes(proxy.deployment)) {
      const reached = (svc.spec.ports ?? []).map(
        (p: Obj) =>
          cports.find((cp) => (typeof p.targetPort === 'string' ? cp.name === p.targetPort : cp.containerPort === (p.targetPort ?? p.port)))?.containerPort,
      );
      if (!reached.includes(proxy.config.proxy.port)) problems.push(`${where}: does not expose the sidecar's proxy.port ${proxy.config.proxy.port}`);
      const serve = roles.get('serve');
      if (serve && reached.includes(serve.config.serve.port))
        problems.push(`${where}: exposes the model container's port ${serve.config.serve.port}, bypassing the sidecar`);
    }
  }
  return problems;
}

// ---- the PrometheusRule ----------------------------------------------------------------------

/**
 * k8s/prometheus-rule.yaml: one PrometheusRule in driftwatch.yaml's namespace whose spec.groups are
 * config/prometheus/driftwatch-rules.yaml's groups exactly (that file is what promtool checks and
 * tests: test/unit/prometheus-rules.test.ts).
 */
function checkPrometheusRule(docs: Obj[], rulesFile: Obj, namespaces: string[]): string[] {
  const problems: string[] = [];
  if (docs.length !== 1) problems.push(`prometheus-rule.yaml: ${docs.length} documents, expected one PrometheusRule`);
  for (const d of docs) {
    const where = `${d.kind} ${d.metadata?.name}`;
    if (d.apiVersion !== 'monitoring.coreos.com/v1' || d.kind !== 'PrometheusRule')
      problems.push(`${where}: expected apiVersion monitoring.coreos.com/v1, kind PrometheusRule (got ${d.apiVersion}, ${d.kind})`);
    if (!namespaces.includes(d.metadata?.namespace))
      problems.push(`${where}: namespace ${d.metadata?.namespace} is not driftwatch.yaml's (${namespaces.join(', ')})`);
    try {
      assert.deepStrictEqual(d.spec?.groups, rulesFile.groups);
    } catch {
      problems.push(`${where}: spec.groups differ from config/prometheus/driftwatch-rules.yaml's groups`);
    }
  }
  return problems;
}

// ---- the tests -------------------------------------------------------------------------------

// docker compose applies YAML merge keys (<<: *driftwatch); so does this parse
const compose = parse(readFileSync(COMPOSE_FILE, 'utf8'), { merge: true }) as Obj;
const k8s = parseAllDocuments(readFileSync(K8S_FILE, 'utf8')).map((d) => {
  assert.deepEqual(d.errors, [], 'k8s YAML parses');
  return d.toJS() as Obj;
});
const promRule = parseAllDocuments(readFileSync(PROMETHEUS_RULE_FILE, 'utf8')).map((d) => {
  assert.deepEqual(d.errors, [], 'prometheus-rule.yaml parses');
  return d.toJS() as Obj;
});
const rulesFile = parse(readFileSync(RULES_FILE, 'utf8')) as Obj;
const k8sNamespaces = k8s.filter((d) => d.kind === 'Namespace').map((d) => d.metadata.name as string);
const byKindName = (docs: Obj[], kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name)!;
const container = (docs: Obj[], dep: string, name: string) =>
  byKindName(docs, 'Deployment', dep).spec.template.spec.containers.find((c: Obj) => c.name === name);

describe('deployment manifests', () => {
  test('the route lists the checks rely on were found in the sources', () => {
    assert.ok(SCORING_PATHS.has('/ping') && SCORING_PATHS.has('/health'), [...SCORING_PATHS].join(', '));
    assert.ok(ADMIN_PATHS.has('/healthz') && ADMIN_PATHS.has('/metrics'), [...ADMIN_PATHS].join(', '));
  });

  test('docker-compose.yml: services, dependencies, mounts, configs, ports, health checks, Grafana and Prometheus wiring', () => {
    assert.deepEqual(checkCompose(compose), []);
  });

  test('Dockerfile: node:20-bookworm-slim, npm ci with the build, every COPY source exists', () => {
    const text = readFileSync(DOCKERFILE, 'utf8');
    const froms = [...text.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    assert.ok(froms.length >= 1 && froms.every((f) => f === 'node:20-bookworm-slim'), froms.join(', '));
    assert.match(text, /^RUN npm ci\b/m);
    // npm ci runs "prepare": the build
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    assert.match(pkg.scripts.prepare, /tsc -p tsconfig\.build\.json/);
    const entry = /^ENTRYPOINT \[(.*)\]/m.exec(text)?.[1] ?? '';
    assert.ok(entry.includes(`/app/${pkg.bin.driftwatch}`), `ENTRYPOINT runs the built CLI (${pkg.bin.driftwatch})`);
    for (const m of text.matchAll(/^COPY (?!--from)(.+)$/gm)) {
      const parts = m[1]!.trim().split(/\s+/);
      for (const src of parts.slice(0, -1)) assert.ok(existsSync(join(ROOT, src)), `COPY ${src} exists in the repository`);
    }
    // compose builds it from the repository root
    assert.equal(resolve(DEPLOY, compose['x-driftwatch'].build.context), ROOT);
  });

  test('k8s/driftwatch.yaml: objects, ConfigMap = config/k8s.yaml and loads, ports, probes, sidecar upstream, Secret refs, resources', () => {
    assert.deepEqual(checkK8s(k8s), []);
    const kinds = k8s.map((d) => d.kind).sort();
    for (const k of ['ConfigMap', 'Deployment', 'Secret', 'Service']) assert.ok(kinds.includes(k), k);
    assert.equal(k8s.filter((d) => d.kind === 'Deployment').length, 2, 'the model pod and the analyzer');
    const pod = byKindName(k8s, 'Deployment', 'seattle-weather').spec.template.spec;
    assert.deepEqual(
      pod.containers.map((c: Obj) => c.args[0]),
      ['serve', 'proxy'],
    );
  });

  test("k8s/prometheus-rule.yaml: a PrometheusRule whose groups are config/prometheus/driftwatch-rules.yaml's", () => {
    assert.deepEqual(checkPrometheusRule(promRule, rulesFile, k8sNamespaces), []);
    assert.ok(rulesFile.groups.length >= 1 && rulesFile.groups.every((g: Obj) => g.rules.length > 0));
  });

  test('every config file the manifests use is in config/ (so the config-loading test covers it too)', () => {
    for (const f of ['compose.yaml', 'k8s.yaml']) assert.ok(existsSync(join(ROOT, 'config', f)), f);
    assert.equal(dirname(hostPathFor(compose.services.sidecar, '/etc/driftwatch/driftwatch.yaml')!), join(ROOT, 'config'));
  });

  describe('the checks catch mistakes (mutated copies)', () => {
    const composeCases: Array<[string, (d: Obj) => void, RegExp]> = [
      [
        'depends_on an unknown service',
        (d) => (d.services.sidecar.depends_on.modle = { condition: 'service_healthy' }),
        /sidecar: depends_on modle, which is not a service/,
      ],
      [
        'a bind mount that does not exist',
        (d) => (d.services.grafana.volumes[0] = '../../dashboard/provisioning:/etc/grafana/provisioning:ro'),
        /grafana: mounts \.\.\/\.\.\/dashboard\/provisioning, which does not exist/,
      ],
      ['an undeclared named volume', (d) => delete d.volumes['analyzer-state'], /analyzer: volume analyzer-state is not declared/],
      ['the proxy port not published', (d) => (d.services.sidecar.ports = ['5001:5001', '9097:9097']), /sidecar: proxy\.port 5000 is not published/],
      [
        'the upstream on a wrong port',
        (d) => (d.services.sidecar.environment.DRIFTWATCH_PROXY_UPSTREAM = 'http://model:8081'),
        /proxy\.upstream port 8081 is not model's serve\.port 8080/,
      ],
      [
        'the upstream not the model server',
        (d) => (d.services.sidecar.environment.DRIFTWATCH_PROXY_UPSTREAM = 'http://grafana:3000'),
        /proxy\.upstream http:\/\/grafana:3000 is not the scoring server service/,
      ],
      [
        'a config setting that is not one',
        (d) => (d.services.analyzer.environment.DRIFTWATCH_ALERTS_RECEIVER = '[]'),
        /analyzer: \/etc\/driftwatch\/driftwatch\.yaml does not load/,
      ],
      [
        'a config file that is not mounted',
        (d) => (d.services.model.command = ['serve', '--config', '/etc/driftwatch/other.yaml']),
        /model: --config \/etc\/driftwatch\/other\.yaml is not a mounted file/,
      ],
      [
        'a health check on a path the server does not serve',
        (d) => (d.services.model.healthcheck.test = ['CMD', 'node', '-e', "fetch('http://127.0.0.1:8080/healthz')"]),
        /model: health check .* is not a scoring-server path/,
      ],
      [
        'waiting on a service without a health check',
        (d) => delete d.services.model.healthcheck,
        /sidecar: waits for model to be healthy, but model has no healthcheck/,
      ],
      [
        'InfluxDB set up with another bucket',
        (d) => (d.services.influxdb.environment.DOCKER_INFLUXDB_INIT_BUCKET = 'metrics'),
        /store\.influxdb\.bucket driftwatch is not the bucket/,
      ],
      [
        'a Prometheus target that is not an admin port',
        (d) => (d.services.prometheus.volumes = ['./docker-compose.yml:/etc/prometheus/prometheus.yml:ro']),
        /prometheus: no scrape targets/,
      ],
      [
        'the sidecar writing with another token than InfluxDB was set up with',
        (d) => (d.services.sidecar.environment.DRIFTWATCH_STORE_INFLUXDB_TOKEN = '${OTHER_TOKEN}'),
        /sidecar: its InfluxDB token \(OTHER_TOKEN\) is not the one InfluxDB is set up with \(DRIFTWATCH_INFLUX_TOKEN\)/,
      ],
      [
        'no DBRP mapping for the database InfluxQL reads',
        (d) => (d.services.analyzer.environment.DRIFTWATCH_STORE_INFLUXDB_DATABASE = 'metrics'),
        /analyzer: no DBRP mapping for database metrics/,
      ],
      [
        'Grafana without the dashboards where the provider reads',
        (d) => (d.services.grafana.volumes[1] = '../../dashboards:/var/lib/grafana/dashboards:ro'),
        /grafana: dashboards\/ is not mounted at/,
      ],
      ['no analyzer', (d) => delete d.services.analyzer, /service analyzer missing[\s\S]*no service runs driftwatch analyze/],
    ];
    for (const [name, mutate, expected] of composeCases) {
      test(`compose: ${name}`, () => {
        const d = clone(compose);
        mutate(d);
        const problems = checkCompose(d).join('\n');
        assert.match(problems, expected);
      });
    }

    const k8sCases: Array<[string, (d: Obj[]) => void, RegExp]> = [
      [
        'the sidecar upstream not the model container port',
        (d) => container(d, 'seattle-weather', 'driftwatch').env.push({ name: 'DRIFTWATCH_PROXY_UPSTREAM', value: 'http://127.0.0.1:8081' }),
        /the sidecar's upstream port 8081 is not the model container's serve\.port 8080/,
      ],
      [
        'the sidecar upstream off localhost',
        (d) => container(d, 'seattle-weather', 'driftwatch').env.push({ name: 'DRIFTWATCH_PROXY_UPSTREAM', value: 'http://model:8080' }),
        /the sidecar's upstream http:\/\/model:8080 is not on localhost/,
      ],
      [
        'two containers on one port',
        (d) => (container(d, 'seattle-weather', 'model').env.find((e: Obj) => e.name === 'DRIFTWATCH_ADMIN_PORT').value = '9097'),
        /containers model and driftwatch both use port 9097|listens on 9097, which is not a containerPort/,
      ],
      [
        'a probe on a path the server does not serve',
        (d) => (container(d, 'seattle-weather', 'driftwatch').livenessProbe.httpGet.path = '/ping'),
        /container driftwatch: livenessProbe \/ping on 9097 is not a path/,
      ],
      [
        'a containerPort the config does not listen on',
        (d) => (container(d, 'driftwatch-analyzer', 'analyzer').ports[0].containerPort = 9200),
        /containerPort 9200 is not a port its config listens on/,
      ],
      [
        'a ConfigMap that drifted from config/k8s.yaml',
        (d) => (byKindName(d, 'ConfigMap', 'driftwatch-config').data['driftwatch.yaml'] += '\n# edited\n'),
        /differs from config\/k8s\.yaml/,
      ],
      [
        'a Secret key that does not exist',
        (d) => (container(d, 'driftwatch-analyzer', 'analyzer').env[0].valueFrom.secretKeyRef.key = 'admin_token'),
        /secret driftwatch-secrets key admin_token, which does not exist/,
      ],
      [
        'missing resources',
        (d) => delete container(d, 'seattle-weather', 'model').resources.limits,
        /container model: needs cpu and memory requests and limits/,
      ],
      [
        'a Service targeting an unknown port name',
        (d) => (byKindName(d, 'Service', 'seattle-weather').spec.ports[0].targetPort = 'proxy'),
        /Service seattle-weather: port http targets proxy/,
      ],
      ['a Service bypassing the sidecar', (d) => (byKindName(d, 'Service', 'seattle-weather').spec.ports[0].targetPort = 'model'), /bypassing the sidecar/],
      [
        'a selector matching no pod',
        (d) => (byKindName(d, 'Service', 'driftwatch-analyzer').spec.selector = { app: 'nope' }),
        /Service driftwatch-analyzer: selects no pod/,
      ],
      ['two analyzer replicas', (d) => (byKindName(d, 'Deployment', 'driftwatch-analyzer').spec.replicas = 2), /exactly one replica/],
      ['no kind', (d) => delete d[0]!.kind, /document 0: needs apiVersion, kind and metadata\.name/],
      [
        'a wrong apiVersion',
        (d) => (byKindName(d, 'Deployment', 'seattle-weather').apiVersion = 'v1'),
        /Deployment seattle-weather: apiVersion v1, expected apps\/v1/,
      ],
      [
        'a PVC that is not defined',
        (d) =>
          d.splice(
            d.findIndex((x) => x.kind === 'PersistentVolumeClaim'),
            1,
          ),
        /uses PVC driftwatch-analyzer-state, which is not defined/,
      ],
    ];
    const ruleCases: Array<[string, (d: Obj[]) => void, RegExp]> = [
      [
        'a rule edited in the manifest only',
        (d) => (d[0]!.spec.groups[0].rules[0].expr += ' * 2'),
        /spec\.groups differ from config\/prometheus\/driftwatch-rules\.yaml/,
      ],
      ['a rule missing from the manifest', (d) => d[0]!.spec.groups[1].rules.pop(), /spec\.groups differ/],
      ['another namespace', (d) => (d[0]!.metadata.namespace = 'monitoring'), /namespace monitoring is not driftwatch\.yaml's/],
      ['not a PrometheusRule', (d) => (d[0]!.apiVersion = 'v1'), /expected apiVersion monitoring\.coreos\.com\/v1, kind PrometheusRule/],
    ];
    for (const [name, mutate, expected] of ruleCases) {
      test(`PrometheusRule: ${name}`, () => {
        const d = clone(promRule);
        mutate(d);
        assert.match(checkPrometheusRule(d, rulesFile, k8sNamespaces).join('\n'), expected);
      });
    }

    for (const [name, mutate, expected] of k8sCases) {
      test(`k8s: ${name}`, () => {
        const d = clone(k8s);
        mutate(d);
        assert.match(checkK8s(d).join('\n'), expected);
      });
    }
  });
});
