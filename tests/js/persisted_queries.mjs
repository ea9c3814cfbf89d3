// Apollo Client 3's automatic persisted queries against API_URL: createPersistedQueryLink with
// Node's sha256 and useGETForHashedQueries, in front of an HttpLink. Runs QUERY twice (network
// only, as a page that refreshes) and records each request the link chain sent.
// Env: API_URL, TOKEN ("Bearer ..."), QUERY. Prints one JSON line last:
// {requests: [{method, query, hash}], answers: [data, data], printed: the text Apollo sent}.
import { createHash } from 'node:crypto';
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client/core/index.js';
import { createPersistedQueryLink } from '@apollo/client/link/persisted-queries/index.js';
import { print } from 'graphql';

const { API_URL: url, TOKEN: token, QUERY: text } = process.env;
if (!url || !token || !text) {
  console.error('API_URL, TOKEN and QUERY must be set');
  process.exit(2);
}

const requests = [];
let printed = null;

// The fetch the HttpLink uses: what went out, then the real request.
async function recordingFetch(input, init = {}) {
  const method = (init.method ?? 'GET').toUpperCase();
  let query = null;
  let extensions = null;
  if (method === 'GET') {
    const params = new URL(String(input)).searchParams;
    query = params.get('query');
    extensions = params.get('extensions') ? JSON.parse(params.get('extensions')) : null;
  } else {
    const body = JSON.parse(init.body);
    query = body.query ?? null;
    extensions = body.extensions ?? null;
  }
  if (query) printed = query;
  requests.push({ method, query: Boolean(query), hash: Boolean(extensions?.persistedQuery?.sha256Hash) });
  return fetch(input, init);
}

const sha256 = (value) => createHash('sha256').update(value).digest('hex');
const client = new ApolloClient({
  cache: new InMemoryCache({ addTypename: false }),
  link: createPersistedQueryLink({ sha256, useGETForHashedQueries: true }).concat(
    new HttpLink({ uri: url, fetch: recordingFetch, headers: { authorization: token } }),
  ),
});

const document = gql(text);
const answers = [];
for (let i = 0; i < 2; i += 1) {
  const { data, errors } = await client.query({ query: document, fetchPolicy: 'network-only' });
  if (errors?.length) {
    console.error(JSON.stringify(errors));
    process.exit(1);
  }
  answers.push(data);
}
if (printed !== print(document)) {
  console.error(`the link sent ${JSON.stringify(printed)}, not the printed document`);
  process.exit(1);
}
console.log(JSON.stringify({ requests, answers, printed }));
