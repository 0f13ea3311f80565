/**
 * `npm run bench -- <name> [--json]`: runs bench/<name>.ts. Each bench prints a table for people, or
 * with --json one JSON object of its figures. Figures are ratios against a baseline measured in the
 * same run, because these machines are shared and noisy.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const names = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'util.ts'].includes(f))
  .map((f) => f.slice(0, -3));
const [name, ...rest] = process.argv.slice(2);
if (!name || !names.includes(name)) {
  console.error(`usage: npm run bench -- <${names.join('|')}> [--json]`);
  process.exit(2);
}
const mod = (await import(`./${name}.ts`)) as { main(opts: { json: boolean; args: string[] }): Promise<void> };
await mod.main({ json: rest.includes('--json'), args: rest });
