/** Process entry: configuration, the hub, a banner for whoever started it, graceful shutdown. */
import { ConfigError, loadConfig } from './config/config.js';
import { DEMO_STAFF, Hub } from './hub.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const hub = await Hub.start(config);

  const lines = [
    '',
    `Ayi hub ready: ${hub.url}  (store ${config.chainId}/${config.storeId}, data ${config.dataDir})`,
    `Open it on a tablet at http://<this machine's address>:${new URL(hub.url).port}`,
    `Pairing code (valid 10 minutes, one tablet): ${hub.pairingCode}`,
    '  More codes: npm run ayi -- pair',
  ];
  if (config.demo) {
    lines.push(`Demo staff PINs: ${DEMO_STAFF.map((s) => `${s.role} ${s.pin} (${s.name})`).join(', ')}`);
  }
  if (!config.mqttUrl) lines.push('No broker configured (AYI_MQTT_URL): events stay in the journal until one is.');
  process.stdout.write(`${lines.join('\n')}\n\n`);

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    hub.log.info({ signal }, 'shutting down');
    hub.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        hub.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`Ayi hub failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
