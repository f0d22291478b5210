// Runs: newest first, filtered on the server (workflow, status, time), a page at a time, live.
import { useCallback, useEffect, useState } from "preact/hooks";
import { api } from "../api";
import { Badge, Problem } from "../components";
import { duration, since } from "../format";
import { useLive } from "../live";
import { linkProps, navigate } from "../router";
import type { Run, RunQueue, WorkflowSummary } from "../types";

const PAGE = 50;
/** The status filter's choices; ``waiting`` is a running run with a step waiting (an approval, a sleep). */
const STATUSES = ["queued", "running", "waiting", "succeeded", "failed", "cancelled"];
const STEP_WAITING = "dev.knflow.step.waiting";

/** A queued run's place: ``#2 in queue acme`` (a workflow without a key has one queue). */
export function queuePlace(queue: RunQueue): string {
  return `#${queue.position} in queue${queue.key === null ? "" : ` ${queue.key}`}`;
}

/** The API's filter for the status chosen: ``waiting`` is ``status=running&waiting=true``. */
function statusQuery(status: string): { status?: string; waiting?: boolean } {
  if (status === "waiting") return { status: "running", waiting: true };
  return status ? { status } : {};
}

export function Runs({ search }: { search: URLSearchParams }) {
  const workflow = search.get("workflow") ?? "";
  const status = search.get("status") ?? "";
  const sinceFilter = search.get("since") ?? "";
  const [cursors, setCursors] = useState<string[]>([]); // the cursors of the pages before this one
  const cursor = cursors[cursors.length - 1];
  const [runs, setRuns] = useState<Run[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [workflows, setWorkflows] = useState<WorkflowSummary[]>([]);

  const load = useCallback(async () => {
    const since = sinceFilter ? new Date(sinceFilter).toISOString() : undefined;
    try {
      const page = await api.runs({
        workflow: workflow || undefined,
        ...statusQuery(status),
        since,
        cursor,
        limit: PAGE,
      });
      setRuns(page.runs);
      setNext(page.next_cursor);
      setError(null);
    } catch (exc) {
      setError(exc);
    }
  }, [workflow, status, sinceFilter, cursor]);

  useEffect(() => {
    void load();
  }, [load]);
  useEffect(() => {
    api.workflows().then((w) => setWorkflows(w.workflows), setError);
  }, []);
  // Only the first page moves: later pages are history, read again when asked for. Besides the runs'
  // own changes, a step that starts waiting, and any step change of a run shown waiting (its wait ended).
  const held = new Set((runs ?? []).filter((r) => r.waiting?.length).map((r) => r.id));
  useLive(
    null,
    load,
    (change) => change.kind === "run" || change.type === STEP_WAITING || held.has(change.run_id),
    cursor === undefined,
  );

  const filter = (name: string, value: string) => {
    const params = new URLSearchParams(search);
    if (value) params.set(name, value);
    else params.delete(name);
    setCursors([]);
    const text = params.toString();
    navigate(`/runs${text ? `?${text}` : ""}`);
  };

  return (
    <div class="page">
      <h2>Runs</h2>
      <div class="filters">
        <label>
          Workflow
          <select
            name="workflow"
            value={workflow}
            onChange={(e) => filter("workflow", (e.target as HTMLSelectElement).value)}
          >
            <option value="">all</option>
            {workflows.map((w) => (
              <option key={w.name} value={w.name}>
                {w.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select
            name="status"
            value={status}
            onChange={(e) => filter("status", (e.target as HTMLSelectElement).value)}
          >
            <option value="">all</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Since
          <input
            type="datetime-local"
            name="since"
            value={sinceFilter}
            onChange={(e) => filter("since", (e.target as HTMLInputElement).value)}
          />
        </label>
        <span class="live" title="updated live from /v1/stream">
          {cursor === undefined ? "● live" : "history"}
        </span>
      </div>
      <Problem error={error} />
      <table class="runs">
        <thead>
          <tr>
            <th>Status</th>
            <th>Run</th>
            <th>Workflow</th>
            <th>Trigger</th>
            <th>Started</th>
            <th>Duration</th>
          </tr>
        </thead>
        <tbody>
          {(runs ?? []).map((run) => (
            <tr
              key={run.id}
              data-run={run.id}
              data-status={run.status}
              data-waiting={(run.waiting ?? []).join(",")}
            >
              <td>
                <Badge status={run.status} />
                {run.waiting?.length ? (
                  <span class="waits" title={`waiting: ${run.waiting.join(", ")}`}>
                    {" "}
                    <Badge status="waiting" label={`waits: ${run.waiting.join(", ")}`} />
                  </span>
                ) : null}
                {run.queue && <span class="queue dim"> {queuePlace(run.queue)}</span>}
              </td>
              <td>
                <a {...linkProps(`/runs/${run.id}`)} class="mono">
                  {run.id}
                </a>
                {run.parent_run_id && (
                  <div class="dim child-of">
                    ↳ child of{" "}
                    <a {...linkProps(`/runs/${run.parent_run_id}`)} class="mono">
                      {run.parent_run_id}
                    </a>
                  </div>
                )}
              </td>
              <td>
                <a {...linkProps(`/workflows/${run.workflow}`)}>{run.workflow}</a>{" "}
                <span class="dim mono">{run.workflow_version.slice(0, 8)}</span>
              </td>
              <td class="dim">{String(run.trigger?.kind ?? "")}</td>
              <td title={run.created_at}>{since(run.created_at)}</td>
              <td>{duration(run.duration_ms)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {runs !== null && runs.length === 0 && <p class="dim">No runs match.</p>}
      <div class="pager">
        <button type="button" disabled={cursors.length === 0} onClick={() => setCursors([])}>
          Newest
        </button>
        <button
          type="button"
          disabled={cursors.length === 0}
          onClick={() => setCursors(cursors.slice(0, -1))}
        >
          ← Newer
        </button>
        <button type="button" disabled={!next} onClick={() => next && setCursors([...cursors, next])}>
          Older →
        </button>
      </div>
    </div>
  );
}
