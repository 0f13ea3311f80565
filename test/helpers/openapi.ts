/**
 * The OpenAPI document against reality:
 * - {@link checkResponse}: a response the server really sent must match what the document says its
 *   route answers with that status (test/helpers/server.ts `call()` checks every response);
 * - {@link lintOpenApi}: Redocly CLI with the committed redocly.yaml, offline: the document goes to a
 *   temp file, telemetry and update checks are off, and the run is bounded. Run directly
 *   (`npm run lint:openapi`) it prints the problems and exits 1 on any.
 */
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { findRoute, openApiDocument, routeStatuses } from '../../server/openapi.js';
import type { RouteDoc } from '../../server/openapi.js';
import { ErrorBody } from '../../server/responses.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Parked requests seen (approval id → the route that parked it), to check what their execute answers. */
const parkedRoutes = new Map<string, RouteDoc>();
/** Approval ids parked by routes the document leaves out (their execute answers aren't checked). */
const undocumentedParks = new Set<string>();

/**
 * Throws unless `body` is what the document promises for `method path` answering `status`: a
 * documented status, and a body that parses with that status's schema (strict objects: no
 * undocumented field). An approval's execute answers with the parked route's own schemas when the
 * parked request went through here. Requests outside the documented routes (404 probes, 405s) are
 * not checked. With KEYWARD_OPENAPI_COVERAGE=<file>, appends "operationId status" per response.
 */
export function checkResponse(method: string, path: string, status: number, body: unknown): void {
  if (method.toUpperCase() === 'HEAD') return;
  const route = findRoute(method, path);
  if (!route) {
    // A route outside the document (the Vault-compatible /v1/transit ones) that parked its request:
    // executing it answers in that route's own format, which the document does not describe either.
    const approval = (body as { approval?: { approvalId?: unknown } } | undefined)?.approval?.approvalId;
    if (typeof approval === 'string') undocumentedParks.add(approval);
    return;
  }
  if (route.operationId === 'approvalsExecute' && undocumentedParks.has(path.split('/')[3] ?? '')) return;
  const { success, errors } = routeStatuses(route);
  const errorBody = route.errorBody ?? ErrorBody;
  let schema = success.get(status) ?? (errors.includes(status) || status === 500 ? errorBody : undefined);
  let where = `${method} ${path.slice(0, 120)} → ${status} (${route.operationId})`;
  if (!schema)
    throw new Error(
      `OpenAPI: ${where} is not a documented status (documented: ${[...success.keys(), ...errors].join(', ')})`,
    );
  const target = route.operationId === 'approvalsExecute' ? parkedRoutes.get(path.split('/')[3] ?? '') : undefined;
  if (target && schema !== errorBody && status !== 202) {
    // The executed operation's own answer: it must be one its route documents.
    schema = routeStatuses(target).success.get(status);
    where += ` executing ${target.operationId}`;
    if (!schema) throw new Error(`OpenAPI: ${where}: ${status} is not a documented success of ${target.operationId}`);
  }
  const r = schema.safeParse(body);
  if (!r.success) {
    const issues = r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
    throw new Error(
      `OpenAPI: ${where} does not match its documented schema: ${issues.join('; ')}; body: ${JSON.stringify(body)?.slice(0, 500)}`,
    );
  }
  if (status === 202 && route.operationId !== 'approvalsExecute')
    parkedRoutes.set((body as { approvalId: string }).approvalId, route);
  const coverage = process.env.KEYWARD_OPENAPI_COVERAGE;
  if (coverage)
    appendFileSync(coverage, `${target ? `${target.operationId}(executed)` : route.operationId} ${status}\n`);
}

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
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
      (resolve, reject) => {
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
      },
    );
    const start = stdout.indexOf('{');
    if (start < 0) throw new Error(`redocly lint printed no report (exit ${code}): ${stderr.slice(-2000)}`);
    return JSON.parse(stdout.slice(start)) as LintReport;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function formatProblems(report: LintReport): string {
  return report.problems
    .map((p) => `${p.severity} ${p.ruleId} ${p.location[0]?.pointer ?? ''}: ${p.message}`)
    .join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const report = await lintOpenApi();
  const { errors, warnings } = report.totals;
  if (report.problems.length) console.log(formatProblems(report));
  console.log(`openapi.json: ${errors} errors, ${warnings} warnings`);
  process.exit(errors + warnings === 0 ? 0 : 1);
}
