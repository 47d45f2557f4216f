import type { WebhookConfig } from "../config";
import { hmacSha256Hex } from "../util/hmac";
import { describe } from "./log";
import type { Delivery, EventOutbox, EventTarget } from "./stats/event-outbox";

/** The target id of the Queue binding. */
export const QUEUE_TARGET = "queue";
/** A webhook that has not answered within this long is a failed attempt (retried). */
const WEBHOOK_TIMEOUT_MS = 10_000;
/** Deliveries one alarm makes at most (each is one subrequest); the rest go on in the next alarm. */
export const DELIVERIES_PER_ALARM = 50;
/** At most this many at once (the platform allows 6 open connections per invocation). */
const CONCURRENCY = 6;

/** Where the stats object delivers: the configured webhooks and the optional Queue. */
export interface EventTargets {
  readonly webhooks: readonly WebhookConfig[];
  readonly queue: Queue | null;
}

export function targetList(targets: EventTargets): EventTarget[] {
  return [
    ...targets.webhooks.map((hook) => ({ id: hook.url, events: hook.events })),
    ...(targets.queue ? [{ id: QUEUE_TARGET, events: null }] : []),
  ];
}

/**
 * How a target is shown (`/_/stats`, logs): a webhook by its position and origin only, because its
 * path or query may hold a token; never its secret.
 */
export function targetName(target: string, webhooks: readonly WebhookConfig[]): string {
  if (target === QUEUE_TARGET) return "queue";
  const index = webhooks.findIndex((hook) => hook.url === target);
  let origin = "webhook";
  try {
    origin = new URL(target).origin;
  } catch {
    // Only configured URLs are stored; this is a fallback for a shape that cannot be.
  }
  return index >= 0 ? `EVENT_WEBHOOKS[${index}] ${origin}` : `${origin} (no longer configured)`;
}

type Log = (fields: Record<string, string | number | boolean | undefined>) => void;

/**
 * Makes the deliveries that are due (at most `DELIVERIES_PER_ALARM`, `CONCURRENCY` at a time): each
 * attempt is counted first, a 2xx answer delivers, anything else (another status, a network error, no
 * answer in time) is retried with backoff until `MAX_ATTEMPTS`, then counted as failed and logged.
 * Never throws.
 */
export async function deliverDue(
  outbox: EventOutbox,
  targets: EventTargets,
  log: Log,
  now: () => number = Date.now,
): Promise<void> {
  const due = outbox.due(now(), DELIVERIES_PER_ALARM);
  let next = 0;
  const worker = async () => {
    for (let delivery = due[next++]; delivery; delivery = due[next++]) {
      await deliverOne(outbox, targets, delivery, log, now);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, due.length) }, worker));
}

async function deliverOne(
  outbox: EventOutbox,
  targets: EventTargets,
  delivery: Delivery,
  log: Log,
  now: () => number,
): Promise<void> {
  const hook = targets.webhooks.find((candidate) => candidate.url === delivery.target);
  const queue = delivery.target === QUEUE_TARGET ? targets.queue : null;
  const name = targetName(delivery.target, targets.webhooks);
  if (!hook && !queue) {
    outbox.forget(delivery);
    log({ event: "event.target_gone", target: name, type: delivery.type, id: delivery.eventId });
    return;
  }
  if (!outbox.attempting(delivery, now())) {
    log({
      event: "event.delivery_failed",
      target: name,
      type: delivery.type,
      id: delivery.eventId,
      attempts: delivery.attempts,
      error: "cut off",
    });
    return;
  }
  const status = hook ? await sendWebhook(hook, delivery) : await sendToQueue(queue as Queue, delivery);
  if (status.ok) {
    outbox.delivered(delivery, status.status, now());
    return;
  }
  if (outbox.failed(delivery, status.status, now()) === "failed") {
    log({
      event: "event.delivery_failed",
      target: name,
      type: delivery.type,
      id: delivery.eventId,
      attempts: delivery.attempts + 1,
      error: status.status,
    });
  }
}

/** POSTs the event, signed like GitHub's webhooks; redirects are not followed (a failed attempt). */
async function sendWebhook(
  hook: WebhookConfig,
  delivery: Delivery,
): Promise<{ ok: boolean; status: string }> {
  try {
    const signature = await hmacSha256Hex(hook.secret, delivery.body);
    const response = await fetch(hook.url, {
      method: "POST",
      body: delivery.body,
      redirect: "manual",
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
      headers: {
        "Content-Type": "application/json",
        "User-Agent": "edge-registry-mirror-events",
        "X-Mirror-Event": delivery.type,
        "X-Mirror-Delivery": delivery.eventId,
        "X-Hub-Signature-256": `sha256=${signature}`,
      },
    });
    await response.body?.cancel();
    return { ok: response.status >= 200 && response.status < 300, status: `HTTP ${response.status}` };
  } catch (error) {
    // An error's name and message only; the URL (which may hold a token) is not repeated.
    return { ok: false, status: describe(error).split(hook.url).join("<url>").slice(0, 200) };
  }
}

async function sendToQueue(queue: Queue, delivery: Delivery): Promise<{ ok: boolean; status: string }> {
  try {
    await queue.send(JSON.parse(delivery.body), { contentType: "json" });
    return { ok: true, status: "queued" };
  } catch (error) {
    return { ok: false, status: describe(error).slice(0, 200) };
  }
}
