// The shapes of the /v1 API that the UI reads (docs/api.md). Statuses stay open strings: the server may
// add states (waiting, skipped...) before the UI knows them, and the UI then shows them plainly.

/** "queued": a run of a workflow with a concurrency limit, waiting for its key to have room. */
export type RunStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";

/** Where a queued run waits: its concurrency key's value (null: the workflow's one queue), its place (1: next). */
export interface RunQueue {
  key: string | null;
  position: number;
}
/** Step states the UI knows how to draw; any other string is drawn as "unknown". */
export type KnownStepStatus =
  | "pending"
  | "ready"
  | "running"
  | "succeeded"
  | "failed"
  | "cancelled"
  | "skipped"
  | "waiting"
  | "throttled";

export interface ErrorInfo {
  type?: string;
  message?: string;
  code?: number | null;
  retryable?: boolean;
  traceback?: string | null;
  step?: string | null;
}

export interface Attempt {
  id: string;
  number: number;
  status: string;
  inputs: Record<string, unknown> | null;
  outputs: Record<string, unknown> | null;
  error: ErrorInfo | null;
  logs: string;
  worker: string | null;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
}

export interface Step {
  name: string;
  action: string;
  version: string;
  status: string;
  outputs: Record<string, unknown> | null;
  error: ErrorInfo | null;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  attempts: Attempt[];
  /** What a step running no action waits for: an approval or a durable sleep. */
  wait?: StepWait | null;
  /** While ``waiting``: the deadline (a sleep's end, an approval's timeout), or null without one. */
  wake_at?: string | null;
  /** A map step's items, counted by status (the items themselves: ``GET .../steps/{step}/items``). */
  map?: MapCounts | null;
  /** A sub-workflow step's (latest) child run. */
  child_run_id?: string | null;
}

export interface MapCounts {
  total: number;
  succeeded: number;
  failed: number;
  running: number;
  pending: number;
  skipped: number;
}

/** One item of a map step (``GET /v1/runs/{id}/steps/{step}/items``). */
export interface MapItem {
  index: number;
  status: string;
  attempts: number;
  started_at: string | null;
  finished_at: string | null;
  output?: unknown;
  error?: ErrorInfo | null;
}

export interface ItemPage {
  items: MapItem[];
  next_cursor: string | null;
}

export type StepWait =
  | { kind: "approval"; prompt: string; timeout: number | null }
  | { kind: "sleep"; seconds: number }
  | { kind: "event"; type: string; source: string | null; timeout: number | null }
  | { kind: "workflow"; workflow: string; version: string | null };

export interface Run {
  id: string;
  workflow: string;
  workflow_version: string;
  status: string;
  inputs: Record<string, unknown>;
  result: unknown;
  error: ErrorInfo | null;
  trigger: Record<string, unknown> | null;
  trace_id: string | null;
  created_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  /** While the run is queued: its concurrency key and place in the queue. */
  queue?: RunQueue | null;
  steps?: Step[];
  /** The steps waiting now (an approval, a sleep, an event) of a running run. */
  waiting?: string[];
  /** A child run's parent run, and the parent's sub-workflow step that started it. */
  parent_run_id?: string | null;
  parent_step?: string | null;
  /** Only in a run's shape (?outputs=false): the fields left out (inputs, result) and their sizes in bytes. */
  omitted?: Record<string, number> | null;
}

export interface RunPage {
  runs: Run[];
  next_cursor: string | null;
}

export interface Deployment {
  workflow: string;
  version: string;
  status: string;
  error: unknown;
  updated_at: string | null;
}

export interface WorkflowSummary {
  name: string;
  latest_version: string;
  deployment: string | null;
  deployed_version: string | null;
  updated_at: string | null;
}

/** A binding of a step input: a workflow input, a constant, an upstream output, or a structure of them. */
export type Binding =
  | { input: string }
  | { value: unknown }
  | { step: string; output?: string | null }
  | { object: Record<string, Binding> }
  | { array: Binding[] };

export interface StepSpec {
  name: string;
  /** Absent (null) on a step that runs no action: an approval, a sleep, a sub-workflow. */
  action?: string | null;
  inputs: Record<string, Binding>;
  /** A condition: the step runs only when it holds, else it is skipped (knflow.dev/v2). */
  when?: string | null;
  /** Steps that must finish first although no input reads them. */
  after?: string[] | null;
  approval?: { prompt: string; timeout: number | null } | null;
  sleep?: { seconds: number } | null;
  workflow?: { name: string } | null;
  wait_for_event?: Record<string, unknown> | null;
  map?: Record<string, unknown> | null;
}

export interface WorkflowSpec {
  name: string;
  description: string;
  inputs: Record<string, { type: Record<string, unknown>; required: boolean; default: unknown }>;
  steps: StepSpec[];
  result: Binding | null;
  triggers: Record<string, unknown>[];
}

export interface WorkflowDetail {
  name: string;
  version: string;
  spec: WorkflowSpec;
  deployment: Deployment | null;
}

export interface Trigger {
  kind: string;
  spec: Record<string, unknown>;
  enabled: boolean;
  hook: string | null;
  next_fire_at: string | null;
}

export interface Triggers {
  workflow: string;
  version: string;
  deployed: boolean;
  triggers: Trigger[];
}

export interface RunFile {
  key: string;
  name: string;
  content_type: string;
  size: number;
  step: string | null;
  attempt: number | null;
  field: string | null;
  expired_at: number | null;
  url: string | null;
}

/** One change of the live feed (GET /v1/stream). */
export interface Change {
  kind: "run" | "step" | "resync";
  run_id: string;
  type: string;
  step: string | null;
  run_status: string;
  data: Record<string, unknown>;
}
