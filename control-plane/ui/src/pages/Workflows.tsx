// Workflows: every workflow with its latest version and deployment; one workflow with its versions,
// triggers (next fire times of schedules), inputs and the DAG of its spec.
import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import { Badge, Dag, Problem, Section } from "../components";
import { localTime, since } from "../format";
import { linkProps } from "../router";
import type { Triggers, WorkflowDetail, WorkflowSummary } from "../types";

export function Workflows() {
  const [workflows, setWorkflows] = useState<WorkflowSummary[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api.workflows().then((w) => setWorkflows(w.workflows), setError);
  }, []);
  return (
    <div class="page">
      <h2>Workflows</h2>
      <Problem error={error} />
      <table>
        <thead>
          <tr>
            <th>Workflow</th>
            <th>Latest version</th>
            <th>Deployment</th>
            <th>Deployed version</th>
            <th>Updated</th>
          </tr>
        </thead>
        <tbody>
          {(workflows ?? []).map((w) => (
            <tr key={w.name} data-workflow={w.name}>
              <td>
                <a {...linkProps(`/workflows/${w.name}`)}>{w.name}</a>
              </td>
              <td class="mono">{w.latest_version.slice(0, 12)}</td>
              <td>
                {w.deployment ? (
                  <Badge status={deployTone(w.deployment)} label={w.deployment} />
                ) : (
                  <span class="dim">not deployed</span>
                )}
              </td>
              <td class="mono">{w.deployed_version?.slice(0, 12) ?? ""}</td>
              <td>{since(w.updated_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {workflows !== null && workflows.length === 0 && (
        <p class="dim">
          No workflows yet: <code>knflow deploy my_flow.py</code>.
        </p>
      )}
    </div>
  );
}

/** A deployment status drawn with the run palette: ready is good, failed bad, the rest in progress. */
function deployTone(status: string): string {
  return status === "ready" ? "succeeded" : status === "failed" ? "failed" : "running";
}

export function Workflow({ name, version }: { name: string; version: string | null }) {
  const [detail, setDetail] = useState<WorkflowDetail | null>(null);
  const [versions, setVersions] = useState<{ version: string; created_at: string }[]>([]);
  const [triggers, setTriggers] = useState<Triggers | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const read = version ? api.workflowVersion(name, version) : api.workflow(name);
    read.then(setDetail, setError);
    api.versions(name).then((v) => setVersions(v.versions), setError);
    api.triggers(name).then(setTriggers, setError);
  }, [name, version]);
  if (!detail) return <Problem error={error} />;
  const shown = detail.version;
  return (
    <div class="page">
      <h2>
        {name} <span class="dim mono">{shown.slice(0, 12)}</span>
      </h2>
      {detail.spec.description && <p>{detail.spec.description}</p>}
      <Problem error={error} />
      <p>
        <a {...linkProps(`/runs?workflow=${encodeURIComponent(name)}`)}>Runs of {name} →</a>
      </p>
      <Dag spec={detail.spec} />
      <div class="columns">
        <Section title="Triggers">
          {triggers && !triggers.deployed && <p class="dim">Not deployed: no trigger starts runs.</p>}
          <ul class="triggers">
            {(triggers?.triggers ?? []).map((t, i) => (
              <li key={`${t.kind}-${i}`} data-trigger={t.kind}>
                <strong>{t.kind}</strong> {describe(t.kind, t.spec, t.hook)}
                {t.next_fire_at && (
                  <span class="next-fire">
                    {" "}
                    next: <time dateTime={t.next_fire_at}>{localTime(t.next_fire_at)}</time>
                  </span>
                )}
              </li>
            ))}
            {triggers?.triggers.length === 0 && <li class="dim">manual only (API, CLI)</li>}
          </ul>
        </Section>
        <Section title="Inputs">
          <ul>
            {Object.entries(detail.spec.inputs).map(([input, param]) => (
              <li key={input}>
                <code>{input}</code> <span class="dim">{String(param.type.type ?? "any")}</span>
                {!param.required && <span class="dim"> = {JSON.stringify(param.default)}</span>}
              </li>
            ))}
          </ul>
        </Section>
        <Section title="Versions">
          <ul class="versions">
            {versions.map((v) => (
              <li key={v.version}>
                <a
                  {...linkProps(`/workflows/${name}?version=${v.version}`)}
                  class={v.version === shown ? "current mono" : "mono"}
                >
                  {v.version.slice(0, 12)}
                </a>{" "}
                <span class="dim">{since(v.created_at)}</span>
                {detail.deployment?.version === v.version && (
                  <Badge status={deployTone(detail.deployment.status)} label={detail.deployment.status} />
                )}
              </li>
            ))}
          </ul>
        </Section>
      </div>
    </div>
  );
}

function describe(kind: string, spec: Record<string, unknown>, hook: string | null): string {
  if (kind === "http") return `${String(spec.method)} ${hook ?? ""}`;
  if (kind === "schedule") return `${String(spec.cron)} (${String(spec.timezone)})`;
  if (kind === "event")
    return `type ${String(spec.type)}${spec.source ? ` from ${String(spec.source)}` : ""}`;
  if (kind === "source") return String(spec.name);
  return "";
}
