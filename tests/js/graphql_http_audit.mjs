// graphql-http's server audits (the GraphQL-over-HTTP spec, executable) against GRAPHQL_URL.
// Prints one JSON line last: every audit's id, name, status (ok | error: a MUST failed | warn: a
// SHOULD failed | notice: a MAY failed) and reason; exits non-zero only if an audit could not run.
import { serverAudits } from 'graphql-http';

const url = process.env.GRAPHQL_URL;
if (!url) {
  console.error('GRAPHQL_URL is not set');
  process.exit(2);
}

const results = [];
for (const { fn } of serverAudits({ url })) {
  // One at a time: the API under test shares two cores with the rest of the suite.
  const result = await fn();
  results.push({ id: result.id, name: result.name, status: result.status, reason: result.reason ?? null });
}
console.log(JSON.stringify({ results }));
