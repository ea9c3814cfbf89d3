// One subscription over HTTP (no WebSocket) with a frontend's client library, to its end.
// Env: API_URL, TOKEN ("Bearer ..."), CLIENT (apollo3 | apollo4 | urql | graphql-sse), QUERY,
// VARIABLES (JSON). Prints one JSON line last:
// {accept: the Accept header the library sent, data: [each result's data], errors: the GraphQL
//  errors the library reported (null if none), completed: whether the stream ended normally}.
import { ApolloClient as Apollo3, HttpLink as HttpLink3, InMemoryCache as Cache3, gql as gql3 } from '@apollo/client/core/index.js';
import { ApolloClient as Apollo4, HttpLink as HttpLink4, InMemoryCache as Cache4, gql as gql4 } from 'apollo4';
import { Client, fetchExchange } from '@urql/core';
import { createClient } from 'graphql-sse';
import { onEnd, pipe, subscribe } from 'wonka';

const { API_URL: url, TOKEN: token, CLIENT: which, QUERY: query } = process.env;
const variables = JSON.parse(process.env.VARIABLES ?? '{}');
if (!url || token === undefined || !which || !query) {
  console.error('API_URL, TOKEN, CLIENT and QUERY must be set');
  process.exit(2);
}
const headers = token ? { authorization: token } : {};

let accept = null;
// The fetch each library is given: notes the Accept it sent, then the real request.
async function recordingFetch(input, init = {}) {
  accept = new Headers(init.headers ?? {}).get('accept');
  return fetch(input, init);
}

const outcome = { data: [], errors: null, completed: false };
// Apollo 4 adds __typename to every selection whatever the cache is told; the others send the
// document as written.
const stripTypename = (data) => JSON.parse(JSON.stringify(data, (key, value) => (key === '__typename' ? undefined : value)));
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const graphqlErrors = (errors) => errors.map(({ message, extensions }) => ({ message, extensions }));

function apollo3() {
  const client = new Apollo3({
    cache: new Cache3({ addTypename: false }),
    link: new HttpLink3({ uri: url, fetch: recordingFetch, headers }),
  });
  return new Promise((resolve) => {
    client.subscribe({ query: gql3(query), variables }).subscribe({
      next: (result) => outcome.data.push(stripTypename(result.data)),
      error: (e) => {
        outcome.errors = graphqlErrors([...(e.graphQLErrors ?? []), ...(e.protocolErrors ?? [])]);
        if (!outcome.errors.length) outcome.errors = [{ message: String(e), extensions: null }];
        resolve();
      },
      complete: () => {
        outcome.completed = true;
        resolve();
      },
    });
  });
}

function apollo4() {
  const client = new Apollo4({
    cache: new Cache4(),
    link: new HttpLink4({ uri: url, fetch: recordingFetch, headers }),
  });
  return new Promise((resolve) => {
    client.subscribe({ query: gql4(query), variables }).subscribe({
      next: (result) => {
        if (result.error) outcome.errors = graphqlErrors(result.error.errors ?? [result.error]);
        else outcome.data.push(stripTypename(result.data));
      },
      error: (e) => {
        outcome.errors = graphqlErrors(e.errors ?? [e]);
        resolve();
      },
      complete: () => {
        outcome.completed = true;
        resolve();
      },
    });
  });
}

function urql() {
  const client = new Client({
    url,
    exchanges: [fetchExchange],
    fetchSubscriptions: true,
    fetch: recordingFetch,
    fetchOptions: { headers },
    requestPolicy: 'network-only',
  });
  return new Promise((resolve) => {
    pipe(
      client.subscription(query, variables),
      onEnd(() => {
        outcome.completed = outcome.errors === null;
        resolve();
      }),
      subscribe((result) => {
        if (result.error) {
          const { graphQLErrors, networkError } = result.error;
          outcome.errors = graphQLErrors?.length ? graphqlErrors(graphQLErrors) : [{ message: String(networkError ?? result.error), extensions: null }];
        } else if (!(result.hasNext === false && same(result.data, outcome.data.at(-1)))) {
          // urql repeats the last result once the stream ended, marked hasNext: false.
          outcome.data.push(result.data);
        }
      }),
    );
  });
}

function graphqlSse() {
  // Distinct connections: one streamed POST per subscription.
  const client = createClient({ url, headers, fetchFn: recordingFetch, singleConnection: false, retryAttempts: 0 });
  return new Promise((resolve) => {
    client.subscribe(
      { query, variables },
      {
        next: (result) => {
          if (result.errors) outcome.errors = graphqlErrors(result.errors);
          else outcome.data.push(result.data);
        },
        error: (e) => {
          outcome.errors = [{ message: String(e?.message ?? e), extensions: null }];
          resolve();
        },
        complete: () => {
          outcome.completed = true;
          resolve();
        },
      },
    );
  });
}

const clients = { apollo3, apollo4, urql, 'graphql-sse': graphqlSse };
if (!clients[which]) {
  console.error(`unknown CLIENT ${which}`);
  process.exit(2);
}
await clients[which]();
console.log(JSON.stringify({ accept, ...outcome }));
process.exit(0);
