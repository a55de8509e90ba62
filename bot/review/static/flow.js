// Renders the flow diagram from the Mermaid text the server put in the page (no network needed).
mermaid.initialize({ startOnLoad: true, securityLevel: "strict" });
