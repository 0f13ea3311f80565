import type { Hsm } from '../engine/hsm.js';
import type { Logger } from './log.js';
import type { ServerMetrics } from './metrics.js';
import type { RateLimitOptions } from './rate-limit.js';

/** What routes are built from. */
export interface AppDeps {
  hsm: Hsm;
  log: Logger;
  bodyLimit: number;
  ceremonyRate: RateLimitOptions;
  /** The metrics registry GET /metrics serves, and whether it serves it without a token. */
  metrics?: { registry: ServerMetrics; unauthenticated: boolean };
}
