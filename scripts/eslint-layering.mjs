// The `keyward/layering` ESLint rule: which of our folders and which modules a file may import
// (docs/architecture.md, "Dependency direction"). eslint.config.js applies it once per layer, each
// with its own `files` globs, under its own rule name, so a file in several layers (a sandbox file is
// also in engine/) gets every layer's checks: flat config would let one `no-restricted-imports`
// block override another's options for the same file, silently dropping a layer.
//
// A relative specifier is resolved against the importing file and compared as a repository path
// without its extension ('../server/app.js' from engine/hsm.ts is `server/app`), so the check does not
// depend on how deep the file sits. `@keyward/client` counts as the folder client/. A path entry
// names a folder or a file (without extension) and covers what is under it.
//
// Options (one object):
//   only:    [paths]  relative imports must resolve under one of these (the layer's own folder too)
//   forbid:  [paths]  relative imports must not resolve under any of these
//   modules: [names]  bare specifiers refused: 'node:fs' also covers 'fs', 'node:fs/promises' and
//                     'fs/promises'; 'node:*' is every Node builtin; a package name covers its subpaths
//   message: string   why, appended to each report
// Type-only imports (`import type`, `export type`) count against `only`/`forbid` (types couple layers
// too) but not against `modules` (they do no I/O and are gone at run time).
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: paths in the options and in the config's globs are relative to it. */
const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

/** Our own package names and the folder each stands for. */
const OWN_PACKAGES = new Map([['@keyward/client', 'client']]);

function under(p, entry) {
  return p === entry || p.startsWith(entry + '/');
}

function stripExt(p) {
  return p.replace(/\.(d\.ts|[cm]?[jt]sx?|json)$/, '');
}

/** `fs` and `node:fs/promises` → `node:fs/promises`; packages unchanged. */
function normalizeModule(spec) {
  if (!spec.startsWith('node:') && isBuiltin(spec)) return 'node:' + spec;
  return spec;
}

function moduleMatches(spec, name) {
  if (name === 'node:*') return spec.startsWith('node:');
  return spec === name || spec.startsWith(name + '/');
}

/** @type {import('eslint').Rule.RuleModule} */
export const layering = {
  meta: {
    type: 'problem',
    docs: { description: 'Enforce the layering of docs/architecture.md: which folders and modules a file may import' },
    schema: [
      {
        type: 'object',
        properties: {
          only: { type: 'array', items: { type: 'string' } },
          forbid: { type: 'array', items: { type: 'string' } },
          modules: { type: 'array', items: { type: 'string' } },
          message: { type: 'string' },
        },
        additionalProperties: false,
      },
    ],
    messages: {
      path: "'{{spec}}' ({{target}}) is outside what {{file}} may import: {{why}}",
      module: "'{{spec}}' may not be imported by {{file}}: {{why}}",
    },
  },
  create(context) {
    const opts = context.options[0] ?? {};
    const file = path.relative(ROOT, context.filename).split(path.sep).join('/');
    const why = opts.message ?? 'see eslint.config.js';

    function check(node, spec, typeOnly) {
      if (typeof spec !== 'string') return;
      let target;
      if (spec.startsWith('.')) {
        target = stripExt(path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)));
      } else {
        const own = [...OWN_PACKAGES].find(([name]) => spec === name || spec.startsWith(name + '/'));
        if (own) target = own[1];
      }
      if (target !== undefined) {
        const bad =
          (opts.only && !opts.only.some((e) => under(target, e))) ||
          (opts.forbid && opts.forbid.some((e) => under(target, e)));
        if (bad) context.report({ node, messageId: 'path', data: { spec, target, file, why } });
        return;
      }
      if (typeOnly || !opts.modules) return;
      const mod = normalizeModule(spec);
      if (opts.modules.some((name) => moduleMatches(mod, name)))
        context.report({ node, messageId: 'module', data: { spec, file, why } });
    }

    const declaration = (node) => {
      if (!node.source) return;
      const typeOnly =
        node.importKind === 'type' ||
        node.exportKind === 'type' ||
        (node.specifiers?.length > 0 &&
          node.specifiers.every((s) => s.importKind === 'type' || s.exportKind === 'type'));
      check(node.source, node.source.value, typeOnly);
    };
    return {
      ImportDeclaration: declaration,
      ExportNamedDeclaration: declaration,
      ExportAllDeclaration: declaration,
      ImportExpression(node) {
        if (node.source.type === 'Literal') check(node.source, node.source.value, false);
        else if (node.source.type === 'TemplateLiteral' && node.source.expressions.length === 0)
          check(node.source, node.source.quasis[0].value.cooked, false);
      },
    };
  },
};
