// Unknown-field detection. kubernetes-models' validators accept fields the API does not know, and
// the API server only warns about them and drops them, so a misspelt `readOnlyRootFileSystem`
// would reach a cluster as "not set". The field names and types come from the same package's
// TypeScript declarations (generated from the Kubernetes OpenAPI document), read here as text.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const modelsRoot = path.dirname(require.resolve('kubernetes-models/package.json'));
const nodeModules = path.dirname(modelsRoot);

const cache = new Map(); // declaration file -> { props: Map(name -> type text) } or null (a leaf)

function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

// The body of `export interface IName ... { ... }`: property name -> its type, as written.
function parseInterface(text) {
  const start = text.search(/export interface \w+[^{]*\{/);
  if (start < 0) return null;
  let i = text.indexOf('{', start) + 1;
  let depth = 1;
  let body = '';
  for (; i < text.length && depth > 0; i++) {
    const c = text[i];
    if (c === '{') depth++;
    if (c === '}') depth--;
    if (depth > 0) body += c;
  }
  const props = new Map();
  // Properties sit at depth 0 of the body; a map type's braces hold its own "[key: string]".
  let d = 0;
  let current = '';
  for (const c of body) {
    if (c === '{' || c === '<') d++;
    if (c === '}' || c === '>') d--;
    if (c === ';' && d === 0) {
      const m = current.trim().match(/^"([^"]+)"\??:\s*([\s\S]+)$/);
      if (m) props.set(m[1], m[2].trim());
      current = '';
    } else {
      current += c;
    }
  }
  return props;
}

function parseImports(text, file) {
  const imports = new Map();
  for (const m of text.matchAll(/import \{([^}]+)\} from "([^"]+)";/g)) {
    const spec = m[2];
    const target = spec.startsWith('.')
      ? path.resolve(path.dirname(file), `${spec}.d.ts`)
      : path.join(nodeModules, `${spec}.d.ts`);
    for (const name of m[1].split(',').map((s) => s.trim())) imports.set(name, target);
  }
  return imports;
}

function declaration(file) {
  if (cache.has(file)) return cache.get(file);
  let entry = null;
  if (fs.existsSync(file)) {
    const text = stripComments(fs.readFileSync(file, 'utf8'));
    const props = parseInterface(text);
    if (props) entry = { props, imports: parseImports(text, file) };
  }
  cache.set(file, entry); // null: a type alias (Quantity, IntOrString, Time...) with no fields
  return entry;
}

function walk(value, type, decl, where, out) {
  if (value === null || value === undefined) return;
  let m;
  if ((m = type.match(/^Array<([\s\S]+)>$/))) {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, m[1].trim(), decl, `${where}[${i}]`, out));
    return;
  }
  if ((m = type.match(/^\{\s*\[key: string\]:\s*([\s\S]+?);?\s*\}$/))) {
    if (typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(v, m[1].trim(), decl, `${where}.${k}`, out);
    }
    return;
  }
  if (/^\w+$/.test(type) && decl.imports.has(type)) {
    checkAgainst(value, decl.imports.get(type), where, out);
  }
}

function checkAgainst(value, file, where, out) {
  const decl = declaration(file);
  if (!decl || value === null || typeof value !== 'object' || Array.isArray(value)) return;
  for (const [key, v] of Object.entries(value)) {
    const type = decl.props.get(key);
    if (type === undefined) {
      out.push(`${where ? `${where}.` : ''}${key}: unknown field (the API server would drop it)`);
    } else {
      walk(v, type, decl, where ? `${where}.${key}` : key, out);
    }
  }
}

// Unknown fields of obj, given the model class's declaration file (kubernetes-models/GROUP/VERSION/Kind).
export function unknownFields(obj, modelDir, kind) {
  const out = [];
  checkAgainst(obj, path.join(modelsRoot, modelDir, `${kind}.d.ts`), '', out);
  return out;
}
