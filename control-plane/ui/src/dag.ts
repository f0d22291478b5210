// The DAG of a workflow spec, laid out by dagre: knflow knows the whole graph before a run starts, so the
// plan and the run are drawn on the same layout.
import dagre from "@dagrejs/dagre";
import type { Binding, WorkflowSpec } from "./types";

export const NODE_WIDTH = 196;
export const NODE_HEIGHT = 52;

export interface PlacedNode {
  name: string;
  action: string;
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

/** Nodes and edges of the spec, placed left to right. */
export function layout(spec: WorkflowSpec): Layout {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: "LR", nodesep: 24, ranksep: 56, marginx: 12, marginy: 12 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const step of spec.steps) graph.setNode(step.name, { width: NODE_WIDTH, height: NODE_HEIGHT });
  const edges: [string, string][] = [];
  for (const step of spec.steps) {
    const upstream = new Set<string>();
    for (const binding of Object.values(step.inputs)) upstreamOf(binding, upstream);
    for (const from of upstream) {
      graph.setEdge(from, step.name);
      edges.push([from, step.name]);
    }
  }
  dagre.layout(graph);
  const actions = new Map(spec.steps.map((s) => [s.name, s.action]));
  const nodes = graph.nodes().map((name) => {
    const node = graph.node(name);
    return { name, action: actions.get(name) ?? "", x: node.x, y: node.y };
  });
  const placed = edges.map(([from, to]) => ({ from, to, points: graph.edge(from, to).points ?? [] }));
  const size = graph.graph();
  return { nodes, edges: placed, width: size.width ?? 0, height: size.height ?? 0 };
}
