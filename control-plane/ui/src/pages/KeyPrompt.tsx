// Asks for an API key when the API answers 401; the key is kept for this browser tab only.
import { useState } from "preact/hooks";
import { setApiKey } from "../api";

export function KeyPrompt({ onDone }: { onDone: () => void }) {
  const [key, setKey] = useState("");
  return (
    <div class="overlay">
      <form
        class="key-prompt"
        onSubmit={(event) => {
          event.preventDefault();
          setApiKey(key.trim());
          onDone();
        }}
      >
        <h2>API key</h2>
        <p>
          This control plane requires an API key (<code>KNFLOW_AUTH=true</code>). It is kept for this browser
          tab only.
        </p>
        <input
          type="password"
          name="api-key"
          placeholder="knflow API key"
          autocomplete="off"
          value={key}
          onInput={(event) => setKey((event.target as HTMLInputElement).value)}
        />
        <button type="submit" disabled={!key.trim()}>
          Use this key
        </button>
      </form>
    </div>
  );
}
