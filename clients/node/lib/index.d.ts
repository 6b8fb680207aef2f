// Types of @twigz/migrations-client (hand-written; the runtime loads the .proto, nothing is generated).

export type MigrationState =
  | 'UNSPECIFIED' | 'PENDING' | 'QUEUED' | 'RUNNING' | 'CANCELING' | 'SUCCEEDED' | 'FAILED' | 'CANCELED'
  | 'INTERRUPTED';
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
  run(options?: CallOptions & {
    names?: string | string[];
    dryRun?: boolean;
    batchSize?: number;
    rerun?: boolean;
    async?: boolean;
  }): Promise<RunResult>;
  cancel(name: string, options?: CallOptions): Promise<MigrationStatus>;
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
