// The demo's flow: a questionnaire for the target position, the CV (pasted, or uploaded and
// extracted by a job), then an analysis and a rewrite at once, the rewrite streaming in over the
// WebSocket, then a PDF of it, downloaded with the token.

import * as documents from "./documents.js";
import { Api, HttpError } from "./http.js";
import { GraphQLErrors, GraphQLSocket } from "./socket.js";
import { jobRow, showAnalysis, showClaims, showErrors } from "./view.js";

const $ = (id) => document.getElementById(id);
const ENDPOINT = new URL("/graphql", location.origin).href;
const SOCKET_URL = ENDPOINT.replace(/^http/, "ws");
const TOKEN_KEY = "cvimprover-demo-token";

class JobFailed extends Error {
  constructor(event) {
    super(event.error?.message ?? event.message ?? `the job ended ${event.state}`);
    this.code = event.error?.code ?? event.state;
  }
}

// --- The token -------------------------------------------------------------------------------

async function mintDemoToken() {
  const note = $("token-note");
  note.className = "note";
  let body;
  try {
    const response = await fetch("/demo/token", { method: "POST" });
    body = await response.json();
  } catch (e) {
    note.textContent = `No demo token (${e.message}). Paste one from make token USER=alice PLAN=Pro.`;
    return;
  }
  if (!body.token) {
    const error = body.errors?.[0] ?? {};
    note.textContent = `${error.extensions?.code ?? "ERROR"}: ${error.message}`;
    return;
  }
  setToken(body.token);
  const until = new Date(body.expiresAt * 1000).toLocaleTimeString();
  note.className = "note warning";
  note.textContent =
    `A development token for the shared user "${body.user}" (${body.plan}), valid until ${until}. ` +
    "This development API hands one to anyone who can open this page: everyone here acts as the same " +
    "user, with its quotas, and could read the CVs sent through it. A production API never mints " +
    "tokens (there /demo is off unless DEMO=true, and you paste a token from your identity provider).";
}

function setToken(value) {
  $("token").value = value;
  sessionStorage.setItem(TOKEN_KEY, value);
}

// --- The run ---------------------------------------------------------------------------------

// Every event of a job, shown in its row (and handed to `onEvent`), until the server completes
// the stream; the last event must be SUCCEEDED.
async function follow(socket, job, onEvent = () => {}) {
  const show = jobRow($("jobs"), job);
  let last = null;
  for await (const { data, errors } of socket.operation(documents.JOB_UPDATES, { jobId: job.id })) {
    if (errors?.length) throw new GraphQLErrors(errors);
    last = data.jobUpdates;
    show(last);
    onEvent(last);
  }
  if (last?.state !== "SUCCEEDED") throw new JobFailed(last ?? { state: "UNKNOWN" });
  return last;
}

function questionnaireInput() {
  const jobDescription = $("job-description").value.trim();
  return {
    position: $("position").value.trim(),
    industry: $("industry").value.trim(),
    experienceLevel: $("experience").value,
    companySize: $("company-size").value,
    applicationTimeline: $("timeline").value,
    jobDescription: jobDescription || null,
  };
}

// The CV text to send, or null once an uploaded file's text is extracted (the API then reads it
// from the questionnaire).
async function theCv(api, socket, questionnaireId) {
  const file = $("cv-file").files[0];
  if (!file) {
    const text = $("cv-text").value;
    if (!text.trim()) throw new HttpError("NO_CV", "paste your CV or choose a file");
    return text;
  }
  const { uploadResume } = await api.upload(documents.UPLOAD_RESUME, { questionnaireId }, "file", file);
  await follow(socket, uploadResume.job);
  return null;
}

async function analyse(api, socket, job) {
  await follow(socket, job);
  const { job: done } = await api.run(documents.ANALYSIS_OF_JOB, { id: job.id });
  showAnalysis($("analysis"), done.analysis);
}

async function improveAndRender(api, socket, job) {
  const output = $("rewrite");
  let deltas = 0;
  await follow(socket, job, (event) => {
    // A STARTED event means the output starts over (a retried or redelivered attempt).
    if (event.type === "STARTED") output.textContent = "";
    if (event.type === "OUTPUT") {
      output.textContent += event.delta;
      output.dataset.deltas = String(++deltas);
    }
  });
  output.dataset.state = "complete";
  const { job: done } = await api.run(documents.RESPONSE_OF_JOB, { id: job.id });
  showClaims($("claims"), done.response);
  const { renderCvPdf } = await api.run(documents.RENDER_PDF, { responseId: done.response.id });
  await follow(socket, renderCvPdf);
  const { job: rendered } = await api.run(documents.PDF_OF_JOB, { id: renderCvPdf.id });
  const pdf = rendered.pdf;
  const blob = await api.download(pdf.url);
  const link = $("pdf");
  link.href = URL.createObjectURL(blob);
  link.download = "cv.pdf";
  link.dataset.bytes = String(blob.size);
  link.textContent = `Download the PDF (${pdf.pages} page${pdf.pages === 1 ? "" : "s"}, ${Math.ceil(blob.size / 1024)} KB)`;
  link.hidden = false;
}

// Runs the jobs the document started side by side; each one's failure is shown, and the others go on.
async function settle(tasks) {
  const outcomes = await Promise.allSettled(tasks);
  for (const outcome of outcomes) if (outcome.status === "rejected") showErrors($("errors"), outcome.reason);
  return outcomes.every((o) => o.status === "fulfilled");
}

async function run(api) {
  const { createQuestionnaire } = await api.run(documents.CREATE_QUESTIONNAIRE, { input: questionnaireInput() });
  const socket = await GraphQLSocket.open(SOCKET_URL, api.authorization());
  try {
    const cvText = await theCv(api, socket, createQuestionnaire.id);
    const prompt = $("prompt").value.trim() || null;
    const started = await api.request(documents.ANALYSE_AND_IMPROVE, {
      questionnaireId: createQuestionnaire.id, cvText, prompt,
    });
    // A refused mutation (a quota, say) answers null with its error; its sibling's job goes on.
    if (started.errors?.length) showErrors($("errors"), new GraphQLErrors(started.errors));
    const { analysis, rewrite } = started.data ?? {};
    const tasks = [analysis && analyse(api, socket, analysis), rewrite && improveAndRender(api, socket, rewrite)];
    return (await settle(tasks.filter(Boolean))) && Boolean(analysis && rewrite);
  } finally {
    socket.close();
  }
}

async function start(event) {
  event.preventDefault();
  for (const id of ["errors", "jobs", "rewrite"]) $(id).replaceChildren();
  for (const id of ["analysis", "claims", "pdf"]) $(id).hidden = true;
  delete $("rewrite").dataset.state;
  delete document.body.dataset.run;
  $("rewrite").dataset.deltas = "0";
  $("start").disabled = true;
  $("status").textContent = "Working…";
  $("results-title").scrollIntoView({ behavior: "smooth" });
  let done = false;
  try {
    done = await run(new Api(ENDPOINT, $("token").value.trim()));
  } catch (error) {
    showErrors($("errors"), error);
  } finally {
    $("start").disabled = false;
    $("status").textContent = done ? "Done." : "Stopped: see the errors above.";
    document.body.dataset.run = done ? "done" : "failed";
  }
}

$("improve").addEventListener("submit", start);
$("mint").addEventListener("click", mintDemoToken);
$("token").addEventListener("input", () => {
  sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
  $("token-note").textContent = "";
});
const kept = sessionStorage.getItem(TOKEN_KEY);
if (kept) $("token").value = kept;
else mintDemoToken();
