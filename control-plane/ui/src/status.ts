// How each status is drawn. One table: a state the server adds later (a map step's items...) gets a
// row here and every view draws it; until then it is drawn plainly under its own name.
import type { KnownStepStatus, RunStatus } from "./types";

interface Look {
  label: string;
  /** CSS class carrying the colour. */
  tone: "idle" | "active" | "good" | "bad" | "muted" | "skipped" | "waiting";
  /** Whether nothing more happens to it on its own. */
  settled: boolean;
}

const LOOKS: Record<KnownStepStatus | RunStatus, Look> = {
  pending: { label: "pending", tone: "idle", settled: false },
  ready: { label: "ready", tone: "idle", settled: false },
  // Held by its workflow's concurrency limit: waits for its key to have room (run.queue has its place).
  queued: { label: "queued", tone: "waiting", settled: false },
  // A ready step held by its action's max_concurrency: dispatched when a slot frees, oldest first.
  throttled: { label: "throttled", tone: "waiting", settled: false },
  running: { label: "running", tone: "active", settled: false },
  succeeded: { label: "succeeded", tone: "good", settled: true },
  failed: { label: "failed", tone: "bad", settled: true },
  cancelled: { label: "cancelled", tone: "muted", settled: true },
  // Not run: its condition did not hold, or it reads a step skipped so. Drawn greyed and dashed.
  skipped: { label: "skipped", tone: "skipped", settled: true },
  // Held by an approval or a durable sleep: nothing runs, no worker is held; its own colour.
  waiting: { label: "waiting", tone: "waiting", settled: false },
};

export function look(status: string | null | undefined): Look {
  if (!status) return { label: "not started", tone: "idle", settled: false };
  return (LOOKS as Record<string, Look>)[status] ?? { label: status, tone: "idle", settled: false };
}
