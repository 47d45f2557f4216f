import { z } from "zod";
import { isHttpsOrLoopback } from "../util/trusted-url";
import { ConfigError } from "./error";

/** Where the mirror sends its events (`EVENT_WEBHOOKS`), each body signed with the secret. */
export interface WebhookConfig {
  readonly url: string;
  /** HMAC-SHA-256 key of the `X-Hub-Signature-256` header; never logged or shown. */
  readonly secret: string;
  /** The event types it wants; null = all. */
  readonly events: readonly string[] | null;
}

/** The events the mirror sends (mirror/events.ts `MirrorEvent` types). */
export const EVENT_TYPES = [
  "image.cached",
  "quarantine.added",
  "quarantine.released",
  "policy.refused",
] as const;

/** At most this many webhooks: each event is one delivery (one subrequest of the alarm) per webhook. */
export const MAX_WEBHOOKS = 10;
/** A shorter secret is guessable; GitHub's own guidance is a long random string. */
const MIN_SECRET_LENGTH = 16;

const webhookSchema = z.strictObject({
  url: z
    .string({ error: "must be a URL" })
    .max(2048, { error: "must be at most 2048 characters" })
    .refine(isHttpsOrLoopback, {
      error:
        "must be an https URL without credentials or fragment (http only for 127.0.0.1, localhost, [::1])",
    }),
  secret: z
    .string({ error: "must be a string" })
    .min(MIN_SECRET_LENGTH, { error: `must be at least ${MIN_SECRET_LENGTH} characters` })
    .max(1024, { error: "must be at most 1024 characters" }),
  events: z
    .array(
      z.enum(EVENT_TYPES, {
        error: "must be image.cached, quarantine.added, quarantine.released or policy.refused",
      }),
    )
    .min(1, { error: "must name at least one event (leave it out for all)" })
    .optional(),
});

/**
 * `EVENT_WEBHOOKS` (a secret: it holds the signing keys): a JSON array of `{url, secret, events?}`.
 * Errors name the field (`EVENT_WEBHOOKS[0].url: …`), never a value.
 */
export function parseWebhooks(value: unknown): WebhookConfig[] {
  if (value === undefined || value === null || value === "") return [];
  let raw: unknown = value;
  if (typeof value === "string") {
    try {
      raw = JSON.parse(value);
    } catch {
      throw new ConfigError("invalid configuration: EVENT_WEBHOOKS: not valid JSON");
    }
  }
  const parsed = z
    .array(webhookSchema, { error: "must be a JSON array of {url, secret}" })
    .max(MAX_WEBHOOKS, { error: `at most ${MAX_WEBHOOKS} webhooks` })
    .safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = (issue?.path ?? [])
      .map((part) => (typeof part === "number" ? `[${part}]` : `.${String(part)}`))
      .join("");
    // Unknown keys are named (they are field names, not values); nothing else from the input is.
    const message =
      issue?.code === "unrecognized_keys"
        ? `unknown field ${issue.keys.map((key) => `"${key.slice(0, 32)}"`).join(", ")}`
        : (issue?.message ?? "invalid");
    throw new ConfigError(`invalid configuration: EVENT_WEBHOOKS${path}: ${message}`);
  }
  const urls = new Set<string>();
  return parsed.data.map((hook, index) => {
    const url = new URL(hook.url).href;
    if (urls.has(url))
      throw new ConfigError(`invalid configuration: EVENT_WEBHOOKS[${index}].url: listed twice`);
    urls.add(url);
    return { url, secret: hook.secret, events: hook.events ?? null };
  });
}
