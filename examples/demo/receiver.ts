/**
 * The demo's alert receiver: a plain node:http server that checks each notification's Standard
 * Webhooks signature (https://www.standardwebhooks.com/) itself, the way a team's own receiver
 * would, and keeps what it got.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  webhookId: string;
  signatureValid: boolean;
  receivedAtMs: number;
  payload: {
    status: 'firing' | 'resolved';
    model: string;
    alerts: Array<{
      check: string;
      status: string;
      severity: string;
      subject: { model: string; version: string | null; name: string; role?: string };
      message: string;
      value: number | null;
    }>;
  };
}

export interface DemoReceiver {
  readonly url: string;
  readonly received: Received[];
  close(): Promise<void>;
}

/** `v1,<base64 HMAC-SHA256(key, id.timestamp.body)>`, any of the space-separated signatures. */
export function verifySignature(secret: string, headers: http.IncomingHttpHeaders, body: string): boolean {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  const sig = headers['webhook-signature'];
  if (typeof id !== 'string' || typeof ts !== 'string' || typeof sig !== 'string') return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const want = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest();
  return sig.split(' ').some((s) => {
    const [v, b64] = s.split(',');
    if (v !== 'v1' || !b64) return false;
    const got = Buffer.from(b64, 'base64');
    return got.length === want.length && timingSafeEqual(got, want);
  });
}

export async function startReceiver(secret: string, onNotification: (r: Received) => void): Promise<DemoReceiver> {
  const received: Received[] = [];
  const seen = new Set<string>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const signatureValid = verifySignature(secret, req.headers, body);
      const webhookId = String(req.headers['webhook-id'] ?? '');
      let payload: Received['payload'];
      try {
        payload = JSON.parse(body);
      } catch {
        res.writeHead(400).end();
        return;
      }
      // Delivery is at least once: a retried webhook-id is acknowledged, not counted twice.
      if (!seen.has(webhookId)) {
        seen.add(webhookId);
        const r = { webhookId, signatureValid, receivedAtMs: Date.now(), payload };
        received.push(r);
        onNotification(r);
      }
      res.writeHead(signatureValid ? 204 : 401).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/driftwatch`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
