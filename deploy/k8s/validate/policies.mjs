// Our own rules for the built manifests: what schemas cannot say. Each finding names its policy id
// (the tests mutate a manifest and expect that id), the object and what is wrong.
import { objectId } from './kustomize.mjs';

export const DEFAULTS = {
  // migratectl's permanent exit codes (clients/migratectl/exit_codes.h, sysexits.h values): usage or
  // INVALID_ARGUMENT, a migration FAILED or CANCELED, UNAUTHENTICATED or PERMISSION_DENIED.
  permanentCodes: [64, 65, 77],
  // Still unreachable or UNAVAILABLE when --timeout ran out: worth another pod.
  retriableCodes: [75],
  // `twigz-migrations --help`: --shutdown-grace [20].
  defaultShutdownGrace: 20,
  readinessService: 'twigz.migrations.v1.MigrationService',
  grpcPort: 50051,
};

const WORKLOAD_KINDS = new Set(['Deployment', 'Job', 'StatefulSet', 'DaemonSet', 'CronJob']);

function podTemplate(obj) {
  if (obj.kind === 'CronJob') return obj.spec?.jobTemplate?.spec?.template;
  return obj.spec?.template;
}

function containersOf(obj) {
  const spec = podTemplate(obj)?.spec ?? {};
  return [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
}

function argv(container) {
  return [...(container.command ?? []), ...(container.args ?? [])].map(String);
}

// The program a container runs: its command's basename, or the image's entrypoint (the service).
function program(container) {
  const first = container.command?.[0];
  return first ? first.split('/').pop() : 'twigz-migrations';
}

// The value of --name in an argv, in either the "--name VALUE" or "--name=VALUE" form.
function flagValue(args, name) {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === `--${name}`) return args[i + 1];
    if (args[i].startsWith(`--${name}=`)) return args[i].slice(name.length + 3);
  }
  return undefined;
}

function effective(container, podSpec, field) {
  const c = container.securityContext ?? {};
  const p = podSpec.securityContext ?? {};
  return c[field] !== undefined ? c[field] : p[field];
}

function labelsMatch(selector, labels) {
  const ml = selector?.matchLabels ?? {};
  if (selector?.matchExpressions?.length) return false; // not used here; refuse rather than guess
  return Object.keys(ml).length > 0 && Object.entries(ml).every(([k, v]) => labels?.[k] === v);
}

const isInt = (v) => Number.isInteger(v);

// What a Job's podFailurePolicy does with a pod whose container ended with exitCode (no pod
// condition set), following the API's rule order: the first matching rule wins; none: Count.
export function actionForExitCode(policy, containerName, exitCode) {
  for (const rule of policy?.rules ?? []) {
    const req = rule.onExitCodes;
    if (!req) continue;
    if (req.containerName && req.containerName !== containerName) continue;
    const listed = (req.values ?? []).includes(exitCode);
    if ((req.operator === 'In' && listed) || (req.operator === 'NotIn' && !listed && exitCode !== 0)) {
      return rule.action;
    }
  }
  return 'Count';
}

function envValue(container, name, configMaps) {
  for (const e of container.env ?? []) if (e.name === name && e.value !== undefined) return e.value;
  for (const src of container.envFrom ?? []) {
    const cm = src.configMapRef && configMaps.get(src.configMapRef.name);
    if (cm?.data?.[name] !== undefined) return cm.data[name];
  }
  return undefined;
}

function preStopSeconds(container) {
  const pre = container.lifecycle?.preStop;
  if (pre?.sleep?.seconds !== undefined) return Number(pre.sleep.seconds);
  const cmd = pre?.exec?.command;
  if (cmd && /(^|\/)sleep$/.test(cmd[0] ?? '')) return Number(cmd[1]) || 0;
  return 0;
}

const HOOK_SYSTEMS = {
  helm: {
    hook: 'helm.sh/hook',
    weight: 'helm.sh/hook-weight',
    deletePolicy: 'helm.sh/hook-delete-policy',
    requiredDelete: 'before-hook-creation',
    phases: ['pre-install', 'pre-upgrade'],
  },
  argocd: {
    hook: 'argocd.argoproj.io/hook',
    weight: 'argocd.argoproj.io/sync-wave',
    deletePolicy: 'argocd.argoproj.io/hook-delete-policy',
    requiredDelete: 'BeforeHookCreation',
    phases: ['PreSync'],
  },
};

function hookInfo(obj, system) {
  const a = obj.metadata?.annotations ?? {};
  const s = HOOK_SYSTEMS[system];
  if (a[s.hook] === undefined) return null;
  return {
    phases: String(a[s.hook]).split(',').map((x) => x.trim()),
    weight: Number(a[s.weight] ?? 0),
    deletePolicies: String(a[s.deletePolicy] ?? '').split(',').map((x) => x.trim()),
  };
}

// Names the pod of a workload needs to exist before it can start: kind -> set of names.
function podReferences(obj) {
  const spec = podTemplate(obj)?.spec ?? {};
  const refs = { ConfigMap: new Set(), Secret: new Set(), ServiceAccount: new Set() };
  if (spec.serviceAccountName) refs.ServiceAccount.add(spec.serviceAccountName);
  for (const c of containersOf(obj)) {
    for (const src of c.envFrom ?? []) {
      if (src.configMapRef) refs.ConfigMap.add(src.configMapRef.name);
      if (src.secretRef) refs.Secret.add(src.secretRef.name);
    }
    for (const e of c.env ?? []) {
      if (e.valueFrom?.configMapKeyRef) refs.ConfigMap.add(e.valueFrom.configMapKeyRef.name);
      if (e.valueFrom?.secretKeyRef) refs.Secret.add(e.valueFrom.secretKeyRef.name);
    }
  }
  for (const v of spec.volumes ?? []) {
    if (v.configMap) refs.ConfigMap.add(v.configMap.name);
    if (v.secret) refs.Secret.add(v.secret.secretName);
  }
  return refs;
}

// Flags ("--name") and environment variables (NAME_IN_CAPITALS) a --help text mentions.
export function parseHelp(text) {
  return {
    flags: new Set([...String(text).matchAll(/--([a-z][a-z0-9-]*)/g)].map((m) => m[1])),
    env: new Set([...String(text).matchAll(/\b([A-Z][A-Z0-9]*_[A-Z0-9_]+)\b/g)].map((m) => m[1])),
  };
}

export function checkPolicies(objects, options = {}) {
  const ctx = { ...DEFAULTS, ...options };
  const findings = [];
  const report = (policy, obj, message) => findings.push({ policy, object: objectId(obj), message });
  const configMaps = new Map(objects.filter((o) => o.kind === 'ConfigMap').map((o) => [o.metadata.name, o]));
  const workloads = objects.filter((o) => WORKLOAD_KINDS.has(o.kind));
  const deployments = objects.filter((o) => o.kind === 'Deployment');
  const jobs = objects.filter((o) => o.kind === 'Job');
  const help = {
    'twigz-migrations': ctx.serviceHelp ? parseHelp(ctx.serviceHelp) : null,
    migratectl: ctx.migratectlHelp ? parseHelp(ctx.migratectlHelp) : null,
  };

  for (const obj of objects) {
    if (obj.kind === 'Secret') {
      report('no-secrets', obj, 'a Secret in a build would apply placeholder credentials; create it out of band');
    }
  }

  for (const w of workloads) {
    const podSpec = podTemplate(w)?.spec ?? {};
    const volumes = new Map((podSpec.volumes ?? []).map((v) => [v.name, v]));
    for (const c of containersOf(w)) {
      const who = `container ${c.name}`;
      if (effective(c, podSpec, 'runAsNonRoot') !== true) report('non-root', w, `${who}: runAsNonRoot is not true`);
      const uid = effective(c, podSpec, 'runAsUser');
      if (!isInt(uid) || uid <= 0) report('non-root', w, `${who}: runAsUser must be a numeric non-zero UID (got ${uid})`);
      if (c.securityContext?.readOnlyRootFilesystem !== true) {
        report('read-only-root', w, `${who}: readOnlyRootFilesystem is not true`);
      }
      const tmp = (c.volumeMounts ?? []).find((m) => m.mountPath === '/tmp');
      if (!tmp || !volumes.get(tmp.name)?.emptyDir) {
        report('read-only-root', w, `${who}: /tmp must be an emptyDir mount (the root filesystem is read-only)`);
      }
      if (c.securityContext?.allowPrivilegeEscalation !== false) {
        report('no-privilege-escalation', w, `${who}: allowPrivilegeEscalation is not false`);
      }
      const caps = c.securityContext?.capabilities ?? {};
      if (!(caps.drop ?? []).includes('ALL')) report('capabilities', w, `${who}: capabilities.drop lacks ALL`);
      if ((caps.add ?? []).length) report('capabilities', w, `${who}: capabilities.add must be empty`);
      const seccomp = effective(c, podSpec, 'seccompProfile')?.type;
      if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') {
        report('seccomp', w, `${who}: seccompProfile.type is ${seccomp ?? 'unset'}, not RuntimeDefault`);
      }
      for (const kind of ['requests', 'limits']) {
        for (const r of ['cpu', 'memory']) {
          if (c.resources?.[kind]?.[r] === undefined) report('resources', w, `${who}: resources.${kind}.${r} is not set`);
        }
      }
      const image = String(c.image ?? '');
      const digest = image.includes('@sha256:');
      const tag = image.split('@')[0].match(/:([^:/]+)$/)?.[1];
      if (!digest && (!tag || tag === 'latest')) {
        report('image-pinned', w, `${who}: image "${image}" is not pinned by a version tag or digest`);
      } else if (!digest && ctx.projectVersion && tag !== ctx.projectVersion) {
        report('image-pinned', w, `${who}: image tag ${tag} is not the project's version ${ctx.projectVersion}`);
      }
      const h = help[program(c)];
      if (h) {
        for (const a of argv(c).slice(c.command ? 1 : 0)) {
          const m = a.match(/^--([a-z][a-z0-9-]*)/);
          if (m && !h.flags.has(m[1])) report('cli-flags', w, `${who}: ${program(c)} has no flag --${m[1]}`);
        }
        const names = new Set((c.env ?? []).map((e) => e.name));
        for (const src of c.envFrom ?? []) {
          for (const k of Object.keys(configMaps.get(src.configMapRef?.name)?.data ?? {})) names.add(k);
        }
        for (const n of names) {
          if (!h.env.has(n)) report('cli-flags', w, `${who}: ${program(c)} reads no environment variable ${n}`);
        }
      }
    }
  }

  for (const d of deployments) {
    const podSpec = podTemplate(d)?.spec ?? {};
    const labels = podTemplate(d)?.metadata?.labels ?? {};
    if (!labelsMatch(d.spec?.selector, labels)) report('selectors', d, 'spec.selector does not match the pod template labels');
    if (!isInt(d.spec?.replicas) || d.spec.replicas < 2) report('availability', d, `replicas must be at least 2 (got ${d.spec?.replicas})`);
    const pdb = objects.find((o) => o.kind === 'PodDisruptionBudget' && labelsMatch(o.spec?.selector, labels));
    if (!pdb) report('availability', d, 'no PodDisruptionBudget selects its pods');
    const annotations = podTemplate(d)?.metadata?.annotations ?? {};
    for (const c of podSpec.containers ?? []) {
      const who = `container ${c.name}`;
      const ports = new Map((c.ports ?? []).map((p) => [p.name, p.containerPort]));
      const grpcPort = ports.get('grpc');
      if (grpcPort !== ctx.grpcPort) report('ports', d, `${who}: no port named grpc on ${ctx.grpcPort}`);
      if (!ports.has('metrics')) report('metrics', d, `${who}: no port named metrics`);
      if (annotations['prometheus.io/scrape'] !== 'true' || Number(annotations['prometheus.io/port']) !== ports.get('metrics')) {
        report('metrics', d, 'pod annotations prometheus.io/scrape "true" and prometheus.io/port (the metrics port) are missing or wrong');
      }
      const probes = { startupProbe: null, readinessProbe: ctx.readinessService, livenessProbe: 'liveness' };
      for (const [name, service] of Object.entries(probes)) {
        const p = c[name];
        if (!p) {
          report('probes', d, `${who}: no ${name}`);
          continue;
        }
        if (!p.grpc) {
          report('probes', d, `${who}: ${name} is not a native gRPC probe`);
          continue;
        }
        if (p.grpc.port !== grpcPort) report('probes', d, `${who}: ${name} checks port ${p.grpc.port}, not the grpc port`);
        if (service !== null && (p.grpc.service ?? '') !== service) {
          report('probes', d, `${who}: ${name} checks service "${p.grpc.service ?? ''}", expected "${service}"`);
        }
      }
      const args = argv(c);
      const raw = flagValue(args, 'shutdown-grace') ?? envValue(c, 'TWIGZ_SHUTDOWN_GRACE', configMaps);
      const grace = raw === undefined ? ctx.defaultShutdownGrace : Number(raw);
      const preStop = preStopSeconds(c);
      const tgps = podSpec.terminationGracePeriodSeconds ?? 30;
      if (!(tgps > grace + preStop)) {
        report('termination-grace', d, `terminationGracePeriodSeconds ${tgps} must exceed the preStop ${preStop} s plus the shutdown grace ${grace} s, or calls are SIGKILLed mid-drain`);
      }
    }
    const services = objects.filter((o) => o.kind === 'Service' && labelsMatch({ matchLabels: o.spec?.selector }, labels));
    const grpcService = (s) => (s.spec?.ports ?? []).some((p) => p.name === 'grpc' && p.port === ctx.grpcPort);
    if (!services.some((s) => s.spec?.clusterIP !== 'None' && (s.spec?.type ?? 'ClusterIP') === 'ClusterIP' && grpcService(s))) {
      report('services', d, 'no ClusterIP Service exposes its grpc port');
    }
    if (!services.some((s) => s.spec?.clusterIP === 'None' && grpcService(s))) {
      report('services', d, 'no headless Service (clusterIP: None) for client-side load balancing');
    }
  }

  const podLabels = workloads.map((w) => podTemplate(w)?.metadata?.labels ?? {});
  for (const o of objects) {
    const selector =
      o.kind === 'Service' ? { matchLabels: o.spec?.selector } : o.kind === 'PodDisruptionBudget' || o.kind === 'NetworkPolicy' ? o.spec?.podSelector ?? o.spec?.selector : null;
    if (selector && !podLabels.some((l) => labelsMatch(selector, l))) {
      report('selectors', o, 'its selector matches no workload in this build');
    }
  }

  for (const j of jobs) {
    const podSpec = podTemplate(j)?.spec ?? {};
    if (podSpec.restartPolicy !== 'Never') {
      report('job-restart-never', j, `restartPolicy is ${podSpec.restartPolicy ?? 'unset'}: a failed pod must be replaced, never restarted in place (podFailurePolicy needs Never)`);
    }
    for (const f of ['backoffLimit', 'activeDeadlineSeconds', 'ttlSecondsAfterFinished']) {
      if (!isInt(j.spec?.[f]) || j.spec[f] < 0) report('job-limits', j, `spec.${f} is not set`);
    }
    const policy = j.spec?.podFailurePolicy;
    const names = new Set(containersOf(j).map((c) => c.name));
    if (!policy) {
      report('job-exit-codes', j, 'no podFailurePolicy');
    } else {
      for (const rule of policy.rules ?? []) {
        const cn = rule.onExitCodes?.containerName;
        if (cn !== undefined && !names.has(cn)) report('job-exit-codes', j, `a rule names container ${cn}, which the pod does not have`);
      }
      const failJob = new Set(
        (policy.rules ?? [])
          .filter((r) => r.action === 'FailJob' && r.onExitCodes?.operator === 'In')
          .flatMap((r) => r.onExitCodes.values ?? []),
      );
      const expected = new Set(ctx.permanentCodes);
      if (failJob.size !== expected.size || [...expected].some((c) => !failJob.has(c))) {
        report('job-exit-codes', j, `FailJob exit codes are [${[...failJob].sort()}], migratectl's permanent codes are [${ctx.permanentCodes}]`);
      }
      for (const c of containersOf(j)) {
        for (const code of ctx.permanentCodes) {
          const action = actionForExitCode(policy, c.name, code);
          if (action !== 'FailJob') report('job-exit-codes', j, `exit code ${code} of ${c.name} leads to ${action}, not FailJob`);
        }
        for (const code of ctx.retriableCodes) {
          const action = actionForExitCode(policy, c.name, code);
          if (action !== 'Count') report('job-exit-codes', j, `exit code ${code} of ${c.name} (retriable) leads to ${action}, not Count`);
        }
      }
      const ignoresDisruption = (policy.rules ?? []).some(
        (r) => r.action === 'Ignore' && (r.onPodConditions ?? []).some((pc) => pc.type === 'DisruptionTarget'),
      );
      if (!ignoresDisruption) report('job-exit-codes', j, 'no rule ignores the DisruptionTarget condition (evictions would use up backoffLimit)');
    }
    for (const c of containersOf(j)) {
      const timeout = flagValue(argv(c), 'timeout');
      if (timeout !== undefined && !(Number(timeout) < (j.spec?.activeDeadlineSeconds ?? Infinity))) {
        report('job-timeout', j, `${c.name}: --timeout ${timeout} must be below activeDeadlineSeconds ${j.spec?.activeDeadlineSeconds}`);
      }
    }
  }

  if (deployments.length && jobs.length !== 1) {
    report('migration-job', deployments[0], `a deployable build needs exactly one migration Job, found ${jobs.length}`);
  }

  for (const [system, s] of Object.entries(HOOK_SYSTEMS)) {
    for (const j of jobs) {
      const info = hookInfo(j, system);
      if (!info) continue;
      const missing = s.phases.filter((p) => !info.phases.includes(p));
      if (missing.length) report('hooks', j, `${s.hook} lacks ${missing.join(', ')}`);
      if (!info.deletePolicies.includes(s.requiredDelete)) report('hooks', j, `${s.deletePolicy} must include ${s.requiredDelete}`);
      // Hooks run before the release's ordinary resources exist: whatever the pod needs and this
      // build creates must itself be a hook of every phase of the Job, created earlier.
      for (const [kind, refNames] of Object.entries(podReferences(j))) {
        for (const name of refNames) {
          const dep = objects.find((o) => o.kind === kind && o.metadata.name === name);
          if (!dep) continue; // created out of band (the Secret) or the namespace's default ServiceAccount
          const di = hookInfo(dep, system);
          if (!di || info.phases.some((p) => !di.phases.includes(p)) || !(di.weight < info.weight)) {
            report('hooks', j, `${kind}/${name} is needed by the hook pod but is not a ${system} hook of the same phases with a lower ${s.weight}`);
          }
        }
      }
    }
  }
  return findings;
}
