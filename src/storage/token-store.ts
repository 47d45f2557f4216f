/** Upstream tokens in KV, so isolates share them; keys are opaque hashes made by the token cache. */
export class KvTokenStore {
  constructor(private readonly kv: KVNamespace) {}

  async get(key: string): Promise<string | null> {
    return this.kv.get(`token/${key}`);
  }

  async put(key: string, token: string, ttlSeconds: number): Promise<void> {
    await this.kv.put(`token/${key}`, token, { expirationTtl: ttlSeconds });
  }
}
