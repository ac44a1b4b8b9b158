// Every test process: no telemetry, quiet logs unless asked.
process.env.APOLLO_TELEMETRY_DISABLED = '1';
process.env.LOG_LEVEL ??= 'silent';
