// How a map step's items are summed up: on its DAG node (a line and a bar), and in its panel.
import type { MapCounts } from "./types";

/** The item statuses, in the order the bar draws them and the filter offers them. */
export const ITEM_STATUSES = ["succeeded", "failed", "running", "pending", "skipped"] as const;
/** The items page's status filter: the counts' statuses, and ``cancelled`` (counted as skipped). */
export const ITEM_FILTERS = [...ITEM_STATUSES, "cancelled"];

export function count(n: number): string {
  return n.toLocaleString("en-US");
}

/** The one line of a map step's node: how many items succeeded, and what is failed or still running. */
export function mapNote(counts: MapCounts): string {
  const line = `${count(counts.succeeded)}/${count(counts.total)} ok`;
  if (counts.failed) return `${line} · ${count(counts.failed)} failed`;
  if (counts.running) return `${line} · ${count(counts.running)} running`;
  return line;
}

/** Every count, for the node's tooltip. */
export function mapTitle(counts: MapCounts): string {
  return `${count(counts.total)} items: ${ITEM_STATUSES.map((s) => `${count(counts[s])} ${s}`).join(", ")}`;
}

export interface Segment {
  status: (typeof ITEM_STATUSES)[number];
  x: number;
  width: number;
}

/** The bar's segments over ``width``: one per status with items, in proportion (at least a pixel each). */
export function mapBar(counts: MapCounts, width: number): Segment[] {
  if (counts.total <= 0) return [];
  const segments: Segment[] = [];
  let x = 0;
  for (const status of ITEM_STATUSES) {
    if (!counts[status]) continue;
    const size = Math.max(1, (counts[status] / counts.total) * width);
    segments.push({ status, x, width: size });
    x += size;
  }
  return segments;
}
