import { Health } from '@gateway/domain';
import { describeHealth } from '../../src/health';

export const dynamic = 'force-dynamic';

async function fetchHealth() {
  const apiUrl = process.env.API_URL ?? `http://127.0.0.1:${process.env.API_PORT ?? 3000}`;
  try {
    const res = await fetch(`${apiUrl}/api/health`, { cache: 'no-store', signal: AbortSignal.timeout(2000) });
    return { health: Health.parse(await res.json()) };
  } catch (e) {
    return { health: null, error: e instanceof Error ? e.message : String(e) };
  }
}

export default async function StatusPage() {
  const { health, error } = await fetchHealth();
  const lines = describeHealth(health, error);
  return (
    <>
      <h1>Control plane status</h1>
      <table aria-label="Control plane status">
        <thead>
          <tr><th scope="col">Part</th><th scope="col">State</th><th scope="col">Detail</th></tr>
        </thead>
        <tbody>
          {lines.map((l) => (
            <tr key={l.label}>
              <td>{l.label}</td>
              <td className={l.status}>{l.status}</td>
              <td>{l.detail}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Install a first gateway</h2>
      <p>
        On a host inside your network, run{' '}
        <code>npm run -s gateway -- install --api &lt;url&gt; --token &lt;token&gt; --name &lt;cluster&gt; --recovery-key &lt;key&gt;</code>.
      </p>
    </>
  );
}
