// The small marks drawn before a DAG node's name for a step that runs no action, as SVG (no icon font:
// what the browser has installed varies, an emoji may draw as an empty box).
import type { NodeKind } from "./dag";

/** An approval: a check in a circle; a sleep: a clock; a map: two stacked boxes; a sub-workflow: a nested
 * box; an event: an envelope. */
export function NodeIcon({ kind }: { kind: NodeKind }) {
  if (kind === "action") return null;
  return (
    <g class={`node-icon icon-${kind}`} transform="translate(11,8)">
      {kind === "approval" && (
        <>
          <circle cx="7" cy="7" r="6.5" />
          <polyline points="3.8,7.2 6.2,9.6 10.4,4.6" />
        </>
      )}
      {kind === "sleep" && (
        <>
          <circle cx="7" cy="7" r="6.5" />
          <polyline points="7,3.2 7,7 9.8,8.6" />
        </>
      )}
      {kind === "map" && (
        <>
          <rect x="3.5" y="0.5" width="10" height="8" rx="1.5" />
          <rect x="0.5" y="4.5" width="10" height="8" rx="1.5" />
        </>
      )}
      {kind === "workflow" && (
        <>
          <rect x="0.5" y="0.5" width="13" height="13" rx="2" />
          <rect x="4" y="4" width="6" height="6" rx="1" />
        </>
      )}
      {kind === "wait_for_event" && (
        <>
          <rect x="0.5" y="2.5" width="13" height="9" rx="1.5" />
          <polyline points="0.8,3 7,7.6 13.2,3" />
        </>
      )}
    </g>
  );
}
