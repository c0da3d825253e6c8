/** Process entry: configuration, the hub, a banner for whoever started it, graceful shutdown. */
import { ConfigError, loadConfig } from './config/config.js';
import { DEMO_STAFF, Hub } from './hub.js';
import { SystemdNotifier, watchdogTimeoutMs } from './services/systemd-notify.js';
import { HubWatchdog } from './services/watchdog.service.js';

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

  // Under systemd (Type=notify): "started" means answering, and a hung hub is restarted.
  const notifier = SystemdNotifier.fromEnv();
  let watchdog: HubWatchdog | null = null;
  if (notifier) {
    notifier
      .ready(`Selling: store ${config.chainId}/${config.storeId}, port ${new URL(hub.url).port}`)
      .catch((err: unknown) => hub.log.warn({ err }, 'cannot tell systemd the hub is ready'));
    const timeoutMs = watchdogTimeoutMs(process.env);
    if (timeoutMs !== null) {
      watchdog = new HubWatchdog({
        timeoutMs,
        healthUrl: `${hub.url}/api/health`,
        journalFlushRunningMs: (now) => hub.journalFlushRunningMs(now),
        notifier,
        log: hub.log,
      });
      watchdog.start();
    }
  }

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    hub.log.info({ signal }, 'shutting down');
    // Pings end here: the server closing is no failure. The tool outlives the process if need be.
    watchdog?.stop();
    notifier
      ?.stopping('Stopping: finishing requests, writing a snapshot')
      .catch((err: unknown) => hub.log.warn({ err }, 'cannot tell systemd the hub is stopping'));
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
