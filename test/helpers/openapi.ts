/**
 * Lints the OpenAPI document (server/openapi.ts) with Redocly CLI and the committed redocly.yaml,
 * offline: the document goes to a temp file, telemetry and update checks are off, and the run is
 * bounded. Run directly (`npm run lint:openapi`) it prints the problems and exits 1 on any.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { openApiDocument } from '../../server/openapi.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface LintProblem {
  ruleId: string;
  severity: string;
  message: string;
  location: Array<{ pointer: string }>;
}
export interface LintReport {
  totals: { errors: number; warnings: number; ignored: number };
  problems: LintProblem[];
}

export async function lintOpenApi(doc: object = openApiDocument(), timeoutMs = 60_000): Promise<LintReport> {
  const dir = await mkdtemp(join(tmpdir(), 'keyward-openapi-'));
  try {
    const file = join(dir, 'openapi.json');
    await writeFile(file, JSON.stringify(doc, null, 2));
    const cli = join(ROOT, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js');
    const args = [cli, 'lint', file, '--config', join(ROOT, 'redocly.yaml'), '--format', 'json'];
    const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' };
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d));
      child.stderr.on('data', (d: Buffer) => (stderr += d));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`redocly lint did not finish within ${timeoutMs} ms`));
      }, timeoutMs);
      child.on('error', reject);
      child.on('close', (c) => {
        clearTimeout(timer);
        resolve({ code: c, stdout, stderr });
      });
    });
    const start = stdout.indexOf('{');
    if (start < 0) throw new Error(`redocly lint printed no report (exit ${code}): ${stderr.slice(-2000)}`);
    return JSON.parse(stdout.slice(start)) as LintReport;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function formatProblems(report: LintReport): string {
  return report.problems.map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer ?? ''}: ${p.message}`).join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const report = await lintOpenApi();
  const { errors, warnings } = report.totals;
  if (report.problems.length) console.log(formatProblems(report));
  console.log(`openapi.json: ${errors} errors, ${warnings} warnings`);
  process.exit(errors + warnings === 0 ? 0 : 1);
}
