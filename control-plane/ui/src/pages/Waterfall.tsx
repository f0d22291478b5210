// The trace waterfall: every attempt of every step on the run's time axis.
import { duration } from "../format";
import { look } from "../status";
import type { Run } from "../types";

export function Waterfall({ run, onSelect }: { run: Run; onSelect: (step: string) => void }) {
  const start = Date.parse(run.created_at);
  const attempts = (run.steps ?? []).flatMap((step) =>
    step.attempts.map((attempt) => ({ step: step.name, attempt })),
  );
  const ends = attempts.map(({ attempt }) =>
    attempt.finished_at ? Date.parse(attempt.finished_at) : Date.now(),
  );
  const end = Math.max(start + 1, run.finished_at ? Date.parse(run.finished_at) : Date.now(), ...ends);
  const span = end - start;
  return (
    <section class="waterfall">
      <h3>
        Trace <span class="dim">{duration(span)}</span>
      </h3>
      {attempts.map(({ step, attempt }) => {
        const from = attempt.started_at ? Date.parse(attempt.started_at) : start;
        const to = attempt.finished_at ? Date.parse(attempt.finished_at) : Date.now();
        const left = ((from - start) / span) * 100;
        const width = Math.max(0.5, ((to - from) / span) * 100);
        return (
          <div class="lane" key={attempt.id} onClick={() => onSelect(step)}>
            <span class="lane-name">
              {step} <span class="dim">#{attempt.number}</span>
            </span>
            <span class="lane-track">
              <span
                class={`bar tone-${look(attempt.status).tone}`}
                style={{ left: `${left}%`, width: `${width}%` }}
                title={`${attempt.status} ${duration(to - from)}`}
              />
            </span>
            <span class="lane-time">{duration(to - from)}</span>
          </div>
        );
      })}
    </section>
  );
}
