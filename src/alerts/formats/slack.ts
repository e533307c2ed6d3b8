/**
 * Slack incoming webhook (api.slack.com/messaging/webhooks): `{text, blocks}`. `text` alone is a
 * complete readable message (it is what notifications and clients without blocks show); blocks
 * repeat it as mrkdwn sections. The URL is itself the secret. Pure: no I/O.
 */
import type { ReceiverConfig } from '../../config/schema.js';
import {
  dashboardLink,
  fmtValue,
  thresholdText,
  type AlertItem,
  type LinkContext,
  type Notification,
  type RenderContext,
  type RenderedRequest,
} from '../notification.js';

/** Slack mrkdwn: &, < and > must be escaped in text. */
function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function line(a: AlertItem): string {
  const version = a.subject.version !== null ? ` v${esc(a.subject.version)}` : '';
  const state = a.handover ? `handed over to analyzer ${esc(a.handover.to)}` : a.status === 'resolved' ? 'resolved' : a.severity.toUpperCase();
  return `• [${state}] ${a.check} *${esc(a.subject.name)}*${version}: ${esc(a.metric)} ${fmtValue(a.value)} (threshold ${thresholdText(a)}) over ${esc(a.window.label)}, n=${a.sampleSize}`;
}

export function slackBody(n: Notification, links: LinkContext): { text: string; blocks: unknown[] } {
  const firing = n.alerts.filter((a) => a.status === 'firing').length;
  const resolved = n.alerts.length - firing;
  const head =
    (n.test ? '[TEST] ' : '') +
    (n.status === 'firing'
      ? `:rotating_light: driftwatch: model *${esc(n.model)}*: ${firing} alert${firing === 1 ? '' : 's'} firing${resolved ? `, ${resolved} resolved` : ''}`
      : `:white_check_mark: driftwatch: model *${esc(n.model)}*: ${resolved} alert${resolved === 1 ? '' : 's'} resolved`);
  const link = dashboardLink(links, n.model);
  const lines = n.alerts.map(line);
  const text = [head, ...lines, `<${link}|Dashboard for ${esc(n.model)}>`].join('\n');
  const blocks = [
    { type: 'section', text: { type: 'mrkdwn', text: head } },
    // Slack caps a section's text at 3000 characters.
    { type: 'section', text: { type: 'mrkdwn', text: lines.join('\n').slice(0, 2900) } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: `<${link}|Dashboard for ${esc(n.model)}>` }] },
  ];
  return { text, blocks };
}

export function renderSlack(n: Notification, receiver: ReceiverConfig, ctx: RenderContext): RenderedRequest {
  if (!receiver.url) throw new Error(`receiver ${receiver.name} (slack) has no url`);
  return { url: receiver.url, headers: { 'content-type': 'application/json' }, body: JSON.stringify(slackBody(n, ctx)) };
}
