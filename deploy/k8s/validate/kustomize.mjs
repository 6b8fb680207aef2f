// The subset of `kustomize build` that deploy/k8s uses, so CI needs no kubectl or kustomize binary:
//   resources: YAML files (one or more documents) and directories holding a kustomization.yaml
//   patches:   JSON 6902 lists (with a target of kind/name/group/version/namespace) and the
//              strategic-merge form `$patch: delete`, which removes the named object.
// Anything else in a kustomization is refused by name rather than ignored: a field this builder
// skipped would make CI validate something other than what the cluster receives.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

import { applyJsonPatch } from './jsonpatch.mjs';

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
const SUPPORTED_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'patches']);
const SUPPORTED_TARGET_FIELDS = new Set(['kind', 'name', 'group', 'version', 'namespace']);

export function kustomizationFile(dir) {
  for (const name of KUSTOMIZATION_FILES) {
    const p = path.join(dir, name);
    if (fs.existsSync(p)) return p;
  }
  return null;
}

// Every document of a YAML file as plain data. Duplicate keys, tabs and other YAML errors throw:
// a parser that silently kept the last of two keys would validate the wrong manifest.
export function readYamlDocuments(file) {
  const text = fs.readFileSync(file, 'utf8');
  const docs = YAML.parseAllDocuments(text, { uniqueKeys: true, prettyErrors: true });
  const out = [];
  for (const doc of docs) {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
    const value = doc.toJS({ maxAliasCount: 0 });
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

function groupOf(apiVersion) {
  const s = String(apiVersion ?? '');
  return s.includes('/') ? s.split('/')[0] : '';
}

function versionOf(apiVersion) {
  const s = String(apiVersion ?? '');
  return s.includes('/') ? s.split('/')[1] : s;
}

export function objectId(obj) {
  const ns = obj?.metadata?.namespace ? `${obj.metadata.namespace}/` : '';
  return `${obj?.kind}/${ns}${obj?.metadata?.name}`;
}

function idKey(obj) {
  return [groupOf(obj.apiVersion), obj.kind, obj.metadata?.namespace ?? '', obj.metadata?.name].join('|');
}

function matchesTarget(obj, target) {
  if (target.kind !== undefined && obj.kind !== target.kind) return false;
  if (target.name !== undefined && obj.metadata?.name !== target.name) return false;
  if (target.group !== undefined && groupOf(obj.apiVersion) !== target.group) return false;
  if (target.version !== undefined && versionOf(obj.apiVersion) !== target.version) return false;
  if (target.namespace !== undefined && (obj.metadata?.namespace ?? '') !== target.namespace) return false;
  return true;
}

function checkObject(obj, where) {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new Error(`${where}: a resource must be a mapping`);
  }
  if (!obj.apiVersion || !obj.kind || !obj.metadata?.name) {
    throw new Error(`${where}: a resource needs apiVersion, kind and metadata.name`);
  }
}

function loadPatch(entry, dir, where, files) {
  if ((entry.patch === undefined) === (entry.path === undefined)) {
    throw new Error(`${where}: give exactly one of "patch" and "path"`);
  }
  const unknown = Object.keys(entry).filter((k) => !['patch', 'path', 'target'].includes(k));
  if (unknown.length) throw new Error(`${where}: unsupported patch field(s) ${unknown.join(', ')}`);
  let text = entry.patch;
  if (text === undefined) {
    const p = resolveLocal(dir, entry.path, where);
    files.add(p);
    if (path.relative(dir, p).startsWith('..')) throw new Error(`${where}: ${entry.path} is outside the kustomization's directory`);
    text = fs.readFileSync(p, 'utf8');
  }
  const doc = YAML.parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length) throw new Error(`${where}: ${doc.errors[0].message}`);
  return doc.toJS({ maxAliasCount: 0 });
}

// kustomize's default load restrictor: files must sit inside the kustomization's directory.
function resolveLocal(dir, rel, where) {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(rel) || rel.startsWith('github.com/')) {
    throw new Error(`${where}: remote resource "${rel}" (nothing may be fetched)`);
  }
  return path.resolve(dir, rel);
}

function applyPatch(objects, entry, dir, where, files) {
  const body = loadPatch(entry, dir, where, files);
  if (Array.isArray(body)) {
    const target = entry.target;
    if (!target || typeof target !== 'object') throw new Error(`${where}: a JSON 6902 patch needs a target`);
    const unknown = Object.keys(target).filter((k) => !SUPPORTED_TARGET_FIELDS.has(k));
    if (unknown.length) throw new Error(`${where}: unsupported target field(s) ${unknown.join(', ')}`);
    const hits = objects.filter((o) => matchesTarget(o, target));
    // Stricter than kustomize, which skips a target that matches nothing: here it means a resource
    // was renamed and its patch silently stopped applying.
    if (hits.length === 0) throw new Error(`${where}: the target ${JSON.stringify(target)} matches nothing`);
    return objects.map((o) => (matchesTarget(o, target) ? applyJsonPatch(o, body) : o));
  }
  if (body && typeof body === 'object' && body.$patch === 'delete') {
    if (entry.target) throw new Error(`${where}: a "$patch: delete" names its object itself; drop the target`);
    checkObject(body, where);
    const key = idKey(body);
    const kept = objects.filter((o) => idKey(o) !== key);
    if (kept.length === objects.length) throw new Error(`${where}: ${objectId(body)} to delete does not exist`);
    return kept;
  }
  throw new Error(`${where}: only JSON 6902 lists and "$patch: delete" are supported`);
}

// Builds the kustomization in dir: a list of { object, source } in resource order. files, when
// given, collects every file read (to find manifests no kustomization lists).
export function build(dir, files = new Set(), stack = []) {
  const real = fs.realpathSync(dir);
  if (stack.includes(real)) throw new Error(`${dir}: kustomizations include each other`);
  const file = kustomizationFile(dir);
  if (!file) throw new Error(`${dir}: no kustomization.yaml`);
  files.add(file);
  const [k, ...rest] = readYamlDocuments(file);
  if (rest.length || !k || typeof k !== 'object') throw new Error(`${file}: expected one mapping`);
  const unsupported = Object.keys(k).filter((f) => !SUPPORTED_FIELDS.has(f));
  if (unsupported.length) {
    throw new Error(`${file}: field(s) ${unsupported.join(', ')} not supported by the offline builder (validate/kustomize.mjs)`);
  }
  if (k.kind !== undefined && k.kind !== 'Kustomization') throw new Error(`${file}: kind must be Kustomization`);

  let entries = [];
  for (const [i, rel] of (k.resources ?? []).entries()) {
    const where = `${file}: resources[${i}]`;
    if (typeof rel !== 'string') throw new Error(`${where}: expected a path`);
    const p = resolveLocal(dir, rel, where);
    if (!fs.existsSync(p)) throw new Error(`${where}: ${rel} does not exist`);
    if (fs.statSync(p).isDirectory()) {
      entries.push(...build(p, files, [...stack, real]));
    } else {
      if (path.relative(dir, p).startsWith('..')) {
        throw new Error(`${where}: ${rel} is outside the kustomization's directory (kustomize refuses it)`);
      }
      files.add(p);
      for (const obj of readYamlDocuments(p)) {
        checkObject(obj, `${p}`);
        entries.push({ object: obj, source: p });
      }
    }
  }
  const seen = new Map();
  for (const e of entries) {
    const key = idKey(e.object);
    if (seen.has(key)) throw new Error(`${file}: ${objectId(e.object)} comes twice (${seen.get(key)}, ${e.source})`);
    seen.set(key, e.source);
  }
  for (const [i, entry] of (k.patches ?? []).entries()) {
    const where = `${file}: patches[${i}]`;
    const sources = new Map(entries.map((e) => [idKey(e.object), e.source]));
    const patched = applyPatch(
      entries.map((e) => e.object),
      entry ?? {},
      dir,
      where,
      files,
    );
    entries = patched.map((o) => ({ object: o, source: sources.get(idKey(o)) ?? file }));
  }
  return entries;
}
