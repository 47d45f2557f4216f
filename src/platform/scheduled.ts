import { configFor } from "../config";
import { parseWarmImages } from "../config/warm-images";
import { runRetention } from "../ops/retention";
import { warmImage } from "../ops/warm";
import type { Env } from "./env";
import { StatsServedDays } from "./served-days";
import { coloCacheOf, servicesFor } from "./services";
import { statsStub } from "./stats-recorder";

/** Retention's share of a cron run's 50 subrequests on the Free plan (stats flushes take the rest). */
const FREE_RETENTION_OPERATIONS = 40;

/**
 * The daily cron: warm the configured images (so the first CI run of the day is a hit), then apply
 * retention. One image failing does not stop the others.
 */
export async function runScheduled(env: Env): Promise<void> {
  const config = configFor(env);
  const services = servicesFor(env, undefined, "cron");
  const images = parseWarmImages(env.WARM_IMAGES, new Set(config.upstreams.keys()));
  const stats = statsStub(env.STATS);
  for (const image of images) {
    try {
      const report = await warmImage(services, image);
      // Stopped to spare the quota reserve: the stats object's alarm goes on with it when quota is back.
      if (report.deferred) await stats?.deferWarmups([image], Date.parse(report.deferred.resumeAt));
    } catch (error) {
      services.log({
        event: "warm.failed",
        image: image.image,
        error: error instanceof Error ? error.message : "failed",
      });
    }
  }
  if (stats) {
    // What this isolate served counts too.
    await services.stats.flush().catch(() => {});
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
        ...(config.plan === "free" ? { maxOperations: FREE_RETENTION_OPERATIONS } : {}),
      },
    );
  } else {
    // The served days live in the stats object: without it every blob would look unserved.
    services.log({ event: "retention.skipped", reason: "no STATS binding" });
  }
  await services.stats.flush();
}
