#!/usr/bin/env node
// Prints what deploy/k8s's offline builder makes of a kustomization, for a cluster or a chart:
//   node build.mjs DIR          YAML documents (e.g. | kubectl apply -f -, or > chart/templates/x.yaml)
//   node build.mjs --json DIR   one JSON array (the tests compare it with `kubectl kustomize`)
import YAML from 'yaml';

import { build } from './kustomize.mjs';

const args = process.argv.slice(2);
const json = args[0] === '--json';
const dir = json ? args[1] : args[0];
if (!dir || args.length !== (json ? 2 : 1)) {
  process.stderr.write('usage: node build.mjs [--json] KUSTOMIZATION_DIR\n');
  process.exit(2);
}
try {
  const objects = build(dir).map((e) => e.object);
  process.stdout.write(json ? `${JSON.stringify(objects)}\n` : objects.map((o) => YAML.stringify(o)).join('---\n'));
} catch (e) {
  process.stderr.write(`build.mjs: ${e.message}\n`);
  process.exit(1);
}
