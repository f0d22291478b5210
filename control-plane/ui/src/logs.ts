// A running attempt's output as the function writes it: GET /v1/runs/{id}/logs?follow=true (NDJSON),
// kept to one step's attempt. The stream ends when the run does; the panel then shows the stored logs.
import { headers } from "./api";

interface LogLine {
  step?: string;
  attempt?: number;
  text?: string;
  end?: boolean;
}

/** Calls ``onText`` with each new piece of the attempt's output until the returned function is called. */
export function followLogs(
  runId: string,
  step: string,
  attempt: number,
  onText: (text: string) => void,
): () => void {
  const stop = new AbortController();
  const read = async () => {
    const response = await fetch(`/v1/runs/${encodeURIComponent(runId)}/logs?follow=true`, {
      headers: headers(),
      signal: stop.signal,
    });
    if (!response.ok || !response.body) return;
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end = buffer.indexOf("\n");
      while (end >= 0) {
        const line = JSON.parse(buffer.slice(0, end)) as LogLine;
        buffer = buffer.slice(end + 1);
        if (line.step === step && line.attempt === attempt && line.text) onText(line.text);
        end = buffer.indexOf("\n");
      }
    }
  };
  read().catch(() => undefined); // aborted, or the run ended: the recorded logs take over
  return () => stop.abort();
}
