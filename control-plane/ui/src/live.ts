// Re-reading what a page shows when the live feed says it changed: at most one read in flight and one
// queued, so a run of 10,000 quick steps costs a handful of reads a second, not 10,000.
import { useEffect, useRef } from "preact/hooks";
import { type FeedEvent, follow } from "./feed";
import type { Change } from "./types";

/** Calls ``reload`` when the feed (of one run, or of all) reports a change ``matters`` says is relevant. */
export function useLive(
  runId: string | null,
  reload: () => Promise<void>,
  matters: (change: Change) => boolean = () => true,
  enabled = true,
): void {
  const latest = useRef({ reload, matters });
  latest.current = { reload, matters };
  useEffect(() => {
    if (!enabled) return;
    let running = false;
    let again = false;
    const kick = async () => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        do {
          again = false;
          await latest.current.reload().catch(() => undefined);
          await new Promise((resolve) => setTimeout(resolve, 200));
        } while (again);
      } finally {
        running = false;
      }
    };
    return follow(runId, (event: FeedEvent) => {
      if (event.event !== "change" || latest.current.matters(event.change)) void kick();
    });
  }, [runId, enabled]);
}
