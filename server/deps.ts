import type { Hsm } from '../engine/hsm.js';
import type { Logger } from './log.js';
import type { RateLimitOptions } from './rate-limit.js';

/** What routes are built from. */
export interface AppDeps {
  hsm: Hsm;
  log: Logger;
  bodyLimit: number;
  ceremonyRate: RateLimitOptions;
}
