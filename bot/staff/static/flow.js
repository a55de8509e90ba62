// Renders the flow diagram from the Mermaid text the server put in the page (no network needed).
// Drawn top to bottom and fitted to the page width.
mermaid.initialize({ startOnLoad: true, securityLevel: "strict", state: { useMaxWidth: true } });
