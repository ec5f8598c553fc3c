/**
 * Per-client token bucket (key = client IP). `rate` tokens per second,
 * `burst` capacity; idle buckets are dropped so memory stays bounded.
 */
export class RateLimiter {
  private buckets = new Map<string, { tokens: number; at: number }>();
  private lastSweep = Date.now();

  constructor(
    readonly rate: number,
    readonly burst: number,
    private readonly maxClients = 100_000,
  ) {}

  get enabled(): boolean {
    return this.rate > 0;
  }

  /** Returns 0 when allowed, else the seconds to wait before retrying. */
  take(client: string, now = Date.now()): number {
    if (!this.enabled) return 0;
    if (now - this.lastSweep > 60_000 || this.buckets.size > this.maxClients) this.sweep(now);
    let b = this.buckets.get(client);
    if (!b) {
      b = { tokens: this.burst, at: now };
      this.buckets.set(client, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.rate);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.rate));
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.rate >= this.burst) this.buckets.delete(k);
    }
    // Still too many distinct clients: start over rather than grow without bound.
    if (this.buckets.size > this.maxClients) this.buckets.clear();
  }
}
