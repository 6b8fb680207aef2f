// Schema validation of one Kubernetes object with the models of the npm package kubernetes-models
// (JSON schemas compiled from the Kubernetes OpenAPI document, installed by `npm ci`: nothing is
// fetched here), plus the unknown-field check of fields.mjs.
import { unknownFields } from './fields.mjs';

// "apps/v1" -> "apps/v1", "v1" (the core group) -> "v1": the package's directory layout.
function modelDir(apiVersion) {
  return String(apiVersion);
}

export async function validateObject(obj) {
  const { apiVersion, kind } = obj;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || !/^[A-Za-z0-9]+$/.test(kind)) {
    return ['apiVersion and kind must be strings naming a Kubernetes type'];
  }
  let Model;
  try {
    const mod = await import(`kubernetes-models/${modelDir(apiVersion)}/${kind}`);
    Model = mod[kind];
  } catch {
    Model = undefined;
  }
  if (!Model || Model.apiVersion !== apiVersion || Model.kind !== kind) {
    return [`${apiVersion} ${kind}: no schema for this type (a typo, or a kind this validator does not know)`];
  }
  const errors = [];
  try {
    new Model(obj).validate();
  } catch (e) {
    const details = e.errors ?? e.details;
    if (Array.isArray(details) && details.length) {
      for (const d of details) errors.push(`${d.instancePath || '/'}: ${d.message}${d.params ? ` ${JSON.stringify(d.params)}` : ''}`);
    } else {
      errors.push(String(e.message ?? e));
    }
  }
  errors.push(...unknownFields(obj, modelDir(apiVersion), kind));
  return errors;
}
