// The DAG of a workflow spec, laid out by dagre: knflow knows the whole graph before a run starts, so the
// plan and the run are drawn on the same layout.
import dagre from "@dagrejs/dagre";
import type { Binding, StepSpec, WorkflowSpec } from "./types";

export const NODE_WIDTH = 196;
export const NODE_HEIGHT = 52;

/** What a node runs: an action, or a step that only waits or calls another workflow. */
export type NodeKind = "action" | "map" | "approval" | "sleep" | "workflow" | "wait_for_event";

export interface PlacedNode {
  name: string;
  kind: NodeKind;
  /** What the plan says it does: the action's name, the approval's prompt, the sleep's length. */
  action: string;
  /** Its condition (``when``), drawn as a small label on the node. */
  when: string | null;
  x: number;
  y: number;
}

export interface PlacedEdge {
  from: string;
  to: string;
  points: { x: number; y: number }[];
}

export interface Layout {
  nodes: PlacedNode[];
  edges: PlacedEdge[];
  width: number;
  height: number;
}

/** The steps a binding reads from. */
export function upstreamOf(binding: Binding, into: Set<string> = new Set()): Set<string> {
  if ("step" in binding) into.add(binding.step);
  else if ("object" in binding) for (const inner of Object.values(binding.object)) upstreamOf(inner, into);
  else if ("array" in binding) for (const inner of binding.array) upstreamOf(inner, into);
  return into;
}

/** The steps a condition reads (``steps.NAME.output...``): each is an edge, as on the server. */
export function conditionSteps(condition: string | null | undefined): string[] {
  if (!condition) return [];
  return [...condition.matchAll(/\bsteps\.([A-Za-z_][\w-]*)/g)].map((m) => m[1] ?? "");
}

export function kindOf(step: StepSpec): NodeKind {
  if (step.approval) return "approval";
  if (step.sleep) return "sleep";
  if (step.workflow) return "workflow";
  if (step.wait_for_event) return "wait_for_event";
  if (step.map) return "map";
  return "action";
}

/** The second line of a plan node: what the step does. */
export function planDetail(step: StepSpec): string {
  if (step.approval) return `approval: ${step.approval.prompt}`;
  if (step.sleep) return `sleep ${seconds(step.sleep.seconds)}`;
  if (step.workflow) return `workflow ${step.workflow.name}`;
  if (step.map) return `map ${step.action ?? ""}`;
  return step.action ?? "";
}

/** A duration in seconds as people write it: 90 -> "1m30s". */
export function seconds(total: number): string {
  const parts: string[] = [];
  let rest = Math.round(total);
  for (const [unit, size] of [
    ["d", 86_400],
    ["h", 3_600],
    ["m", 60],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest || parts.length === 0) parts.push(`${rest}s`);
  return parts.join("");
}

/** Nodes and edges of the spec, placed left to right. */
export function layout(spec: WorkflowSpec): Layout {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: "LR", nodesep: 28, ranksep: 56, marginx: 12, marginy: 18 });
  graph.setDefaultEdgeLabel(() => ({}));
  const known = new Set(spec.steps.map((s) => s.name));
  for (const step of spec.steps) graph.setNode(step.name, { width: NODE_WIDTH, height: NODE_HEIGHT });
  const edges: [string, string][] = [];
  for (const step of spec.steps) {
    const upstream = new Set<string>();
    for (const binding of Object.values(step.inputs)) upstreamOf(binding, upstream);
    for (const name of step.after ?? []) upstream.add(name);
    for (const name of conditionSteps(step.when)) upstream.add(name);
    for (const from of upstream) {
      if (!known.has(from)) continue; // the server checked the names; a stray one draws no phantom node
      graph.setEdge(from, step.name);
      edges.push([from, step.name]);
    }
  }
  dagre.layout(graph);
  const specs = new Map(spec.steps.map((s) => [s.name, s]));
  const nodes = graph.nodes().map((name) => {
    const node = graph.node(name);
    const step = specs.get(name);
    return {
      name,
      kind: step ? kindOf(step) : "action",
      action: step ? planDetail(step) : "",
      when: step?.when ?? null,
      x: node.x,
      y: node.y,
    };
  });
  const placed = edges.map(([from, to]) => ({ from, to, points: graph.edge(from, to).points ?? [] }));
  const size = graph.graph();
  return { nodes, edges: placed, width: size.width ?? 0, height: size.height ?? 0 };
}
