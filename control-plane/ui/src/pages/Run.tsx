// One run: the plan's DAG with each step's status, the trace waterfall, the step panel, and the actions
// (cancel, retry from failure, retry a chosen step). Updated live from the run's feed. It reads the run's
// shape (?outputs=false: no payloads); the step panel reads its step in full, "Show result" the result.
import { useCallback, useEffect, useMemo, useState } from "preact/hooks";
import { api } from "../api";
import { Badge, Dag, Problem } from "../components";
import { duration, localTime } from "../format";
import { useLive } from "../live";
import { linkProps, navigate } from "../router";
import { look } from "../status";
import type { Run as RunRecord, Step, WorkflowSpec } from "../types";
import { RunValue } from "./RunValue";
import { StepPanel } from "./StepPanel";
import { Waterfall } from "./Waterfall";

export function Run({ id, selected }: { id: string; selected: string | null }) {
  const [run, setRun] = useState<RunRecord | null>(null);
  const [spec, setSpec] = useState<WorkflowSpec | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  /** What a decision that came too late (a 409) says; kept until another step or run is shown. */
  const [notice, setNotice] = useState<string | null>(null);
  useEffect(() => setNotice(null), [id, selected]);

  const load = useCallback(async () => {
    try {
      setRun(await api.runShape(id));
      setError(null);
    } catch (exc) {
      setError(exc);
    }
  }, [id]);
  useEffect(() => {
    setRun(null);
    void load();
  }, [load]);
  useEffect(() => {
    if (run && (!spec || spec.name !== run.workflow)) {
      api.workflowVersion(run.workflow, run.workflow_version).then((d) => setSpec(d.spec), setError);
    }
  }, [run?.workflow, run?.workflow_version]);
  useLive(id, load);
  // A queued run moves up when other runs of its key end or leave: those are other runs' changes.
  useLive(null, load, (change) => change.kind === "run" && change.run_id !== id, run?.status === "queued");

  const steps = useMemo(() => new Map((run?.steps ?? []).map((s) => [s.name, s])), [run]);
  if (!run) return <Problem error={error} />;

  const act = async (action: () => Promise<RunRecord>) => {
    setBusy(true);
    try {
      setRun(await action());
      setError(null);
    } catch (exc) {
      setError(exc);
    } finally {
      setBusy(false);
    }
  };
  const select = (step: string | null) =>
    navigate(`/runs/${id}${step ? `?step=${encodeURIComponent(step)}` : ""}`);
  const step: Step | undefined = selected ? steps.get(selected) : undefined;
  const finished = look(run.status).settled;

  return (
    <div class="page run-page" data-run={run.id} data-status={run.status}>
      <div class="run-head">
        <h2>
          <a {...linkProps(`/workflows/${run.workflow}?version=${run.workflow_version}`)}>{run.workflow}</a>{" "}
          <span class="mono dim">{run.id}</span> <Badge status={run.status} />
          {run.waiting?.length ? (
            <>
              {" "}
              <Badge status="waiting" label={`waits: ${run.waiting.join(", ")}`} />
            </>
          ) : null}
        </h2>
        <div class="actions">
          {(run.status === "running" || run.status === "queued") && (
            <button
              type="button"
              class="danger"
              disabled={busy}
              onClick={() => act(() => api.cancel(run.id))}
            >
              Cancel run
            </button>
          )}
          {(run.status === "failed" || run.status === "cancelled") && (
            <button type="button" disabled={busy} onClick={() => act(() => api.retry(run.id))}>
              Retry from failure
            </button>
          )}
        </div>
      </div>
      {run.parent_run_id && (
        <p class="run-links parent-run">
          Child run of{" "}
          <a
            {...linkProps(
              `/runs/${run.parent_run_id}${run.parent_step ? `?step=${encodeURIComponent(run.parent_step)}` : ""}`,
            )}
            class="mono"
          >
            {run.parent_run_id}
          </a>
          {run.parent_step && <span> (its step {run.parent_step})</span>}
        </p>
      )}
      {run.queue && (
        <p class="run-links queue-place">
          Queued: #{run.queue.position} in the queue of{" "}
          {run.queue.key === null ? `${run.workflow}` : <span class="mono">{run.queue.key}</span>}
          <span class="dim"> (its workflow's concurrency limit; it starts when the runs before it end)</span>
        </p>
      )}
      <dl class="facts">
        <dt>Started</dt>
        <dd>{localTime(run.created_at)}</dd>
        <dt>Duration</dt>
        <dd>{run.finished_at ? duration(run.duration_ms) : "running"}</dd>
        <dt>Trigger</dt>
        <dd>{String(run.trigger?.kind ?? "")}</dd>
        <dt>Trace</dt>
        <dd class="mono">{run.trace_id ?? ""}</dd>
      </dl>
      <Problem error={error} />
      {notice && (
        <div class="problem" role="alert">
          {notice}
        </div>
      )}
      {run.error && !step && (
        <div class="run-error">
          <strong>{run.error.type}</strong>: {run.error.message}
          {run.error.step && (
            <>
              {" "}
              in step{" "}
              <a
                href={`?step=${encodeURIComponent(run.error.step)}`}
                onClick={(e) => {
                  e.preventDefault();
                  select(run.error?.step ?? null);
                }}
              >
                {run.error.step}
              </a>
            </>
          )}
        </div>
      )}
      <div class="run-body">
        <div class="run-graph">
          {spec ? (
            <Dag
              spec={spec}
              steps={steps}
              selected={selected}
              onSelect={(name) => select(name === selected ? null : name)}
            />
          ) : (
            <p class="dim">Loading the plan…</p>
          )}
          <Waterfall run={run} onSelect={select} />
          {finished && ((run.result !== null && run.result !== undefined) || run.omitted?.result) && (
            <RunValue
              runId={run.id}
              title="Result"
              field="result"
              value={run.result}
              omitted={run.omitted?.result}
            />
          )}
          <RunValue
            runId={run.id}
            title="Inputs"
            field="inputs"
            value={run.inputs}
            omitted={run.omitted?.inputs}
          />
        </div>
        {step && (
          <StepPanel
            run={run}
            step={step}
            onClose={() => select(null)}
            onRetry={finished ? () => act(() => api.retry(run.id, step.name)) : undefined}
            busy={busy}
            spec={spec?.steps.find((s) => s.name === step.name)}
            onDecided={setRun}
            onStale={(message) => {
              setNotice(message);
              void load();
            }}
          />
        )}
      </div>
    </div>
  );
}
