/**
 * The docket console: a single-page app under /console/ over the operations API. The shell (skip
 * link, nav, main landmark, the token form when the API wants one) and the page for the URL.
 */
import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { isTokenWanted, onAuthChange, setToken, token } from "./api.js";
import { useTitle } from "./hooks.js";
import { DefinitionsPage } from "./pages/definitions.js";
import { InstancePage } from "./pages/instance.js";
import { InstancesPage } from "./pages/instances.js";
import { href, Link, type Location, match, type Route, useLocation } from "./router.js";

function Nav({ route }: { route: Route }) {
  const onInstances = route.page === "instances" || route.page === "instance";
  return (
    <header class="top">
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <span class="brand">docket</span>
      <nav aria-label="Main">
        <ul>
          <li>
            <Link
              href={href("/")}
              aria-current={route.page === "instances" ? "page" : onInstances ? "true" : undefined}
            >
              Instances
            </Link>
          </li>
          <li>
            <Link
              href={href("/definitions")}
              aria-current={route.page === "definitions" ? "page" : undefined}
            >
              Definitions
            </Link>
          </li>
        </ul>
      </nav>
    </header>
  );
}

function TokenForm() {
  const [value, setValue] = useState("");
  return (
    <form
      class="panel token-form"
      aria-labelledby="token-title"
      data-testid="token-form"
      onSubmit={(event) => {
        event.preventDefault();
        if (value.trim()) setToken(value.trim());
      }}
    >
      <p id="token-title" class="token-title">
        API token needed
      </p>
      <p>
        {token() ? "The API refused the token given" : "The API wants a token"}: enter its token
        (DOCKET_API_TOKEN). It is kept for this browser tab only.
      </p>
      <div class="field inline">
        <label for="api-token">API token</label>
        <input
          id="api-token"
          type="password"
          autocomplete="off"
          value={value}
          onInput={(e) => setValue(e.currentTarget.value)}
        />
      </div>
      <button type="submit" class="primary">
        Use token
      </button>
    </form>
  );
}

function useTokenWanted(): boolean {
  const [wanted, setWanted] = useState(isTokenWanted());
  useEffect(() => onAuthChange(() => setWanted(isTokenWanted())), []);
  return wanted;
}

function Missing() {
  useTitle("Not found");
  return (
    <>
      <h1 tabindex={-1}>Page not found</h1>
      <p>
        The console has no such page. <Link href={href("/")}>Go to the instances</Link>.
      </p>
    </>
  );
}

function Page({ route, location }: { route: Route; location: Location }) {
  switch (route.page) {
    case "instances":
      return <InstancesPage query={location.query} />;
    case "instance":
      return <InstancePage key={route.id} id={route.id} />;
    case "definitions":
      return <DefinitionsPage query={location.query} />;
    default:
      return <Missing />;
  }
}

/** After a move to another page (not a first load, nor a filter change), focus goes to its heading. */
function useFocusOnNavigate(path: string) {
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    document.querySelector<HTMLElement>("main h1")?.focus();
  }, [path]);
}

function App() {
  const location = useLocation();
  const route = match(location.path);
  const tokenWanted = useTokenWanted();
  useFocusOnNavigate(location.path);
  return (
    <>
      <Nav route={route} />
      <main id="main" tabindex={-1}>
        {tokenWanted && <TokenForm />}
        <Page route={route} location={location} />
      </main>
    </>
  );
}

const root = document.getElementById("app");
if (root) render(<App />, root);
