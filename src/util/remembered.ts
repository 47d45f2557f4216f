/** The value kept under `key`, made (and kept) on first use: a memory that lives as long as the isolate. */
export function remembered<K, V>(
  memory: { get(key: K): V | undefined; set(key: K, value: V): unknown },
  key: K,
  make: () => V,
): V {
  let value = memory.get(key);
  if (value === undefined) {
    value = make();
    memory.set(key, value);
  }
  return value;
}
