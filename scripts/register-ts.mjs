// `node --import ./scripts/register-ts.mjs file.ts`: runs Keyward's TypeScript sources (ts-hook.mjs
// says how, and why not tsx). KEYWARD_TS_HOOK tells worker threads started from .ts files what to
// register (engine/workers.ts: Node 20 ignores --import in a worker).
import { register } from 'node:module';

register('./ts-hook.mjs', import.meta.url);
process.env.KEYWARD_TS_HOOK = import.meta.url;
process.setSourceMapsEnabled(true);
