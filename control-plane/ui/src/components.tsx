// Small shared pieces: status badges, the DAG drawing, errors.
import type { ComponentChildren } from "preact";
import { useMemo, useState } from "preact/hooks";
import { type Layout, layout, NODE_HEIGHT, NODE_WIDTH } from "./dag";
import { duration, json } from "./format";
import { NodeIcon } from "./icons";
import { mapBar, mapNote, mapTitle } from "./maps";
import { look } from "./status";
import type { Step, WorkflowSpec } from "./types";
import { nodeDeadline, nodeNote } from "./waits";

/** The kinds of node that run an action: drawn square; the others (waits, sub-workflows) rounded. */
const ACTION_KINDS = new Set(["action", "map"]);
const BAR_INSET = 10;

/** A map step's items as a thin bar along its node's foot, a segment per status. */
function MapBar({ step }: { step: Step }) {
  if (!step.map) return null;
  return (
    <g class="map-bar" transform={`translate(${BAR_INSET},${NODE_HEIGHT - 7})`}>
      {mapBar(step.map, NODE_WIDTH - 2 * BAR_INSET).map((segment) => (
        <rect
          key={segment.status}
          class={`item-${segment.status}`}
          data-items={segment.status}
          x={segment.x}
          width={segment.width}
          height="3"
        />
      ))}
    </g>
  );
}

/** Lines of a JSON value shown before "Show all": a map's result of 10,000 items stays a short block. */
const JSON_LINES = 200;

/** A JSON value, pretty-printed; a long one cut at ``JSON_LINES`` lines until asked for whole. */
export function Json({ value }: { value: unknown }) {
  const [whole, setWhole] = useState(false);
  const text = useMemo(() => json(value), [value]);
  const lines = useMemo(() => text.split("\n"), [text]);
  if (whole || lines.length <= JSON_LINES) return <pre class="json">{text}</pre>;
  return (
    <>
      <pre class="json" data-cut="yes">
        {lines.slice(0, JSON_LINES).join("\n")}
        {"\n…"}
      </pre>
      <button type="button" class="link" onClick={() => setWhole(true)}>
        Show all {lines.length.toLocaleString("en-US")} lines
      </button>
    </>
  );
}

/** A condition short enough for the label over its node; the whole of it is the label's tooltip. */
function short(text: string, size = 30): string {
  return text.length > size ? `${text.slice(0, size - 1)}…` : text;
}

/** A status badge; ``label`` shows another word in the status's colour (a deployment's "ready"). */
export function Badge({ status, label }: { status: string | null | undefined; label?: string }) {
  const shown = look(status);
  return <span class={`badge tone-${shown.tone}`}>{label ?? shown.label}</span>;
}

export function Problem({ error }: { error: unknown }) {
  if (!error) return null;
  return <div class="problem">{error instanceof Error ? error.message : String(error)}</div>;
}

export function Section({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section>
      <h3>{title}</h3>
      {children}
    </section>
  );
}

interface DagProps {
  spec: WorkflowSpec;
  /** The run's steps by name, when a run is drawn on the plan. */
  steps?: Map<string, Step>;
  selected?: string | null;
  onSelect?: (step: string) => void;
}

/** The workflow's DAG; with ``steps``, each node shows its step's status, time and attempts. */
export function Dag({ spec, steps, selected, onSelect }: DagProps) {
  const placed: Layout = useMemo(() => layout(spec), [spec]);
  return (
    <div class="dag">
      <svg
        width={placed.width}
        height={placed.height}
        viewBox={`0 0 ${placed.width} ${placed.height}`}
        role="img"
        aria-label={`DAG of ${spec.name}`}
      >
        <defs>
          <marker
            id="arrow"
            viewBox="0 0 10 10"
            refX="9"
            refY="5"
            markerWidth="7"
            markerHeight="7"
            orient="auto"
          >
            <path d="M0,0 L10,5 L0,10 z" class="arrowhead" />
          </marker>
        </defs>
        {placed.edges.map((edge) => (
          <polyline
            key={`${edge.from}->${edge.to}`}
            class={`edge tone-${look(steps?.get(edge.from)?.status).tone}`}
            points={edge.points.map((p) => `${p.x},${p.y}`).join(" ")}
            marker-end="url(#arrow)"
          />
        ))}
        {placed.nodes.map((node) => {
          const step = steps?.get(node.name);
          const tone = steps ? look(step?.status).tone : "plan";
          const attempts = step?.attempts.length ?? 0;
          const deadline = step ? nodeDeadline(step) : null;
          const detail = step
            ? (nodeNote(step) ??
              (step.map ? mapNote(step.map) : null) ??
              [look(step.status).label, duration(step.duration_ms), attempts > 1 ? `${attempts} tries` : ""]
                .filter(Boolean)
                .join(" · "))
            : node.action;
          const title = node.when ? `${node.name}: runs when ${node.when}` : node.name;
          return (
            <g
              key={node.name}
              class={`node kind-${node.kind} tone-${tone}${selected === node.name ? " selected" : ""}`}
              data-step={node.name}
              data-kind={node.kind}
              data-status={step?.status ?? ""}
              transform={`translate(${node.x - NODE_WIDTH / 2},${node.y - NODE_HEIGHT / 2})`}
              onClick={() => onSelect?.(node.name)}
            >
              <title>{step?.map ? `${title}\n${mapTitle(step.map)}` : title}</title>
              {node.when && (
                <text x="4" y="-4" class="node-when">
                  when {short(node.when)}
                </text>
              )}
              <rect width={NODE_WIDTH} height={NODE_HEIGHT} rx={ACTION_KINDS.has(node.kind) ? "8" : "22"} />
              <NodeIcon kind={node.kind} />
              <text x={node.kind === "action" ? 12 : 30} y="21" class="node-name">
                {node.name}
              </text>
              <text x="12" y="39" class="node-detail">
                {detail}
              </text>
              {step?.map && <MapBar step={step} />}
              {deadline && (
                <text x="12" y={NODE_HEIGHT + 12} class="node-deadline">
                  {deadline}
                </text>
              )}
            </g>
          );
        })}
      </svg>
    </div>
  );
}
