import { indexEntries } from "../oci/manifest";
import { MediaType } from "../oci/media-types";

/**
 * What the mirror tells scanners and operators (webhooks, a Queue): a manifest cached for the first
 * time, a digest quarantined or released, a pull refused by the signature policy. Emitting only
 * enqueues (the stats batch carries the events to the stats object, whose alarm delivers them), so an
 * event never costs a pull any time.
 */
export type MirrorEvent = ImageCachedEvent | QuarantineEvent | PolicyRefusedEvent;

export type MirrorEventType = MirrorEvent["type"];

/** Every event carries these: a unique id (the same on every retry and target) and when it happened. */
interface EventHeader {
  readonly id: string;
  /** ISO 8601, UTC. */
  readonly time: string;
}

export interface ImageCachedEvent extends EventHeader {
  readonly type: "image.cached";
  /** The upstream's prefix in the mirror (`dockerhub`). */
  readonly upstream: string;
  /** The repository as the upstream names it (`library/alpine`). */
  readonly repository: string;
  /** The tag the client asked for; null when it asked by digest. */
  readonly tag: string | null;
  readonly digest: string;
  readonly mediaType: string;
  /** For an index: each child manifest and its platform (`linux/arm64/v8`); empty otherwise. */
  readonly platforms: ReadonlyArray<{ readonly platform: string; readonly digest: string }>;
  /** How to pull it through the mirror: `<mirror host>/<prefix>/<repository>@<digest>`. */
  readonly pull: string;
}

export interface QuarantineEvent extends EventHeader {
  readonly type: "quarantine.added" | "quarantine.released";
  readonly digest: string;
  /** Why it was quarantined (null on release). */
  readonly reason: string | null;
}

export interface PolicyRefusedEvent extends EventHeader {
  readonly type: "policy.refused";
  readonly upstream: string;
  readonly repository: string;
  /** The tag or digest the client asked for. */
  readonly reference: string;
  /** The manifest or blob digest refused. */
  readonly digest: string;
  readonly kind: "manifest" | "blob";
  /** Which policy entry refused it (`SIGNATURE_POLICY[0] (dockerhub/library/*)`). */
  readonly policy: string;
  /** What was missing (no signature, wrong key, wrong identity, …). */
  readonly shortfall: string;
  /** The message the client got. */
  readonly reason: string;
}

/** An event as its maker states it; the sink adds the id and the time. */
export type NewEvent = MirrorEvent extends infer E
  ? E extends MirrorEvent
    ? Omit<E, "id" | "time">
    : never
  : never;

/** A tag that a client resolved (with a HEAD) to a digest it is likely to fetch by digest next. */
export interface TagResolution {
  readonly upstream: string;
  readonly repository: string;
  readonly tag: string;
  readonly digest: string;
}

/** Where events go; `emit` and `resolved` never wait and never throw. */
export interface EventSink {
  emit(event: NewEvent): void;
  /**
   * A tag resolved to a digest without its manifest being fetched (containerd HEADs the tag, then GETs
   * by digest): the digest's `image.cached` event, which follows, names the tag.
   */
  resolved(resolution: TagResolution): void;
}

/** A sink that drops everything (no stats object to carry events). */
export const NO_EVENTS: EventSink = { emit() {}, resolved() {} };

/** The `image.cached` event of a manifest just stored. */
export function imageCached(fields: {
  upstream: string;
  repository: string;
  tag: string | null;
  digest: string;
  mediaType: string;
  body: ArrayBuffer;
  /** The host clients reach the mirror at; null when unknown (the cron). */
  via: string | null;
}): NewEvent {
  const isIndex = fields.mediaType === MediaType.OCI_INDEX || fields.mediaType === MediaType.DOCKER_LIST;
  const platforms = isIndex
    ? indexEntries(fields.body).map((entry) => ({
        platform: platformString(entry.platform),
        digest: entry.digest,
      }))
    : [];
  const path = `${fields.upstream}/${fields.repository}@${fields.digest}`;
  return {
    type: "image.cached",
    upstream: fields.upstream,
    repository: fields.repository,
    tag: fields.tag,
    digest: fields.digest,
    mediaType: fields.mediaType,
    platforms,
    pull: fields.via ? `${fields.via}/${path}` : path,
  };
}

function platformString(platform: { os?: string; architecture?: string; variant?: string } | undefined) {
  if (!platform) return "unknown";
  return [platform.os ?? "unknown", platform.architecture ?? "unknown", platform.variant]
    .filter((part): part is string => typeof part === "string" && part.length > 0)
    .join("/");
}
