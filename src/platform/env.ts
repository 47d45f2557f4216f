/** The Worker's bindings and variables (see wrangler.toml); secrets arrive as further string vars. */
export interface Env {
  readonly BLOBS: R2Bucket;
  readonly MANIFESTS: KVNamespace;
  /** Durable Objects that share one upstream download per blob among concurrent misses. */
  readonly BLOB_FILLS: DurableObjectNamespace<import("./blob-fill").BlobFill>;
  /** Durable Objects that make concurrent manifest misses share one upstream request. */
  readonly MANIFEST_MISSES: DurableObjectNamespace<import("./manifest-misses").ManifestMisses>;
  /** prefix → upstream, as a JSON string or an object (TOML table). */
  readonly UPSTREAMS: unknown;
  readonly DEFAULT_UPSTREAM?: string;
  /** The mirror's totals (`/_/stats`, `/v2/_catalog`). */
  readonly STATS?: DurableObjectNamespace<import("./stats-object").MirrorStats>;
  /** Workers Analytics Engine: one data point per request when bound. */
  readonly ANALYTICS?: AnalyticsEngineDataset;
  /** Workers Rate Limiting binding; applied when `RATE_LIMIT` is "on". */
  readonly RATE_LIMITER?: RateLimit;
  /** Workers Rate Limiting binding for failed client authentications; always applied when bound. */
  readonly AUTH_FAILURES?: RateLimit;
  /** Cloudflare Queue that receives the mirror's events (image.cached, quarantine, policy refusals). */
  readonly EVENTS_QUEUE?: Queue;
  /** "on": R2, KV and Durable Object operations are counted (`GET /_/ops`); benchmarks only. */
  readonly OP_COUNTERS?: string;
  /** `UPSTREAM_<PREFIX>_USERNAME` / `_PASSWORD` secrets. */
  readonly [secret: string]: unknown;
}
