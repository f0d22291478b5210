// The step panel: attempts, inputs, outputs, logs, the error with its traceback, files with links. The run
// page holds the run's shape (no payloads): the panel reads its step in full (GET /v1/runs/{id}/steps/{step})
// when it opens and again when the step or one of its attempts changes status.
import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import { Badge, Json, Section } from "../components";
import { bytes, duration, localTime } from "../format";
import { followLogs } from "../logs";
import { linkProps } from "../router";
import type { ErrorInfo, Run, RunFile, Step, StepSpec } from "../types";
import { skipReason } from "../waits";
import { Decision } from "./Decision";
import { MapCounts } from "./MapCounts";

interface Props {
  run: Run;
  step: Step;
  onClose: () => void;
  /** Runs this step and everything downstream again; absent while the run still runs. */
  onRetry: (() => void) | undefined;
  busy: boolean;
  /** The step as the plan has it (its condition). */
  spec: StepSpec | undefined;
  /** A decision on a waiting approval came back with the run. */
  onDecided: (run: Run) => void;
  /** A decision came too late (409): the message to show; the run is read again. */
  onStale: (message: string) => void;
}

/** The step in full, read again whenever it or one of its attempts changes status; null until read. */
function useFullStep(runId: string, step: Step): Step | null {
  const [full, setFull] = useState<Step | null>(null);
  const changes = `${step.status}:${step.attempts.map((a) => a.status).join(",")}`;
  useEffect(() => setFull(null), [runId, step.name]);
  useEffect(() => {
    let current = true;
    api.step(runId, step.name).then(
      (found) => current && setFull(found),
      () => current && setFull(null),
    );
    return () => {
      current = false;
    };
  }, [runId, step.name, changes]);
  return full !== null && full.name === step.name ? full : null;
}

export function StepPanel({ run, step: shape, onClose, onRetry, busy, spec, onDecided, onStale }: Props) {
  const [chosen, setChosen] = useState<number | null>(null);
  const [files, setFiles] = useState<RunFile[]>([]);
  const full = useFullStep(run.id, shape);
  // Statuses and counts from the shape (the live feed moves it); payloads from the full record.
  const step: Step = full ? { ...full, status: shape.status, map: shape.map } : shape;
  const attempts = step.attempts;
  const attempt = attempts.find((a) => a.number === chosen) ?? attempts[attempts.length - 1];
  useEffect(() => setChosen(null), [step.name]);
  useEffect(() => {
    api.runFiles(run.id).then(
      (f) => setFiles(f.files.filter((file) => file.step === step.name)),
      () => setFiles([]),
    );
  }, [run.id, step.name, step.status]);
  const [live, setLive] = useState("");
  const running = attempt?.status === "running" ? attempt.number : null;
  useEffect(() => {
    setLive("");
    if (running === null) return;
    return followLogs(run.id, step.name, running, (text) => setLive((shown) => shown + text));
  }, [run.id, step.name, running]);
  const error = attempt?.error ?? step.error;
  return (
    <aside
      class="step-panel"
      data-step={step.name}
      data-status={step.status}
      data-loaded={full ? "yes" : "no"}
    >
      <header>
        <h3>
          {step.name} <Badge status={step.status} />
        </h3>
        <button type="button" class="close" aria-label="Close" onClick={onClose}>
          ×
        </button>
      </header>
      <p class="dim">
        {step.wait ? step.wait.kind : "action"} <span class="mono">{step.action}</span>{" "}
        <span class="mono">{step.version.slice(0, 10)}</span>
        {step.duration_ms !== null && ` · ${duration(step.duration_ms)}`}
      </p>
      {spec?.when && (
        <p class="dim">
          runs when <span class="mono">{spec.when}</span>
        </p>
      )}
      {step.status === "waiting" && (
        <Decision run={run} step={step} onDecided={onDecided} onStale={onStale} />
      )}
      {step.status === "skipped" && <p class="skip-note">{skipReason(spec)}</p>}
      {step.map && (
        <Section title="Items">
          <MapCounts run={run.id} step={step.name} counts={step.map} />
        </Section>
      )}
      {step.child_run_id && (
        <p class="child-run">
          Child run{" "}
          <a {...linkProps(`/runs/${step.child_run_id}`)} class="mono">
            {step.child_run_id}
          </a>
          {spec?.workflow && <span class="dim"> of {spec.workflow.name}</span>}
        </p>
      )}
      {onRetry && (
        <button type="button" disabled={busy} onClick={onRetry}>
          Retry from this step
        </button>
      )}
      {attempts.length > 1 && (
        <div class="attempts" role="tablist">
          {attempts.map((a) => (
            <button
              type="button"
              key={a.id}
              class={a === attempt ? "tab current" : "tab"}
              onClick={() => setChosen(a.number)}
            >
              #{a.number} <Badge status={a.status} />
            </button>
          ))}
        </div>
      )}
      {attempt ? (
        <>
          <p class="dim">
            attempt {attempt.number} · {attempt.status} · {localTime(attempt.started_at)}
            {attempt.duration_ms !== null && ` · ${duration(attempt.duration_ms)}`}
            {attempt.worker && ` · ${attempt.worker}`}
          </p>
          <ErrorSection error={error} />
          <Section title="Inputs">
            {full ? <Json value={attempt.inputs} /> : <p class="dim">Loading…</p>}
          </Section>
          {attempt.outputs && (
            <Section title="Outputs">
              <Json value={attempt.outputs} />
            </Section>
          )}
          <Section title="Logs">
            {attempt.logs || live ? (
              <pre class="logs" data-live={attempt.logs ? "no" : "yes"}>
                {attempt.logs || live}
              </pre>
            ) : (
              <p class="dim">
                {attempt.status === "running" ? "Waiting for output…" : full ? "No output." : "Loading…"}
              </p>
            )}
          </Section>
        </>
      ) : (
        <>
          {step.status === "pending" && <p class="dim">Not started yet.</p>}
          <ErrorSection error={step.error} />
          {step.outputs && (
            <Section title="Outputs">
              <Json value={step.outputs} />
            </Section>
          )}
        </>
      )}
      {files.length > 0 && (
        <Section title="Files">
          <ul class="files">
            {files.map((file) => (
              <li key={file.key}>
                {file.url && file.expired_at === null ? (
                  <a href={file.url} download={file.name}>
                    {file.name}
                  </a>
                ) : (
                  <span>{file.name} (expired)</span>
                )}{" "}
                <span class="dim">
                  {file.field ?? ""} · {bytes(file.size)} · {file.content_type}
                </span>
              </li>
            ))}
          </ul>
        </Section>
      )}
    </aside>
  );
}

/** A failure: its type, message, code, and traceback when an action raised it. */
function ErrorSection({ error }: { error: ErrorInfo | null | undefined }) {
  if (!error) return null;
  return (
    <Section title="Error">
      <div class="error">
        <strong>{error.type}</strong>: {error.message}
        {error.code !== undefined && error.code !== null && <span class="dim"> (code {error.code})</span>}
      </div>
      {error.traceback && <pre class="traceback">{error.traceback}</pre>}
    </Section>
  );
}
