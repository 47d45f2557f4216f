import { configFor } from "../config";
import { parseWarmImages } from "../config/warm-images";
import { runRetention } from "../ops/retention";
import { warmWithin } from "../ops/warm";
import { OpBudget } from "../util/op-budget";
import type { Env } from "./env";
import { StatsServedDays } from "./served-days";
import { coloCacheOf, servicesFor } from "./services";
import { statsStub } from "./stats-recorder";

/** Platform operations (subrequests) one cron invocation spends at most: Workers allow ~1,000. */
const CRON_OPERATIONS = 900;
/** Retention's share: 100 pages of 1,000 blobs (see runRetention). */
const RETENTION_OPERATIONS = 402;
/** Retention's share of a cron run's 50 subrequests on the Free plan (stats flushes take the rest). */
const FREE_RETENTION_OPERATIONS = 40;
/** Kept back for the stats flushes and the resume point. */
const RESERVED_OPERATIONS = 50;
/**
 * The warm-ups' share; what does not fit goes on in the stats object's alarm. (The Free plan has no
 * warm-ups: its 50 subrequests would not fetch an image, see `WARM_IMAGES` in config.)
 */
export const WARM_OPERATIONS = CRON_OPERATIONS - RETENTION_OPERATIONS - RESERVED_OPERATIONS;

/**
 * The daily cron: apply retention, then warm the configured images (so the first CI run of the day is
 * a hit). Each has its own share of the invocation's operations, so however many images there are,
 * retention runs; warm-ups that do not fit go on in the stats object's alarm, where they stopped. One
 * image failing does not stop the others.
 */
export async function runScheduled(env: Env): Promise<void> {
  const config = configFor(env);
  const services = servicesFor(env, undefined, "cron");
  const images = parseWarmImages(env.WARM_IMAGES, new Set(config.upstreams.keys()));
  const stats = statsStub(env.STATS);
  if (stats) {
    // What this isolate served counts too.
    await services.stats.flush().catch(() => {});
    try {
      await runRetention(
        {
          bucket: env.BLOBS,
          served: new StatsServedDays(stats),
          stats: services.stats,
          log: services.log,
          // Without a request, colo cache keys need COLO_CACHE_HOST; retention only deletes (no puts).
          colo: coloCacheOf(config, null, (promise) => promise.catch(() => {})),
        },
        {
          days: config.retentionDays,
          maxBytes: config.retentionMaxBytes,
          // The Free plan allows a cron run 50 subrequests; the flushes around it take a few.
          maxOperations: config.plan === "free" ? FREE_RETENTION_OPERATIONS : RETENTION_OPERATIONS,
        },
      );
    } catch (error) {
      // The warm-ups still run; the next run of retention goes on where this one saved its place.
      services.log({ event: "retention.failed", error: error instanceof Error ? error.message : "failed" });
    }
  } else {
    // The served days live in the stats object: without it every blob would look unserved.
    services.log({ event: "retention.skipped", reason: "no STATS binding" });
  }
  await warmWithin(services, images, new OpBudget(WARM_OPERATIONS), async (targets, resumeAt) => {
    await stats?.deferWarmups(targets, resumeAt);
  });
  await services.stats.flush();
}
