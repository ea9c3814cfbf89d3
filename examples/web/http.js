// GraphQL over HTTP with fetch: JSON for queries and mutations, the GraphQL multipart request for
// uploads (with the preflight header the API requires of every multipart request: a header no
// plain HTML form can send, so no other site can post one in the user's name), and the PDF
// download, which needs the same bearer token.

import { GraphQLErrors } from "./socket.js";

export class HttpError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export class Api {
  constructor(endpoint, token) {
    this.endpoint = endpoint;
    this.token = token;
  }

  authorization() {
    return this.token ? `Bearer ${this.token}` : null;
  }

  headers(extra = {}) {
    const authorization = this.authorization();
    return { ...(authorization ? { Authorization: authorization } : {}), ...extra };
  }

  // The whole answer: { data, errors }. A document with several mutations may have both (each
  // mutation field is nullable: one refused leaves its siblings' results).
  async request(query, variables = {}) {
    const body = JSON.stringify({ query, variables });
    const headers = this.headers({
      "Content-Type": "application/json",
      Accept: "application/graphql-response+json, application/json",
    });
    return answerOf(await call(this.endpoint, { method: "POST", headers, body }));
  }

  // The data of a document whose every error is fatal.
  async run(query, variables = {}) {
    const { data, errors } = await this.request(query, variables);
    if (errors?.length) throw new GraphQLErrors(errors);
    return data;
  }

  // One file for the variable `name` (the GraphQL multipart request spec).
  async upload(query, variables, name, file) {
    const form = new FormData();
    form.append("operations", JSON.stringify({ query, variables: { ...variables, [name]: null } }));
    form.append("map", JSON.stringify({ 0: [`variables.${name}`] }));
    form.append("0", file, file.name);
    const headers = this.headers({ "Apollo-Require-Preflight": "true" });
    const { data, errors } = await answerOf(await call(this.endpoint, { method: "POST", headers, body: form }));
    if (errors?.length) throw new GraphQLErrors(errors);
    return data;
  }

  // A file the API serves to its owner (a PDF's url), as a Blob.
  async download(url) {
    const response = await call(new URL(url, this.endpoint), { headers: this.headers() });
    if (response.ok) return response.blob();
    const body = await response.json().catch(() => ({}));
    const error = body.error ?? body.errors?.[0] ?? {};
    throw new HttpError(error.code ?? error.extensions?.code ?? `HTTP_${response.status}`, error.message ?? "");
  }
}

async function call(url, init) {
  try {
    return await fetch(url, init);
  } catch (e) {
    throw new HttpError("NETWORK", `the API did not answer (${e.message})`);
  }
}

async function answerOf(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    if (body && (body.data !== undefined || body.errors)) return body;
  } catch {
    // not JSON: a proxy's page, say
  }
  throw new HttpError(`HTTP_${response.status}`, text.slice(0, 200) || response.statusText);
}
