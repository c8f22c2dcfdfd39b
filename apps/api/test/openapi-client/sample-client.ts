// A client of the REST API typed from its OpenAPI document: sign in, list the clusters, run a live query.
// `./api` is generated, never committed: apps/api/test/openapi.int-spec.ts generates it from the document the API
// serves and type-checks this script against it. By hand, with the API running:
//   npx openapi-typescript http://127.0.0.1:3000/api/openapi.json -o apps/api/test/openapi-client/api.d.ts
import createClient from 'openapi-fetch';
import type { paths } from './api';

export async function sample(baseUrl: string, email: string, password: string, dataSourceId: string) {
  const api = createClient<paths>({ baseUrl });

  const signIn = await api.POST('/api/auth/login', { body: { email, password } });
  if (!signIn.data) throw new Error(`sign-in failed: ${signIn.error.message}`);
  const headers = { authorization: `Bearer ${signIn.data.token}` };

  const clusters = await api.GET('/api/clusters', { headers });
  if (!clusters.data) throw new Error(`listing the clusters failed: ${clusters.error.message}`);
  for (const cluster of clusters.data) console.log(`${cluster.name}: ${cluster.onlineCount} of ${cluster.memberCount} members online`);

  const query = await api.POST('/api/datasources/{id}/query', { headers, params: { path: { id: dataSourceId } }, body: { sql: 'SELECT 1 AS one', maxRows: 10 } });
  if (!query.data) throw new Error(`the query failed: ${query.error.message}`);
  console.log(query.data.columns.map((c) => c.name), query.data.rows, `served by ${query.data.servedBy.memberName} in ${query.data.timings.totalMs} ms`);
  return query.data.rows;
}
