// What a waiting or skipped step is shown with: the approval's prompt, the sleep's wake-up time, the
// deadline; and why a skipped step did not run.
import { seconds } from "./dag";
import { localTime } from "./format";
import type { Step, StepSpec } from "./types";

/** A moment short enough for a DAG node: the time of day today ("04:12:02 AM"), else with the date. */
function moment(iso: string): string {
  const when = new Date(iso);
  if (when.toDateString() === new Date().toDateString()) return when.toLocaleTimeString();
  return when.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

function cut(text: string, size: number): string {
  return text.length > size ? `${text.slice(0, size - 1)}…` : text;
}

/** The one line a DAG node shows for a step that waits or was skipped; null for any other step. */
export function nodeNote(step: Step): string | null {
  if (step.status === "skipped") return "skipped · not run";
  if (step.status !== "waiting") return null;
  if (step.wait?.kind === "sleep") return "sleeping";
  if (step.wait?.kind === "approval") return `awaits: ${cut(step.wait.prompt, 20)}`;
  if (step.wait?.kind === "event") return `awaits event ${cut(step.wait.type, 18)}`;
  return "waiting";
}

/** The small label under a waiting node: when it wakes, or an approval's deadline; null without one. */
export function nodeDeadline(step: Step): string | null {
  if (step.status !== "waiting" || !step.wake_at) return null;
  return step.wait?.kind === "sleep" ? `wakes ${moment(step.wake_at)}` : `deadline ${moment(step.wake_at)}`;
}

/** The sentences of a step panel for a waiting step: what it waits for and until when. */
export function waitLines(step: Step): string[] {
  const wait = step.wait;
  if (!wait) return ["Waiting."];
  if (wait.kind === "sleep") {
    const until = step.wake_at ? `until ${localTime(step.wake_at)}` : "";
    return [`A durable sleep of ${seconds(wait.seconds)}, ${until || "until it wakes"}.`];
  }
  if (wait.kind === "event") {
    const from = wait.source ? ` from ${wait.source}` : "";
    return [
      `Waits for an event of type ${wait.type}${from} whose data matches.`,
      step.wake_at
        ? `Deadline ${localTime(step.wake_at)}: with no such event by then the step fails.`
        : "No deadline: it waits until such an event arrives.",
    ];
  }
  if (wait.kind !== "approval") return ["Waiting."];
  return [
    `Waits for a decision: ${wait.prompt}`,
    step.wake_at
      ? `Deadline ${localTime(step.wake_at)}: with no decision by then the step fails.`
      : "No deadline: it waits until someone decides.",
  ];
}

/** Why a skipped step did not run. */
export function skipReason(spec: StepSpec | undefined): string {
  if (spec?.when)
    return `Not run: its condition did not hold (when ${spec.when}), or a step it reads was skipped.`;
  return "Not run: a step it reads or waits for was skipped, or the run ended before it.";
}
