// Types of @twigz/migrations-client (hand-written; the runtime loads the .proto, nothing is generated).

export type MigrationState =
  | 'UNSPECIFIED' | 'PENDING' | 'QUEUED' | 'RUNNING' | 'CANCELING' | 'SUCCEEDED' | 'FAILED' | 'CANCELED'
  | 'INTERRUPTED' | 'PAUSED' | 'PAUSING' | 'THROTTLED';
export const MigrationState: Readonly<{ [K in MigrationState]: K }>;

export interface FieldBackfill {
  field: string;
  /** JSON text of a constant default ('"pending"', 'false'); '' when derived. */
  defaultValue: string;
  /** The source of a derived value ('name'); '' for constants. */
  derivedFrom: string;
}

export interface Migration {
  name: string;
  table: string;
  fields: FieldBackfill[];
  description: string;
}

/** How a run paces itself, as it applies them now. */
export interface Controls {
  /** Documents per batch, as asked (run or tune). */
  batchSize: number;
  /** Documents per batch now: smaller than batchSize after slow batches. */
  currentBatchSize: number;
  /** 0: no limit. */
  maxDocumentsPerSecond: number;
  /** 0: off. */
  maxReplicationLagMs: number;
  /** 0: off. */
  maxWriteLatencyMs: number;
  /** 0: the first refused document fails the migration. */
  maxFailedDocuments: number;
}

/** A document the database refused, recorded and skipped under the error budget. */
export interface FailedDocument {
  /** Its _id as canonical extended JSON. */
  id: string;
  /** The server's error, e.g. 'E121 Document failed validation'. */
  error: string;
}

export interface MigrationStatus {
  name: string;
  state: MigrationState;
  runId: string;
  total: number;
  processed: number;
  updated: number;
  /** null unless includePending was asked. */
  pending: number | null;
  cursor: string;
  startedAt: Date | null;
  finishedAt: Date | null;
  error: string;
  skipped: boolean;
  dryRun: boolean;
  /** Dry run: up to 10 planned changes, one JSON object each. */
  samples: string[];
  owner: string;
  /** SUCCEEDED, yet includePending counted documents matching its filter again. */
  drifted: boolean;
  /** In a Run's answer: it had SUCCEEDED, but documents matched again and this run swept them. */
  sweptDrift: boolean;
  /** Its run's controls; null when it never had a run. */
  controls: Controls | null;
  /** THROTTLED: why it waits, and since when. */
  throttleReason: string;
  throttledSince: Date | null;
  /** Documents refused and skipped under the error budget, and the first of them (up to 10). */
  failedDocuments: number;
  failed: FailedDocument[];
}

export interface TuneResult {
  /** The migration with its new controls. */
  migration: MigrationStatus;
  /** One line per control changed, e.g. 'batch_size 500 -> 100'; empty when nothing changed. */
  changes: string[];
}

/** The pacing controls of run() and tune(); null or left out: the service's default (run) or as it is (tune). */
export interface PacingOptions {
  /** Documents written per second at most, across batches; 0: no limit. */
  maxDocumentsPerSecond?: number | null;
  /** Wait while the secondaries lag more (replica sets); 0: off. */
  maxReplicationLagMs?: number | null;
  /** Wait, and shrink the batch, while batch writes take longer; 0: off. */
  maxWriteLatencyMs?: number | null;
  /** Documents the database may refuse one by one, recorded and skipped, before it fails; 0..10000. */
  maxFailedDocuments?: number | null;
}

/** A pause, resume, tune or cancel of a run. */
export interface ControlEvent {
  action: 'pause' | 'resume' | 'tune' | 'cancel' | string;
  by: Caller | null;
  at: Date | null;
  /** tune: what changed, e.g. 'batch_size 500 -> 100'. */
  detail: string;
}

export interface RunResult {
  runId: string;
  migrations: MigrationStatus[];
}

export interface Caller {
  peer: string;
  /** 'x509:<subject>' under mutual TLS, 'token:<name>' with a bearer token, or ''. */
  identity: string;
  userAgent: string;
}

/** One migration's part in one run, from the run history. */
export interface RunRecord {
  runId: string;
  migration: string;
  state: MigrationState;
  migrations: string[];
  rerun: boolean;
  async: boolean;
  batchSize: number;
  caller: Caller | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  total: number;
  processed: number;
  updated: number;
  error: string;
  sweptDrift: boolean;
  canceledBy: Caller | null;
  canceledAt: Date | null;
  /** Oldest first. */
  events: ControlEvent[];
  failedDocuments: number;
  failed: FailedDocument[];
  /** As the run started (events say how tune changed them). */
  controls: Controls | null;
}

export interface HistoryPage {
  runs: RunRecord[];
  /** '' on the last page. */
  nextPageToken: string;
}

export interface ClientOptions {
  token?: string;
  rootCerts?: Buffer | string;
  certChain?: Buffer | string;
  privateKey?: Buffer | string;
  tls?: boolean;
  /** Each call's deadline (default 30000); null or Infinity: none. */
  timeoutMs?: number | null;
  channelOptions?: Record<string, unknown>;
  protoDir?: string;
}

export interface CallOptions {
  /** This call's deadline; default: the client's. */
  timeoutMs?: number | null;
}

export class MigrationsClient {
  constructor(address: string, options?: ClientOptions);
  close(): void;
  list(options?: CallOptions): Promise<Migration[]>;
  status(options?: CallOptions & { names?: string | string[]; includePending?: boolean }): Promise<MigrationStatus[]>;
  run(options?: CallOptions & PacingOptions & {
    names?: string | string[];
    dryRun?: boolean;
    batchSize?: number;
    rerun?: boolean;
    async?: boolean;
  }): Promise<RunResult>;
  cancel(name: string, options?: CallOptions): Promise<MigrationStatus>;
  pause(name: string, options?: CallOptions): Promise<MigrationStatus>;
  resume(name: string, options?: CallOptions): Promise<RunResult>;
  tune(name: string, options: CallOptions & PacingOptions & { batchSize?: number | null }): Promise<TuneResult>;
  history(options?: CallOptions & { name?: string; pageSize?: number; pageToken?: string }): Promise<HistoryPage>;
  wait(options?: {
    names?: string | string[];
    runId?: string | null;
    pollMs?: number;
    timeoutMs?: number | null;
    onProgress?: (statuses: MigrationStatus[]) => void;
  }): Promise<MigrationStatus[]>;
}

export class MigrationsError extends Error {
  /** The gRPC status code (compare with grpc.status from @grpc/grpc-js). */
  readonly code: number;
  /** Its name, e.g. 'INVALID_ARGUMENT'. */
  readonly codeName: string;
  readonly details: string;
  readonly method: string;
  readonly retriable: boolean;
}

export function isFinished(status: MigrationStatus): boolean;
export function plannedChanges(status: MigrationStatus): unknown[];
