// A map step's items: a page of 50 at a time in index order, filtered by status on the server
// (GET /v1/runs/{id}/steps/{step}/items), each item's output or error on a click. Never the whole list:
// a map may have 10,000 items.
import { useCallback, useEffect, useState } from "preact/hooks";
import { api } from "../api";
import { Badge, Json, Problem } from "../components";
import { duration, localTime } from "../format";
import { useLive } from "../live";
import { count, ITEM_FILTERS } from "../maps";
import { linkProps, navigate } from "../router";
import { look } from "../status";
import type { MapItem, Run } from "../types";
import { MapCounts } from "./MapCounts";

const PAGE = 50;

export function Items({ id, step, search }: { id: string; step: string; search: URLSearchParams }) {
  const status = search.get("status") ?? "";
  const [cursors, setCursors] = useState<string[]>([]); // the cursors of the pages before this one
  const cursor = cursors[cursors.length - 1];
  const [run, setRun] = useState<Run | null>(null);
  const [items, setItems] = useState<MapItem[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [open, setOpen] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);

  const load = useCallback(async () => {
    try {
      const [found, page] = await Promise.all([
        api.runShape(id), // the counts only: never the map's joined result
        api.items(id, step, { status: status || undefined, cursor, limit: PAGE }),
      ]);
      setRun(found);
      setItems(page.items);
      setNext(page.next_cursor);
      setError(null);
    } catch (exc) {
      setError(exc);
    }
  }, [id, step, status, cursor]);
  useEffect(() => {
    void load();
  }, [load]);
  useEffect(() => setCursors([]), [status]);
  const counts = run?.steps?.find((s) => s.name === step);
  // Items change in place (the order is their index), so every page follows the step's changes.
  useLive(
    id,
    load,
    (change) => change.kind !== "step" || change.step === step,
    !look(counts?.status).settled,
  );

  const filter = (value: string) =>
    navigate(`/runs/${id}/steps/${encodeURIComponent(step)}/items${value ? `?status=${value}` : ""}`);

  return (
    <div class="page items-page" data-step={step} data-status={counts?.status ?? ""}>
      <h2>
        <a {...linkProps(`/runs/${id}?step=${encodeURIComponent(step)}`)}>{run?.workflow ?? "run"}</a>{" "}
        <span class="mono dim">{id}</span> · {step} <Badge status={counts?.status} />
      </h2>
      {counts?.map && <MapCounts run={id} step={step} counts={counts.map} />}
      <div class="filters">
        <label>
          Status
          <select
            name="status"
            value={status}
            onChange={(e) => filter((e.target as HTMLSelectElement).value)}
          >
            <option value="">all</option>
            {ITEM_FILTERS.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
      </div>
      <Problem error={error} />
      <table class="runs items">
        <thead>
          <tr>
            <th>Item</th>
            <th>Status</th>
            <th>Attempts</th>
            <th>Started</th>
            <th>Duration</th>
            <th>Output or error</th>
          </tr>
        </thead>
        <tbody>
          {(items ?? []).map((item) => (
            <ItemRow
              key={item.index}
              item={item}
              open={open === item.index}
              onToggle={() => setOpen(open === item.index ? null : item.index)}
            />
          ))}
        </tbody>
      </table>
      {items !== null && items.length === 0 && <p class="dim">No items match.</p>}
      <div class="pager">
        <button type="button" disabled={cursors.length === 0} onClick={() => setCursors([])}>
          First
        </button>
        <button
          type="button"
          disabled={cursors.length === 0}
          onClick={() => setCursors(cursors.slice(0, -1))}
        >
          ← Previous
        </button>
        <button type="button" disabled={!next} onClick={() => next && setCursors([...cursors, next])}>
          Next →
        </button>
      </div>
    </div>
  );
}

function took(item: MapItem): number | null {
  if (!item.started_at || !item.finished_at) return null;
  return Date.parse(item.finished_at) - Date.parse(item.started_at);
}

/** One item: a line (its output or error shortened), and under it, once clicked, the whole of it. */
function ItemRow({ item, open, onToggle }: { item: MapItem; open: boolean; onToggle: () => void }) {
  const summary = item.error
    ? `${item.error.type ?? "Error"}: ${item.error.message ?? ""}`
    : item.output !== undefined && item.output !== null
      ? JSON.stringify(item.output)
      : "";
  return (
    <>
      <tr data-item={item.index} data-status={item.status} class="item-row" onClick={onToggle}>
        <td class="mono">#{count(item.index)}</td>
        <td>
          <Badge status={item.status} />
        </td>
        <td>{item.attempts}</td>
        <td title={item.started_at ?? ""}>{localTime(item.started_at)}</td>
        <td>{duration(took(item))}</td>
        <td class={item.error ? "item-summary error" : "item-summary mono"}>
          {summary.length > 80 ? `${summary.slice(0, 79)}…` : summary}
        </td>
      </tr>
      {open && (
        <tr class="item-detail" data-detail={item.index}>
          <td colSpan={6}>
            {item.error ? (
              <>
                <div class="error">
                  <strong>{item.error.type}</strong>: {item.error.message}
                </div>
                {item.error.traceback && <pre class="traceback">{item.error.traceback}</pre>}
              </>
            ) : (
              <Json value={item.output ?? null} />
            )}
          </td>
        </tr>
      )}
    </>
  );
}
