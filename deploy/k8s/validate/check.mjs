#!/usr/bin/env node
// Validates deploy/k8s offline: builds every kustomization with the subset in kustomize.mjs,
// validates each object against the Kubernetes schemas (schema.mjs), applies our policies
// (policies.mjs), and checks that every manifest is listed by a kustomization (or is an example).
//
//   node check.mjs [--root DIR] [--project-version V] [--service-help FILE]
//                  [--migratectl-help FILE] [--json]
//
// --root defaults to deploy/k8s beside this script; the project version to the one in
// ROOT/../../CMakeLists.txt. The help files (`twigz-migrations --help`, `migratectl --help`)
// turn on the check that every flag and environment variable the manifests pass exists.
// Exit status: 0 clean, 1 findings, 2 usage.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { build, kustomizationFile, objectId, readYamlDocuments } from './kustomize.mjs';
import { checkPolicies } from './policies.mjs';
import { validateObject } from './schema.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const opts = { root: path.resolve(here, '..'), json: false };
  const valued = { '--root': 'root', '--project-version': 'projectVersion', '--service-help': 'serviceHelp', '--migratectl-help': 'migratectlHelp' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') opts.json = true;
    else if (valued[a] && i + 1 < argv.length) opts[valued[a]] = argv[++i];
    else {
      process.stderr.write(`check.mjs: unexpected argument ${a}\n`);
      process.exit(2);
    }
  }
  opts.root = path.resolve(opts.root);
  return opts;
}

function projectVersion(root) {
  const cmake = path.resolve(root, '..', '..', 'CMakeLists.txt');
  if (!fs.existsSync(cmake)) return undefined;
  return fs.readFileSync(cmake, 'utf8').match(/project\([^)]*VERSION\s+([0-9][0-9A-Za-z.-]*)/)?.[1];
}

// Every file under dir except the validator itself.
function walk(dir, out = []) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (p !== here && e.name !== 'node_modules') walk(p, out);
    } else {
      out.push(p);
    }
  }
  return out;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const version = opts.projectVersion ?? projectVersion(opts.root);
  const readHelp = (f) => (f ? fs.readFileSync(f, 'utf8') : undefined);
  const policyOptions = {
    projectVersion: version,
    serviceHelp: readHelp(opts.serviceHelp),
    migratectlHelp: readHelp(opts.migratectlHelp),
  };
  const rel = (p) => path.relative(opts.root, p) || '.';
  const findings = [];
  const targets = [];
  const files = walk(opts.root);
  const listed = new Set();

  const dirs = [...new Set(files.map((f) => path.dirname(f)))].filter((d) => kustomizationFile(d)).sort();
  for (const dir of dirs) {
    let entries;
    try {
      entries = build(dir, listed);
    } catch (e) {
      findings.push({ target: rel(dir), policy: 'build', object: '-', message: e.message });
      continue;
    }
    targets.push({ target: rel(dir), objects: entries.map((e) => objectId(e.object)) });
    for (const { object, source } of entries) {
      for (const message of await validateObject(object)) {
        findings.push({ target: rel(dir), policy: 'schema', object: `${objectId(object)} (${rel(source)})`, message });
      }
    }
    for (const f of checkPolicies(
      entries.map((e) => e.object),
      policyOptions,
    )) {
      findings.push({ target: rel(dir), ...f });
    }
  }

  // Manifests no kustomization lists would never be applied: a forgotten file is a finding. Example
  // files are deliberately unlisted; they are still parsed and schema-checked.
  for (const f of files.filter((p) => /\.ya?ml$/.test(p))) {
    if (listed.has(f)) continue;
    const example = /\.example\.ya?ml$/.test(f);
    if (!example) {
      findings.push({ target: rel(path.dirname(f)), policy: 'unlisted', object: rel(f), message: 'no kustomization lists this file' });
      continue;
    }
    try {
      for (const object of readYamlDocuments(f)) {
        for (const message of await validateObject(object)) {
          findings.push({ target: rel(f), policy: 'schema', object: objectId(object), message });
        }
      }
    } catch (e) {
      findings.push({ target: rel(f), policy: 'build', object: rel(f), message: e.message });
    }
  }

  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ root: opts.root, projectVersion: version, targets, findings }, null, 2)}\n`);
  } else {
    for (const t of targets) process.stdout.write(`built ${t.target}: ${t.objects.length} objects\n`);
    for (const f of findings) process.stdout.write(`FAIL [${f.policy}] ${f.target}: ${f.object}: ${f.message}\n`);
    process.stdout.write(findings.length ? `${findings.length} finding(s)\n` : 'all manifests valid\n');
  }
  process.exitCode = findings.length ? 1 : 0;
}

await main();
