/** Picks the renderer for a receiver kind. */
import type { ReceiverConfig } from '../../config/schema.js';
import type { Notification, RenderContext, RenderedRequest } from '../notification.js';
import { renderAlertmanager } from './alertmanager.js';
import { renderAlertmanagerApi } from './alertmanager-api.js';
import { renderPagerduty } from './pagerduty.js';
import { renderSlack } from './slack.js';
import { renderWebhook } from './webhook.js';

export function renderNotification(n: Notification, receiver: ReceiverConfig, ctx: RenderContext): RenderedRequest {
  switch (receiver.kind) {
    case 'webhook':
      return renderWebhook(n, receiver, ctx);
    case 'alertmanager':
      return renderAlertmanager(n, receiver, ctx);
    case 'alertmanager-api':
      return renderAlertmanagerApi(n, receiver, ctx);
    case 'slack':
      return renderSlack(n, receiver, ctx);
    case 'pagerduty':
      return renderPagerduty(n, receiver, ctx);
  }
}
