// A map step's items counted by status, each count a link to the items of that status.
import { count, ITEM_STATUSES } from "../maps";
import { linkProps } from "../router";
import type { MapCounts as Counts } from "../types";

export function MapCounts({ run, step, counts }: { run: string; step: string; counts: Counts }) {
  const base = `/runs/${run}/steps/${encodeURIComponent(step)}/items`;
  return (
    <div class="map-counts">
      <a {...linkProps(base)} data-items="all">
        <strong>{count(counts.total)}</strong> items
      </a>
      {ITEM_STATUSES.map((status) => (
        <a
          key={status}
          {...linkProps(`${base}?status=${status}`)}
          data-items={status}
          class={`item-${status}`}
        >
          <strong>{count(counts[status])}</strong> {status}
        </a>
      ))}
    </div>
  );
}
