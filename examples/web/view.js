// What the page shows. Everything from the API or the CV goes in as text, never as HTML.

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

// What a person can do about an error, by its code.
const ADVICE = {
  UNAUTHENTICATED: "Get a demo token, or paste one from `make token USER=alice PLAN=Pro`.",
  WEBSOCKET_4403: "Get a demo token, or paste one from `make token USER=alice PLAN=Pro`.",
  DEMO_TOKEN_UNAVAILABLE: "Paste a token above.",
  NETWORK: "Is the API running (make run)?",
};

export function showError(list, code, message) {
  const advice = ADVICE[code];
  list.append(el("li", {}, el("code", {}, code), ` ${message}`, advice ? ` — ${advice}` : null));
}

// Every error an exception carries: a GraphQL answer may hold several, each with its code.
export function showErrors(list, error) {
  const errors = error.errors ?? [{ message: error.message, extensions: { code: error.code ?? "ERROR" } }];
  for (const e of errors) {
    const code = e.extensions?.code ?? "ERROR";
    const upgrade = e.extensions?.upgrade ? ` ${e.extensions.upgrade}` : "";
    const where = e.path ? ` (${e.path.join(".")})` : "";
    showError(list, code, `${e.message}${where}${upgrade}`);
  }
}

const JOB_LABELS = {
  EXTRACT_RESUME: "Reading your CV",
  ANALYZE_CV: "Analysing it",
  IMPROVE_CV: "Rewriting it",
  RENDER_PDF: "Rendering the PDF",
};

const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);

// One job's line: what it is, a progress bar, its stage and latest message.
export function jobRow(list, job) {
  const bar = el("progress", { max: "100", value: "0" });
  const state = el("span", { class: "state" }, job.state);
  const message = el("span", { class: "message" });
  const row = el("li", { "data-kind": job.kind, "data-job": job.id }, JOB_LABELS[job.kind] ?? job.kind, bar, state, " ", message);
  list.append(row);
  return (event) => {
    bar.value = event.progress;
    const ended = TERMINAL.has(event.state);
    state.textContent = event.stage && !ended ? `${event.state} · ${event.stage}` : event.state;
    row.dataset.state = event.state;
    if (event.message) message.textContent = event.message;
    if (event.error) message.textContent = `${event.error.code}: ${event.error.message}`;
  };
}

export function showAnalysis(box, a) {
  const terms = (list) => list.map((t) => t.term).join(", ") || "none";
  const parts = [
    el("h3", {}, "The analysis"),
    el("p", {}, el("span", { class: "score", id: "overall-score" }, `${a.overallScore}/100`),
      ` · ATS compatibility ${a.atsCompatibility}% · keywords ${a.keywordMatch.percent}% · ${a.wordCount} words · reads ${a.readability.label}`),
    el("table", {}, ...a.parts.map((p) =>
      el("tr", {}, el("th", {}, p.name), el("td", {}, `${Math.round(p.score)}`), el("td", {}, p.detail)))),
    el("p", {}, el("strong", {}, "Key terms you have: "), terms(a.keywordMatch.present)),
    el("p", {}, el("strong", {}, "Key terms you lack: "), terms(a.keywordMatch.missing)),
    a.missingSections.length ? el("p", {}, el("strong", {}, "Missing sections: "), a.missingSections.join(", ")) : null,
    a.atsIssues.length ? el("p", {}, el("strong", {}, "What costs ATS compatibility:")) : null,
    a.atsIssues.length ? el("ul", {}, ...a.atsIssues.map((i) => el("li", {}, `${i.issue} (−${i.points})`))) : null,
    a.weakBullets.length ? el("p", {}, el("strong", {}, "Bullets that open weakly:")) : null,
    a.weakBullets.length
      ? el("ul", {}, ...a.weakBullets.map((b) =>
          el("li", {}, `“${b.text}” opens with “${b.phrase}”: try ${b.suggestions.join(", ")}`)))
      : null,
  ];
  box.replaceChildren(...parts.filter(Boolean));
  box.hidden = false;
}

export function showClaims(box, response) {
  const claims = response.unverifiedClaims;
  box.replaceChildren(
    ...[response.truncated ? el("p", { class: "note warning" }, "The rewrite may be incomplete.") : null].filter(Boolean),
    claims.length
      ? el("div", {},
          el("p", { class: "note warning" }, "The rewrite states things your CV does not; check them before sending:"),
          el("ul", {}, ...claims.map((c) => el("li", {}, `${c.kind}: ${c.text}`))))
      : el("p", { class: "note" }, "Every number, employer and title in the rewrite is in your CV."),
    // Notes for the candidate (e.g. what the job asks for that the CV lacks): never in the CV or its PDF.
    ...(response.advice.length
      ? [el("div", { id: "advice" },
          el("p", { class: "note" }, "Advice (not in your CV):"),
          el("ul", {}, ...response.advice.map((line) => el("li", {}, line))))]
      : []),
  );
  box.hidden = false;
}
