// RFC 6902 JSON Patch, as kustomize applies the list form of a `patches` entry. Returns a new
// document; the input is left untouched. Every failure throws an Error naming the operation.

function parsePointer(pointer) {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`path "${pointer}" must start with "/"`);
  // RFC 6901: "~1" is "/" and "~0" is "~", decoded in that order.
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function arrayIndex(arr, token, forAdd) {
  if (forAdd && token === '-') return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new Error(`"${token}" is not an array index`);
  const i = Number(token);
  if (i > arr.length || (!forAdd && i === arr.length)) throw new Error(`index ${i} is out of range`);
  return i;
}

function parentOf(doc, tokens) {
  let node = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(node)) node = node[arrayIndex(node, t, false)];
    else if (node !== null && typeof node === 'object' && Object.hasOwn(node, t)) node = node[t];
    else throw new Error(`"${t}" does not exist`);
  }
  if (node === null || typeof node !== 'object') throw new Error('the parent is not a container');
  return node;
}

function get(doc, tokens) {
  if (tokens.length === 0) return doc;
  const parent = parentOf(doc, tokens);
  const last = tokens[tokens.length - 1];
  if (Array.isArray(parent)) return parent[arrayIndex(parent, last, false)];
  if (!Object.hasOwn(parent, last)) throw new Error(`"${last}" does not exist`);
  return parent[last];
}

function add(doc, tokens, value) {
  if (tokens.length === 0) return value;
  const parent = parentOf(doc, tokens);
  const last = tokens[tokens.length - 1];
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, true), 0, value);
  else parent[last] = value;
  return doc;
}

function remove(doc, tokens) {
  if (tokens.length === 0) throw new Error('cannot remove the whole document');
  const parent = parentOf(doc, tokens);
  const last = tokens[tokens.length - 1];
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, false), 1);
  else if (Object.hasOwn(parent, last)) delete parent[last];
  else throw new Error(`"${last}" does not exist`);
  return doc;
}

function deepEqual(a, b) {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v) {
  if (Array.isArray(v)) return v.map(canonical);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, canonical(v[k])]),
    );
  }
  return v;
}

const clone = (v) => (v === undefined ? v : structuredClone(v));

export function applyJsonPatch(document, operations) {
  if (!Array.isArray(operations)) throw new Error('a JSON patch must be a list of operations');
  let doc = clone(document);
  operations.forEach((op, i) => {
    const where = `operation ${i + 1} (${op?.op} ${op?.path})`;
    try {
      if (op === null || typeof op !== 'object') throw new Error('not a mapping');
      const tokens = parsePointer(String(op.path ?? ''));
      switch (op.op) {
        case 'add':
          doc = add(doc, tokens, clone(op.value));
          break;
        case 'remove':
          doc = remove(doc, tokens);
          break;
        case 'replace':
          get(doc, tokens);
          doc = tokens.length === 0 ? clone(op.value) : add(remove(doc, tokens), tokens, clone(op.value));
          break;
        case 'move': {
          const from = parsePointer(String(op.from ?? ''));
          const value = get(doc, from);
          doc = add(remove(doc, from), tokens, value);
          break;
        }
        case 'copy':
          doc = add(doc, tokens, clone(get(doc, parsePointer(String(op.from ?? '')))));
          break;
        case 'test':
          if (!deepEqual(get(doc, tokens), op.value)) throw new Error('the value differs');
          break;
        default:
          throw new Error(`unknown op "${op.op}"`);
      }
    } catch (e) {
      throw new Error(`${where}: ${e.message}`);
    }
  });
  return doc;
}
