// The /v1 client: every call carries the API key kept for this browser tab (sessionStorage).
import type {
  ItemPage,
  Run,
  RunFile,
  RunPage,
  Step,
  Triggers,
  WorkflowDetail,
  WorkflowSummary,
} from "./types";

const KEY = "knflow.api-key";

export function apiKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function setApiKey(key: string | null): void {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

/** An answer of the API that is not a success: its problem+json title and detail. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Listener = () => void;
const unauthorized = new Set<Listener>();

/** Called whenever the API answers 401: the app asks for a key. */
export function onUnauthorized(listener: Listener): () => void {
  unauthorized.add(listener);
  return () => unauthorized.delete(listener);
}

export function headers(): Record<string, string> {
  const key = apiKey();
  return key ? { authorization: `Bearer ${key}` } : {};
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: headers() };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { ...headers(), "content-type": "application/json" };
  }
  const response = await fetch(path, init);
  if (response.status === 401) for (const listener of unauthorized) listener();
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const problem = (await response.json()) as { title?: string; detail?: string };
      message = problem.detail ?? problem.title ?? message;
    } catch {
      // not a problem+json body: the status line says enough
    }
    throw new ApiError(response.status, message);
  }
  return (await response.json()) as T;
}

export interface RunQuery {
  workflow?: string | undefined;
  status?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
  cursor?: string | undefined;
  limit?: number;
  /** Only the runs with a waiting step (true), or without one (false). */
  waiting?: boolean | undefined;
}

function query(params: Record<string, string | number | boolean | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

const enc = encodeURIComponent;

export const api = {
  runs: (q: RunQuery) => request<RunPage>("GET", `/v1/runs${query({ ...q })}`),
  /** A run in full: every payload fetched back (its whole result, every step's outputs). */
  run: (id: string) => request<Run>("GET", `/v1/runs/${enc(id)}`),
  /** A run's shape for a page (?outputs=false): no step outputs, no attempts' inputs, outputs or logs, a
   * large inputs or result left out (its size in `omitted`); the server reads no object-store payload. */
  runShape: (id: string) => request<Run>("GET", `/v1/runs/${enc(id)}?outputs=false`),
  /** One step of a run in full: outputs, attempts with inputs, outputs and logs, map counts. */
  step: (id: string, step: string) => request<Step>("GET", `/v1/runs/${enc(id)}/steps/${enc(step)}`),
  /** One page of a map step's items, in index order, filtered by status on the server. */
  items: (
    id: string,
    step: string,
    q: { status?: string | undefined; cursor?: string | undefined; limit: number },
  ) => request<ItemPage>("GET", `/v1/runs/${enc(id)}/steps/${enc(step)}/items${query({ ...q })}`),
  runFiles: (id: string) => request<{ files: RunFile[] }>("GET", `/v1/runs/${enc(id)}/files`),
  cancel: (id: string) => request<Run>("POST", `/v1/runs/${enc(id)}/cancel`),
  retry: (id: string, step?: string) =>
    request<Run>("POST", `/v1/runs/${enc(id)}/retry`, step === undefined ? undefined : { step }),
  /** Decides a waiting approval step; the reply is the run (409 when it is not waiting any more). */
  decide: (id: string, step: string, decision: "approve" | "reject", comment: string) =>
    request<Run>("POST", `/v1/runs/${enc(id)}/steps/${enc(step)}/${decision}`, comment ? { comment } : {}),
  workflows: () => request<{ workflows: WorkflowSummary[] }>("GET", "/v1/workflows"),
  workflow: (name: string) => request<WorkflowDetail>("GET", `/v1/workflows/${enc(name)}`),
  workflowVersion: (name: string, version: string) =>
    request<WorkflowDetail>("GET", `/v1/workflows/${enc(name)}/versions/${enc(version)}`),
  versions: (name: string) =>
    request<{ versions: { version: string; created_at: string }[] }>(
      "GET",
      `/v1/workflows/${enc(name)}/versions`,
    ),
  triggers: (name: string) => request<Triggers>("GET", `/v1/workflows/${enc(name)}/triggers`),
};
