/** Puts `value` in a map used as a small LRU cache: it becomes the newest, and past `limit` the oldest goes. */
export function keepNewest<V>(cache: Map<string, V>, key: string, value: V, limit: number): V {
  cache.delete(key);
  cache.set(key, value);
  if (cache.size > limit) cache.delete(cache.keys().next().value as string);
  return value;
}
