import { evictableWhenSqueezed, releaseHeld, tryHold } from "../../src/util/held-bytes";

const MIB = 1024 * 1024;

/**
 * `rows` rows of 1 MiB held in the isolate's fill budget as a spool's newest rows are: a cache that a
 * chunk which must be read may evict (`state.evicted` counts what it took). `unregister` withdraws the
 * cache; the rows still held are the caller's to release.
 */
export function heldRows(rows: number): { state: { rows: number; evicted: number }; unregister: () => void } {
  for (let row = 0; row < rows; row++) {
    if (!tryHold(MIB)) throw new Error(`the budget has no room for ${rows} rows`);
  }
  const state = { rows, evicted: 0 };
  const unregister = evictableWhenSqueezed({
    get bytes() {
      return state.rows * MIB;
    },
    evictOldest: () => {
      if (state.rows === 0) return false;
      state.rows--;
      state.evicted++;
      releaseHeld(MIB);
      return true;
    },
  });
  return { state, unregister };
}
