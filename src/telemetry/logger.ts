/**
 * A small structured logger: one JSON object per line on stderr (stdout stays free for command
 * output). Created by the composition root and passed down; nothing logs at import time.
 *
 * Secrets: any field whose key looks like a credential is replaced by "[redacted]" before writing,
 * so a token that reaches a log call by mistake still never reaches the log. Credentials inside a
 * URL (`http://user:pass@host`) are cut out of every string, whatever its key (a config dump
 * carries store.influx.url, an error message may quote a URL).
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
// "receivers" holds Slack URLs, HMAC secrets and PagerDuty routing keys: redacted whole.
const SECRET_KEY = /token|secret|password|passwd|authorization|api[-_]?key|cookie|routing[-_]?key|receivers/i;

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go; defaults to process.stderr. */
  write?: (line: string) => void;
  base?: Record<string, unknown>;
  now?: () => Date;
}

// scheme://userinfo@ : the userinfo runs to the last "@" before the path, as WHATWG URL parsing has it.
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#]*@/gi;

/** `scheme://user:pass@host/...` becomes `scheme://[redacted]@host/...`, anywhere in a string. */
export function redactUrlCredentials(text: string): string {
  return text.includes('@') ? text.replace(URL_USERINFO, '$1[redacted]@') : text;
}

function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactUrlCredentials(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 4) return '[truncated]'; // deeper than any log call needs; never pass it through unredacted
  if (value instanceof URL) return redactUrlCredentials(value.href);
  if (value instanceof Error) return { name: value.name, message: redactUrlCredentials(value.message), code: (value as { code?: unknown }).code };
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : redact(v, depth + 1);
  return out;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const threshold = ORDER[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => process.stderr.write(line));
  const now = opts.now ?? (() => new Date());
  const base = opts.base ?? {};
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (ORDER[level] < threshold) return;
    const record = redact({ time: now().toISOString(), level, msg, ...base, ...fields });
    write(JSON.stringify(record) + '\n');
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ ...opts, base: { ...base, ...fields } }),
  };
}

export const silentLogger: Logger = createLogger({ level: 'silent' });
