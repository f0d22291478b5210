// A tiny client router over /ui/...: links push history entries, the app re-renders on navigation.
import { useEffect, useState } from "preact/hooks";

export const BASE = "/ui";

export function navigate(path: string): void {
  history.pushState(null, "", `${BASE}${path}`);
  dispatchEvent(new PopStateEvent("popstate"));
}

/** The current path below /ui, and its query. */
export function useLocation(): { path: string; search: URLSearchParams } {
  const read = () => ({
    path: location.pathname.slice(BASE.length).replace(/\/+$/, "") || "/",
    search: new URLSearchParams(location.search),
  });
  const [where, setWhere] = useState(read);
  useEffect(() => {
    const update = () => setWhere(read());
    addEventListener("popstate", update);
    return () => removeEventListener("popstate", update);
  }, []);
  return where;
}

/** An in-app link: a plain <a> (open in a new tab works) that navigates without reloading. */
export function linkProps(path: string): { href: string; onClick: (event: MouseEvent) => void } {
  return {
    href: `${BASE}${path}`,
    onClick: (event: MouseEvent) => {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
      event.preventDefault();
      navigate(path);
    },
  };
}
