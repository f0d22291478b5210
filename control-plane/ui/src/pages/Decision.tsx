// A waiting step's box in its panel: what it waits for and until when; for an approval, the Approve and
// Reject buttons with an optional comment (POST /v1/runs/{id}/steps/{step}/approve|reject).
import { useEffect, useState } from "preact/hooks";
import { ApiError, api } from "../api";
import type { Run, Step } from "../types";
import { waitLines } from "../waits";

interface Props {
  run: Run;
  step: Step;
  /** The run as the decision left it. */
  onDecided: (run: Run) => void;
  /** After a 409 (someone else decided): says why, for the page to show, and reads the run again. */
  onStale: (message: string) => void;
}

/** What a 409 means here, said plainly: the approval was decided elsewhere, or timed out. */
function refusal(exc: unknown): string {
  if (exc instanceof ApiError && exc.status === 409) {
    return `Already decided: this approval is no longer waiting (decided elsewhere, or past its deadline). ${exc.message}`;
  }
  return exc instanceof Error ? exc.message : String(exc);
}

export function Decision({ run, step, onDecided, onStale }: Props) {
  const [comment, setComment] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    setComment("");
    setProblem(null);
  }, [run.id, step.name]);
  const approval = step.wait?.kind === "approval";
  const decide = async (decision: "approve" | "reject") => {
    setBusy(true);
    setProblem(null);
    try {
      onDecided(await api.decide(run.id, step.name, decision, comment.trim()));
    } catch (exc) {
      // A 409 outlives this box: the run read again shows the step decided, and this box goes.
      if (exc instanceof ApiError && exc.status === 409) onStale(refusal(exc));
      else setProblem(refusal(exc));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="decision" data-wait={step.wait?.kind ?? ""}>
      {waitLines(step).map((line) => (
        <p key={line}>{line}</p>
      ))}
      {approval && step.status === "waiting" && (
        <>
          <label>
            Comment (optional)
            <textarea
              name="comment"
              maxLength={2000}
              value={comment}
              onInput={(e) => setComment((e.target as HTMLTextAreaElement).value)}
            />
          </label>
          <div class="buttons">
            <button type="button" class="approve" disabled={busy} onClick={() => decide("approve")}>
              Approve
            </button>
            <button type="button" class="danger" disabled={busy} onClick={() => decide("reject")}>
              Reject
            </button>
          </div>
        </>
      )}
      {problem && (
        <div class="problem" role="alert">
          {problem}
        </div>
      )}
    </div>
  );
}
